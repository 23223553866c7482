"""The camera's rotation per frame, estimated from the background during the detection pass.

A handheld or panning camera turns; the lifted joints and the root are camera-relative, so
without this the camera's turns become the character's. :class:`CameraTracker` is fed each
decoded frame by :func:`~.body.detect_video` (no second decode) with the people's boxes of that
frame, and :meth:`CameraTracker.result` gives a :class:`CameraMotion`.

Per frame (on a grey copy at most :data:`WORK_PX` pixels on its long side):

1. corners of the previous frame's background (``cv2.goodFeaturesToTrack``, the people's
   boxes masked out, grown by :data:`BOX_MARGIN`) are tracked into this frame with pyramidal
   Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``; a track that lands in a person's box is
   dropped); the tracks that agreed are followed on into the next frame, and corners are
   looked for again when fewer than half of :data:`MAX_CORNERS` are left;
2. a homography fitted with RANSAC (``cv2.findHomography``) keeps the tracks that agree;
3. the rotation between the two frames is the one that best turns the inliers' rays
   ``K^-1 (u, v, 1)`` of the previous frame onto this frame's (Kabsch/Wahba by SVD, the nearest
   rotation of the rotation-only homography ``K^-1 H K``); the zoom (a focal length change) is
   the scale that then best matches the centred pixels, and the rays are refitted with it.

``K`` is the pinhole the solve assumes (focal length from
:func:`~posemoe_blender.solving.root.default_focal_px`, principal point at the centre). Where
too few corners are found (a plain wall, dark frames: ``"texture"``) or too few tracks survive
(a cut between shots or a blur: ``"cut"``), the camera is held still for that frame and the
stretch is reported (:attr:`CameraMotion.fallbacks`). A camera that also travels (a dolly, a
person walking with the phone) is taken as turning only: the distant background's motion is
explained by rotation and the rest is treated as the person's.

:func:`decide_moving` says whether a clip's camera moved clearly more than a still camera's
estimate does (:data:`MOVING_DEG`); a still camera then stays exactly as it was before this
module existed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

#: Long side (pixels) of the grey frame the background is tracked in.
WORK_PX = 480
#: Corners looked for per frame, their minimum spacing (work pixels) and quality level.
MAX_CORNERS = 300
MIN_DISTANCE_PX = 8
QUALITY = 0.01
#: Person boxes are grown by this fraction of their size on each side before masking.
BOX_MARGIN = 0.15
#: RANSAC reprojection threshold (work pixels) of the homography.
RANSAC_PX = 1.5
#: Fewer corners than this: too little texture; fewer agreeing tracks: no estimate.
MIN_POINTS = 25
#: Below this fraction of the corners tracked (with enough corners) the frame is a cut.
CUT_TRACKED = 0.3
#: Zoom per frame is kept only when it differs from 1 by more than this (else 1: noise).
ZOOM_NOISE = 2e-3
#: ``auto`` decides "moving" when the camera turned more than this (degrees) at some frame
#: relative to the first. Decided on the still real clips single_person_cam01/cam02 (their
#: largest estimate, times a safety factor); reported on the other still clips, the sample
#: and the synthetic pans (benchmarks/camera/results.json).
MOVING_DEG = 1.0


@dataclass
class CameraMotion:
    """The camera's estimated motion over a clip of T frames.

    * ``rotations``: (T, 3, 3) float64; ``rotations[t]`` takes a direction in the first frame's
      camera axes (x right, y down, z forward) to frame t's: ``X_t = rotations[t] @ X_0``
      (``rotations[0]`` is the identity);
    * ``confidence``: (T,) float64 in [0, 1], the share of :data:`MAX_CORNERS` background tracks
      that agreed with the frame's estimate (0 where it fell back, 1 at frame 0);
    * ``zoom``: (T,) float64, frame t's focal length over the first frame's;
    * ``held``: (T,) str, why frame t's camera was held where the previous frame's was: ""
      (estimated), ``"texture"`` (too little background texture) or ``"cut"`` (the tracks were
      lost); :attr:`fallbacks` gives the stretches;
    * ``focal_px``: the focal length (full-resolution pixels) of the first frame;
    * ``seconds``: time spent estimating.
    """

    rotations: np.ndarray
    confidence: np.ndarray
    zoom: np.ndarray
    held: np.ndarray
    focal_px: float = 0.0
    seconds: float = 0.0

    @property
    def angles_deg(self) -> np.ndarray:
        """(T,) degrees each frame's camera is turned from the first frame's."""
        cos = (np.trace(self.rotations, axis1=1, axis2=2) - 1.0) / 2.0
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))

    @property
    def fallbacks(self) -> list:
        """``[(start, end, reason)]``: the stretches of frame rows (end exclusive) held still."""
        out, start = [], None
        held = list(self.held) + [""]
        for i, reason in enumerate(held):
            if start is not None and reason != held[start]:
                out.append((start, i, str(held[start])))
                start = None
            if start is None and reason:
                start = i
        return out

    def resampled(self, index: np.ndarray) -> "CameraMotion":
        """The motion at frame rows ``index`` ((T',) ints, e.g. nearest rows of a new time base)."""
        index = np.asarray(index, int)
        return CameraMotion(self.rotations[index], self.confidence[index], self.zoom[index],
                            self.held[index], self.focal_px, self.seconds)


def decide_moving(motion: "CameraMotion | None", mode: str = "auto") -> bool:
    """Whether the camera's rotation is to be removed (``mode``, one of
    :data:`~posemoe_blender.options.CAMERA_MODES`): "still" never, "moving" always
    (when there is an estimate), "auto" when some frame turned more than :data:`MOVING_DEG`."""
    if motion is None or mode == "still":
        return False
    if mode == "moving":
        return True
    return bool(motion.angles_deg.max() > MOVING_DEG)


def rotation_between(rays0: np.ndarray, rays1: np.ndarray) -> np.ndarray:
    """The rotation ``R`` (3, 3) minimising ``sum |rays1 - R rays0|^2`` over (N, 3) unit rays
    (Kabsch by SVD; a proper rotation, det +1)."""
    m = rays1.T @ rays0
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


def _rays(points: np.ndarray, focal: float, cx: float, cy: float) -> np.ndarray:
    """(N, 2) pixels -> (N, 3) unit rays of a pinhole (x right, y down, z forward)."""
    r = np.column_stack([(points[:, 0] - cx) / focal, (points[:, 1] - cy) / focal, np.ones(len(points))])
    return r / np.linalg.norm(r, axis=1, keepdims=True)


class CameraTracker:
    """Estimate the camera's rotation frame by frame (see the module's docstring).

    ``width`` x ``height``: the upright frames' size; ``focal_px``: the focal length in those
    pixels. Call it with each ``(H, W, 3)`` uint8 RGB frame, in order, and the people's boxes
    ``(x0, y0, x1, y1)`` (full-resolution pixels) of that frame; then :meth:`result`.
    """

    def __init__(self, width: int, height: int, focal_px: float, work_px: int = WORK_PX):
        import cv2  # OpenCV only when estimating (MediaPipe's wheel ships it)
        self._cv2 = cv2
        self.scale = min(1.0, float(work_px) / max(width, height))
        self.size = (max(16, int(round(width * self.scale))), max(16, int(round(height * self.scale))))
        self.focal0 = float(focal_px)
        self.focal = float(focal_px) * self.scale
        self.cx, self.cy = self.size[0] / 2.0, self.size[1] / 2.0
        self._prev = None
        self._prev_mask = None
        self._points = None
        self._rot = np.eye(3)
        self._zoom = 1.0
        self.rotations: list = []
        self.confidence: list = []
        self.zoom: list = []
        self.reasons: list = []
        self.seconds = 0.0

    def _mask(self, boxes) -> np.ndarray:
        mask = np.full((self.size[1], self.size[0]), 255, np.uint8)
        for box in boxes:
            x0, y0, x1, y1 = np.asarray(box, np.float64) * self.scale
            mx, my = (x1 - x0) * BOX_MARGIN, (y1 - y0) * BOX_MARGIN
            mask[max(0, int(y0 - my)):max(0, int(np.ceil(y1 + my))),
                 max(0, int(x0 - mx)):max(0, int(np.ceil(x1 + mx)))] = 0
        return mask

    def __call__(self, rgb: np.ndarray, boxes=()) -> None:
        t0 = time.perf_counter()
        cv2 = self._cv2
        grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), self.size, interpolation=cv2.INTER_AREA)
        mask = self._mask(boxes)
        reason, conf = "", 1.0
        if self._prev is not None:
            rel, conf, reason = self._relative(self._prev, self._prev_mask, grey, mask)
            if rel is not None:
                self._rot = rel @ self._rot
        self.rotations.append(self._rot.copy())
        self.confidence.append(conf)
        self.zoom.append(self._zoom)
        self.reasons.append(reason)
        self._prev, self._prev_mask = grey, mask
        self.seconds += time.perf_counter() - t0

    def _relative(self, prev, prev_mask, grey, mask):
        """``(R, confidence, "")`` from the previous frame to this one, or ``(None, 0,
        reason)`` when it falls back to a still camera. The agreeing tracks are kept for the
        next frame; corners are looked for again when fewer than half of :data:`MAX_CORNERS`
        are left."""
        cv2 = self._cv2
        p0 = self._points
        self._points = None
        if p0 is None or len(p0) < MAX_CORNERS // 2:
            p0 = cv2.goodFeaturesToTrack(prev, MAX_CORNERS, QUALITY, MIN_DISTANCE_PX, mask=prev_mask)
            if p0 is None or len(p0) < MIN_POINTS:
                return None, 0.0, "texture"
        p1, st, err = cv2.calcOpticalFlowPyrLK(prev, grey, p0, None, winSize=(15, 15), maxLevel=3,
                                               criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01))
        a, b = p0.reshape(-1, 2), p1.reshape(-1, 2)
        w, h = self.size
        ok = (st.ravel() == 1) & (b[:, 0] >= 0) & (b[:, 0] < w - 1) & (b[:, 1] >= 0) & (b[:, 1] < h - 1)
        bi = np.clip(np.nan_to_num(b).astype(int), 0, [w - 1, h - 1])
        ok &= mask[bi[:, 1], bi[:, 0]] > 0
        if ok.sum() < MIN_POINTS:
            return None, 0.0, "cut" if ok.sum() < CUT_TRACKED * len(a) else "texture"
        a, b = a[ok].astype(np.float64), b[ok].astype(np.float64)
        _, inl = cv2.findHomography(a, b, cv2.RANSAC, RANSAC_PX)
        if inl is None or inl.sum() < max(MIN_POINTS, CUT_TRACKED * len(a)):
            return None, 0.0, "cut"
        keep = inl.ravel() > 0
        a, b = a[keep], b[keep]
        self._points = b.astype(np.float32).reshape(-1, 1, 2)
        f = self.focal * self._zoom
        ra = _rays(a, f, self.cx, self.cy)
        rel = rotation_between(ra, _rays(b, f, self.cx, self.cy))
        pred = ra @ rel.T
        pred = f * pred[:, :2] / pred[:, 2:3]
        seen = b - (self.cx, self.cy)
        s = float((seen * pred).sum() / max((pred * pred).sum(), 1e-9))
        if abs(s - 1.0) > ZOOM_NOISE:
            self._zoom *= s
            rel = rotation_between(ra, _rays(b, f * s, self.cx, self.cy))
        return rel, min(1.0, len(a) / MAX_CORNERS), ""

    def result(self) -> CameraMotion:
        """The :class:`CameraMotion` of the frames seen so far."""
        T = len(self.rotations)
        return CameraMotion(np.array(self.rotations, np.float64).reshape(T, 3, 3),
                            np.array(self.confidence, np.float64), np.array(self.zoom, np.float64),
                            np.array(self.reasons, dtype="<U8"), self.focal0, self.seconds)
