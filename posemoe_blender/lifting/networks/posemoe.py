"""PoseMoE: mixture-of-experts 2D-to-3D lifting (after arXiv 2512.16494, IEEE T-IP).

A compact re-implementation from the paper's description (no official code exists):

1. **Depth initialisation** -- a per-frame MLP predicts a Gaussian depth prior per joint
   (root-relative depth mean ``mu`` in metres and log-variance) from the 2D pose, so depth
   enters the encoder in a dependable state instead of as an unknown.
2. **Two token streams** -- a 2D stream (tokens embedded from x, y, confidence) and a depth
   stream (tokens embedded from mu, log-variance, confidence); one token per joint per frame.
   Each stream has its own spatial (over joints) and temporal (over frames) self-attention.
3. **Mixture of experts** -- each stream's feed-forward is a sparse MoE: a router (top-k
   softmax gating) sends every token to k of E experts; the 2D experts refine 2D-pose features
   and the depth experts learn depth features, so uncertain depth never flows through the
   2D experts. A load-balancing loss (Switch-Transformer form) keeps every expert in use.
4. **Cross-expert knowledge aggregation** -- bidirectional cross-attention 2D->depth and
   depth->2D, over joints (spatial, within a frame) and over frames (temporal, per joint).
5. **Head** -- z = mu + a correction from the depth stream; x, y from the refined 2D stream:
   the 2D stream predicts a correction of the detected 2D (``u``, normalised image units) and,
   per frame, a metric scale ``s ~ Z_root / f`` and an inverse root depth ``q ~ 1 / Z_root``;
   the pinhole model then gives ``X_j = s * u_j * (1 + z_j * q)`` (x and y), so the 2D evidence
   reaches the output without passing through the uncertain depth features. The Pelvis is
   subtracted (root-relative camera coordinates, metres).

Input ``(B, T, 17, 3)`` = :func:`~posemoe_blender.camera.normalize_keypoints` output.
Output ``(B, T, 17, 3)`` (sequence to sequence: every frame of the window is predicted).

Variant switches (all off in the first shipped config, so its weights load unchanged):
``dim_d`` / ``expert_hidden_d`` give the depth stream its own width (0 = the 2D stream's), so
capacity can go where the hard part of lifting is; ``mix_2d`` adds, in every layer, a token-wise
linear map of the 2D stream into the depth stream (and a zero-initialised gated map back), the
token-level half of the paper's "bidirectional mapping" next to the cross-attention;
``scale_from_depth`` reads the head's per-frame metric scale ``s`` and inverse root depth ``q``
(depth quantities) from the depth stream, so the 2D stream is asked only for the image-plane
refinement (docs/model.md: in the first shipped weights the 2D stream carries depth).

Ablation switches: ``depth_init=False`` (depth stream embedded from the 2D input only, no
prior), ``router=False`` (one dense FFN expert per stream), ``cross=False`` (no cross-expert
aggregation; the streams only meet in the depth prior and the head).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...joints import NUM_JOINTS
from .layers import FFN, Attention, _spatial, _temporal


@dataclass
class PoseMoEConfig:
    model: str = "posemoe"
    frames: int = 27
    joints: int = NUM_JOINTS
    dim: int = 48
    depth: int = 3
    heads: int = 4
    experts: int = 4
    top_k: int = 2
    expert_hidden: int = 96
    prior_hidden: int = 128
    depth_init: bool = True
    router: bool = True
    cross: bool = True
    cross_gate: bool = False   # zero-initialised gates on the cross-expert terms (experiment)
    depth_sees_2d: bool = False  # depth tokens also embed their joint's (x, y, conf) (experiment)
    dim_d: int = 0             # depth-stream width (0 = dim)
    expert_hidden_d: int = 0   # depth-stream expert hidden units (0 = expert_hidden)
    mix_2d: bool = False       # token-wise 2D -> depth map per layer (+ gated depth -> 2D map)
    scale_from_depth: bool = False  # the head's metric scale s, q from the depth stream (not the 2D one)
    hint3d: bool = False       # input (B, T, J, 6): + MediaPipe's world landmarks, embedded into the depth stream
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def width_d(self) -> int:
        return self.dim_d or self.dim

    @property
    def hidden_d(self) -> int:
        return self.expert_hidden_d or self.expert_hidden


class MoE(nn.Module):
    """Top-k mixture of experts over tokens with a load-balancing auxiliary loss.

    The E experts are 2-layer MLPs (``dim -> hidden -> dim``). On a CPU, gathering tokens per
    expert costs more than the tiny matmuls themselves, so the experts' weights are stacked
    and every expert's hidden units are multiplied by that expert's (sparse, top-k
    renormalised) gate: the output is exactly ``sum_{e in top-k} g_e * expert_e(x)``.
    """

    def __init__(self, dim: int, hidden: int, experts: int, top_k: int):
        super().__init__()
        self.n_experts, self.hidden = experts, hidden
        self.fc1 = nn.Linear(dim, experts * hidden)       # experts' first layers, stacked
        self.fc2 = nn.Linear(experts * hidden, dim, bias=False)
        self.b2 = nn.Parameter(torch.zeros(experts, dim))  # experts' output biases
        self.router = nn.Linear(dim, experts)
        self.top_k = min(top_k, experts)
        self.last_aux = torch.zeros(())
        self.last_usage = torch.zeros(experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        E, H = self.n_experts, self.hidden
        probs = self.router(x).softmax(dim=-1)                       # (N, E)
        gate, idx = probs.topk(self.top_k, dim=-1)                   # (N, k)
        gate = gate / gate.sum(dim=-1, keepdim=True)
        dense_gate = torch.zeros_like(probs).scatter(1, idx, gate)   # (N, E), k non-zeros
        h = F.gelu(self.fc1(x)).view(-1, E, H) * dense_gate[..., None]
        out = self.fc2(h.view(-1, E * H)) + dense_gate @ self.b2
        with torch.no_grad():
            frac = torch.zeros(E, device=x.device, dtype=x.dtype).scatter_add_(
                0, idx.reshape(-1), torch.ones(idx.numel(), device=x.device, dtype=x.dtype))
            frac = frac / max(idx.numel(), 1)
        self.last_aux = E * (frac * probs.float().mean(dim=0)).sum()
        self.last_usage = frac
        return out.view(shape)


class StreamBlock(nn.Module):
    """Spatial + temporal self-attention and (MoE) feed-forward for one stream."""

    def __init__(self, cfg: PoseMoEConfig, dim: int | None = None, hidden: int | None = None):
        super().__init__()
        C, H = dim or cfg.dim, hidden or cfg.expert_hidden
        self.n1, self.sattn = nn.LayerNorm(C), Attention(C, cfg.heads)
        self.n2, self.tattn = nn.LayerNorm(C), Attention(C, cfg.heads)
        self.n3 = nn.LayerNorm(C)
        if cfg.router:
            self.ffn = MoE(C, H, cfg.experts, cfg.top_k)
        else:  # one expert per stream, same active compute as top-k routing
            self.ffn = FFN(C, H * cfg.top_k)

    def attend(self, x):
        x = x + _spatial(self.sattn, self.n1(x))
        x = x + _temporal(self.tattn, self.n2(x))
        return x

    def feed(self, x):
        return x + self.ffn(self.n3(x))


class CrossAggregation(nn.Module):
    """Bidirectional cross-attention 2D<->depth over joints and over frames.

    2D stream ``a`` (B, T, J, C), depth stream ``d`` (B, T, J, C_d)."""

    def __init__(self, cfg: PoseMoEConfig):
        super().__init__()
        C, Cd = cfg.dim, cfg.width_d
        self.n2d, self.nd = nn.LayerNorm(C), nn.LayerNorm(Cd)
        self.s_2d_from_d, self.s_d_from_2d = Attention(C, cfg.heads, Cd), Attention(Cd, cfg.heads, C)
        self.t_2d_from_d, self.t_d_from_2d = Attention(C, cfg.heads, Cd), Attention(Cd, cfg.heads, C)
        # optional per-channel gates, zero at the start: the streams first learn on their own
        # and open the cross-expert paths as training finds them useful (ReZero/LayerScale-like)
        self.gate = None
        if cfg.cross_gate:  # one (4, C) tensor when the widths agree (the layout of earlier runs)
            self.gate = (nn.Parameter(torch.zeros(4, C)) if Cd == C else
                         nn.ParameterList([nn.Parameter(torch.zeros(n)) for n in (C, C, Cd, Cd)]))

    def forward(self, a, d):
        na, nd = self.n2d(a), self.nd(d)
        terms = (_spatial(self.s_2d_from_d, na, nd), _temporal(self.t_2d_from_d, na, nd),
                 _spatial(self.s_d_from_2d, nd, na), _temporal(self.t_d_from_2d, nd, na))
        if self.gate is not None:
            terms = tuple(g * t for g, t in zip(self.gate, terms))
        return a + terms[0] + terms[1], d + terms[2] + terms[3]


class StreamMapping(nn.Module):
    """Token-wise bidirectional mapping between the streams (``mix_2d``): every depth token
    receives a linear map of its own joint's 2D features, and every 2D token a linear map of
    its depth features through per-channel gates that start at zero, so the 2D stream begins
    free of depth uncertainty and takes only what training finds useful."""

    def __init__(self, cfg: PoseMoEConfig):
        super().__init__()
        C, Cd = cfg.dim, cfg.width_d
        self.n2d, self.nd = nn.LayerNorm(C), nn.LayerNorm(Cd)
        self.to_d, self.to_2d = nn.Linear(C, Cd), nn.Linear(Cd, C)
        self.gate_2d = nn.Parameter(torch.zeros(C))

    def forward(self, a, d):
        na, nd = self.n2d(a), self.nd(d)
        return a + self.gate_2d * self.to_2d(nd), d + self.to_d(na)


class PoseMoE(nn.Module):
    def __init__(self, cfg: PoseMoEConfig | None = None):
        super().__init__()
        cfg = cfg or PoseMoEConfig()
        self.cfg = cfg
        C, Cd, J, T = cfg.dim, cfg.width_d, cfg.joints, cfg.frames
        if cfg.depth_init:
            self.prior = nn.Sequential(nn.Linear(J * 3, cfg.prior_hidden), nn.GELU(),
                                       nn.Linear(cfg.prior_hidden, cfg.prior_hidden), nn.GELU(),
                                       nn.Linear(cfg.prior_hidden, J * 2))
            self.embed_d = nn.Linear(5 if cfg.depth_sees_2d else 3, Cd)  # (mu, logvar, conf[, x, y])
        else:
            self.embed_d = nn.Linear(3, Cd)   # (x, y, conf): depth stream from 2D only
        self.embed_2d = nn.Linear(3, C)
        if cfg.hint3d:  # per-joint 3D hint (metres, root-relative) into the depth stream; starts silent
            self.embed_hint = nn.Linear(3, Cd)
            nn.init.zeros_(self.embed_hint.weight)
            nn.init.zeros_(self.embed_hint.bias)
        if Cd == C:  # (the first shipped layout: one tensor for both streams)
            self.pos_s = nn.Parameter(torch.zeros(2, 1, 1, J, C))
            self.pos_t = nn.Parameter(torch.zeros(2, 1, T, 1, C))
            nn.init.trunc_normal_(self.pos_s, std=0.02)
            nn.init.trunc_normal_(self.pos_t, std=0.02)
        else:
            self.pos_s = nn.ParameterList([nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, 1, J, c), std=0.02)) for c in (C, Cd)])
            self.pos_t = nn.ParameterList([nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, T, 1, c), std=0.02)) for c in (C, Cd)])
        self.blocks_2d = nn.ModuleList(StreamBlock(cfg) for _ in range(cfg.depth))
        self.blocks_d = nn.ModuleList(StreamBlock(cfg, Cd, cfg.hidden_d) for _ in range(cfg.depth))
        self.cross = nn.ModuleList(CrossAggregation(cfg) for _ in range(cfg.depth)) if cfg.cross else None
        self.mix = nn.ModuleList(StreamMapping(cfg) for _ in range(cfg.depth)) if cfg.mix_2d else None
        self.norm_2d, self.norm_d = nn.LayerNorm(C), nn.LayerNorm(Cd)
        # 2D stream head: a refinement of the detected 2D (normalised image units) and, per
        # frame, the metric scale s (metres per normalised unit, ~ root depth / focal) and the
        # inverse root depth q (1/m) that turn the refined 2D + depth into camera-space x, y.
        self.head_xy = nn.Linear(C, 2)
        self.head_scale = nn.Linear(Cd if cfg.scale_from_depth else C, 2)
        nn.init.zeros_(self.head_xy.weight)
        nn.init.zeros_(self.head_xy.bias)
        nn.init.zeros_(self.head_scale.weight)
        with torch.no_grad():
            self.head_scale.bias.copy_(torch.tensor([2.9, -1.4]))  # softplus -> s ~3 m, q ~0.22/m
        self.head_z = nn.Linear(Cd, 1)
        self.last_prior: tuple[torch.Tensor, torch.Tensor] | None = None

    def moe_layers(self) -> list[MoE]:
        return [m for m in self.modules() if isinstance(m, MoE)]

    def aux_loss(self) -> torch.Tensor:
        layers = self.moe_layers()
        if not layers:
            return torch.zeros(())
        return torch.stack([m.last_aux for m in layers]).mean()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, J, C_in = x.shape
        if T != self.cfg.frames:
            raise ValueError(f"PoseMoE was built for {self.cfg.frames}-frame windows, got {T}")
        if C_in != (6 if self.cfg.hint3d else 3):
            raise ValueError(f"PoseMoE{' (hint3d)' if self.cfg.hint3d else ''} takes {6 if self.cfg.hint3d else 3} input channels, got {C_in}")
        hint = x[..., 3:6] if self.cfg.hint3d else None
        x = x[..., :3]
        conf = x[..., 2:3]
        if self.cfg.depth_init:
            p = self.prior(x.reshape(B, T, J * 3)).view(B, T, J, 2)
            mu, logvar = p[..., 0], p[..., 1].clamp(-12.0, 4.0)
            self.last_prior = (mu, logvar)
            parts = [mu[..., None], logvar[..., None], conf] + ([x[..., :2]] if self.cfg.depth_sees_2d else [])
            d = self.embed_d(torch.cat(parts, dim=-1))
        else:
            mu = None
            self.last_prior = None
            d = self.embed_d(x)
        a = self.embed_2d(x) + self.pos_s[0] + self.pos_t[0]
        d = d + self.pos_s[1] + self.pos_t[1]
        if hint is not None:
            d = d + self.embed_hint(hint)
        for i in range(self.cfg.depth):
            if self.mix is not None:
                a, d = self.mix[i](a, d)
            a = self.blocks_2d[i].attend(a)
            d = self.blocks_d[i].attend(d)
            if self.cross is not None:
                a, d = self.cross[i](a, d)
            a = self.blocks_2d[i].feed(a)
            d = self.blocks_d[i].feed(d)
        fa, fd = self.norm_2d(a), self.norm_d(d)
        uv = x[..., :2] + self.head_xy(fa)                           # refined 2D (B, T, J, 2)
        fs = fd if self.cfg.scale_from_depth else fa
        sq = F.softplus(self.head_scale(fs.mean(dim=2, keepdim=True)))  # (B, T, 1, 2)
        s, q = sq[..., :1], sq[..., 1:]
        z = self.head_z(fd)
        if mu is not None:
            z = z + mu[..., None]
        z = z - z[:, :, :1]
        # pinhole: X_j = u_j (Z_r + z_j) / f = s (u_j + u_j z_j / Z_r), with s = Z_r / f, q = 1 / Z_r
        xy = s * (uv + uv * z * q)
        out = torch.cat([xy, z], dim=-1)
        return out - out[:, :, :1]
