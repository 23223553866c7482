"""Video -> 3D joints -> solved animation, without Blender.

This module only strings the stages together; each stage lives in its own module:
:mod:`.video` (streaming decode), :mod:`.detection` (BlazePose -> 17 joints),
:mod:`.lifting` (PoseMoE or the entangled transformer, see :data:`LIFTERS`),
:mod:`.smoothing` (gaps, filtering, resampling), :mod:`.solving` (joints placed in armature
space), :mod:`.footlock` (contacts, pinned feet) and :mod:`.solving` again (the root trajectory,
decided in :func:`~.solving.root_trajectory`, and the bone rotations).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .errors import PoseMoEError
from .options import LIFTERS, NETWORK_NAMES, ConvertOptions, check_lifter
from .detection import body as detection, landmarks, sides
from .solving import fingers as fingers_mod
from .solving import footlock, body as solving
from .solving.root import estimate_root
from .lifting import stage as lifting
from .smoothing import filters as smoothing
from .solving.skeleton import Animation
from .video.reader import open_video

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
    * ``gaps``: :class:`~.smoothing.Gap` list (frame numbers relative to ``start``, the
      first video frame converted); ``undetected``: frames in which nobody was found;
      ``expected_frames``: frames the container announced for the range (more than T when the
      file ends early, e.g. a truncated download).
    * ``variable_rate``: the clip had a variable frame rate; its detections were resampled to
      a regular ``source_fps`` time base (frame numbers then count regular frames).
    * ``followed``: which person was followed (see :class:`~.detection.PersonFollower`).
    * ``timings``: seconds per stage: ``decode`` (decoder thread, overlaps detection),
      ``decode_wait`` (detection waiting for frames), ``detect``, ``hands_setup`` and
      ``hands`` (MediaPipe Hands, during detection), ``decode+detect`` (wall), ``lift``,
      ``smooth``, ``hands_solve``, ``foot_lock``, ``solve``.
    * ``hands``: :class:`~.hands.HandSolve` (the hands smoothed, the fingers' flexion on the
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
    foot_lock: Optional[footlock.FootLock] = None  # the foot-locking stage's result (None: off)
    feet2d: Optional[np.ndarray] = None    # (T, 2, 3, 3) ankles, heels, toe tips: pixels + visibility (the 2D's time base)
    hands: Optional[fingers_mod.HandSolve] = None  # the hands, smoothed, and the fingers' flexion (the 2D's time base); None: hands off


def _check_range(start: int, end: Optional[int], frame_count: int, path: str) -> tuple[int, int]:
    if start < 0:
        raise PoseMoEError(f"{path}: --start must be >= 0 (got {start})")
    stop = frame_count if end is None else min(end, frame_count)
    if stop <= start:
        raise PoseMoEError(f"{path}: empty frame range {start}..{end} (the clip has {frame_count} frames)")
    return start, stop


def process_clip(video_path: str, options: ConvertOptions, progress: Optional[Progress] = None,
                 lift_gate: Optional[threading.Event] = None) -> ClipResult:
    """Run detection, lifting, smoothing and solving on one clip. Raises PoseMoEError.

    The lifter's weights are loaded first (a bad file fails before detection). ``lift_gate``:
    wait for this event before lifting (a caller importing Blender on another thread sets it
    when the import is over: torch must not load or run while bpy's extension initialises).
    """
    timings = {}
    t0 = time.perf_counter()
    lifter = lifting.resolve_lifter(options)  # a bad weights file fails before detection
    timings["lift_setup"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with open_video(video_path) as reader:
        start, stop = _check_range(options.start, options.end, reader.frame_count, str(video_path))
        extra = {"hands": True} if options.hands else {}  # a cache of detections may not know hands
        dets = detection.detect_video(reader, start=start, end=stop, progress=progress,
                                      timings=timings, **extra)
        timings["decode"] = reader.decode_seconds
    timings["decode+detect"] = time.perf_counter() - t0
    dets, _ = sides.unflip_detections(dets)  # the detector's left/right flips undone (detection/sides.py)
    fps = float(dets.fps)
    grid = smoothing.regular_grid(dets.times, fps) if dets.times is not None else None
    if grid is not None:  # variable frame rate: sample the detections at regular times
        valid = dets.detected
        kp, det_ok = smoothing.resample_detections(dets.keypoints2d, dets.times, grid, valid)
        world, _ = smoothing.resample_detections(dets.world3d, dets.times, grid, valid)
        kp[~det_ok] = 0.0
        world[~det_ok] = 0.0
        feet = {}
        for key in ("feet2d", "feet3d", "hands2d", "hands3d"):
            arr = getattr(dets, key, None)
            if arr is not None:
                ok = valid
                if key.startswith("hands"):  # blend two frames only where both hands were seen in each
                    ok = valid & (dets.hands2d[..., 0, 2] > 0).all(axis=1)
                arr = smoothing.resample_detections(arr, dets.times, grid, ok)[0]
                arr[~det_ok] = 0.0
                feet[key] = arr
        # a copy: detections may be shared (e.g. memoised by evaluate_render)
        dets = dataclasses.replace(dets, keypoints2d=kp, world3d=world, detected=det_ok,
                                   times=grid, frame_indices=np.arange(len(grid)) + start, **feet)
    variable_rate = grid is not None

    if lift_gate is not None:
        lift_gate.wait()
    t0 = time.perf_counter()
    kp2d, gaps = smoothing.fill_gaps(dets.keypoints2d, fps, max_gap_s=options.max_gap_s)
    lifted = lifting.lift(kp2d, gaps, dets, fps, options, lifter, fill_gaps=smoothing.fill_gaps,
                          correct_2d=landmarks.to_training_convention)
    joints3d, kp_lift, world3d = lifted.joints3d, lifted.keypoints2d, lifted.world3d
    timings["lift"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    confidence = kp2d[..., 2]
    cutoff = smoothing.cutoff_for_strength(options.smoothing)
    if cutoff:
        joints3d = smoothing.smooth_joints(joints3d, fps, cutoff_hz=cutoff, confidence=confidence)
    root = estimate_root(joints3d, kp_lift, dets.width, dets.height)
    if cutoff:
        root = smoothing.smooth_joints(root[:, None, :], fps, cutoff_hz=min(cutoff, 3.0))[:, 0]
    out_fps = fps
    if options.fps_out and abs(options.fps_out - fps) > 1e-6:
        joints3d = smoothing.resample(joints3d, fps, options.fps_out)
        root = smoothing.resample(root[:, None, :], fps, options.fps_out)[:, 0]
        out_fps = float(options.fps_out)
    timings["smooth"] = time.perf_counter() - t0

    t0 = time.perf_counter()  # fingers: relaxed where unseen, or everywhere (hands off / no hands in the detections)
    hand_solve = None
    if options.hands:
        hand_solve = fingers_mod.solve_hands(getattr(dets, "hands2d", None), getattr(dets, "hands3d", None),
                                           fps, cutoff_hz=cutoff, frames=kp2d.shape[0])
        fingers = hand_solve.rig_angles()  # the flexion, the bases' flexion and the spread
        # the hand bones turn with the palms (``ConvertOptions.hand_rotation``)
        palms = (hand_solve.palm, hand_solve.palm_weight) if getattr(options, "hand_rotation", True) else None
        if fingers.shape[0] != joints3d.shape[0]:
            fingers = fingers_mod.resample_fingers(fingers, fps, out_fps)
            near = smoothing.nearest_frames(joints3d.shape[0], fps, out_fps, len(hand_solve.weight))
            palms = None if palms is None else (hand_solve.palm[near], hand_solve.palm_weight[near])
    else:
        fingers = palms = None
    timings["hands_solve"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    placed = solving.place_joints(joints3d, root, out_fps)
    timings["solve"] = time.perf_counter() - t0

    t0 = time.perf_counter()  # foot locking: contacts, pins, the body on its planted feet
    lock = None
    if options.foot_lock:
        kp_out = kp2d if kp2d.shape[0] == joints3d.shape[0] else smoothing.resample(kp2d, fps, out_fps)
        lock = footlock.lock_feet(placed.joints, out_fps, keypoints2d=kp_out)
    timings["foot_lock"] = time.perf_counter() - t0

    t0 = time.perf_counter()  # the root trajectory (one place), the feet and the bone rotations
    feet3d = getattr(dets, "feet3d", None)
    if feet3d is not None and feet3d.shape[0] != joints3d.shape[0]:  # --fps-out: nearest source frame
        feet3d = feet3d[smoothing.nearest_frames(joints3d.shape[0], fps, out_fps, len(feet3d))]
    anim = solving.animation_from(placed, lock, out_fps, root_motion=options.root_motion,
                                  feet3d=feet3d, fingers=fingers, palms=palms)
    timings["solve"] += time.perf_counter() - t0
    for name, arr in (("joints3d", joints3d), ("root", root), ("rotations", anim.rotations)):
        if not np.all(np.isfinite(arr)):
            raise PoseMoEError(f"{video_path}: internal error, {name} has NaN values")
    return ClipResult(kp2d.astype(np.float32), joints3d.astype(np.float32), root.astype(np.float32),
                      anim, out_fps, fps, dets.width, dets.height, lifted.label, gaps, timings,
                      followed=dets.followed, undetected=int((~dets.detected).sum()), start=start,
                      expected_frames=stop - start if not variable_rate else kp2d.shape[0],
                      variable_rate=variable_rate, world3d=world3d.astype(np.float32),
                      foot_lock=lock, feet2d=getattr(dets, "feet2d", None), hands=hand_solve)
