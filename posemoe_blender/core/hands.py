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
machine): hands found in 61% of the hand-frames (per clip and side 12-96%), 17 ms a frame for
both sides, about as much as BlazePose itself (crops of 1.6 forearms with the lite model: 51%,
10 ms; static mode: 58%, 26 ms). Not yet part of ``convert`` (it needs a ``--no-hands`` option
and the finger bones on the rig).

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


def detect_hands(reader, keypoints2d: np.ndarray, start: int = 0,
                 progress: Optional[Callable[[int, int], None]] = None,
                 model_complexity: int = 1, static: bool = False) -> HandTracks:
    """Find the followed person's hands in frames ``start .. start + T - 1`` of a
    :class:`~.video.VideoReader`, guided by the person's (T, 17, 3) ``keypoints2d`` (pixels +
    confidence, on the same frames). See the module docstring."""
    kp = np.asarray(keypoints2d, dtype=np.float64)
    T = kp.shape[0]
    hands2d = np.zeros((T, 2, NUM_HAND_LANDMARKS, 3))
    hands3d = np.zeros((T, 2, NUM_HAND_LANDMARKS, 3))
    t0 = time.perf_counter()
    sides = [_SideDetector(model_complexity, static), _SideDetector(model_complexity, static)]
    timings = {"hands_setup": time.perf_counter() - t0, "hands": 0.0}
    try:
        for index, rgb in reader.frames(start, start + T):
            t = index - start
            if t >= T:
                break
            t1 = time.perf_counter()
            for s, side in enumerate("LR"):
                box = hand_crop(kp[t], side, reader.width, reader.height)
                if box is None:
                    continue
                x0, y0, x1, y1 = box
                out = sides[s].detect(rgb[y0:y1, x0:x1], (x0, y0))
                if out is None:
                    continue
                px, wl = out
                fore = float(np.hypot(*(kp[t, J[side + "Wrist"], :2] - kp[t, J[side + "Elbow"], :2])))
                if np.hypot(*(px[0, :2] - kp[t, J[side + "Wrist"], :2])) > ATTACH_FOREARMS * max(fore, 1.0):
                    continue  # not this person's hand
                hands2d[t, s], hands3d[t, s] = px, wl
            timings["hands"] += time.perf_counter() - t1
            if progress is not None:
                progress(t + 1, T)
    finally:
        for d in sides:
            d.close()
    return HandTracks(hands2d.astype(np.float32), hands3d.astype(np.float32), timings)


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
