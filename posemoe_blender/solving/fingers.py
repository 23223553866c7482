"""The fingers' solve from the tracked hands (:mod:`..detection.hands`), no bpy.

**Finger flexion** (:func:`finger_flexion`): the bend at each finger joint (MCP, PIP, DIP; the
thumb's CMC, MCP, IP) as the angle between consecutive segments, in radians, clipped to
the joint's anatomical range (:data:`FLEX_LIMITS_DEG`); eased to a relaxed hand
(:data:`RELAXED_DEG`) where the hand is unseen.

**Spread and the thumb's axes** (:func:`finger_bases`): each finger's base joint on its own
axes in the palm's frame (wrist -> middle knuckle, towards the thumb, out of the back of the
hand): the MCP flexion out of the palm plane and the abduction in it (limited,
:data:`SPREAD_LIMITS_DEG`), the thumb's CMC flexion across the palm and palmar abduction. The
generated rig's proximal finger bones are keyed from them (:meth:`HandSolve.rig_angles`), the
other finger bones from the flexion; presets get them through the retargeting's world deltas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..geometry import continuous_quaternions, smoothstep
from ..joints import FINGER_NAMES, FINGERS, NUM_HAND_LANDMARKS, PHALANX_NAMES

#: Flexion range (degrees) of the three joints of the thumb and of the other fingers.
FLEX_LIMITS_DEG = {"Thumb": ((0.0, 60.0), (0.0, 70.0), (-10.0, 90.0)),
                   "other": ((-20.0, 90.0), (0.0, 110.0), (0.0, 90.0))}
#: A relaxed hand's flexion (degrees), where a hand is unseen.
RELAXED_DEG = {"Thumb": (15.0, 10.0, 10.0), "other": (15.0, 25.0, 15.0)}

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


# --------------------------------------------------------------------------- spread and the thumb's base

#: Abduction range (degrees) at the base of each finger (:func:`finger_bases`' ``spread``):
#: the thumb's CMC palmar abduction (out of the palm plane), then the MCP abduction of the
#: index .. little finger in the palm plane, positive away from the middle finger (the middle
#: finger's: towards the thumb). Measured from the hand's axis, so the metacarpals' own fan
#: (the little finger's knuckle lies some 10-25 degrees off the axis) is included.
SPREAD_LIMITS_DEG = ((0.0, 70.0), (-15.0, 30.0), (-15.0, 15.0), (-15.0, 30.0), (-15.0, 45.0))
#: Flexion range (degrees) at the base of each finger (:func:`finger_bases`' ``flexion``): the
#: thumb's CMC flexion across the palm (towards the little finger, from the rig's rest thumb),
#: then the MCP flexion of the index .. little finger out of the palm plane (towards the palm).
BASE_FLEX_LIMITS_DEG = ((-20.0, 50.0), (-20.0, 90.0), (-20.0, 90.0), (-20.0, 90.0), (-20.0, 90.0))


def _layout_angles(finger: str) -> tuple[float, float]:
    """(azimuth, palmar elevation) in radians of a finger's rest direction in
    :data:`FINGER_LAYOUT`: the angle from the hand's axis towards the thumb in the palm plane,
    and the angle out of it towards the palm."""
    u, v, n = FINGER_LAYOUT[finger][1]
    return float(np.arctan2(v, u)), float(np.arctan2(-n, np.hypot(u, v)))


#: The rig's rest thumb (its metacarpal's azimuth and palmar elevation, radians): a relaxed
#: thumb's CMC flexion is 0 and its abduction this elevation.
THUMB_REST = _layout_angles("Thumb")
#: A relaxed hand's base angles (degrees): each finger's spread as the rig's rest fan
#: (:data:`FINGER_LAYOUT`: a relaxed hand keys no spread) and :data:`RELAXED_DEG`'s MCP
#: flexion; the thumb 10 degrees further across the palm and out of its plane than the rest
#: thumb (its CMC flexion 10, its abduction the rest thumb's + 10).
RELAXED_SPREAD_DEG = (float(np.degrees(THUMB_REST[1])) + 10.0,) + tuple(
    float(np.degrees(sign * _layout_angles(f)[0]))
    for f, sign in (("Index", 1.0), ("Middle", 1.0), ("Ring", -1.0), ("Little", -1.0)))
RELAXED_BASE_FLEX_DEG = (10.0,) + (RELAXED_DEG["other"][0],) * 4
#: Spread is measured only while the proximal phalanx lies near the palm plane: it eases to
#: the relaxed spread as the MCP flexion's cosine drops from the first value to the second
#: (a curled finger's direction in the palm plane is undefined; anatomically, a flexed MCP
#: hardly abducts).
SPREAD_FLEX_COS = (0.7, 0.3)
#: Sign turning the radial angle (towards the thumb) of the index .. little finger into spread.
_SPREAD_SIGN = np.array([1.0, 1.0, -1.0, -1.0])


def palm_frame(hands3d: np.ndarray, right: bool) -> np.ndarray:
    """(..., 3, 3) columns ``u`` (wrist -> middle knuckle), ``v`` (towards the thumb, in the
    palm plane) and ``n`` (out of the back of the hand) of (..., 21, 3) hand landmarks of a
    ``right`` (else left) hand."""
    x = np.asarray(hands3d, dtype=np.float64)
    u = x[..., 9, :] - x[..., 0, :]
    u = u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-12)
    lat = x[..., 5, :] - x[..., 17, :]
    v = lat - np.sum(lat * u, axis=-1, keepdims=True) * u
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    n = np.cross(u, v) * (1.0 if right else -1.0)   # a left hand is a mirror image
    return np.stack([u, v, n], axis=-1)


#: A palm reading (:func:`palm_frame_track`) turned more than this (degrees) from both its
#: seen neighbours (the previous and next frames whose palm was read) is rejected: a hand
#: read mirrored in one frame, not a hand that turned (a wrist does not turn 90 degrees in a
#: frame).
PALM_JUMP_DEG = 90.0

#: The palm's frame is low-passed at this fraction of the fingers' cutoff (:func:`solve_hands`):
#: its orientation reads noisier than the fingers' angles and a hand bone turns the whole hand.
PALM_CUTOFF_SCALE = 0.25

#: ... and a reading turned more than :data:`PALM_OUTLIER_DEG` from most (the median) of the
#: kept readings within :data:`PALM_WINDOW_S` seconds either side is rejected too.
PALM_OUTLIER_DEG = 60.0
PALM_WINDOW_S = 0.25

#: The palm's weight follows its kept readings through a Gaussian of this many seconds (longer
#: than the fingers' :data:`EASE_S`: the hand bone may turn far between the forearm and the palm).
PALM_EASE_S = 0.3


def _frame_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Degrees between (..., 3, 3) frames ``a`` and ``b`` (same handedness)."""
    c = (np.einsum("...ji,...ji->...", a, b) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def palm_frame_track(hands3d: np.ndarray, seen: np.ndarray, right: bool, fps: float,
                     cutoff_hz: float = 0.0, confidence: Optional[np.ndarray] = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``(palm (T, 3, 3), kept (T,) bool)``: one hand's :func:`palm_frame` over time from
    (T, 21, 3) wrist-relative landmarks, ``seen`` (T,) where detected.

    * a seen frame whose palm is turned more than :data:`PALM_JUMP_DEG` from both its previous
      and next kept frames (one of them at the ends) is rejected (``kept`` False, as unseen),
      repeated until none is left, so one mirrored reading between sound ones is dropped; then
      one turned more than :data:`PALM_OUTLIER_DEG` from the median of the kept readings
      within :data:`PALM_WINDOW_S` (a flip read over two or three frames), twice over;
    * the kept frames are smoothed as rotations: quaternions (a left hand's frame mirrored to a
      proper rotation first), signs made continuous, low-passed at ``cutoff_hz`` with ``fps``
      like the fingers (:func:`~.smoothing.smooth_joints`, confidence-aware; 0: none) and
      normalised;
    * frames not kept hold the nearest kept frame's palm (the caller's weight eases those out);
      none kept: the identity."""
    from scipy.spatial.transform import Rotation
    from ..smoothing import filters as smoothing

    T = len(seen)
    ok = np.asarray(seen, bool).copy()
    out = np.broadcast_to(np.eye(3), (T, 3, 3)).copy()
    if not ok.any():
        return out, ok
    raw = palm_frame(np.asarray(hands3d, dtype=np.float64), right=right)
    mir = np.diag([1.0, 1.0, 1.0 if right else -1.0])
    raw = raw @ mir                                       # proper rotations
    while True:
        idx = np.flatnonzero(ok)
        if len(idx) < 3:
            break
        fr = raw[idx]
        a_prev = np.r_[np.nan, _frame_angle(fr[1:], fr[:-1])]
        a_next = np.r_[a_prev[1:], np.nan]
        a_prev[0], a_next[-1] = a_next[0], a_prev[-1]
        bad = np.minimum(a_prev, a_next) > PALM_JUMP_DEG
        if not bad.any():
            break
        # drop the worst one and look again (its neighbours' angles change)
        worst = np.argmax(np.where(bad, np.minimum(a_prev, a_next), -1.0))
        ok[idx[worst]] = False
    # a reading turned away from most of the kept ones around it (a flip read over two or
    # three frames passes the neighbour test): rejected too
    half = max(1, int(round(PALM_WINDOW_S * fps)))
    for _ in range(2):
        idx = np.flatnonzero(ok)
        if len(idx) < 3:
            break
        med = np.zeros(len(idx))
        for j, t in enumerate(idx):
            near_ = idx[(np.abs(idx - t) <= half) & (idx != t)]
            med[j] = np.median(_frame_angle(raw[near_], raw[t])) if len(near_) else 0.0
        drop = med > PALM_OUTLIER_DEG
        if not drop.any() or drop.all():
            break
        ok[idx[drop]] = False
    q = continuous_quaternions(Rotation.from_matrix(raw[smoothing.nearest_kept(ok)]).as_quat())
    if cutoff_hz and np.isfinite(cutoff_hz) and cutoff_hz > 0 and T >= 3:
        c = ok.astype(np.float64) * (1.0 if confidence is None else np.clip(confidence, 0.0, 1.0))
        q = smoothing.smooth_joints(q[:, None, :], fps, cutoff_hz=cutoff_hz, confidence=c[:, None])[:, 0]
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    out = Rotation.from_quat(q).as_matrix() @ mir
    return out, ok


def finger_bases(hands3d: np.ndarray, right: bool, confidence: Optional[np.ndarray] = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(flexion, spread)``, each (..., 5) radians, of each finger's base joint on its own
    axes, from (..., 21, 3) landmarks of a ``right`` (else left) hand in the palm's frame
    (:func:`palm_frame`; a left hand is measured as the mirror image of a right one, so the
    two read alike):

    * index .. little: the proximal phalanx's (MCP -> PIP) direction split into its angle out
      of the palm plane towards the palm (``flexion``, the MCP flexion without the spread
      mixed in) and its angle in the palm plane from the hand's axis (wrist -> middle knuckle),
      positive away from the middle finger (the middle finger: towards the thumb) (``spread``,
      abduction), eased to :data:`RELAXED_SPREAD_DEG` as the finger curls (:data:`SPREAD_FLEX_COS`);
    * thumb: its metacarpal's (CMC -> MCP) direction split into the CMC flexion across the
      palm (``flexion``: the rest thumb's azimuth, :data:`THUMB_REST`, minus the measured one,
      positive towards the little finger) and the CMC palmar abduction (``spread``: the angle
      out of the palm plane towards the palm).

    Clipped to :data:`BASE_FLEX_LIMITS_DEG` / :data:`SPREAD_LIMITS_DEG`; ``confidence`` (...,)
    in [0, 1] eases both towards the relaxed hand (0: :data:`RELAXED_BASE_FLEX_DEG`,
    :data:`RELAXED_SPREAD_DEG`). The generated rig keys them as its proximal finger bones'
    rotations (:func:`~.solving.solve_pose`)."""
    x = np.asarray(hands3d, dtype=np.float64)
    F = palm_frame(x, right)
    flex = np.zeros(x.shape[:-2] + (5,))
    spread = np.zeros(x.shape[:-2] + (5,))
    relaxed_spread = np.radians(RELAXED_SPREAD_DEG)
    for f, chain in enumerate(FINGERS):
        d = x[..., chain[2], :] - x[..., chain[1], :]
        c = np.einsum("...i,...ij->...j", d, F)          # (du, dv, dn)
        planar = np.hypot(c[..., 0], c[..., 1])
        elevation = np.arctan2(-c[..., 2], planar)       # towards the palm
        azimuth = np.arctan2(c[..., 1], c[..., 0])       # towards the thumb
        if f == 0:
            flex[..., 0] = THUMB_REST[0] - azimuth
            spread[..., 0] = elevation
        else:
            flex[..., f] = elevation
            w = smoothstep(np.cos(elevation), SPREAD_FLEX_COS[1], SPREAD_FLEX_COS[0])
            spread[..., f] = w * _SPREAD_SIGN[f - 1] * azimuth + (1 - w) * relaxed_spread[f]
    flex = np.clip(flex, *np.radians(np.array(BASE_FLEX_LIMITS_DEG)).T)
    spread = np.clip(spread, *np.radians(np.array(SPREAD_LIMITS_DEG)).T)
    if confidence is not None:
        w = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)[..., None]
        flex = w * flex + (1 - w) * np.radians(RELAXED_BASE_FLEX_DEG)
        spread = w * spread + (1 - w) * relaxed_spread
    return flex, spread


