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
    """Read a contract ``.npz`` and check the keys in ``required`` and the array shapes.

    Raises :class:`PoseMoEError` with a one-line reason when the file is missing, not an npz,
    lacks a key or has a wrong shape.
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
    for key in ("keypoints2d", "joints3d"):
        if key in out:
            arr = out[key]
            if arr.ndim != 3 or arr.shape[1:] != (NUM_JOINTS, 3) or arr.shape[0] == 0:
                raise PoseMoEError(
                    f"{path}: {key} has shape {arr.shape}, expected (T, {NUM_JOINTS}, 3) with T > 0")
            if not np.all(np.isfinite(arr)):
                raise PoseMoEError(f"{path}: {key} contains NaN or infinite values")
    return out

#: MediaPipe's 21 hand landmarks (0 wrist, 1-4 thumb, 5-8 index, 9-12 middle, 13-16 ring, 17-20 little).
NUM_HAND_LANDMARKS = 21
#: Landmark chains per finger (wrist first): thumb, index, middle, ring, little.
FINGERS = ((0, 1, 2, 3, 4), (0, 5, 6, 7, 8), (0, 9, 10, 11, 12), (0, 13, 14, 15, 16), (0, 17, 18, 19, 20))
FINGER_NAMES = ("Thumb", "Index", "Middle", "Ring", "Little")
#: Unity's Humanoid names of the three bones of each finger.
PHALANX_NAMES = ("Proximal", "Intermediate", "Distal")
