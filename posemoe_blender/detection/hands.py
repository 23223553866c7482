"""The followed person's hands with MediaPipe Hands (shipped in the ``mediapipe==0.10.21`` wheel,
nothing downloaded) (no bpy); the fingers' solve is :mod:`..solving.fingers`.

**Detection** (:func:`detect_hands`): per frame and per side, MediaPipe Hands (one hand, tracking
mode, the full landmark model, one detector per side) runs on a square crop around where that side's hand should be:
the wrist of the person BlazePose follows, pushed along the forearm (``wrist + 0.35 x
(wrist - elbow)``), ``CROP_FOREARMS`` forearm lengths wide. A hand found there is kept only
when its wrist landmark lies within ``ATTACH_FOREARMS`` forearm lengths of the body's wrist:
hands belong to the followed person (a bystander's hand in the crop is not attached), and the
side comes from the body's wrist, never from MediaPipe's handedness guess (no left/right
swaps from it). Crops are a fraction of the frame, so both sides cost less than a full-frame
palm search on large videos.

The found rate and the cost of these choices against the alternatives (crop sizes, the lite
model, static mode, lower confidence thresholds) are measured by
``posemoe_lab/evaluation/hands_eval.py`` (docs/benchmarks.md, hands). ``convert`` finds them during its one video pass
(:class:`HandTracker` in :func:`~.detection.detect_video`), :func:`solve_hands` smooths them
and solves the fingers, and the generated rig's finger bones are keyed with the result
(``--no-hands`` turns it off).

Arrays (T frames, [left, right], MediaPipe's 21 hand landmarks: 0 wrist, 1-4 thumb, 5-8
index, 9-12 middle, 13-16 ring, 17-20 little):

* ``hands2d`` (T, 2, 21, 3): pixels of the upright picture + confidence (0 where unseen);
* ``hands3d`` (T, 2, 21, 3): metres relative to the hand's wrist, camera axes like
  ``joints3d`` (x right, y down, z forward), from MediaPipe's hand world landmarks (mirrored
  back in depth where MediaPipe took the hand for the other one, :data:`MIRRORED_LABEL`);
  zeros where unseen.

**Cost** (issue #15: at most 30% of a convert): looks at up to :data:`HAND_RATE_HZ` with the
frames between filled (:func:`fill_skipped`) and a per-side palm-search back-off
(:data:`BACKOFF_AFTER_S`), the two sides' graphs run at once (:data:`PARALLEL_SIDES`);
docs/benchmarks.md, "Palm-search back-off and hands cost".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..errors import PoseMoEError
from ..joints import JOINT_INDEX as J, NUM_HAND_LANDMARKS

#: Crop side (forearm lengths) and how near the body's wrist a hand's wrist must be.
CROP_FOREARMS = 3.0
ATTACH_FOREARMS = 0.8
#: Hands are looked for at about this rate (Hz) at most: every ``hand_stride(fps)``-th frame
#: (60 fps: every 4th frame; 30 fps: every other; below 30 fps: every frame), the frames in
#: between filled from the nearest looks (:func:`fill_skipped`: interpolated where both found
#: the hand, else held from the nearer look that did): about as many hand-frames found as when
#: searched every frame, for a fraction of the cost (docs/benchmarks.md, hands).
HAND_RATE_HZ = 15.0
#: Smallest crop (pixels) and the hand's centre along the forearm beyond the wrist.
MIN_CROP = 64
HAND_CENTRE = 0.35
#: Palm-search back-off, per side: once no hand of the person has been found in that side's
#: crop (MediaPipe found none, or one not attached to the wrist) at every look for
#: :data:`BACKOFF_AFTER_S` seconds, the side is looked at only at about
#: :data:`BACKOFF_RATE_HZ` until a hand is found again (a hand that comes back into view is
#: re-acquired within ``1 / BACKOFF_RATE_HZ`` seconds). On the six real clips no side ever
#: went unfound that long (the found rate is unchanged); on samples/demo.mp4 (mitten hands)
#: it spares most of the palm searches. A look that finds nothing is the
#: dearest kind: MediaPipe's tracking-mode graph runs its palm detector whenever it is not
#: tracking a hand, so a hidden hand (or a figure without real hands, like samples/demo.mp4's)
#: costs a palm search at every look. Skipping looks is safe for the tracker: the crops move
#: with the body's wrist, so the hand stays where the graph last saw it in the crop.
BACKOFF_AFTER_S = 0.5
BACKOFF_RATE_HZ = 5.0


def backoff_looks(look_hz: float) -> tuple[int, int]:
    """``(after, every)`` in looks for a tracker looking at ``look_hz``: back off after
    ``after`` consecutive empty looks, then look every ``every``-th time (:data:`BACKOFF_AFTER_S`,
    :data:`BACKOFF_RATE_HZ`); ``(0, 1)``: no back-off."""
    if not look_hz or not np.isfinite(look_hz) or not np.isfinite(BACKOFF_AFTER_S) or BACKOFF_RATE_HZ <= 0:
        return 0, 1
    after = max(1, int(round(BACKOFF_AFTER_S * look_hz)))
    every = max(1, int(round(look_hz / BACKOFF_RATE_HZ)))
    return (after, every) if every > 1 else (0, 1)


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


#: Run the two sides' MediaPipe graphs at once (a worker thread for the right hand) when both
#: are due: the same work in less wall time on more than one core.
PARALLEL_SIDES = True
#: MediaPipe's handedness label that contradicts the body's side ([left, right]). MediaPipe
#: labels hands as if the picture were mirrored (a selfie), so the body's left hand reads
#: "Right" when MediaPipe gets it right. When it reads the other label, MediaPipe took the hand
#: for its mirror image and its 3D landmarks are mirrored in depth (the fingers bend out of the
#: back of the hand, docs/benchmarks.md, hands). Those hands' world landmarks get ``z -> -z`` (the side itself always comes from the body).
MIRRORED_LABEL = ("Left", "Right")


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
        """``(pixels (21, 3) with the score, world (21, 3) wrist-relative, MediaPipe's
        handedness label ("Left" / "Right" / ""))`` or None."""
        h, w = crop.shape[:2]
        res = self._hands.process(np.ascontiguousarray(crop))
        if not res.multi_hand_landmarks:
            return None
        lm = np.array([[p.x * w + offset[0], p.y * h + offset[1]] for p in res.multi_hand_landmarks[0].landmark])
        cls = res.multi_handedness[0].classification[0] if res.multi_handedness else None
        score = float(cls.score) if cls is not None else 1.0
        px = np.concatenate([lm, np.full((NUM_HAND_LANDMARKS, 1), score)], axis=1)
        if res.multi_hand_world_landmarks:
            wl = np.array([[p.x, p.y, p.z] for p in res.multi_hand_world_landmarks[0].landmark])
            wl = wl - wl[0]
        else:
            wl = np.zeros((NUM_HAND_LANDMARKS, 3))
        return px, wl, (str(cls.label) if cls is not None else "")

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
    first frame, see ``convert._process_while_importing_bpy``). ``look_hz``: how often the
    tracker is called (frames per second over the look stride): a side whose hand has not been
    found for a while is then searched only at :data:`BACKOFF_RATE_HZ` (:data:`BACKOFF_AFTER_S`;
    None: every call). Not thread-safe; call :meth:`close`. ``seconds`` adds up the time spent
    detecting; ``looks`` / ``searches`` count, per side, the calls with a crop to look at and
    those where MediaPipe ran."""

    def __init__(self, width: int, height: int, model_complexity: int = 1, static: bool = False,
                 look_hz: Optional[float] = None):
        self._pool = None          # the worker thread of the second side (PARALLEL_SIDES)
        self.width, self.height = int(width), int(height)
        self._sides = [_SideDetector(model_complexity, static)]
        try:
            self._sides.append(_SideDetector(model_complexity, static))
        except BaseException:
            self.close()
            raise
        self.seconds = 0.0
        # palm-search back-off (BACKOFF_AFTER_S; look_hz None or static: off)
        self._after, self._every = (0, 1) if static or look_hz is None else backoff_looks(look_hz)
        self._empty = [0, 0]       # consecutive looks per side where MediaPipe found no hand
        self.looks = [0, 0]        # calls with a crop to look at, per side
        self.searches = [0, 0]     # ... of which MediaPipe actually ran (the others backed off)
        self.depth_flips = [0, 0]  # hands kept whose depth was mirrored back (MIRRORED_LABEL)

    def __call__(self, rgb: np.ndarray, keypoints2d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        kp = np.asarray(keypoints2d, dtype=np.float64)
        px_out = np.zeros((2, NUM_HAND_LANDMARKS, 3), np.float32)
        wl_out = np.zeros((2, NUM_HAND_LANDMARKS, 3), np.float32)
        jobs = []
        for s, side in enumerate("LR"):
            box = hand_crop(kp, side, self.width, self.height)
            if box is None:
                continue
            self.looks[s] += 1
            n = self._empty[s]
            if self._after and n >= self._after and (n - self._after) % self._every:
                self._empty[s] += 1  # backed off: this look is skipped
                continue
            self.searches[s] += 1
            jobs.append((s, box))
        outs = self._run(rgb, jobs)
        for (s, _), out in zip(jobs, outs):
            side = "LR"[s]
            if out is None:
                self._empty[s] += 1
                continue
            px, wl, label = out
            wrist = kp[J[side + "Wrist"], :2]
            fore = float(np.hypot(*(wrist - kp[J[side + "Elbow"], :2])))
            if np.hypot(*(px[0, :2] - wrist)) > ATTACH_FOREARMS * max(fore, 1.0):
                self._empty[s] += 1  # not this person's hand: no hand of theirs in the crop
                continue
            self._empty[s] = 0
            if label == MIRRORED_LABEL[s]:  # MediaPipe took it for the other hand: its depth is mirrored
                wl = wl * (1.0, 1.0, -1.0)
                self.depth_flips[s] += 1
            px_out[s], wl_out[s] = px, wl
        self.seconds += time.perf_counter() - t0
        return px_out, wl_out

    def _run(self, rgb: np.ndarray, jobs: list) -> list:
        """MediaPipe on each job's ``(side, box)`` crop; with both sides due, the right one in a
        worker thread while the left runs here (two graphs, released GIL)."""
        def one(job):
            s, (x0, y0, x1, y1) = job
            return self._sides[s].detect(rgb[y0:y1, x0:x1], (x0, y0))

        if len(jobs) < 2 or not PARALLEL_SIDES:
            return [one(j) for j in jobs]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="hands")
        right = self._pool.submit(one, jobs[1])
        try:
            left = one(jobs[0])
        finally:
            out = right.result()
        return [left, out]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
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