def relaxed_bases(shape: tuple = ()) -> tuple[np.ndarray, np.ndarray]:
    """``(flexion, spread)`` (*shape, 5) of a relaxed hand's finger bases (radians)."""
    return (np.broadcast_to(np.radians(RELAXED_BASE_FLEX_DEG), tuple(shape) + (5,)).copy(),
            np.broadcast_to(np.radians(RELAXED_SPREAD_DEG), tuple(shape) + (5,)).copy())


def relaxed_rig_angles(shape: tuple = ()) -> np.ndarray:
    """(*shape, 5, 5) a relaxed hand's :meth:`HandSolve.rig_angles`."""
    return np.concatenate([relaxed_flexion(shape)] + [a[..., None] for a in relaxed_bases(shape)], axis=-1)


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
      the hand was seen (unseen frames stay zero, confidence included);
    * ``base_flexion`` / ``spread``: (T, 2, 5) radians, each finger's base joint on its own
      axes (:func:`finger_bases`: the thumb's CMC flexion across the palm and palmar
      abduction, the other fingers' MCP flexion out of the palm plane and abduction in it),
      smoothed and eased like ``fingers``, within :data:`BASE_FLEX_LIMITS_DEG` /
      :data:`SPREAD_LIMITS_DEG`. The generated rig's proximal finger bones are keyed from
      these (``fingers[..., 0]`` stays the plain angle between the segments, its definition);
    * ``palm``: (T, 2, 3, 3) the palm's frame in camera axes (:func:`palm_frame` of the smoothed
      ``hands3d``: columns along the hand, towards the thumb, out of the back of the hand;
      the identity where unseen, ``weight`` 0): the generated rig's hand bones turn with it
      (:func:`~.solving.solve_pose`, weighted by ``palm_weight``, within anatomical limits);
    * ``palm_weight``: (T, 2) like ``weight``, from the frames whose palm reading was kept
      (:func:`palm_frame_track`: a reading that jumps from its neighbours counts as unseen)."""

    fingers: np.ndarray
    weight: np.ndarray
    hands2d: np.ndarray
    hands3d: np.ndarray
    base_flexion: Optional[np.ndarray] = None
    spread: Optional[np.ndarray] = None
    palm: Optional[np.ndarray] = None
    palm_weight: Optional[np.ndarray] = None

    def __post_init__(self):
        if self.base_flexion is None or self.spread is None:
            bf, sp = relaxed_bases(self.fingers.shape[:2])
            self.base_flexion = bf if self.base_flexion is None else self.base_flexion
            self.spread = sp if self.spread is None else self.spread
        if self.palm is None:
            self.palm = np.broadcast_to(np.eye(3), self.fingers.shape[:2] + (3, 3)).copy()
        if self.palm_weight is None:
            self.palm_weight = np.zeros(self.fingers.shape[:2])

    def found_rate(self) -> tuple[float, float]:
        f = self.hands2d[..., 0, 2] > 0
        return float(f[:, 0].mean()), float(f[:, 1].mean())

    def rig_angles(self) -> np.ndarray:
        """(T, 2, 5, 5) what the generated rig's finger bones are keyed from
        (:func:`~.solving.solve_pose`): per finger the three joints' flexion (``fingers``),
        the base joint's flexion (``base_flexion``) and its spread (``spread``)."""
        return np.concatenate([self.fingers, self.base_flexion[..., None], self.spread[..., None]], axis=-1)


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
    from ..smoothing import filters as smoothing

    if hands2d is None or hands3d is None:
        T = int(frames or 0)
        z = np.zeros((T, 2, NUM_HAND_LANDMARKS, 3), np.float32)
        return HandSolve(relaxed_flexion((T, 2)), np.zeros((T, 2)), z, z.copy(), *relaxed_bases((T, 2)))
    h2 = np.asarray(hands2d, dtype=np.float64)
    h3 = np.asarray(hands3d, dtype=np.float64)
    T = h2.shape[0]
    conf = np.clip(h2[..., 0, 2], 0.0, 1.0)            # (T, 2)
    seen = conf > 0
    relaxed = relaxed_flexion((T,))
    lo, hi = _limits()
    rbase = np.concatenate([a[:, :, None] for a in relaxed_bases((T,))], axis=-1)    # (T, 5, 2)
    blo = np.radians(np.stack([np.array(BASE_FLEX_LIMITS_DEG), np.array(SPREAD_LIMITS_DEG)], axis=1))  # (5, 2, 2)
    bases = np.broadcast_to(rbase[:, None], (T, 2, 5, 2)).copy()
    palm = np.broadcast_to(np.eye(3), (T, 2, 3, 3)).copy()
    palm_weight = np.zeros((T, 2))
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
        base = np.stack(finger_bases(h3[:, s], right=(s == 1)), axis=-1)   # (T, 5, 2)
        base = np.where(seen[:, s, None, None], base, rbase)
        c = conf[:, s]
        if smooth:
            raw = smoothing.smooth_joints(raw, fps, cutoff_hz=cutoff_hz, confidence=c[:, None])
            base = smoothing.smooth_joints(base, fps, cutoff_hz=cutoff_hz, confidence=c[:, None])
            xy = smoothing.smooth_joints(h2[:, s, :, :2], fps, cutoff_hz=cutoff_hz, confidence=c[:, None])
            xyz = smoothing.smooth_joints(h3[:, s], fps, cutoff_hz=cutoff_hz, confidence=c[:, None])
        else:
            xy, xyz = h2[:, s, :, :2], h3[:, s]
        w = gaussian_filter1d(seen[:, s].astype(np.float64), sigma=max(EASE_S * fps, 0.5), mode="nearest")
        w = np.clip(w * 1.25, 0.0, 1.0)  # a hand seen for a while counts fully
        weight[:, s] = w
        fingers[:, s] = np.clip(w[:, None, None] * raw + (1 - w[:, None, None]) * relaxed, lo, hi)
        bases[:, s] = np.clip(w[:, None, None] * base + (1 - w[:, None, None]) * rbase, blo[..., 0], blo[..., 1])
        m = seen[:, s, None, None]
        out2[:, s, :, :2] = np.where(m, xy, 0.0)
        out2[:, s, :, 2] = h2[:, s, :, 2]
        out3[:, s] = np.where(m, xyz, 0.0)
        # the palm's frame (:func:`palm_frame_track`): jumps rejected, smoothed as a rotation,
        # its own weight (eased like ``weight``, from the frames whose palm was kept)
        palm[:, s], ok = palm_frame_track(h3[:, s], seen[:, s], right=(s == 1), fps=fps,
                                          cutoff_hz=PALM_CUTOFF_SCALE * cutoff_hz if smooth else 0.0,
                                          confidence=c)
        pw = gaussian_filter1d(ok.astype(np.float64), sigma=max(PALM_EASE_S * fps, 0.5), mode="nearest")
        palm_weight[:, s] = np.clip(pw * 1.25, 0.0, 1.0)
    return HandSolve(fingers, weight, out2.astype(np.float32), out3.astype(np.float32),
                     bases[..., 0], bases[..., 1], palm, palm_weight)


