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
import time
from dataclasses import dataclass, field
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
#: BlazePose's foot landmarks per side: (ankle, heel, toe tip), [left, right].
FOOT_LANDMARKS = ((27, 29, 31), (28, 30, 32))


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


class PoseResult(tuple):
    """One detection, ``(keypoints2d, world3d)`` (a 2-tuple, as :meth:`PoseDetector.detect`
    always returned), carrying the feet too: ``feet2d`` (2, 3, 3) pixels + visibility and
    ``feet3d`` (2, 3, 4) world metres (root-relative, camera oriented) + visibility of
    :data:`FOOT_LANDMARKS` ([left, right] x [ankle, heel, toe tip]); None when unknown."""

    feet2d: np.ndarray | None = None
    feet3d: np.ndarray | None = None

    def __new__(cls, keypoints2d, world3d, feet2d=None, feet3d=None):
        out = super().__new__(cls, (keypoints2d, world3d))
        out.feet2d, out.feet3d = feet2d, feet3d
        return out


class PoseDetector:
    """One MediaPipe BlazePose tracker (model complexity 1, temporal smoothing on).

    Not thread-safe: use one per worker, for one video at a time (it tracks across calls).
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, static_image_mode: bool = False):
        try:
            import mediapipe as mp  # heavy import, only when detecting
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=static_image_mode, model_complexity=1,
                smooth_landmarks=not static_image_mode, enable_segmentation=False,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence)
        except Exception as exc:
            raise PoseMoEError(f"MediaPipe BlazePose could not be started: {exc}") from None

    def detect(self, rgb: np.ndarray, offset: tuple[float, float] = (0.0, 0.0)
               ) -> tuple[np.ndarray, np.ndarray] | None:
        """Detect the person in one ``(H, W, 3)`` uint8 RGB frame.

        Returns ``(keypoints2d, world3d)`` or None when nobody is found:
        ``keypoints2d`` ``(17, 3)`` float32 pixels x, y (upright image, origin top-left) and
        confidence; ``world3d`` ``(17, 3)`` float32 metres, root-relative (Pelvis = 0), camera
        oriented (x right, y down, z away from the camera). ``offset`` (x, y) is added to the
        pixel coordinates (for ``rgb`` being a crop of a larger frame). The result is a
        :class:`PoseResult`: it also carries the feet (ankles, heels, toe tips).
        """
        height, width = rgb.shape[:2]
        result = self._pose.process(np.ascontiguousarray(rgb))
        if result.pose_landmarks is None:
            return None
        img = np.array([[p.x, p.y, p.visibility] for p in result.pose_landmarks.landmark])
        pix = img[:, :2] * (width, height) + np.asarray(offset)
        kp, conf = blazepose_to_h36m(pix, img[:, 2])
        keypoints2d = np.concatenate([kp, conf[:, None]], axis=1).astype(np.float32)
        feet = np.array(FOOT_LANDMARKS)
        feet2d = np.concatenate([pix[feet], img[feet, 2:3]], axis=-1).astype(np.float32)
        if result.pose_world_landmarks is not None:
            wl = np.array([[p.x, p.y, p.z] for p in result.pose_world_landmarks.landmark])
            world, _ = blazepose_to_h36m(wl)
            feet3d = np.concatenate([wl[feet] - world[0], img[feet, 2:3]], axis=-1).astype(np.float32)
            world = (world - world[0]).astype(np.float32)
        else:
            world = np.zeros((NUM_JOINTS, 3), np.float32)
            feet3d = np.zeros((2, 3, 4), np.float32)
        return PoseResult(keypoints2d, world, feet2d, feet3d)

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def __enter__(self) -> "PoseDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: Confidence cap for keypoints outside the picture: BlazePose extrapolates them, often with a
#: high visibility; they are kept (a waist-up clip still gets legs) but weighted low by the
#: confidence-aware smoothing. Just above smoothing.fill_gaps' 0.3 "missing" threshold.
OUT_OF_FRAME_CONFIDENCE = 0.35


def limit_out_of_frame(keypoints2d: np.ndarray, width: int, height: int,
                       cap: float = OUT_OF_FRAME_CONFIDENCE) -> np.ndarray:
    """Copy of ``(..., 17, 3)`` keypoints with the confidence of points outside the
    ``width`` x ``height`` picture limited to ``cap``."""
    kp = np.array(keypoints2d, dtype=np.float32, copy=True)
    outside = ((kp[..., 0] < 0) | (kp[..., 0] > width - 1) | (kp[..., 1] < 0) | (kp[..., 1] > height - 1))
    kp[..., 2] = np.where(outside, np.minimum(kp[..., 2], cap), kp[..., 2])
    return kp


#: Keypoints at or above this confidence define a person's bounding box.
BOX_MIN_CONFIDENCE = 0.3
#: Two boxes are the same person when their IoU is at least this ...
SAME_IOU = 0.3
#: ... or their centres are closer than this fraction of the previous box's diagonal (grows
#: by SEARCH_GROWTH per frame the person has been missing, up to 1.0) with similar sizes.
SAME_CENTRE = 0.25
SEARCH_GROWTH = 0.02
#: The crop searched for the followed person: its previous box, this many times its size.
CROP_SCALE = 1.6
#: After this many frames without the person, the crop is searched only when the tracker
#: reports somebody else (an empty scene then costs one BlazePose pass per frame, not two).
MAX_SEARCH_MISSED = 30


def person_box(keypoints2d: np.ndarray, min_confidence: float = BOX_MIN_CONFIDENCE) -> np.ndarray:
    """``(x0, y0, x1, y1)`` pixels around a ``(17, 3)`` detection's confident keypoints
    (all keypoints when fewer than 4 are confident)."""
    kp = np.asarray(keypoints2d, dtype=np.float64)
    pts = kp[kp[:, 2] >= min_confidence, :2]
    if len(pts) < 4:
        pts = kp[:, :2]
    return np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def same_person(box: np.ndarray, previous: np.ndarray, missed: int = 0) -> bool:
    """Whether ``box`` plausibly is the person last seen at ``previous`` ``missed`` frames ago."""
    if box_iou(box, previous) >= SAME_IOU:
        return True
    pw, ph = max(previous[2] - previous[0], 1.0), max(previous[3] - previous[1], 1.0)
    bw, bh = max(box[2] - box[0], 1.0), max(box[3] - box[1], 1.0)
    diag = float(np.hypot(pw, ph))
    dist = float(np.hypot((box[0] + box[2] - previous[0] - previous[2]) / 2,
                          (box[1] + box[3] - previous[1] - previous[3]) / 2))
    scale = float(np.sqrt((bw * bh) / (pw * ph)))
    limit = min(1.0, SAME_CENTRE + SEARCH_GROWTH * missed)
    return dist <= limit * diag and 0.6 <= scale <= 1.0 / 0.6


def _crop_region(box: np.ndarray, width: int, height: int, scale: float) -> tuple[int, int, int, int]:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(box[2] - box[0], box[3] - box[1], 32.0) * scale
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(width, cx + side / 2)), int(min(height, cy + side / 2))
    return x0, y0, x1, y1


def _prominence(box: np.ndarray, width: int, height: int) -> float:
    """Larger and nearer the image centre scores higher (area x (1 - 0.5 x centre offset))."""
    area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    off = np.hypot((box[0] + box[2]) / 2 / width - 0.5, (box[1] + box[3]) / 2 / height - 0.5) / np.hypot(0.5, 0.5)
    return float(area * (1.0 - 0.5 * off))


class PersonFollower:
    """Follow one person through a clip, never jumping to somebody else.

    BlazePose (tracking mode) follows one person through its own region of interest, but when
    that person is occluded or leaves, its detector re-acquires *whoever* is most prominent.
    This wrapper keeps the followed person's last box and accepts a detection only when it is
    the same person (:func:`same_person`); otherwise (or when the tracker lost the person for a
    moment) it searches a crop around the last box with a second, static-mode BlazePose. A
    frame where the followed person cannot be found counts as undetected (a gap), never as
    another person.

    The person followed is chosen at the first frame with a detection: BlazePose's pick, unless
    a second pass over that frame with the pick masked out finds someone more prominent
    (:func:`_prominence`: larger and more central). ``followed`` describes the choice.
    """

    def __init__(self, detector, width: int, height: int):
        self.detector = detector
        self.width, self.height = int(width), int(height)
        self._crop = None
        self.box: np.ndarray | None = None
        self.missed = 0
        self.followed: dict | None = None
        self.rejected = 0    # frames where the tracker was on someone else (recovered or not)
        self.recovered = 0   # frames where the crop search found the followed person

    def _crop_detector(self):
        if self._crop is None:
            self._crop = PoseDetector(static_image_mode=True)
        return self._crop

    def _detect_in_crop(self, rgb: np.ndarray, box: np.ndarray, scale: float):
        x0, y0, x1, y1 = _crop_region(box, self.width, self.height, scale)
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        return self._crop_detector().detect(rgb[y0:y1, x0:x1], offset=(x0, y0))

    def _choose_first(self, rgb: np.ndarray, out, index: int):
        """At the first detection: BlazePose's pick or a more prominent other person."""
        box = person_box(out[0])
        candidates = [(out, box)]
        x0, y0, x1, y1 = _crop_region(box, self.width, self.height, 1.1)
        masked = rgb.copy()
        masked[y0:y1, x0:x1] = np.uint8(rgb.mean())
        other = self._crop_detector().detect(masked)
        if other is not None:
            obox = person_box(other[0])
            if box_iou(obox, box) < SAME_IOU:
                candidates.append((other, obox))
        best = max(range(len(candidates)),
                   key=lambda i: _prominence(candidates[i][1], self.width, self.height))
        out, box = candidates[best]
        x, y = float(box[0]), float(box[1])
        self.followed = {"frame": int(index), "box": [round(x), round(y), round(float(box[2]) - x),
                                                      round(float(box[3]) - y)],
                         "people_seen": len(candidates), "rule": "largest/most central"}
        return out

    def __call__(self, rgb: np.ndarray, index: int):
        """The followed person's ``(keypoints2d, world3d)`` in this frame, or None."""
        out = self.detector.detect(rgb)
        if self.box is None:
            if out is None:
                return None
            out = self._choose_first(rgb, out, index)
            self.box = person_box(out[0])
            return out
        if out is not None and same_person(person_box(out[0]), self.box, self.missed):
            return self._accept(out)
        if out is not None:
            self.rejected += 1
        elif self.missed > MAX_SEARCH_MISSED:  # long gone: let the tracker find them again
            self.missed += 1
            return None
        # the tracker lost the person or is on somebody else: look around the last box
        scale = min(CROP_SCALE + 0.05 * self.missed, 4.0)
        found = self._detect_in_crop(rgb, self.box, scale)
        if found is not None and same_person(person_box(found[0]), self.box, self.missed + 2):
            if out is not None:
                self.recovered += 1
            return self._accept(found)
        self.missed += 1
        return None

    def _accept(self, out):
        self.box = person_box(out[0])
        self.missed = 0
        return out

    def close(self) -> None:
        if self._crop is not None:
            self._crop.close()
            self._crop = None


