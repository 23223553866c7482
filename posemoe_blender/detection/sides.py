"""Left/right flips of the detector, undone (numpy only, no bpy).

BlazePose sometimes decides for a stretch of frames that the person faces the other way: it
gives the left limbs the right limbs' labels (and its 3D world landmarks turn the body by most
of a half turn) and later flips back. A person cannot turn 100 degrees in one frame, so a jump
of the torso's facing direction between neighbouring frames is such a flip.

:func:`find_flips` works on MediaPipe's world landmarks ``(T, 17, 3)`` (metres, root-relative,
camera axes: x right, y down, z forward), in the 17-joint order of :mod:`posemoe_blender.joints`:
the facing direction is the horizontal (x, z) part of the left-minus-right hip and shoulder
vectors (frames where they span less than ``MIN_WIDTH_M`` horizontally are skipped). Each
jump of more than ``max_turn_deg`` between consecutive detected frames, after
which swapping the labels makes the direction continuous again, toggles the state; the
stretches in the minority state are the flipped ones. :func:`unflip` swaps the left and right
joints of those frames in any per-joint array.
"""

from __future__ import annotations

import numpy as np

from ..joints import JOINT_INDEX as J, MIRROR

#: A larger change of facing between two consecutive frames is a detector flip, not a turn.
MAX_TURN_DEG = 100.0
#: Frames whose hips + shoulders span less than this horizontally (m) have no reliable facing
#: (a body lying on its side, seen along its width) and are skipped.
MIN_WIDTH_M = 0.15


def _width(world3d: np.ndarray) -> np.ndarray:
    """(T, 2) horizontal (x, z) part of the left-minus-right hips + shoulders (metres)."""
    w = np.asarray(world3d, np.float64)
    v = (w[:, J["LHip"]] - w[:, J["RHip"]]) + (w[:, J["LShoulder"]] - w[:, J["RShoulder"]])
    return v[:, [0, 2]]


def facing(world3d: np.ndarray) -> np.ndarray:
    """(T, 2) unit horizontal (x, z) direction of the left-minus-right hips + shoulders."""
    d = _width(world3d)
    n = np.linalg.norm(d, axis=1, keepdims=True)
    return np.where(n > 1e-6, d / np.maximum(n, 1e-6), np.nan)


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def find_flips(world3d: np.ndarray, detected: np.ndarray | None = None,
               max_turn_deg: float = MAX_TURN_DEG) -> np.ndarray:
    """(T,) bool: the frames whose left and right labels are swapped (see the module docstring).

    ``detected``: (T,) bool, frames where somebody was found (others never count and are
    never flipped). Deterministic; all False when there is no jump.
    """
    width = _width(world3d)
    T = width.shape[0]
    size = np.linalg.norm(width, axis=1, keepdims=True)
    d = width / np.maximum(size, 1e-6)
    ok = np.ones(T, bool) if detected is None else np.asarray(detected, bool).copy()
    ok &= size[:, 0] >= MIN_WIDTH_M
    idx = np.flatnonzero(ok)
    state = np.zeros(T, bool)
    if idx.size < 2:
        return state
    a, b = d[idx[:-1]], d[idx[1:]]
    jump = (_angle(a, b) > max_turn_deg) & (_angle(a, -b) < max_turn_deg)  # swapping labels negates d
    toggles = np.concatenate([[0], np.cumsum(jump)]) % 2 == 1                  # per detected frame
    if not toggles.any():
        return state
    flipped = toggles if toggles.sum() <= (~toggles).sum() else ~toggles       # the minority is wrong
    state[idx] = flipped
    return state


def unflip(values: np.ndarray, flipped: np.ndarray) -> np.ndarray:
    """A copy of per-joint ``values`` (T, 17, ...) with left and right swapped where ``flipped``."""
    out = np.array(values, copy=True)
    f = np.asarray(flipped, bool)
    if f.any():
        out[f] = out[f][:, list(MIRROR)]
    return out


def unflip_detections(dets):
    """``(detections, frames)``: :class:`~posemoe_blender.detection.body.Detections` with the
    detector's left/right flips (:func:`find_flips` on its world landmarks) undone in every
    per-joint field (the 17 joints, the feet's and hands' [left, right] pairs), and how many
    frames were swapped. The same object when none were."""
    import dataclasses

    flipped = find_flips(dets.world3d, dets.detected)
    n = int(flipped.sum())
    if not n:
        return dets, 0
    swap = {"keypoints2d": unflip(dets.keypoints2d, flipped), "world3d": unflip(dets.world3d, flipped)}
    for name in ("feet2d", "feet3d", "hands2d", "hands3d"):  # (T, 2, ...): [left, right]
        arr = getattr(dets, name, None)
        if arr is not None:
            arr = np.array(arr, copy=True)
            arr[flipped] = arr[flipped][:, ::-1]
            swap[name] = arr
    return dataclasses.replace(dets, **swap), n
