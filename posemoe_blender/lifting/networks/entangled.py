"""The entangled spatial-temporal transformer lifter (a baseline for PoseMoE).

:class:`EntangledTransformer` -- MixSTE-like: one token per joint per frame, 2D and depth
encoded in ONE feature space (alternating spatial and temporal self-attention blocks, dense
FFN), linear head to (x, y, z).

Input ``(B, T, 17, 3)`` = :func:`~posemoe_blender.camera.normalize_keypoints` output, or
``(B, T, 17, 6)`` with MediaPipe's world landmarks (``hint3d``); ``T`` = ``frames``.
Output ``(B, T, 17, 3)`` metres, root-relative camera coordinates (sequence to sequence).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ...joints import NUM_JOINTS
from .layers import FFN, Attention, _check_channels, _spatial, _temporal


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
