"""The joint contract shared by every stage, the CLI, the tests and the benchmarks.

Seventeen joints in the Human3.6M order. Arrays of joints are ``(T, 17, 3)``:

* ``joints3d``: float32 metres, root-relative (Pelvis at the origin), camera-oriented
  (x right, y down, z forward, away from the camera);
* ``keypoints2d``: pixels (x right, y down, origin at the top-left corner of the upright
  image) plus a confidence in [0, 1] in the last channel;
* ``root``: (T, 3) metres, the Pelvis in camera coordinates (only written by ``convert``).

An ``.npz`` following the contract also holds ``fps`` (float), ``width`` and ``height``
(ints, pixels of the upright image) and ``joint_names`` (the 17 names below, in order).
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np

from .errors import PoseMoEError
from .fileio import atomic_output

JOINT_NAMES = (
    "Pelvis", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Spine", "Thorax",
    "Neck", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}

#: Parent joint of each joint (-1 for the Pelvis, the root).
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

#: Left/right partner of each joint (itself for the centre line); used for mirroring.
MIRROR = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)

#: (parent, child) joint pairs, one per bone of the skeleton.
BONES = tuple((PARENTS[j], j) for j in range(1, NUM_JOINTS))


def save_npz(path: str | os.PathLike, compressed: bool = False, **arrays) -> None:
    """Write an ``.npz`` atomically (temporary file in the same folder, then rename), zlib
    compressed when ``compressed``.

    ``joint_names`` is added when absent. Raises :class:`PoseMoEError` if the folder is not
    writable.
    """
    path = os.fspath(path)
    arrays.setdefault("joint_names", np.array(JOINT_NAMES))
    with atomic_output(path, ".npz") as tmp:
        with open(tmp, "wb") as fh:
            (np.savez_compressed if compressed else np.savez)(fh, **arrays)


def load_npz(path: str | os.PathLike, required: tuple[str, ...]) -> Mapping[str, np.ndarray]:
    """Read a contract ``.npz`` and check the keys in ``required`` and the arrays' contents.

    ``keypoints2d``, ``joints3d`` and ``world3d``, where present, must be real numbers of shape
    ``(T, 17, 3)`` with ``T > 0``, all finite; the confidence of ``keypoints2d`` (last channel)
    in [0, 1]. ``fps`` (frames per second) must be one finite number > 0, ``width`` and
    ``height`` (pixels) one whole number > 0 each. Raises :class:`PoseMoEError` with a
    one-line reason when the file is missing, not an npz, lacks a key or breaks these rules.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise PoseMoEError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in data.files}
    except Exception as exc:  # zipfile/ValueError/OSError: all mean "not a valid npz"
        raise PoseMoEError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    missing = [k for k in required if k not in out]
    if missing:
        raise PoseMoEError(f"{path}: missing array(s) {', '.join(missing)}")
    for key in ("keypoints2d", "joints3d", "world3d"):
        if key in out:
            arr = out[key]
            if not _real(arr):
                raise PoseMoEError(f"{path}: {key} holds {arr.dtype} values, expected numbers")
            if arr.ndim != 3 or arr.shape[1:] != (NUM_JOINTS, 3) or arr.shape[0] == 0:
                raise PoseMoEError(
                    f"{path}: {key} has shape {arr.shape}, expected (T, {NUM_JOINTS}, 3) with T > 0")
            if not np.all(np.isfinite(arr)):
                bad = np.argwhere(~np.isfinite(arr))[0]
                raise PoseMoEError(f"{path}: {key} contains NaN or infinite values "
                                   f"(first at frame {bad[0]}, joint {JOINT_NAMES[bad[1]]})")
    if "keypoints2d" in out:
        conf = out["keypoints2d"][..., 2]
        if conf.min() < 0.0 or conf.max() > 1.0:
            raise PoseMoEError(f"{path}: keypoints2d confidence (last channel) outside [0, 1] "
                               f"({float(conf.min()):g} to {float(conf.max()):g})")
    for key, whole in (("fps", False), ("width", True), ("height", True)):
        if key in out:
            v = out[key]
            ok = _real(v) and v.size == 1 and np.isfinite(v).all() and float(v.reshape(())) > 0
            if ok and whole:
                ok = float(v.reshape(())) == int(v.reshape(()))
            if not ok:
                kind = "a whole number of pixels > 0" if whole else "a number of frames per second > 0"
                raise PoseMoEError(f"{path}: {key} is {_short(v)}, expected {kind}")
    return out


def _real(arr: np.ndarray) -> bool:
    """Whether ``arr`` holds real numbers (ints, floats, bools)."""
    return np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating) or arr.dtype == bool


def _short(arr: np.ndarray) -> str:
    """``arr`` for an error line: its value when it is one number, else its shape and type."""
    if arr.size == 1 and _real(arr):
        return repr(arr.reshape(()).item())
    return f"an array of shape {arr.shape} ({arr.dtype})"

#: MediaPipe's 21 hand landmarks (0 wrist, 1-4 thumb, 5-8 index, 9-12 middle, 13-16 ring, 17-20 little).
NUM_HAND_LANDMARKS = 21
#: Landmark chains per finger (wrist first): thumb, index, middle, ring, little.
FINGERS = ((0, 1, 2, 3, 4), (0, 5, 6, 7, 8), (0, 9, 10, 11, 12), (0, 13, 14, 15, 16), (0, 17, 18, 19, 20))
FINGER_NAMES = ("Thumb", "Index", "Middle", "Ring", "Little")
#: Unity's Humanoid names of the three bones of each finger.
PHALANX_NAMES = ("Proximal", "Intermediate", "Distal")