#: :func:`fill_skipped`'s default: hold the nearer look's hand where only one of two looks found it.
HOLD_FILL = True


def fill_skipped(hands2d: np.ndarray, hands3d: np.ndarray, looked: np.ndarray,
                 hold: Optional[bool] = None) -> tuple[np.ndarray, np.ndarray]:
    """Fill the frames where hands were not looked for (``looked`` (T,) False) from the nearest
    frames before and after that were, per side: where the hand was found in both, linear
    interpolation (confidence: the lower of the two); where it was found in only one of them
    (the hand appears or disappears in between) and ``hold``, the frames at least as near that
    look as the other take its detection (the nearest look's, as if looked at every frame
    where the look is nearest; at most half the gap); with ``hold`` the frames before the
    first look and after the last one, within a look's interval, take the nearest look's too
    (a clip's last frames after its last look). None: :data:`HOLD_FILL`. Other frames stay
    unseen (zeros)."""
    hold = HOLD_FILL if hold is None else bool(hold)
    h2 = np.array(hands2d, dtype=np.float32, copy=True)
    h3 = np.array(hands3d, dtype=np.float32, copy=True)
    idx = np.flatnonzero(np.asarray(looked, bool))
    if len(idx) < 2:
        return h2, h3
    for p, n in zip(idx[:-1], idx[1:]):
        if n - p < 2:
            continue
        for s in range(2):
            fp, fn = h2[p, s, 0, 2] > 0, h2[n, s, 0, 2] > 0
            if fp and fn:
                for t in range(p + 1, n):
                    a = (t - p) / (n - p)
                    h2[t, s, :, :2] = (1 - a) * h2[p, s, :, :2] + a * h2[n, s, :, :2]
                    h2[t, s, :, 2] = np.minimum(h2[p, s, :, 2], h2[n, s, :, 2])
                    h3[t, s] = (1 - a) * h3[p, s] + a * h3[n, s]
            elif hold and (fp or fn):
                src = p if fp else n
                for t in range(p + 1, n):
                    if 2 * abs(t - src) <= n - p:
                        h2[t, s], h3[t, s] = h2[src, s], h3[src, s]
    if hold:  # before the first look and after the last one (within a look's interval): the nearest look's
        gap = int(np.median(np.diff(idx)))
        T = h2.shape[0]
        for src, frames in ((idx[0], range(max(0, idx[0] - gap + 1), idx[0])),
                            (idx[-1], range(idx[-1] + 1, min(T, idx[-1] + gap)))):
            for s in range(2):
                if h2[src, s, 0, 2] > 0:
                    for t in frames:
                        h2[t, s], h3[t, s] = h2[src, s], h3[src, s]
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
    fps = float(reader.fps) if reader.fps and np.isfinite(reader.fps) else None
    tracker = HandTracker(reader.width, reader.height, model_complexity, static, look_hz=fps)
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