@dataclass
class Detections:
    """Per-frame detections of one clip (T = frames read).

    * ``keypoints2d``: (T, 17, 3) float32, pixels + confidence; frames without a person are
      zeros (confidence 0); points outside the picture have at most
      ``OUT_OF_FRAME_CONFIDENCE``.
    * ``world3d``: (T, 17, 3) float32 metres, MediaPipe world landmarks mapped to H36M,
      root-relative, camera oriented (x right, y down, z forward); zeros where undetected.
    * ``detected``: (T,) bool.
    * ``frame_indices``: (T,) int64 video frame index of each row.
    * ``fps`` (float), ``width``, ``height`` (ints, upright image).
    * ``times``: (T,) float64 presentation time of each row in seconds (NaN when unknown).
    * ``followed``: which person was followed (:class:`PersonFollower`): ``{"frame", "box":
      [x, y, w, h] pixels at that frame, "people_seen", "rule", "rejected", "recovered"}``.
    * ``feet2d``: (T, 2, 3, 3) float32 pixels + visibility and ``feet3d``: (T, 2, 3, 4) float32
      world metres (root-relative, camera oriented) + visibility of the ankles, heels and toe
      tips (:data:`FOOT_LANDMARKS`), zeros where undetected; None when the detections did not
      keep them (e.g. an older cache).
    * ``hands2d`` / ``hands3d``: (T, 2, 21, 3) float32, the followed person's hands found
      during the same pass (:class:`~.hands.HandTracker`: pixels + score, wrist-relative
      metres; [left, right]; zeros where unseen); None when hands were not looked for (or the
      detections come from a cache without them).
    * ``hand_looks``: ``{"looks": [left, right], "searches": [left, right]}``, the frames where
      a side's crop was due a look and those where MediaPipe actually ran on it (the others
      skipped by the palm-search back-off, :data:`~.hands.BACKOFF_AFTER_S`); None without hands.
    * ``camera``: the camera's rotation per frame (:class:`~.camera_motion.CameraMotion`),
      estimated during the same pass; None when it was not asked for.
    """

    keypoints2d: np.ndarray
    world3d: np.ndarray
    detected: np.ndarray
    fps: float
    width: int
    height: int
    frame_indices: np.ndarray
    followed: dict = field(default_factory=dict)
    times: np.ndarray | None = None
    feet2d: np.ndarray | None = None
    feet3d: np.ndarray | None = None
    hands2d: np.ndarray | None = None
    hands3d: np.ndarray | None = None
    hand_looks: dict | None = None
    camera: object | None = None

    @property
    def num_frames(self) -> int:
        return int(self.detected.shape[0])


