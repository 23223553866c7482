"""The followed person's hands with MediaPipe Hands (shipped in the ``mediapipe==0.10.21`` wheel,
nothing downloaded) and their finger flexion (no bpy).

**Detection** (:func:`detect_hands`): per frame and per side, MediaPipe Hands (one hand, tracking
mode, the full landmark model, one detector per side) runs on a square crop around where that side's hand should be:
the wrist of the person BlazePose follows, pushed along the forearm (``wrist + 0.35 x
(wrist - elbow)``), ``CROP_FOREARMS`` forearm lengths wide. A hand found there is kept only
when its wrist landmark lies within ``ATTACH_FOREARMS`` forearm lengths of the body's wrist:
hands belong to the followed person (a bystander's hand in the crop is not attached), and the
side comes from the body's wrist, never from MediaPipe's handedness guess (no left/right
swaps from it). Crops are a fraction of the frame, so both sides cost less than a full-frame
palm search on large videos.

Measured on the six real clips of ``shared/data/videos`` (600 frames, 1080x1920, this 2-core
machine; ``scripts/hands_eval.py``, docs/benchmarks-hands.md): hands found in 61% of the
hand-frames (per clip and side 12-96%), 13-17 ms a frame for both sides, about as much as
BlazePose itself (crops of 1.6 forearms with the lite model: 51%, 10 ms; static mode: 58%,
26 ms; MediaPipe's confidence thresholds lowered to 0.1: 70%, but the extra hands' landmarks
are mostly collapsed fans, not hands). ``convert`` finds them during its one video pass
(:class:`HandTracker` in :func:`~.detection.detect_video`), :func:`solve_hands` smooths them
and solves the fingers, and the generated rig's finger bones are keyed with the result
(``--no-hands`` turns it off).

Arrays (T frames, [left, right], MediaPipe's 21 hand landmarks: 0 wrist, 1-4 thumb, 5-8
index, 9-12 middle, 13-16 ring, 17-20 little):

* ``hands2d`` (T, 2, 21, 3): pixels of the upright picture + confidence (0 where unseen);
* ``hands3d`` (T, 2, 21, 3): metres relative to the hand's wrist, camera axes like
  ``joints3d`` (x right, y down, z forward), from MediaPipe's hand world landmarks; zeros where
  unseen.

**Finger flexion** (:func:`finger_flexion`): the bend at each finger joint (MCP, PIP, DIP; the
thumb's CMC, MCP, IP) as the angle between consecutive segments, in radians, clipped to
the joint's anatomical range (:data:`FLEX_LIMITS_DEG`); eased to a relaxed hand
(:data:`RELAXED_DEG`) where the hand is unseen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..errors import PoseMoEError
from ..joints import JOINT_INDEX as J

NUM_HAND_LANDMARKS = 21
#: Landmark chains per finger (wrist first): thumb, index, middle, ring, little.
FINGERS = ((0, 1, 2, 3, 4), (0, 5, 6, 7, 8), (0, 9, 10, 11, 12), (0, 13, 14, 15, 16), (0, 17, 18, 19, 20))
FINGER_NAMES = ("Thumb", "Index", "Middle", "Ring", "Little")
#: Unity's Humanoid names of the three bones of each finger.
PHALANX_NAMES = ("Proximal", "Intermediate", "Distal")
#: Flexion range (degrees) of the three joints of the thumb and of the other fingers.
FLEX_LIMITS_DEG = {"Thumb": ((0.0, 60.0), (0.0, 70.0), (-10.0, 90.0)),
                   "other": ((-20.0, 90.0), (0.0, 110.0), (0.0, 90.0))}
#: A relaxed hand's flexion (degrees), where a hand is unseen.
RELAXED_DEG = {"Thumb": (15.0, 10.0, 10.0), "other": (15.0, 25.0, 15.0)}
#: Crop side (forearm lengths) and how near the body's wrist a hand's wrist must be.
CROP_FOREARMS = 3.0
ATTACH_FOREARMS = 0.8
#: Hands are looked for at about this rate (Hz) at most: every ``hand_stride(fps)``-th frame
#: (60 fps: every other frame; 30 fps and below: every frame), the frames in between
#: interpolated (:func:`fill_skipped`). On the six real 60 fps clips this halves the hands'
#: cost (12.7 -> 6.7 ms a frame) for 61.4 -> 54.4% of the hand-frames found; 15 Hz: 3.7 ms,
#: 49.1% (docs/benchmarks-hands.md). The default smoothing low-passes the fingers at 6 Hz.
HAND_RATE_HZ = 30.0
#: Smallest crop (pixels) and the hand's centre along the forearm beyond the wrist.
MIN_CROP = 64
HAND_CENTRE = 0.35


@dataclass
class HandTracks:
    """The followed person's hands (see the module docstring for the arrays) and
    ``timings`` (seconds: ``hands_setup``, ``hands``)."""

    hands2d: np.ndarray
    hands3d: np.ndarray
    timings: dict = field(default_factory=dict)

    @property
    def found(self) -> np.ndarray:
        """(T, 2) bool: the hand was found in that frame."""
        return self.hands2d[..., 0, 2] > 0

    def found_rate(self) -> tuple[float, float]:
        """Fraction of frames each hand ([left, right]) was found."""
        f = self.found
        return float(f[:, 0].mean()), float(f[:, 1].mean())


def hand_crop(keypoints2d: np.ndarray, side: str, width: int, height: int
              ) -> Optional[tuple[int, int, int, int]]:
    """``(x0, y0, x1, y1)`` pixels of the square where ``side``'s ("L"/"R") hand should be,
    from one frame's (17, 3) body keypoints, clipped to the picture; None when the wrist or
    elbow is not confident or the crop is degenerate."""
    wrist, elbow = keypoints2d[J[side + "Wrist"]], keypoints2d[J[side + "Elbow"]]
    if min(wrist[2], elbow[2]) < 0.3:
        return None
    fore = wrist[:2] - elbow[:2]
    length = float(np.hypot(*fore))
    centre = wrist[:2] + HAND_CENTRE * fore
    half = max(MIN_CROP, CROP_FOREARMS * length) / 2
    x0, y0 = int(max(0, centre[0] - half)), int(max(0, centre[1] - half))
    x1, y1 = int(min(width, centre[0] + half)), int(min(height, centre[1] + half))
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    return x0, y0, x1, y1


class _SideDetector:
    """One MediaPipe Hands tracker (one hand) for one side's crops."""

    def __init__(self, model_complexity: int = 0, static: bool = False):
        try:
            import mediapipe as mp  # heavy import, only when detecting
            self._hands = mp.solutions.hands.Hands(static_image_mode=static, max_num_hands=1,
                                                   model_complexity=model_complexity,
                                                   min_detection_confidence=0.5, min_tracking_confidence=0.5)
        except Exception as exc:
            raise PoseMoEError(f"MediaPipe Hands could not be started: {exc}") from None

    def detect(self, crop: np.ndarray, offset: tuple[int, int]):
        """``(pixels (21, 3) with the score, world (21, 3) wrist-relative)`` or None."""
        h, w = crop.shape[:2]
        res = self._hands.process(np.ascontiguousarray(crop))
        if not res.multi_hand_landmarks:
            return None
        lm = np.array([[p.x * w + offset[0], p.y * h + offset[1]] for p in res.multi_hand_landmarks[0].landmark])
        score = float(res.multi_handedness[0].classification[0].score) if res.multi_handedness else 1.0
        px = np.concatenate([lm, np.full((NUM_HAND_LANDMARKS, 1), score)], axis=1)
        if res.multi_hand_world_landmarks:
            wl = np.array([[p.x, p.y, p.z] for p in res.multi_hand_world_landmarks[0].landmark])
            wl = wl - wl[0]
        else:
            wl = np.zeros((NUM_HAND_LANDMARKS, 3))
        return px, wl

    def close(self) -> None:
        if self._hands is not None:
            self._hands.close()
            self._hands = None


