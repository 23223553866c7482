"""The detection stage of one clip: decode, BlazePose (and the hands) on every frame of the range,
the detector's left/right flips undone and a variable frame rate put on a regular time base.

:func:`detect_clip` is what :func:`~posemoe_blender.pipeline.process_clip` calls; it returns a
:class:`DetectedClip` (the :class:`~.body.Detections` and where in the video they come from).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..errors import PoseMoEError
from ..options import ConvertOptions
from ..smoothing import filters as smoothing
from ..solving.root import default_focal_px
from ..video.reader import open_video
from . import body, camera_motion, sides

Progress = Callable[[int, int], None]

#: The per-frame arrays of :class:`~.body.Detections` that a variable frame rate resamples
#: besides the body's 2D and 3D landmarks.
EXTRA_ARRAYS = ("feet2d", "feet3d", "hands2d", "hands3d")


@dataclass
class DetectedClip:
    """The detection stage's record.

    * ``detections``: :class:`~.body.Detections` of the converted range (T frames), on a regular
      time base at ``detections.fps`` (left/right flips undone);
    * ``start``: the first video frame converted;
    * ``expected_frames``: frames the container announced for the range (more than T when the
      file ends early), T for a variable frame rate;
    * ``variable_rate``: the clip had a variable frame rate and was resampled;
    * ``camera_moving``: the camera's estimated rotation (``detections.camera``) is to be removed
      from the person's motion (``--camera``, :func:`~.camera_motion.decide_moving`).
    """

    detections: body.Detections
    start: int
    expected_frames: int
    variable_rate: bool = False
    camera_moving: bool = False

    @property
    def camera_rotations(self) -> Optional[np.ndarray]:
        """(T, 3, 3) the camera's rotation per frame (first frame's camera axes -> frame t's)
        when it is to be removed, else None (a still camera)."""
        return self.detections.camera.rotations if self.camera_moving else None


def check_range(start: int, end: Optional[int], frame_count: int, path: str) -> tuple[int, int]:
    """``(start, stop)`` video frames of ``--start``/``--end`` within a clip of ``frame_count``
    frames; PoseMoEError for a negative start or an empty range."""
    if start < 0:
        raise PoseMoEError(f"{path}: --start must be >= 0 (got {start})")
    stop = frame_count if end is None else min(end, frame_count)
    if stop <= start:
        raise PoseMoEError(f"{path}: empty frame range {start}..{end} (the clip has {frame_count} frames)")
    return start, stop


def regular_time_base(dets: body.Detections, start: int) -> Optional[body.Detections]:
    """The detections resampled at regular times when the clip's frame times are irregular (a
    variable frame rate), else None. A copy: the input may be shared (e.g. memoised by the lab).

    Frames without a detection stay zeros; the hands are blended between two frames only where
    both hands were seen in each."""
    grid = smoothing.regular_grid(dets.times, float(dets.fps)) if dets.times is not None else None
    if grid is None:
        return None
    valid = dets.detected
    kp, det_ok = smoothing.resample_detections(dets.keypoints2d, dets.times, grid, valid)
    world, _ = smoothing.resample_detections(dets.world3d, dets.times, grid, valid)
    kp[~det_ok] = 0.0
    world[~det_ok] = 0.0
    extra = {}
    for key in EXTRA_ARRAYS:
        arr = getattr(dets, key, None)
        if arr is not None:
            ok = valid
            if key.startswith("hands"):
                ok = valid & (dets.hands2d[..., 0, 2] > 0).all(axis=1)
            arr = smoothing.resample_detections(arr, dets.times, grid, ok)[0]
            arr[~det_ok] = 0.0
            extra[key] = arr
    if getattr(dets, "camera", None) is not None:  # the nearest decoded frame's camera
        nearest = np.clip(np.searchsorted(dets.times, grid), 1, len(dets.times) - 1)
        nearest -= grid - dets.times[nearest - 1] < dets.times[nearest] - grid
        extra["camera"] = dets.camera.resampled(nearest)
    return dataclasses.replace(dets, keypoints2d=kp, world3d=world, detected=det_ok,
                               times=grid, frame_indices=np.arange(len(grid)) + start, **extra)


def detect_clip(video_path: str, options: ConvertOptions, progress: Optional[Progress] = None,
                timings: Optional[dict] = None) -> DetectedClip:
    """Detect the person (and, with ``options.hands``, the hands) in ``options.start`` ..
    ``options.end`` of the video; unless ``options.camera`` is "still", estimate the camera's
    rotation in the same pass (the solve's focal length, :func:`~..solving.root.default_focal_px`)
    and decide whether it moved. ``timings`` (seconds) gets ``decode``, ``decode_wait``,
    ``detect``, ``hands_setup``, ``hands``, ``camera`` and ``decode+detect``. Raises
    PoseMoEError."""
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    with open_video(video_path) as reader:
        start, stop = check_range(options.start, options.end, reader.frame_count, str(video_path))
        extra = {"hands": True} if options.hands else {}  # a cache of detections may not know hands
        if options.camera != "still":
            extra["camera_focal_px"] = default_focal_px(reader.width, reader.height)
        dets = body.detect_video(reader, start=start, end=stop, progress=progress, timings=timings, **extra)
        timings["decode"] = reader.decode_seconds
    timings["decode+detect"] = time.perf_counter() - t0
    dets, _ = sides.unflip_detections(dets)
    moving = camera_motion.decide_moving(getattr(dets, "camera", None), options.camera)
    regular = regular_time_base(dets, start)
    if regular is None:
        return DetectedClip(dets, start, stop - start, camera_moving=moving)
    return DetectedClip(regular, start, regular.num_frames, variable_rate=True, camera_moving=moving)
