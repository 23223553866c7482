"""Baseline lifters for the PoseMoE comparison.

* :class:`EntangledTransformer` -- MixSTE-like spatial-temporal transformer: one token per
  joint per frame, 2D and depth encoded in ONE feature space (alternating spatial and temporal
  self-attention blocks, dense FFN), linear head to (x, y, z).
* :class:`TemporalConvLifter` -- VideoPose3D-like dilated temporal convolutions over the
  flattened 2D pose; receptive field = the window length (27 = 3^3); sequence-to-sequence by
  edge-replicating the input by (R-1)/2 frames on each side so every frame of the window is
  predicted from a centred receptive field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...joints import NUM_JOINTS
from .posemoe import FFN, Attention, _spatial, _temporal


@dataclass
class EntangledConfig:
    model: str = "entangled"
    frames: int = 27
    joints: int = NUM_JOINTS
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_hidden: int = 128
    dropout: float = 0.0
    hint3d: bool = False   # input (B, T, J, 6): + MediaPipe's world landmarks (own embedding, starts silent)

    def to_dict(self) -> dict:
        return asdict(self)


class _Block(nn.Module):
    def __init__(self, C, heads, hidden, spatial: bool):
        super().__init__()
        self.spatial = spatial
        self.n1, self.attn = nn.LayerNorm(C), Attention(C, heads)
        self.n2, self.ffn = nn.LayerNorm(C), FFN(C, hidden)

    def forward(self, x):
        f = _spatial if self.spatial else _temporal
        x = x + f(self.attn, self.n1(x))
        return x + self.ffn(self.n2(x))


class EntangledTransformer(nn.Module):
    def __init__(self, cfg: EntangledConfig | None = None):
        super().__init__()
        cfg = cfg or EntangledConfig()
        self.cfg = cfg
        C = cfg.dim
        self.embed = nn.Linear(3, C)
        if cfg.hint3d:
            self.embed_hint = nn.Linear(3, C)
            nn.init.zeros_(self.embed_hint.weight)
            nn.init.zeros_(self.embed_hint.bias)
        self.pos_s = nn.Parameter(torch.zeros(1, 1, cfg.joints, C))
        self.pos_t = nn.Parameter(torch.zeros(1, cfg.frames, 1, C))
        nn.init.trunc_normal_(self.pos_s, std=0.02)
        nn.init.trunc_normal_(self.pos_t, std=0.02)
        self.blocks = nn.ModuleList()
        for _ in range(cfg.depth):
            self.blocks.append(_Block(C, cfg.heads, cfg.mlp_hidden, spatial=True))
            self.blocks.append(_Block(C, cfg.heads, cfg.mlp_hidden, spatial=False))
        self.norm = nn.LayerNorm(C)
        self.head = nn.Linear(C, 3)

    def aux_loss(self):
        return torch.zeros(())

    def forward(self, x):
        if x.shape[1] != self.cfg.frames:
            raise ValueError(f"model was built for {self.cfg.frames}-frame windows, got {x.shape[1]}")
        _check_channels(self.cfg, x)
        h = self.embed(x[..., :3]) + self.pos_s + self.pos_t
        if self.cfg.hint3d:
            h = h + self.embed_hint(x[..., 3:6])
        for b in self.blocks:
            h = b(h)
        out = self.head(self.norm(h))
        return out - out[:, :, :1]


@dataclass
class TCNConfig:
    model: str = "tcn"
    frames: int = 27
    joints: int = NUM_JOINTS
    channels: int = 256
    dropout: float = 0.1
    hint3d: bool = False   # input (B, T, J, 6): + MediaPipe's world landmarks (own input conv, starts silent)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def dilations(self) -> list[int]:
        """3, 9, 27, ...: receptive field 3^(n+1) = frames (27 -> [3, 9], 81 -> [3, 9, 27])."""
        out, r = [], 3
        while r < self.frames:
            out.append(r)
            r *= 3
        return out


class TemporalConvLifter(nn.Module):
    def __init__(self, cfg: TCNConfig | None = None):
        super().__init__()
        cfg = cfg or TCNConfig()
        self.cfg = cfg
        C, J = cfg.channels, cfg.joints
        self.expand = nn.Conv1d(J * 3, C, 3, bias=False)
        self.expand_bn = nn.BatchNorm1d(C, momentum=0.1)
        if cfg.hint3d:
            self.expand_hint = nn.Conv1d(J * 3, C, 3, bias=False)
            nn.init.zeros_(self.expand_hint.weight)
        self.layers = nn.ModuleList()
        self.bns = nn.ModuleList()
        for d in cfg.dilations:
            self.layers.append(nn.Conv1d(C, C, 3, dilation=d, bias=False))
            self.bns.append(nn.BatchNorm1d(C, momentum=0.1))
            self.layers.append(nn.Conv1d(C, C, 1, bias=False))
            self.bns.append(nn.BatchNorm1d(C, momentum=0.1))
        self.drop = nn.Dropout(cfg.dropout)
        self.shrink = nn.Conv1d(C, J * 3, 1)
        self.receptive_field = 1 + 2 * (1 + sum(cfg.dilations))

    def aux_loss(self):
        return torch.zeros(())

    def forward(self, x):
        B, T, J, _ = x.shape
        _check_channels(self.cfg, x)
        pad = (self.receptive_field - 1) // 2
        flat = lambda a: F.pad(a.reshape(B, T, J * 3).transpose(1, 2), (pad, pad), mode="replicate")  # noqa: E731
        h = self.expand(flat(x[..., :3]))
        if self.cfg.hint3d:
            h = h + self.expand_hint(flat(x[..., 3:6]))
        h = self.drop(F.relu(self.expand_bn(h)))
        for i, d in enumerate(self.cfg.dilations):
            res = h[:, :, d:-d]
            h = self.drop(F.relu(self.bns[2 * i](self.layers[2 * i](h))))
            h = res + self.drop(F.relu(self.bns[2 * i + 1](self.layers[2 * i + 1](h))))
        out = self.shrink(h).transpose(1, 2).reshape(B, T, J, 3)
        return out - out[:, :, :1]


def _check_channels(cfg, x: torch.Tensor) -> None:
    want = 6 if cfg.hint3d else 3
    if x.shape[-1] != want:
        raise ValueError(f"{cfg.model}{' (hint3d)' if cfg.hint3d else ''} takes {want} input channels, got {x.shape[-1]}")


def build_model(cfg: dict) -> nn.Module:
    """Build any lifter from its config dict (``cfg["model"]`` selects the class)."""
    from .posemoe import PoseMoE, PoseMoEConfig

    kind = cfg.get("model", "posemoe")
    table = {"posemoe": (PoseMoE, PoseMoEConfig), "entangled": (EntangledTransformer, EntangledConfig),
             "tcn": (TemporalConvLifter, TCNConfig)}
    if kind not in table:
        raise ValueError(f"unknown model {kind!r}")
    cls, conf = table[kind]
    fields = conf.__dataclass_fields__
    unknown = set(cfg) - set(fields)
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)} for {kind}")
    return cls(conf(**cfg))
