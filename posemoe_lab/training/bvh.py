"""Minimal, fast BVH reader + vectorised forward kinematics (numpy + scipy).

Only what the Bandai Namco Research motion datasets need: every joint has 6 channels
(``Xposition Yposition Zposition`` + three rotations in any order, degrees), so the
channel positions replace the OFFSETs (standard BVH semantics for 6-channel joints).
Units are whatever the file uses (centimetres for Bandai Namco); Y is up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from posemoe_blender.errors import PoseMoEError


@dataclass
class BVHSkeleton:
    names: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    offsets: list[tuple[float, float, float]] = field(default_factory=list)
    channels: list[list[str]] = field(default_factory=list)
    end_offsets: dict[int, tuple[float, float, float]] = field(default_factory=dict)

    def index(self, name: str) -> int:
        return self.names.index(name)


_TOKEN = re.compile(r"\S+")
_CHANNELS = {f"{a}{kind}" for a in "XYZ" for kind in ("position", "rotation")}


def parse_bvh_text(text: str, path: str = "<bvh>") -> tuple[BVHSkeleton, np.ndarray, float]:
    """Parse BVH text -> (skeleton, motion (F, n_channels) float64, frame_time seconds).

    A file that is not a BVH, is cut short, has no frames (F = 0), a non-positive frame time or
    values that are not finite numbers raises :class:`PoseMoEError` naming ``path``.
    """
    pos = text.find("MOTION")
    if pos < 0:
        raise PoseMoEError(f"{path}: not a BVH file (no MOTION section)")
    head, motion = text[:pos], text[pos + len("MOTION"):]
    try:
        skel = _parse_hierarchy(head)
    except (ValueError, IndexError, KeyError):
        raise PoseMoEError(f"{path}: BVH HIERARCHY unreadable (truncated or malformed)") from None
    m = re.search(r"Frames:\s*(\d+)\s*Frame Time:\s*([0-9.eE+-]+)", motion)
    if not m:
        raise PoseMoEError(f"{path}: BVH MOTION header unreadable")
    n_frames, frame_time = int(m.group(1)), float(m.group(2))
    if n_frames == 0:
        raise PoseMoEError(f"{path}: BVH has no frames (MOTION says Frames: 0)")
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise PoseMoEError(f"{path}: BVH frame time {m.group(2)} is not a positive number of seconds")
    try:
        values = np.array(motion[m.end():].split(), dtype=np.float64)
    except ValueError:
        raise PoseMoEError(f"{path}: BVH motion holds a value that is not a number") from None
    n_ch = sum(len(c) for c in skel.channels)
    if n_ch == 0:
        raise PoseMoEError(f"{path}: BVH without joints or channels")
    if values.size < n_frames * n_ch:
        raise PoseMoEError(f"{path}: BVH motion truncated ({values.size} values, "
                           f"expected {n_frames} x {n_ch})")
    if not np.all(np.isfinite(values[: n_frames * n_ch])):
        raise PoseMoEError(f"{path}: BVH motion contains NaN or infinite values")
    return skel, values[: n_frames * n_ch].reshape(n_frames, n_ch), frame_time


def _parse_hierarchy(head: str) -> BVHSkeleton:
    """The skeleton of a BVH HIERARCHY section (ValueError/IndexError/KeyError when malformed)."""
    skel = BVHSkeleton()
    tokens = _TOKEN.findall(head)
    stack: list[int] = []
    i = 0
    last = -1
    in_end = False
    while i < len(tokens):
        t = tokens[i]
        if t in ("ROOT", "JOINT"):
            name = tokens[i + 1]
            skel.names.append(name)
            skel.parents.append(stack[-1] if stack else -1)
            skel.offsets.append((0.0, 0.0, 0.0))
            skel.channels.append([])
            last = len(skel.names) - 1
            i += 2
        elif t == "End":
            in_end = True
            i += 2
        elif t == "{":
            stack.append(last if not in_end else -2)
            i += 1
        elif t == "}":
            top = stack.pop()
            if top == -2:
                in_end = False
            i += 1
        elif t == "OFFSET":
            off = tuple(float(v) for v in tokens[i + 1:i + 4])
            if len(off) != 3:
                raise ValueError("OFFSET needs three numbers")
            if in_end:
                skel.end_offsets[[s for s in stack if s >= 0][-1]] = off  # type: ignore[assignment]
            else:
                skel.offsets[last] = off  # type: ignore[assignment]
            i += 4
        elif t == "CHANNELS":
            n = int(tokens[i + 1])
            skel.channels[last] = tokens[i + 2:i + 2 + n]
            if len(skel.channels[last]) != n or not set(skel.channels[last]) <= _CHANNELS:
                raise ValueError("bad CHANNELS line")
            i += 2 + n
        else:
            i += 1
    if stack:
        raise ValueError("unbalanced braces")
    return skel


def forward_kinematics(skel: BVHSkeleton, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions (F, J, 3) and rotation matrices (F, J, 3, 3)."""
    F = motion.shape[0]
    J = len(skel.names)
    pos = np.zeros((F, J, 3))
    rot = np.zeros((F, J, 3, 3))
    col = 0
    for j in range(J):
        ch = skel.channels[j]
        local_t = np.broadcast_to(np.asarray(skel.offsets[j], dtype=np.float64), (F, 3)).copy()
        rot_axes, rot_cols = [], []
        for k, c in enumerate(ch):
            if c.endswith("position"):
                local_t[:, "XYZ".index(c[0])] = motion[:, col + k]
            else:
                rot_axes.append(c[0])
                rot_cols.append(col + k)
        col += len(ch)
        if rot_axes:
            # BVH: R = R_a1 @ R_a2 @ R_a3 in channel order = intrinsic rotations (upper case).
            R = Rotation.from_euler("".join(rot_axes).upper(), motion[:, rot_cols],
                                    degrees=True).as_matrix()
        else:
            R = np.broadcast_to(np.eye(3), (F, 3, 3))
        p = skel.parents[j]
        if p < 0:
            pos[:, j] = local_t
            rot[:, j] = R
        else:
            pos[:, j] = pos[:, p] + np.einsum("fij,fj->fi", rot[:, p], local_t)
            rot[:, j] = rot[:, p] @ R
    return pos, rot
