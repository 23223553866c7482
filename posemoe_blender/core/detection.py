"""2D/3D person keypoints with MediaPipe BlazePose, mapped to the 17 Human3.6M joints.

The mapping (33 BlazePose landmarks -> 17 H36M joints) is a fixed linear combination of
landmarks (see :data:`H36M_FROM_BLAZEPOSE` and ``docs/joint-mapping.md``); the confidence of
a joint is the *minimum* visibility of the landmarks it is built from.

Axes: MediaPipe's ``pose_landmarks`` are normalised image coordinates (x right, y down) and
are converted to pixels of the upright image. Its ``pose_world_landmarks`` are metres with
the origin between the hips and the same orientation as the image: x right, y down, z away
from the camera (checked on the sample clips: the head has negative y, the shoulder nearer
the camera has the smaller z). That is already the project's camera orientation, so world
points are only made root-relative (Pelvis at the origin), not rotated.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import PoseMoEError
from ..joints import JOINT_INDEX, NUM_JOINTS

#: Fraction of the way from Pelvis to Thorax where the Spine joint sits (H36M: ~0.47).
SPINE_FRACTION = 0.5
#: Neck (H36M "Neck/Nose") = Thorax + NECK_FRACTION * (Nose - Thorax).
NECK_FRACTION = 0.8
#: Head (top of head) = mid-ears + HEAD_EXTENSION * (mid-ears - Thorax).
HEAD_EXTENSION = 0.35

NUM_BLAZEPOSE = 33


def _mapping() -> tuple[np.ndarray, tuple[tuple[int, ...], ...]]:
    """Weights (17, 33) and source landmarks of each H36M joint."""
    w = np.zeros((NUM_JOINTS, NUM_BLAZEPOSE))
    src: list[tuple[int, ...]] = [()] * NUM_JOINTS

    def put(name, weights):
        j = JOINT_INDEX[name]
        for lm, wt in weights.items():
            w[j, lm] += wt
        src[j] = tuple(sorted(weights))

    pelvis = {23: 0.5, 24: 0.5}
    thorax = {11: 0.5, 12: 0.5}
    put("Pelvis", pelvis)
    put("RHip", {24: 1.0})
    put("RKnee", {26: 1.0})
    put("RAnkle", {28: 1.0})
    put("LHip", {23: 1.0})
    put("LKnee", {25: 1.0})
    put("LAnkle", {27: 1.0})
    put("Spine", {23: 0.5 * (1 - SPINE_FRACTION), 24: 0.5 * (1 - SPINE_FRACTION),
                  11: 0.5 * SPINE_FRACTION, 12: 0.5 * SPINE_FRACTION})
    put("Thorax", thorax)
    put("Neck", {0: NECK_FRACTION, 11: 0.5 * (1 - NECK_FRACTION), 12: 0.5 * (1 - NECK_FRACTION)})
    put("Head", {7: 0.5 * (1 + HEAD_EXTENSION), 8: 0.5 * (1 + HEAD_EXTENSION),
                 11: -0.5 * HEAD_EXTENSION, 12: -0.5 * HEAD_EXTENSION})
    put("LShoulder", {11: 1.0})
    put("LElbow", {13: 1.0})
    put("LWrist", {15: 1.0})
    put("RShoulder", {12: 1.0})
    put("RElbow", {14: 1.0})
    put("RWrist", {16: 1.0})
    return w, tuple(src)


#: (17, 33) linear weights: h36m_points = H36M_FROM_BLAZEPOSE @ blazepose_points.
#: SOURCES[j]: BlazePose landmarks whose visibility bounds joint j's confidence.
H36M_FROM_BLAZEPOSE, SOURCES = _mapping()
_SOURCE_MASK = np.zeros((NUM_JOINTS, NUM_BLAZEPOSE), bool)
for _j, _s in enumerate(SOURCES):
    _SOURCE_MASK[_j, list(_s)] = True


def blazepose_to_h36m(landmarks: np.ndarray, visibility: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Map BlazePose landmarks to the 17 H36M joints (vectorised over leading axes).

    Args:
        landmarks: ``(..., 33, D)`` landmark coordinates (any units: pixels, metres). When
            ``visibility`` is None and ``D == 4`` the last channel is taken as the visibility
            (MediaPipe's ``x, y, z, visibility``) and the first three as coordinates.
        visibility: optional ``(..., 33)`` visibility/confidence in [0, 1] (default: ones).

    Returns:
        ``(points, confidence)``: ``(..., 17, D')`` float64 coordinates (``D' = 3`` in the
        split 4-channel case, else ``D``) and ``(..., 17)`` confidence, each joint's being the
        minimum visibility of its source landmarks.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim < 2 or lm.shape[-2] != NUM_BLAZEPOSE:
        raise ValueError(f"landmarks must be (..., 33, D), got {lm.shape}")
    if visibility is None and lm.shape[-1] == 4:
        lm, visibility = lm[..., :3], lm[..., 3]
    if visibility is None:
        vis = np.ones(lm.shape[:-1])
    else:
        vis = np.asarray(visibility, dtype=np.float64)
    points = np.einsum("jk,...kd->...jd", H36M_FROM_BLAZEPOSE, lm)
    # min over each joint's sources: mask the others with +inf
    masked = np.where(_SOURCE_MASK, vis[..., None, :], np.inf)
    confidence = np.clip(masked.min(axis=-1), 0.0, 1.0)
    return points, confidence


class PoseDetector:
    """One MediaPipe BlazePose tracker (model complexity 1, temporal smoothing on).

    Not thread-safe: use one per worker, for one video at a time (it tracks across calls).
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5):
        try:
            import mediapipe as mp  # heavy import, only when detecting
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                enable_segmentation=False,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence)
        except Exception as exc:
            raise PoseMoEError(f"MediaPipe BlazePose could not be started: {exc}") from None

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Detect the person in one ``(H, W, 3)`` uint8 RGB frame.

        Returns ``(keypoints2d, world3d)`` or None when nobody is found:
        ``keypoints2d`` ``(17, 3)`` float32 pixels x, y (upright image, origin top-left) and
        confidence; ``world3d`` ``(17, 3)`` float32 metres, root-relative (Pelvis = 0), camera
        oriented (x right, y down, z away from the camera).
        """
        height, width = rgb.shape[:2]
        result = self._pose.process(np.ascontiguousarray(rgb))
        if result.pose_landmarks is None:
            return None
        img = np.array([[p.x, p.y, p.visibility] for p in result.pose_landmarks.landmark])
        kp, conf = blazepose_to_h36m(img[:, :2] * (width, height), img[:, 2])
        keypoints2d = np.concatenate([kp, conf[:, None]], axis=1).astype(np.float32)
        if result.pose_world_landmarks is not None:
            wl = np.array([[p.x, p.y, p.z] for p in result.pose_world_landmarks.landmark])
            world, _ = blazepose_to_h36m(wl)
            world = (world - world[0]).astype(np.float32)
        else:
            world = np.zeros((NUM_JOINTS, 3), np.float32)
        return keypoints2d, world

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def __enter__(self) -> "PoseDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Detections:
    """Per-frame detections of one clip (T = frames read).

    * ``keypoints2d``: (T, 17, 3) float32, pixels + confidence; frames without a person are
      zeros (confidence 0).
    * ``world3d``: (T, 17, 3) float32 metres, MediaPipe world landmarks mapped to H36M,
      root-relative, camera oriented (x right, y down, z forward); zeros where undetected.
    * ``detected``: (T,) bool.
    * ``frame_indices``: (T,) int64 video frame index of each row.
    * ``fps`` (float), ``width``, ``height`` (ints, upright image).
    """

    keypoints2d: np.ndarray
    world3d: np.ndarray
    detected: np.ndarray
    fps: float
    width: int
    height: int
    frame_indices: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.detected.shape[0])


def detect_video(reader, start: int = 0, end: int | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 detector: PoseDetector | None = None) -> Detections:
    """Run BlazePose over frames ``[start, end)`` of a :class:`~.video.VideoReader`.

    ``progress(done, total)`` is called after each frame (``total`` from the reader's frame
    count, so it may be off by a few for files with a wrong header). A fresh
    :class:`PoseDetector` is used unless one is given. Raises :class:`PoseMoEError` when
    no frame could be read or nobody is detected in any frame.
    """
    stop = reader.frame_count if end is None else min(int(end), reader.frame_count)
    total = max(0, stop - max(0, int(start)))
    kps, worlds, found, indices = [], [], [], []
    empty = np.zeros((NUM_JOINTS, 3), np.float32)
    own = detector is None
    det = PoseDetector() if own else detector
    try:
        with contextlib.closing(reader.frames(start, end)) as frames:
            for index, rgb in frames:
                out = det.detect(rgb)
                indices.append(index)
                found.append(out is not None)
                kps.append(out[0] if out is not None else empty)
                worlds.append(out[1] if out is not None else empty)
                if progress is not None:
                    progress(len(indices), max(total, len(indices)))
    finally:
        if own:
            det.close()
    if not indices:
        raise PoseMoEError(f"{reader.path}: no frames in the requested range "
                           f"(start={start}, end={end})")
    detected = np.array(found, bool)
    if not detected.any():
        raise PoseMoEError(f"{reader.path}: no person detected in any frame")
    return Detections(
        keypoints2d=np.stack(kps).astype(np.float32),
        world3d=np.stack(worlds).astype(np.float32),
        detected=detected,
        fps=float(reader.fps),
        width=int(reader.width),
        height=int(reader.height),
        frame_indices=np.array(indices, np.int64),
    )