class HandTracker:
    """Both hands of the followed person, frame by frame (one :class:`_SideDetector` per side).

    ``tracker(rgb, keypoints2d)`` takes one upright RGB frame and that frame's (17, 3) body
    keypoints (pixels + confidence; zeros where nobody was found) and returns ``(px, world)``:
    (2, 21, 3) pixels + score and (2, 21, 3) wrist-relative metres, [left, right], zeros for a
    side not found (see the module docstring for the crops and the attachment rule). The
    MediaPipe graphs are started in the constructor (so their libraries are loaded before the
    first frame, see ``convert._process_while_importing_bpy``). Not thread-safe; call
    :meth:`close`. ``seconds`` adds up the time spent detecting."""

    def __init__(self, width: int, height: int, model_complexity: int = 1, static: bool = False):
        self.width, self.height = int(width), int(height)
        self._sides = [_SideDetector(model_complexity, static)]
        try:
            self._sides.append(_SideDetector(model_complexity, static))
        except BaseException:
            self.close()
            raise
        self.seconds = 0.0

    def __call__(self, rgb: np.ndarray, keypoints2d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        kp = np.asarray(keypoints2d, dtype=np.float64)
        px_out = np.zeros((2, NUM_HAND_LANDMARKS, 3), np.float32)
        wl_out = np.zeros((2, NUM_HAND_LANDMARKS, 3), np.float32)
        for s, side in enumerate("LR"):
            box = hand_crop(kp, side, self.width, self.height)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            out = self._sides[s].detect(rgb[y0:y1, x0:x1], (x0, y0))
            if out is None:
                continue
            px, wl = out
            wrist = kp[J[side + "Wrist"], :2]
            fore = float(np.hypot(*(wrist - kp[J[side + "Elbow"], :2])))
            if np.hypot(*(px[0, :2] - wrist)) > ATTACH_FOREARMS * max(fore, 1.0):
                continue  # not this person's hand
            px_out[s], wl_out[s] = px, wl
        self.seconds += time.perf_counter() - t0
        return px_out, wl_out

    def close(self) -> None:
        for d in self._sides:
            d.close()
        self._sides = []

    def __enter__(self) -> "HandTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def hand_stride(fps: float) -> int:
    """Look for hands in every ``hand_stride(fps)``-th frame (:data:`HAND_RATE_HZ`)."""
    return max(1, int(np.floor(float(fps) / HAND_RATE_HZ + 1e-6))) if fps and np.isfinite(fps) else 1


def fill_skipped(hands2d: np.ndarray, hands3d: np.ndarray, looked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate the frames where hands were not looked for (``looked`` (T,) False) from the
    nearest frames before and after that were, per side, where the hand was found in both
    (linear; confidence: the lower of the two); other frames stay unseen (zeros)."""
    h2 = np.array(hands2d, dtype=np.float32, copy=True)
    h3 = np.array(hands3d, dtype=np.float32, copy=True)
    idx = np.flatnonzero(np.asarray(looked, bool))
    if len(idx) < 2:
        return h2, h3
    for p, n in zip(idx[:-1], idx[1:]):
        if n - p < 2:
            continue
        for s in range(2):
            if h2[p, s, 0, 2] <= 0 or h2[n, s, 0, 2] <= 0:
                continue
            for t in range(p + 1, n):
                a = (t - p) / (n - p)
                h2[t, s, :, :2] = (1 - a) * h2[p, s, :, :2] + a * h2[n, s, :, :2]
                h2[t, s, :, 2] = np.minimum(h2[p, s, :, 2], h2[n, s, :, 2])
                h3[t, s] = (1 - a) * h3[p, s] + a * h3[n, s]
    return h2, h3


def detect_hands(reader, keypoints2d: np.ndarray, start: int = 0,
                 progress: Optional[Callable[[int, int], None]] = None,
                 model_complexity: int = 1, static: bool = False) -> HandTracks:
    """Find the followed person's hands in frames ``start .. start + T - 1`` of a
    :class:`~.video.VideoReader`, guided by the person's (T, 17, 3) ``keypoints2d`` (pixels +
    confidence, on the same frames), in a second pass over the video (``convert`` finds them
    during its one pass instead: ``detection.detect_video(..., hands=True)``). See the module
    docstring."""
    kp = np.asarray(keypoints2d, dtype=np.float64)
    T = kp.shape[0]
    hands2d = np.zeros((T, 2, NUM_HAND_LANDMARKS, 3), np.float32)
    hands3d = np.zeros((T, 2, NUM_HAND_LANDMARKS, 3), np.float32)
    t0 = time.perf_counter()
    tracker = HandTracker(reader.width, reader.height, model_complexity, static)
    timings = {"hands_setup": time.perf_counter() - t0, "hands": 0.0}
    try:
        for index, rgb in reader.frames(start, start + T):
            t = index - start
            if t >= T:
                break
            hands2d[t], hands3d[t] = tracker(rgb, kp[t])
            if progress is not None:
                progress(t + 1, T)
    finally:
        timings["hands"] = tracker.seconds
        tracker.close()
    return HandTracks(hands2d, hands3d, timings)


def finger_flexion(hands3d: np.ndarray, right: bool, confidence: Optional[np.ndarray] = None) -> np.ndarray:
    """(..., 5, 3) flexion in radians of each finger's three joints from (..., 21, 3)
    landmarks of a ``right`` (else left) hand in camera-like axes (only angles between
    segments are used), clipped to :data:`FLEX_LIMITS_DEG`. ``confidence`` (...,) in [0, 1]:
    where below 1 the flexion is eased towards :data:`RELAXED_DEG` (0: relaxed).

    The flexion at a joint is the angle between the segment into it and the segment out of
    it, positive when the finger bends towards the palm (hyperextension < 0): the bend's axis
    ``segment_in x segment_out`` is compared with the knuckles' line (index MCP - little MCP),
    reversed for a left hand (a mirror image), so a fist reads positive on either hand however
    far the finger curls.
    """
    x = np.asarray(hands3d, dtype=np.float64)
    lateral = (x[..., 5, :] - x[..., 17, :]) * (1.0 if right else -1.0)
    out = np.zeros(x.shape[:-2] + (5, 3))
    for f, chain in enumerate(FINGERS):
        limits = FLEX_LIMITS_DEG["Thumb" if f == 0 else "other"]
        relaxed = RELAXED_DEG["Thumb" if f == 0 else "other"]
        for j in range(3):
            a, b, c = x[..., chain[j], :], x[..., chain[j + 1], :], x[..., chain[j + 2], :]
            u, v = b - a, c - b
            nu, nv = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
            cos = np.sum(u * v, axis=-1) / np.maximum(nu * nv, 1e-12)
            angle = np.arccos(np.clip(cos, -1.0, 1.0))
            # bending towards the palm's side is flexion
            towards = np.sum(np.cross(u, v) * lateral, axis=-1)
            angle = np.where(towards < 0, -angle, angle)
            angle = np.clip(angle, *np.radians(limits[j]))
            if confidence is not None:
                w = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
                angle = w * angle + (1 - w) * np.radians(relaxed[j])
            out[..., f, j] = angle
    return out


def relaxed_flexion(shape: tuple = ()) -> np.ndarray:
    """(*shape, 5, 3) the relaxed hand's flexion (radians, :data:`RELAXED_DEG`)."""
    one = np.radians(np.array([RELAXED_DEG["Thumb"]] + [RELAXED_DEG["other"]] * 4))
    return np.broadcast_to(one, tuple(shape) + (5, 3)).copy()


def _limits() -> tuple[np.ndarray, np.ndarray]:
    lim = np.radians(np.array([FLEX_LIMITS_DEG["Thumb"]] + [FLEX_LIMITS_DEG["other"]] * 4))  # (5, 3, 2)
    return lim[..., 0], lim[..., 1]


#: How long (seconds, a Gaussian's sigma) a hand takes to ease between what was seen and the
#: relaxed pose where it appears or disappears.
EASE_S = 0.1


@dataclass
class HandSolve:
    """:func:`solve_hands`'s result (T frames of the clip's time base):

    * ``fingers``: (T, 2, 5, 3) flexion in radians ([left, right], thumb..little, the three
      joints), smoothed, eased to the relaxed hand where unseen, within the anatomical limits;
    * ``weight``: (T, 2) how much of each hand is what was seen (0: relaxed);
    * ``hands2d`` / ``hands3d``: (T, 2, 21, 3) the detections smoothed over the frames where
      the hand was seen (unseen frames stay zero, confidence included)."""

    fingers: np.ndarray
    weight: np.ndarray
    hands2d: np.ndarray
    hands3d: np.ndarray

    def found_rate(self) -> tuple[float, float]:
        f = self.hands2d[..., 0, 2] > 0
        return float(f[:, 0].mean()), float(f[:, 1].mean())


def solve_hands(hands2d: Optional[np.ndarray], hands3d: Optional[np.ndarray], fps: float,
                cutoff_hz: float = 0.0, frames: Optional[int] = None) -> HandSolve:
    """Smooth the detected hands with the clip's ``fps`` and their confidences and solve the
    fingers' flexion (:func:`finger_flexion`).

    Where a hand is unseen its flexion is the relaxed hand's; where it is seen, the measured
    flexion low-passed at ``cutoff_hz`` (SciPy, zero-phase, confidence-aware:
    :func:`~.smoothing.smooth_joints`; 0 or inf: none). The two are blended by a weight that
    follows the hand's presence through a Gaussian of :data:`EASE_S` seconds, so a hand that
    appears or disappears eases in or out instead of snapping. ``hands2d`` / ``hands3d`` None
    (hands off, or detections cached without them): a relaxed hand in every one of ``frames``
    frames."""
    from scipy.ndimage import gaussian_filter1d
    from . import smoothing

    if hands2d is None or hands3d is None:
        T = int(frames or 0)
        z = np.zeros((T, 2, NUM_HAND_LANDMARKS, 3), np.float32)
        return HandSolve(relaxed_flexion((T, 2)), np.zeros((T, 2)), z, z.copy())
    h2 = np.asarray(hands2d, dtype=np.float64)
    h3 = np.asarray(hands3d, dtype=np.float64)
    T = h2.shape[0]
    conf = np.clip(h2[..., 0, 2], 0.0, 1.0)            # (T, 2)
    seen = conf > 0
    relaxed = relaxed_flexion((T,))
    lo, hi = _limits()
    fingers = np.zeros((T, 2, 5, 3))
    weight = np.zeros((T, 2))
    out2 = np.zeros_like(h2)
    out3 = np.zeros_like(h3)
    smooth = bool(cutoff_hz) and np.isfinite(cutoff_hz) and cutoff_hz > 0 and T >= 3
    for s in range(2):
        if not seen[:, s].any():
            fingers[:, s] = relaxed
            continue
        raw = finger_flexion(h3[:, s], right=(s == 1))
        raw = np.where(seen[:, s, None, None], raw, relaxed)
        c = conf[:, s]
        if smooth:
            raw = smoothing.smooth_joints(raw, fps, cutoff_hz=cutoff_hz, confidence=c[:, None])
            xy = smoothing.smooth_joints(h2[:, s, :, :2], fps, cutoff_hz=cutoff_hz, confidence=c[:, None])
            xyz = smoothing.smooth_joints(h3[:, s], fps, cutoff_hz=cutoff_hz, confidence=c[:, None])
        else:
            xy, xyz = h2[:, s, :, :2], h3[:, s]
        w = gaussian_filter1d(seen[:, s].astype(np.float64), sigma=max(EASE_S * fps, 0.5), mode="nearest")
        w = np.clip(w * 1.25, 0.0, 1.0)  # a hand seen for a while counts fully
        weight[:, s] = w
        fingers[:, s] = np.clip(w[:, None, None] * raw + (1 - w[:, None, None]) * relaxed, lo, hi)
        m = seen[:, s, None, None]
        out2[:, s, :, :2] = np.where(m, xy, 0.0)
        out2[:, s, :, 2] = h2[:, s, :, 2]
        out3[:, s] = np.where(m, xyz, 0.0)
    return HandSolve(fingers, weight, out2.astype(np.float32), out3.astype(np.float32))


def resample_fingers(fingers: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """(T', 2, 5, 3) flexion at ``fps_out`` from (T, 2, 5, 3) at ``fps_in`` (the joints' resampling)."""
    from . import smoothing
    T = fingers.shape[0]
    out = smoothing.resample(np.asarray(fingers, dtype=np.float64).reshape(T, 10, 3), fps_in, fps_out)
    return out.reshape(-1, 2, 5, 3)


# --------------------------------------------------------------------------- the rig's fingers

def finger_bone_names(side: str) -> tuple:
    """Unity Humanoid names of the 15 finger bones of one ``side`` (``Left`` / ``Right``),
    finger by finger, proximal first: ``LeftThumbProximal``, ``LeftThumbIntermediate``, ..."""
    return tuple(f"{side}{f}{p}" for f in FINGER_NAMES for p in PHALANX_NAMES)


#: Rest layout of one hand in the hand's own frame, in units of the hand bone's length
#: (wrist -> knuckles): ``u`` along the hand, ``v`` towards the thumb, ``n`` the back of the
#: hand. Per finger: the base point (u, v, n), the direction (u, v, n) and the three
#: phalanges' lengths.
FINGER_LAYOUT = {
    "Thumb": ((0.25, 0.30, -0.10), (0.70, 0.65, -0.30), (0.42, 0.33, 0.28)),
    "Index": ((0.97, 0.28, 0.0), (1.0, 0.04, 0.0), (0.45, 0.27, 0.20)),
    "Middle": ((1.0, 0.08, 0.0), (1.0, 0.0, 0.0), (0.50, 0.31, 0.21)),
    "Ring": ((0.97, -0.12, 0.0), (1.0, -0.04, 0.0), (0.46, 0.30, 0.20)),
    "Little": ((0.90, -0.30, 0.0), (1.0, -0.10, 0.0), (0.36, 0.22, 0.18)),
}
#: The thumb's back (nail side) in the hand's frame (the other fingers': ``n``).
THUMB_BACK = (0.0, 0.7, 0.7)
