"""The solving stage of one clip: the smoothed joints placed in armature space with constant
bone lengths (:mod:`.body`), the feet pinned where they are planted (:mod:`.footlock`), then the
root trajectory, the feet and every bone's rotation (:func:`.body.animation_from`).

:func:`solve_motion` is what :func:`~posemoe_blender.pipeline.process_clip` calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..camera import derotate_pixels
from ..options import ConvertOptions
from ..smoothing import filters as smoothing
from ..smoothing.stage import Motion
from .body import animation_from, place_joints
from .fingers import HandKeys
from .footlock import FootLock, lock_feet
from .skeleton import Animation


@dataclass
class Solved:
    """The solving stage's record: the rig's ``animation`` and the foot lock's result
    (``foot_lock``, None with ``ConvertOptions.foot_lock`` off)."""

    animation: Animation
    foot_lock: Optional[FootLock]


def solve_motion(motion: Motion, keypoints2d: np.ndarray, feet3d: Optional[np.ndarray], hands: HandKeys,
                 options: ConvertOptions, timings: Optional[dict] = None) -> Solved:
    """Solve ``motion`` onto the generated rig. ``keypoints2d`` (T, 17, 3) pixels + confidence at
    ``motion.source_fps`` (the foot lock's 2D stillness); ``feet3d`` (T, 2, 3, 4) BlazePose's
    ankle/heel/toe-tip world landmarks + visibility, or None; ``hands``: the hands' keys.
    ``timings`` (seconds) gets ``solve`` and ``foot_lock``. With a moving camera
    (``motion.camera_rotations``) the joints are already in the first frame's camera axes and the
    foot lock's 2D is turned into that frame's view too."""
    timings = {} if timings is None else timings
    frames, fps, source_fps = motion.joints3d.shape[0], motion.fps, motion.source_fps
    t0 = time.perf_counter()
    placed = place_joints(motion.joints3d, motion.root, fps)
    timings["solve"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    lock = None
    if options.foot_lock:
        kp_out = keypoints2d if keypoints2d.shape[0] == frames else smoothing.resample(keypoints2d, source_fps, fps)
        if motion.camera_rotations is not None:  # a planted foot is still in the first frame's view
            kp_out = derotate_pixels(kp_out, motion.camera_rotations, *motion.pinhole)
        lock = lock_feet(placed.joints, fps, keypoints2d=kp_out)
    timings["foot_lock"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if feet3d is not None and feet3d.shape[0] != frames:  # --fps-out: the nearest source frame
        feet3d = feet3d[smoothing.nearest_frames(frames, source_fps, fps, len(feet3d))]
    anim = animation_from(placed, lock, fps, root_motion=options.root_motion, feet3d=feet3d,
                          fingers=hands.fingers, palms=hands.palms)
    timings["solve"] += time.perf_counter() - t0
    return Solved(anim, lock)
