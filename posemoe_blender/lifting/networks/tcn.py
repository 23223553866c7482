"""The temporal convolution lifter (a baseline for PoseMoE).

:class:`TemporalConvLifter` -- VideoPose3D-like dilated temporal convolutions over the
flattened 2D pose; receptive field = the window length (27 = 3^3); sequence-to-sequence by
edge-replicating the input by (R-1)/2 frames on each side so every frame of the window is
predicted from a centred receptive field.

Input ``(B, T, 17, 3)`` = :func:`~posemoe_blender.camera.normalize_keypoints` output, or
``(B, T, 17, 6)`` with MediaPipe's world landmarks (``hint3d``).
Output ``(B, T, 17, 3)`` metres, root-relative camera coordinates (sequence to sequence).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...joints import NUM_JOINTS
from .layers import _check_channels


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
