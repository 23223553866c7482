"""Building blocks shared by the lifting networks (no network of its own).

Tokens are ``(B, T, J, C)``: batch, frames, joints, channels. :func:`_spatial` and
:func:`_temporal` apply a token-sequence module over the joints of each frame or over the
frames of each joint; :class:`Attention` and :class:`FFN` are the transformer parts;
:func:`_check_channels` checks a network's input channels (3: x, y, confidence; 6 with
MediaPipe's world landmarks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention on (N, L, C) tokens; cross-attention when ``kv`` (N, L', C_kv) is given
    (``kv_dim`` = C_kv when the other stream is of another width)."""

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(kv_dim or dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None) -> torch.Tensor:
        N, L, C = x.shape
        h = self.heads
        src = x if kv is None else kv
        q = self.q(x).view(N, L, h, C // h).transpose(1, 2)
        k, v = self.kv(src).view(N, src.shape[1], 2, h, C // h).permute(2, 0, 3, 1, 4)
        # explicit bmm attention: faster than the fused CPU kernel for these short sequences, and
        # no slower on a GPU (F.scaled_dot_product_attention brought no gain there)
        att = (q @ k.transpose(-1, -2)) * self.scale
        o = att.softmax(dim=-1) @ v
        return self.proj(o.transpose(1, 2).reshape(N, L, C))


def _spatial(fn, x, *rest):
    """Apply ``fn`` over joints: (B, T, J, C) -> tokens (B*T, J, C)."""
    B, T, J, _ = x.shape
    out = fn(x.reshape(B * T, J, -1), *[r.reshape(B * T, J, -1) for r in rest])
    return out.view(B, T, J, -1)


def _temporal(fn, x, *rest):
    """Apply ``fn`` over frames: (B, T, J, C) -> tokens (B*J, T, C)."""
    B, T, J, _ = x.shape
    t = lambda a: a.transpose(1, 2).reshape(B * J, T, a.shape[-1])  # noqa: E731
    out = fn(t(x), *[t(r) for r in rest])
    return out.view(B, J, T, -1).transpose(1, 2)


class FFN(nn.Module):
    """Dense feed-forward on (..., dim) tokens: dim -> hidden -> dim with a GELU between."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


def _check_channels(cfg, x: torch.Tensor) -> None:
    """ValueError unless ``x`` (B, T, J, C) has the channels ``cfg`` takes: 6 with ``hint3d``, else 3."""
    want = 6 if cfg.hint3d else 3
    if x.shape[-1] != want:
        raise ValueError(f"{cfg.model}{' (hint3d)' if cfg.hint3d else ''} takes {want} input channels, got {x.shape[-1]}")
