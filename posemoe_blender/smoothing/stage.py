"""The smoothing stage of one clip: the lifted joints low-passed at the clip's frame rate
(weighted by the detector's confidences), the body's camera-space path estimated from them and
smoothed likewise, both retimed to ``--fps-out`` when asked.

:func:`smooth_motion` is what :func:`~posemoe_blender.pipeline.process_clip` calls; the filters
themselves are in :mod:`.filters`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..options import ConvertOptions
from ..solving.root import default_focal_px, estimate_root
from . import filters

#: Highest cutoff (Hz) of the root's path: the whole body moves slower than its limbs.
ROOT_CUTOFF_HZ = 3.0


@dataclass
class Motion:
    """The smoothing stage's record (T' frames at ``fps``; T' = T unless retimed).

    * ``joints3d``: (T', 17, 3) metres, root-relative camera coordinates, smoothed;
    * ``root``: (T', 3) metres, the Pelvis in camera coordinates, smoothed;
    * ``fps``: the animation's frame rate (``--fps-out`` or the clip's);
    * ``source_fps``: the clip's (the 2D's) frame rate;
    * ``cutoff_hz``: the joints' low-pass cutoff, 0.0 with smoothing off;
    * ``camera_rotations``: (T', 3, 3) the camera's rotation per frame (first frame's camera
      axes -> frame t's) when it was removed: ``joints3d`` and ``root`` are then in the *first
      frame's* camera axes (a world frame fixed at the first frame); None for a still camera;
    * ``pinhole``: ``(f, cx, cy)`` pixels, the camera the root was fitted with.

    "Camera coordinates" below are the first frame's when ``camera_rotations`` is set.
    """

    joints3d: np.ndarray
    root: np.ndarray
    fps: float
    source_fps: float
    cutoff_hz: float
    camera_rotations: Optional[np.ndarray] = None
    pinhole: Optional[tuple] = None


def smooth_motion(joints3d: np.ndarray, keypoints2d: np.ndarray, root_keypoints2d: np.ndarray,
                  width: int, height: int, fps: float, options: ConvertOptions,
                  camera_rotations: Optional[np.ndarray] = None) -> Motion:
    """Smooth ``joints3d`` (T, 17, 3) metres with the confidences of ``keypoints2d`` (T, 17, 3)
    (pixels + confidence, gaps filled), at ``options.smoothing``'s cutoff
    (:func:`~.filters.cutoff_for_strength`); the root is fitted to ``root_keypoints2d`` (the 2D
    the joints are meant to project onto, in a ``width`` x ``height`` picture) and smoothed at
    most at :data:`ROOT_CUTOFF_HZ`; both are resampled to ``options.fps_out`` when it differs
    from ``fps``.

    ``camera_rotations`` (T, 3, 3), a moving camera's rotation per frame (``X_t = R_t X_0``,
    :class:`~..detection.camera_motion.CameraMotion`): the one place its turning is removed. The
    joints are turned into the first frame's camera axes (``R_t^T``) and smoothed there, the root
    is fitted in each frame's own camera (where the 2D was seen) and turned likewise, so the
    solve (up, floor, foot lock, facing) sees the person's motion, not the camera's. None: a
    still camera, computed exactly as without this argument."""
    cutoff = filters.cutoff_for_strength(options.smoothing)
    rot = None if camera_rotations is None else np.asarray(camera_rotations, np.float64)
    if rot is not None:
        joints3d = np.einsum("tji,tkj->tki", rot, joints3d)  # R_t^T: into the first frame's axes
    if cutoff:
        joints3d = filters.smooth_joints(joints3d, fps, cutoff_hz=cutoff, confidence=keypoints2d[..., 2])
    if rot is None:
        root = estimate_root(joints3d, root_keypoints2d, width, height)
    else:  # fitted where the 2D was seen, then turned into the first frame's axes
        seen = np.einsum("tij,tkj->tki", rot, joints3d)
        root = np.einsum("tji,tj->ti", rot, estimate_root(seen, root_keypoints2d, width, height))
    if cutoff:
        root = filters.smooth_joints(root[:, None, :], fps, cutoff_hz=min(cutoff, ROOT_CUTOFF_HZ))[:, 0]
    out_fps = fps
    if options.fps_out and abs(options.fps_out - fps) > 1e-6:
        joints3d = filters.resample(joints3d, fps, options.fps_out)
        root = filters.resample(root[:, None, :], fps, options.fps_out)[:, 0]
        out_fps = float(options.fps_out)
        if rot is not None:
            rot = rot[filters.nearest_frames(joints3d.shape[0], fps, out_fps, rot.shape[0])]
    pinhole = (default_focal_px(width, height), width / 2.0, height / 2.0)
    return Motion(joints3d, root, out_fps, fps, cutoff, rot, pinhole)
