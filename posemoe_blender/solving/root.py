"""Where the body is: the camera axes, the root estimate and the pelvis' path (no bpy here).

* :data:`CAMERA_TO_BLENDER`: camera coordinates (x right, y down, z forward, metres) ->
  Blender axes (X right, Y forward away from the camera, Z up), ``(x, y, z) -> (x, z, -y)``;
* :func:`estimate_root`: the Pelvis' camera-space position per frame from the 2D keypoints and
  the root-relative 3D joints (focal length :func:`default_focal_px` unless given);
* :func:`root_trajectory` / :class:`RootTrajectory`: the one place that decides the pelvis'
  path in armature space (placement, foot locking, ``root_motion``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..camera import fit_root
from ..errors import PoseMoEError
from ..joints import NUM_JOINTS

if TYPE_CHECKING:
    from .body import PlacedJoints

#: 35 mm-equivalent focal length assumed for phone videos when none is given (mm).
DEFAULT_FOCAL_35MM = 27.0

#: Camera (x right, y down, z forward) -> Blender (X right, Y forward, Z up).
CAMERA_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def check_joints(name: str, arr, shape_tail=(NUM_JOINTS, 3)) -> np.ndarray:
    """``arr`` as a float64 array (T, *shape_tail), T > 0, all finite; else a
    :class:`~posemoe_blender.errors.PoseMoEError` naming it ``name``."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail or arr.shape[0] == 0:
        raise PoseMoEError(f"{name}: shape {arr.shape}, expected (T, {', '.join(map(str, shape_tail))})")
    if not np.all(np.isfinite(arr)):
        raise PoseMoEError(f"{name}: contains NaN or infinite values")
    return arr


def default_focal_px(width: int, height: int, equiv_mm: float = DEFAULT_FOCAL_35MM) -> float:
    """Focal length in pixels for a ``equiv_mm`` 35 mm-equivalent lens (diagonal-based).

    ``f_px = equiv_mm / 43.27 * hypot(width, height)`` (43.27 mm = the 35 mm frame's
    diagonal). 27 mm is a typical phone main camera (about 70 degrees across the long side).
    """
    return float(equiv_mm / 43.267 * np.hypot(width, height))


def estimate_root(joints3d: np.ndarray, keypoints2d: np.ndarray, width: int, height: int,
                  focal_px: float | None = None, min_depth: float = 0.3,
                  principal_point: tuple[float, float] | None = None) -> np.ndarray:
    """Camera-space translation of the root per frame from 2D/3D correspondences.

    Args:
        joints3d: (T, 17, 3) metres, root-relative, camera oriented (x right, y down, z fwd).
        keypoints2d: (T, 17, 3) pixels x, y and confidence (weights; 0 = ignored).
        width, height: image size in pixels; the principal point is the image centre.
        focal_px: focal length in pixels (default :func:`default_focal_px`).
        min_depth: the root depth is kept at least this far from the camera (metres).
        principal_point: (cx, cy) in pixels; default the image centre.

    Returns:
        (T, 3) float64 root (Pelvis) positions in camera coordinates, metres. For each frame
        ``t`` minimises the confidence-weighted linearised reprojection error
        ``u' (Z + tz) = f (X + tx)``, ``v' (Z + tz) = f (Y + ty)`` (``u' = u - cx``), refined
        by one re-weighting with ``1 / (Z + tz)`` (approximates the pixel error). Frames with
        fewer than 2 confident joints are interpolated from the others (or held).
    """
    joints3d = check_joints("joints3d", joints3d)
    keypoints2d = check_joints("keypoints2d", keypoints2d)
    if joints3d.shape != keypoints2d.shape:
        raise PoseMoEError(f"joints3d {joints3d.shape} and keypoints2d {keypoints2d.shape} differ")
    f = float(focal_px) if focal_px else default_focal_px(width, height)
    cx, cy = principal_point if principal_point is not None else (width / 2.0, height / 2.0)
    root, valid = fit_root(joints3d, keypoints2d, f, cx, cy, min_depth=min_depth)
    T = joints3d.shape[0]
    if not valid.any():
        raise PoseMoEError("keypoints2d: no frame has two confident joints to place the root")
    if not valid.all():
        idx = np.arange(T)
        for k in range(3):
            root[~valid, k] = np.interp(idx[~valid], idx[valid], root[valid, k])
    return root


@dataclass
class RootTrajectory:
    """Where the pelvis goes, decided in one place (:func:`root_trajectory`).

    ``pelvis`` (T, 3) armature space; the camera mapping ``camera_to_armature`` (3, 3) and
    ``armature_offset`` (3,) and the per-frame ``shift`` (T, 3) (frames raised onto the floor,
    the body moved onto its planted feet) relate it to the camera-space root estimate:
    ``pelvis[t] = camera_to_armature @ root_camera[t] + armature_offset + shift[t]`` (with
    ``root_motion`` off for Z only: X/Y stay above the origin; with foot locking up to the
    locking's small pelvis drop)."""

    pelvis: np.ndarray
    camera_to_armature: np.ndarray
    armature_offset: np.ndarray
    shift: np.ndarray
    floor_offset: float
    root_motion: bool


def root_trajectory(placed: PlacedJoints, lock=None, root_motion: bool = True) -> tuple[np.ndarray, RootTrajectory]:
    """The one place that decides the body's path: the placed joints (``placed``, a
    :class:`~.body.PlacedJoints`: camera root estimate, grounding), then the foot lock's levelling and its body-on-planted-feet shift (``lock``:
    a :class:`~.footlock.FootLock` of ``placed.joints``, or None), then ``root_motion`` off
    (the pelvis kept above the origin, its height kept). Returns the final joints (T, 17, 3)
    and the :class:`RootTrajectory`."""
    A = np.array(placed.camera_to_armature, dtype=np.float64)
    offset = np.array(placed.armature_offset, dtype=np.float64)
    floor = float(placed.floor_offset)
    shift = np.zeros((placed.joints.shape[0], 3))
    shift[:, 2] = placed.ground_lift
    P = np.array(placed.joints, dtype=np.float64)
    if lock is not None:
        R = np.asarray(lock.ground_rotation, dtype=np.float64)
        A, offset = R @ A, R @ offset + np.asarray(lock.ground_translation)
        shift = shift @ R.T + lock.root_shift
        floor += lock.floor_shift
        P = np.array(lock.joints, dtype=np.float64)
    if not root_motion:  # Pelvis kept above the origin: the camera mapping only holds for Z
        P[:, :, :2] -= P[:, :1, :2]
    return P, RootTrajectory(pelvis=P[:, 0].copy(), camera_to_armature=A, armature_offset=offset,
                             shift=shift, floor_offset=floor, root_motion=bool(root_motion))

