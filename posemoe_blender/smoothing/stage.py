"""The smoothing stage of one clip: the lifted joints low-passed at the clip's frame rate
(weighted by the detector's confidences), the body's camera-space path estimated from them and
smoothed likewise, both retimed to ``--fps-out`` when asked.

:func:`smooth_motion` is what :func:`~posemoe_blender.pipeline.process_clip` calls; the filters
themselves are in :mod:`.filters`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..options import ConvertOptions
from ..solving.root import estimate_root
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
    * ``cutoff_hz``: the joints' low-pass cutoff, 0.0 with smoothing off.
    """

    joints3d: np.ndarray
    root: np.ndarray
    fps: float
    source_fps: float
    cutoff_hz: float


def smooth_motion(joints3d: np.ndarray, keypoints2d: np.ndarray, root_keypoints2d: np.ndarray,
                  width: int, height: int, fps: float, options: ConvertOptions) -> Motion:
    """Smooth ``joints3d`` (T, 17, 3) metres with the confidences of ``keypoints2d`` (T, 17, 3)
    (pixels + confidence, gaps filled), at ``options.smoothing``'s cutoff
    (:func:`~.filters.cutoff_for_strength`); the root is fitted to ``root_keypoints2d`` (the 2D
    the joints are meant to project onto, in a ``width`` x ``height`` picture) and smoothed at
    most at :data:`ROOT_CUTOFF_HZ`; both are resampled to ``options.fps_out`` when it differs
    from ``fps``."""
    cutoff = filters.cutoff_for_strength(options.smoothing)
    if cutoff:
        joints3d = filters.smooth_joints(joints3d, fps, cutoff_hz=cutoff, confidence=keypoints2d[..., 2])
    root = estimate_root(joints3d, root_keypoints2d, width, height)
    if cutoff:
        root = filters.smooth_joints(root[:, None, :], fps, cutoff_hz=min(cutoff, ROOT_CUTOFF_HZ))[:, 0]
    out_fps = fps
    if options.fps_out and abs(options.fps_out - fps) > 1e-6:
        joints3d = filters.resample(joints3d, fps, options.fps_out)
        root = filters.resample(root[:, None, :], fps, options.fps_out)[:, 0]
        out_fps = float(options.fps_out)
    return Motion(joints3d, root, out_fps, fps, cutoff)
