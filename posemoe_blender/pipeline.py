"""Video -> 3D joints -> solved animation, without Blender: the stages in order.

Each stage is a package with one entry point that takes and returns a record:

1. :func:`~.detection.clip.detect_clip` (video, BlazePose, hands, flips, time base) -> :class:`~.detection.clip.DetectedClip`;
2. :func:`~.lifting.stage.lift` (gap-filled 2D + MediaPipe's 3D -> root-relative 3D) -> :class:`~.lifting.stage.Lifted`;
3. :func:`~.smoothing.stage.smooth_motion` (joints and root path, ``--fps-out``) -> :class:`~.smoothing.stage.Motion`;
4. :func:`~.solving.fingers.hand_keys` (the fingers and palms) -> :class:`~.solving.fingers.HandKeys`;
5. :func:`~.solving.stage.solve_motion` (bone lengths, foot lock, root, rotations) -> :class:`~.solving.stage.Solved`.

:func:`process_clip` runs them and returns a :class:`ClipResult`; :mod:`.convert` adds the
retargeting and the outputs.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .detection.camera_motion import CameraMotion
from .detection.clip import detect_clip
from .errors import PoseMoEError
from .lifting import stage as lifting
from .options import LIFTERS, NETWORK_NAMES, ConvertOptions, check_lifter
from .smoothing.filters import fill_gaps
from .smoothing.stage import smooth_motion
from .solving.fingers import HandSolve, hand_keys
from .solving.footlock import FootLock
from .solving.skeleton import Animation
from .solving.stage import solve_motion

Progress = Callable[[int, int], None]

#: The choices and their defaults live in :mod:`posemoe_blender.options` (no heavy imports).
__all__ = ["ConvertOptions", "LIFTERS", "NETWORK_NAMES", "ClipResult", "process_clip", "check_lifter"]


@dataclass
class ClipResult:
    """The outcome of the bpy-free part of a conversion.

    * ``keypoints2d``: (T, 17, 3) detected pixels + confidence (gaps filled);
    * ``joints3d``: (T', 17, 3) metres, root-relative camera coordinates, smoothed;
    * ``root``: (T', 3) metres, Pelvis in camera coordinates;
    * ``lifter``: what lifted the 2D: the network's kind from its weights file's config
      (``posemoe``, ``entangled``, ...) or ``mediapipe-world`` (with the reason when a
      network was asked for but its weights file is missing);
    * ``animation``: the solved rig animation (Blender axes), T' frames at ``fps``.
    T' differs from T only with ``fps_out``.
    * ``gaps``: :class:`~.smoothing.filters.Gap` list (frame numbers relative to ``start``, the
      first video frame converted); ``undetected``: frames in which nobody was found;
      ``expected_frames``: frames the container announced for the range (more than T when the
      file ends early, e.g. a truncated download).
    * ``variable_rate``: the clip had a variable frame rate; its detections were resampled to
      a regular ``source_fps`` time base (frame numbers then count regular frames).
    * ``followed``: which person was followed (see :class:`~.detection.body.PersonFollower`).
    * ``timings``: seconds per stage: ``decode`` (decoder thread, overlaps detection),
      ``decode_wait`` (detection waiting for frames), ``detect``, ``hands_setup`` and
      ``hands`` (MediaPipe Hands, during detection), ``decode+detect`` (wall), ``lift``,
      ``smooth``, ``hands_solve``, ``foot_lock``, ``solve``.
    * ``camera`` / ``camera_rotations``: the camera's estimate and, when it was taken as moving,
      the rotation removed: ``joints3d``, ``root`` and the animation are then in the first
      frame's camera axes.
    * ``hands``: :class:`~.solving.fingers.HandSolve` (the hands smoothed, the fingers' flexion on the
      2D's time base) or None with ``ConvertOptions.hands`` off.
    """

    keypoints2d: np.ndarray
    joints3d: np.ndarray
    root: np.ndarray
    animation: Animation
    fps: float
    source_fps: float
    width: int
    height: int
    lifter: str
    gaps: list
    timings: dict = field(default_factory=dict)
    followed: dict = field(default_factory=dict)
    undetected: int = 0
    start: int = 0
    expected_frames: int = 0
    variable_rate: bool = False
    world3d: Optional[np.ndarray] = None   # (T, 17, 3) MediaPipe's world landmarks, gaps filled (the 2D's time base)
    foot_lock: Optional[FootLock] = None  # the foot-locking stage's result (None: off)
    feet2d: Optional[np.ndarray] = None    # (T, 2, 3, 3) ankles, heels, toe tips: pixels + visibility (the 2D's time base)
    hands: Optional[HandSolve] = None  # the hands, smoothed, and the fingers' flexion (the 2D's time base); None: hands off
    camera: Optional[CameraMotion] = None  # the camera's estimated motion (the 2D's time base); None: --camera still
    camera_rotations: Optional[np.ndarray] = None  # (T', 3, 3) the rotation removed (animation's time base); None: still


@contextmanager
def _timed(timings: dict, key: str):
    """Add the seconds the block takes to ``timings[key]``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0


def process_clip(video_path: str, options: ConvertOptions, progress: Optional[Progress] = None,
                 lift_gate: Optional[threading.Event] = None) -> ClipResult:
    """Run detection, lifting, smoothing and solving on one clip. Raises PoseMoEError.

    The lifter's weights are loaded first (a bad file fails before detection). ``lift_gate``:
    wait for this event before lifting (a caller importing Blender on another thread sets it
    when the import is over: torch must not load or run while bpy's extension initialises).
    """
    timings: dict = {}
    with _timed(timings, "lift_setup"):
        lifter = lifting.resolve_lifter(options)
    clip = detect_clip(video_path, options, progress, timings)
    dets, fps = clip.detections, float(clip.detections.fps)
    if lift_gate is not None:
        lift_gate.wait()
    with _timed(timings, "lift"):
        kp2d, gaps = fill_gaps(dets.keypoints2d, fps, max_gap_s=options.max_gap_s)
        lifted = lifting.lift(kp2d, gaps, dets, fps, options, lifter)
    with _timed(timings, "smooth"):
        motion = smooth_motion(lifted.joints3d, kp2d, lifted.keypoints2d, dets.width, dets.height, fps, options,
                               camera_rotations=clip.camera_rotations)
    with _timed(timings, "hands_solve"):
        hands = hand_keys(dets.hands2d, dets.hands3d, fps, motion.cutoff_hz, kp2d.shape[0],
                          motion.joints3d.shape[0], motion.fps, options)
    solved = solve_motion(motion, kp2d, dets.feet3d, hands, options, timings)
    for name, arr in (("joints3d", motion.joints3d), ("root", motion.root), ("rotations", solved.animation.rotations)):
        if not np.all(np.isfinite(arr)):
            raise PoseMoEError(f"{video_path}: internal error, {name} has NaN values")
    return ClipResult(kp2d.astype(np.float32), motion.joints3d.astype(np.float32), motion.root.astype(np.float32),
                      solved.animation, motion.fps, fps, dets.width, dets.height, lifted.label, gaps, timings,
                      followed=dets.followed, undetected=int((~dets.detected).sum()), start=clip.start,
                      expected_frames=clip.expected_frames, variable_rate=clip.variable_rate,
                      world3d=lifted.world3d.astype(np.float32), foot_lock=solved.foot_lock,
                      feet2d=dets.feet2d, hands=hands.solve, camera=dets.camera,
                      camera_rotations=motion.camera_rotations)