def detect_video(reader, start: int = 0, end: int | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 detector: PoseDetector | None = None, timings: dict | None = None,
                 hands: bool = False, camera_focal_px: float | None = None) -> Detections:
    """Run BlazePose over frames ``[start, end)`` of a :class:`~.video.VideoReader`,
    following one person (:class:`PersonFollower`).

    ``progress(done, total)`` is called after each frame (``total`` from the reader's frame
    count, so it may be off by a few for files with a wrong header). A fresh
    :class:`PoseDetector` is used unless one is given. ``timings``, when given, receives
    ``"detect_setup"`` (starting BlazePose), ``"detect"`` (seconds in BlazePose) and ``"decode_wait"`` (seconds waiting for decoded
    frames). ``hands``: also find the followed person's hands in each frame where the person
    was found (:class:`~.hands.HandTracker`, crops at the wrists, every
    :func:`~.hands.hand_stride`-th frame, the frames between interpolated; a side whose hand
    stays unfound is searched less often, :data:`~.hands.BACKOFF_AFTER_S`; ``timings["hands"]``
    and ``"hands_setup"``). ``camera_focal_px``: also estimate the camera's rotation from the
    background with that focal length in pixels (:class:`~.camera_motion.CameraTracker`, the
    followed person's box masked out; ``Detections.camera``, ``timings["camera"]``). Raises
    :class:`PoseMoEError` when no frame could be read or nobody is detected in any frame.
    """
    stop = reader.frame_count if end is None else min(int(end), reader.frame_count)
    total = max(0, stop - max(0, int(start)))
    kps, worlds, found, indices, feet2d, feet3d = [], [], [], [], [], []
    empty = np.zeros((NUM_JOINTS, 3), np.float32)
    no_feet2d, no_feet3d = np.zeros((2, 3, 3), np.float32), np.zeros((2, 3, 4), np.float32)
    own = detector is None
    t_setup = time.perf_counter()
    det = PoseDetector() if own else detector
    follower = PersonFollower(det, reader.width, reader.height)
    t_setup = time.perf_counter() - t_setup
    t_detect = t_wait = 0.0
    tracker = None
    hands2d, hands3d = [], []
    if hands:
        from ..joints import NUM_HAND_LANDMARKS
        from .hands import HandTracker, fill_skipped, hand_stride
        stride = hand_stride(reader.fps)
        looked = []
        t_hands = time.perf_counter()
        try:
            fps = float(reader.fps) if reader.fps and np.isfinite(reader.fps) else None
            tracker = HandTracker(reader.width, reader.height, look_hz=fps / stride if fps else None)
        except BaseException:
            follower.close()
            if own:
                det.close()
            raise
        t_hands = time.perf_counter() - t_hands
        no_hand = np.zeros((2, NUM_HAND_LANDMARKS, 3), np.float32)
    cam = None
    if camera_focal_px:
        from .camera_motion import CameraTracker
        cam = CameraTracker(reader.width, reader.height, camera_focal_px)
    try:
        with contextlib.closing(reader.frames(start, end)) as frames:
            t0 = time.perf_counter()
            for index, rgb in frames:
                t1 = time.perf_counter()
                t_wait += t1 - t0
                out = follower(rgb, index)
                if out is not None:
                    out = PoseResult(limit_out_of_frame(out[0], reader.width, reader.height), out[1],
                                     getattr(out, "feet2d", None), getattr(out, "feet3d", None))
                t0 = time.perf_counter()
                t_detect += t0 - t1
                indices.append(index)
                found.append(out is not None)
                kps.append(out[0] if out is not None else empty)
                worlds.append(out[1] if out is not None else empty)
                f2 = getattr(out, "feet2d", None)  # a detector of the plain 2-tuple kind has none
                f3 = getattr(out, "feet3d", None)
                feet2d.append(f2 if f2 is not None else no_feet2d)
                feet3d.append(f3 if f3 is not None else no_feet3d)
                if tracker is not None:  # every stride-th frame, the others interpolated below
                    looked.append((len(indices) - 1) % stride == 0)
                    h2, h3 = tracker(rgb, kps[-1]) if out is not None and looked[-1] else (no_hand, no_hand)
                    hands2d.append(h2)
                    hands3d.append(h3)
                if cam is not None:  # the person's box, or where they were last seen
                    box = person_box(kps[-1]) if out is not None else follower.box
                    cam(rgb, [] if box is None else [box])
                if progress is not None:
                    progress(len(indices), max(total, len(indices)))
                t0 = time.perf_counter()
    finally:
        follower.close()
        if own:
            det.close()
        if tracker is not None:
            tracker.close()
            if timings is not None:
                timings["hands_setup"] = timings.get("hands_setup", 0.0) + t_hands
                timings["hands"] = timings.get("hands", 0.0) + tracker.seconds
        if timings is not None:
            timings["detect_setup"] = timings.get("detect_setup", 0.0) + t_setup
            timings["detect"] = timings.get("detect", 0.0) + t_detect
            timings["decode_wait"] = timings.get("decode_wait", 0.0) + t_wait
            if cam is not None:
                timings["camera"] = timings.get("camera", 0.0) + cam.seconds
    if not indices:
        raise PoseMoEError(f"{reader.path}: no frames in the requested range "
                           f"(start={start}, end={end})")
    detected = np.array(found, bool)
    if not detected.any():
        raise PoseMoEError(f"{reader.path}: no person detected in any frame")
    if tracker is not None:
        hands2d, hands3d = fill_skipped(np.stack(hands2d), np.stack(hands3d), np.array(looked) & detected)
    followed = dict(follower.followed or {})
    followed.update(rejected=follower.rejected, recovered=follower.recovered)
    return Detections(
        keypoints2d=np.stack(kps).astype(np.float32),
        world3d=np.stack(worlds).astype(np.float32),
        detected=detected,
        fps=float(reader.fps),
        width=int(reader.width),
        height=int(reader.height),
        frame_indices=np.array(indices, np.int64),
        followed=followed,
        times=np.array([getattr(reader, "timestamps", {}).get(i, np.nan) for i in indices], np.float64),
        feet2d=np.stack(feet2d).astype(np.float32),
        feet3d=np.stack(feet3d).astype(np.float32),
        hands2d=np.asarray(hands2d, np.float32) if tracker is not None else None,
        hands3d=np.asarray(hands3d, np.float32) if tracker is not None else None,
        hand_looks={"looks": list(tracker.looks), "searches": list(tracker.searches)} if tracker is not None else None,
        camera=cam.result() if cam is not None else None,
    )