def resample_fingers(fingers: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """(T', 2, 5, K) finger angles at ``fps_out`` from (T, 2, 5, K) at ``fps_in`` (the joints'
    resampling): the flexion (K = 3) or :meth:`HandSolve.rig_angles` (K = 5)."""
    from ..smoothing import filters as smoothing
    fingers = np.asarray(fingers, dtype=np.float64)
    T, K = fingers.shape[0], fingers.shape[-1]
    out = smoothing.resample(fingers.reshape(T, 10, K), fps_in, fps_out)
    return out.reshape(-1, 2, 5, K)


# --------------------------------------------------------------------------- the rig's fingers

def finger_bone_names(side: str) -> tuple:
    """Unity Humanoid names of the 15 finger bones of one ``side`` (``Left`` / ``Right``),
    finger by finger, proximal first: ``LeftThumbProximal``, ``LeftThumbIntermediate``, ..."""
    return tuple(f"{side}{f}{p}" for f in FINGER_NAMES for p in PHALANX_NAMES)


@dataclass
class HandKeys:
    """What the solve keys on the hands, on the animation's frames (T').

    * ``solve``: the hands smoothed and solved (:func:`solve_hands`, the 2D's time base), None
      with ``ConvertOptions.hands`` off;
    * ``fingers``: (T', 2, 5, 5) the finger bones' angles (:meth:`HandSolve.rig_angles`), None:
      relaxed hands;
    * ``palms``: ``(palm (T', 2, 3, 3), weight (T', 2))`` the hand bones turn with
      (``ConvertOptions.hand_rotation``), None: the hands continue the forearms.
    """

    solve: Optional[HandSolve]
    fingers: Optional[np.ndarray]
    palms: Optional[tuple]


def hand_keys(hands2d: Optional[np.ndarray], hands3d: Optional[np.ndarray], fps: float, cutoff_hz: float,
              frames: int, frames_out: int, fps_out: float, options) -> HandKeys:
    """The hands' stage of one clip: ``hands2d`` / ``hands3d`` (T, 2, 21, 3) as detected (None:
    not looked for) at ``fps`` over ``frames`` frames, smoothed at ``cutoff_hz``
    (:func:`solve_hands`), then put on the animation's ``frames_out`` frames at ``fps_out``
    (:func:`resample_fingers`; the palms from the nearest source frame). ``options``: a
    ``ConvertOptions`` (``hands``, ``hand_rotation``)."""
    if not options.hands:
        return HandKeys(None, None, None)
    from ..smoothing import filters as smoothing
    solved = solve_hands(hands2d, hands3d, fps, cutoff_hz=cutoff_hz, frames=frames)
    fingers = solved.rig_angles()
    palms = (solved.palm, solved.palm_weight) if options.hand_rotation else None
    if fingers.shape[0] != frames_out:
        fingers = resample_fingers(fingers, fps, fps_out)
        near = smoothing.nearest_frames(frames_out, fps, fps_out, len(solved.weight))
        palms = None if palms is None else (solved.palm[near], solved.palm_weight[near])
    return HandKeys(solved, fingers, palms)
