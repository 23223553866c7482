"""Foot contacts, foot locking and ground placement on solved joints (no bpy here).

Works on ``(T, 17, 3)`` joints in the solver's armature space (metres, Z up, the floor
near Z = 0, constant bone lengths: the state inside
:func:`posemoe_blender.solving.body.solve_animation` after re-chaining and floor placement,
before the bone rotations are solved). :func:`lock_feet` does, per foot (the ankle joint):

1. **Ground plane** (:func:`fit_ground`): a plane fitted to the lower ankle of each frame
   (iteratively keeping the lower envelope: the supporting feet) when the person travels
   far enough to define it; the clip is rotated so that plane is level. This corrects the
   solver's pose-based up estimate where it is biased (e.g. a forward lean while walking
   across a side view tilts the whole trajectory); motions in place keep their tilt.
2. **Contacts** (:func:`detect_contacts`): a frame is a contact when the ankle is low
   (within ``height_band`` of a running floor: the lower ankle's minimum over
   ``floor_window_s``, which follows a body that drifts up or down over the clip) *and* still. Stillness is
   the ankle's horizontal 3D speed or, when ``keypoints2d`` is given, mostly (``weight_2d``)
   its 2D image speed converted to metres: a planted foot is still in the image even when
   the monocular 3D estimate slides (this assumes a static camera). Soft scores are
   thresholded, holes shorter than a swing (``fill_s``) closed, contacts shorter than
   ``min_contact_s`` dropped. Then two rules that compare the feet, so the root's error
   (which both feet share) cancels: feet moving apart faster than ``apart_speed`` (in 3D or,
   with keypoints, in the image) are not both planted (the one moving more in the image, or
   the higher one, is dropped), and
   where neither foot was found but one is clearly stiller in the image than the other
   (image speeds ``apart_speed`` apart, the stiller under ``speed_band_2d[1]``) while the
   other swings, the stiller one is planted (a walk always has a foot down; in a run's
   flight both feet move fast in the image). A gap between two contacts of the same foot is
   filled where the detector was unsure of that ankle (median confidence < ``hold_confidence``)
   and the ankle is back where it was at the gap's end (an unseen foot that went nowhere: the
   lifter raised it on a drifting 2D ankle, e.g. while the body bends towards the camera).
   Contacts then start ``grow_s`` earlier (the
   speed window makes a landing foot look still a frame late) but do not end later
   (``grow_end_s`` = 0): extending the end held the ankle down through heel-off, while the
   truth's ankle was already rising.
3. **Floor**: the floor is put under the lowest contacts (``floor_percentile`` of the
   per-contact median ankle heights, minus the ankle's height above the sole), so the
   whole clip is shifted in Z by ``floor_shift``; no ankle ends below the floor.
3b. **Root from the feet** (``foot_root``, :func:`foot_driven_root`,
   :func:`foot_driven_height`): the monocular root estimate (depth from apparent size)
   runs ahead of / behind its own feet. A planted foot does not move, so between two
   frames where a foot is in contact the body moves by minus that foot's displacement
   relative to the root (mean over the planted feet); between contacts the step is
   interpolated from the neighbouring contacts' steps and fades to the estimate's own step
   ``root_fade_s`` away from every contact. Vertically the body is put on its planted
   feet (their ankles at :data:`ANKLE_HEIGHT`, interpolated between contacts). The whole
   body moves rigidly by ``root_shift[t]``, so the pins below are reachable by
   construction. The clip's travel is then the lifter's stride lengths, not the root
   estimate's: where a lifter's strides are short the body travels less far.
4. **Pins**: each contact segment gets one target, the median of its ankle positions in
   X/Y at height :data:`ANKLE_HEIGHT` (the foot neither slides nor floats nor sinks).
5. **Reach** (rare after 3b: double support with feet that disagree): where a pinned
   ankle is out of the leg's reach, the pelvis and upper body are lowered just enough (smoothly,
   at most ``max_pelvis_drop``); a pin still out of reach keeps its X/Y and is lifted up to
   ``max_lift`` (the foot hovers a little rather than slides); beyond that it slides.
6. **Blending**: inside a contact the ankle correction is ``pin - ankle``; it fades in before
   and out after each contact over ``blend_s`` (smoothstep, or a smooth interpolation
   between two contacts closer than that), so nothing pops. Frames farther than ``blend_s``
   from every contact are returned unchanged (bit for bit) up to the rigid root shift.
7. **Two-bone IK** per corrected frame: hip fixed, the ankle moved to its target (or as close
   as the leg reaches), the knee kept in the plane of the original knee bend (falling back
   smoothly to the body's forward direction for a straight leg); thigh and shin keep their
   exact lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt, maximum_filter1d, minimum_filter1d, uniform_filter1d

from ..errors import PoseMoEError
from ..joints import JOINT_INDEX as J, NUM_JOINTS

#: Height of the ankle joint above the sole (metres); same value as the solver's.
ANKLE_HEIGHT = 0.08

#: (name, hip, knee, ankle) joint indices of each leg; contact arrays use this order.
LEGS = (("L", J["LHip"], J["LKnee"], J["LAnkle"]), ("R", J["RHip"], J["RKnee"], J["RAnkle"]))


@dataclass
class FootLock:
    """What the foot-locking stage did (:func:`lock_feet`), typed.

    * ``joints``: (T, 17, 3) the corrected joints: the whole clip moved rigidly per frame
      (``joints = P @ ground_rotation.T + ground_translation + root_shift[t]``), then only the
      knees and ankles changed (and the upper body lowered by at most ``pelvis_drop_max_m``
      where a pin was out of reach);
    * ``contacts``: (T, 2) bool, the pinned frames of the left and right foot;
    * ``ground_rotation`` (3, 3) and ``ground_translation`` (3,): the levelling (its tilt,
      ``ground_tilt_deg``) and the floor shift ``floor_shift`` (metres subtracted from Z);
    * ``root_shift``: (T, 3) metres the body moved to stand on its planted feet;
    * ``unreached_frames``: IK targets out of reach; ``blend_frames``: the fade length.
    """

    joints: np.ndarray
    contacts: np.ndarray
    ground_rotation: np.ndarray
    ground_translation: np.ndarray
    ground_tilt_deg: float
    floor_shift: float
    root_shift: np.ndarray
    pelvis_drop_max_m: float
    unreached_frames: int
    blend_frames: int

    @property
    def contact_frames(self) -> dict:
        """Pinned frames per foot: ``{"L": n, "R": n}``."""
        return {leg[0]: int(self.contacts[:, k].sum()) for k, leg in enumerate(LEGS)}

    @property
    def segments(self) -> int:
        """Number of contact segments (both feet)."""
        return int(sum(len(_runs(self.contacts[:, k])) for k in range(2)))

    def summary(self) -> dict:
        """The numbers a report shows (JSON-safe scalars; the per-frame arrays stay here)."""
        return {"contacts": self.segments, "contact_frames": self.contact_frames,
                "ground_tilt_deg": float(self.ground_tilt_deg), "floor_shift": float(self.floor_shift),
                "unreached_frames": int(self.unreached_frames),
                "pelvis_drop_max_m": float(self.pelvis_drop_max_m), "blend_frames": int(self.blend_frames)}


@dataclass
class FootLockConfig:
    """Thresholds of contact detection and locking (metres, seconds, metres/second)."""

    height_band: tuple = (0.05, 0.12)   # ankle height above the lowest level: contact .. not
    speed_band: tuple = (0.20, 0.50)    # horizontal 3D speed (m/s): still .. moving (3D only)
    # with 2D keypoints: score = height * (w2d * still_2d + (1 - w2d) * still_3d); the 3D speed
    # band is wider there (a monocular estimate's feet slide), the 2D speed is in m/s (image
    # speed times metres per pixel at the person).
    height_band_2d: tuple = (0.08, 0.20)
    speed_band_3d_with_2d: tuple = (0.40, 1.20)
    speed_band_2d: tuple = (0.40, 1.20)
    weight_2d: float = 0.75
    speed_window_s: float = 0.1         # speeds are measured over +-half this window
    min_contact_s: float = 0.1          # shorter contacts are dropped
    fill_frames: int = 2                # holes of at most this many frames are closed ...
    fill_s: float = 0.2                 # ... or this long (no step's swing is that short)
    grow_s: float = 0.035               # contacts start this much earlier (the speed window lags)
    grow_end_s: float | None = 0.0      # ... and end this much later (None: grow_s). 0: a foot
                                        # that starts to move (heel-off) is not held down
    blend_s: float = 0.25               # fade in/out of each lock
    floor_percentile: float = 0.0       # of per-contact median ankle heights (0: the lowest)
    reach: float = 0.999                # pinned feet need the leg at most this straight
    max_pelvis_drop: float = 0.015      # m: the pelvis is lowered at most this much to reach
    max_lift: float = 0.03              # m: a pin is lifted at most this much to stay reachable
    ground_spread: float = 0.25         # m: ridge on the ground slope (needs travel >> this)
    max_ground_tilt_deg: float = 20.0   # larger fitted tilts are not applied
    min_confidence: float = 0.3         # 2D keypoints below this are not used for stillness
    hold_confidence: float = 0.65       # a gap between two contacts of a foot is filled when the
    hold_max_s: float = 1.5             # ankle's median 2D confidence in it is below this, it is
    hold_max_move: float = 0.08         # shorter than hold_max_s and the ankle's image position
                                        # at its two ends differs by < hold_max_move x the person's
                                        # image height (an unseen foot that went nowhere); 0 = off
    floor_window_s: float | None = 1.5  # heights above a running floor (the lower ankle's
                                        # minimum over this window, smoothed), not one clip-wide
                                        # level: a monocular body drifts up/down over a clip
    foot_root: bool = True              # horizontal root motion driven by the contacting feet
    root_fade_s: float = 0.5            # away from contacts the root fades back to its estimate
    apart_speed: float = 0.6            # m/s: feet moving apart faster are not both planted
    apart_2d: bool = True               # "apart" also from the ankles' image motion (static camera)


# ------------------------------------------------------------------------------ helpers

def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of the True runs of a 1D bool array."""
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _speed(track: np.ndarray, fps: float, half: int) -> np.ndarray:
    """(T,) speed of a (T, D) track from central differences over +-``half`` frames."""
    T = track.shape[0]
    if T < 2:
        return np.zeros(T)
    idx = np.arange(T)
    lo, hi = np.clip(idx - half, 0, T - 1), np.clip(idx + half, 0, T - 1)
    dt = np.maximum(hi - lo, 1) / fps
    return np.linalg.norm(track[hi] - track[lo], axis=-1) / dt


def _clean(mask: np.ndarray, fill: int, min_len: int) -> np.ndarray:
    """Close holes of <= ``fill`` frames between contacts, then drop runs < ``min_len``."""
    out = mask.copy()
    runs = _runs(out)
    for (s0, e0), (s1, _) in zip(runs[:-1], runs[1:]):
        if s1 - e0 <= fill:
            out[e0:s1] = True
    for s, e in _runs(out):
        if e - s < min_len:
            out[s:e] = False
    return out


def _check(P, fps):
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 3 or P.shape[1:] != (NUM_JOINTS, 3) or P.shape[0] == 0:
        raise PoseMoEError(f"joints: shape {P.shape}, expected (T, {NUM_JOINTS}, 3)")
    if not np.all(np.isfinite(P)):
        raise PoseMoEError("joints: contains NaN or infinite values")
    if not (np.isfinite(fps) and fps > 0):
        raise PoseMoEError(f"fps must be positive, got {fps}")
    return P


# ------------------------------------------------------------------------------ ground

def _rotation_to_z(n: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit vector ``n`` to +Z."""
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(n, z)
    s, c = np.linalg.norm(axis), float(n @ z)
    if s < 1e-12:
        return np.eye(3)
    k = axis / s
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    ang = np.arctan2(s, c)
    return np.eye(3) + np.sin(ang) * K + (1 - np.cos(ang)) * K @ K


def fit_ground(P: np.ndarray, config: FootLockConfig | None = None) -> tuple[np.ndarray, float]:
    """Rotation (3, 3) levelling the ground under the feet of Z-up joints, and its angle (deg).

    Fits ``z = a x + b y + c`` to the lower ankle of every frame, three times keeping the
    points at or below the previous fit plus 2 cm (the supporting feet), with a ridge
    ``len * ground_spread**2`` on (a, b): a slope is only trusted along directions the feet
    travel much farther than ``ground_spread``. Identity when the fitted tilt exceeds
    ``max_ground_tilt_deg``.
    """
    cfg = config or FootLockConfig()
    P = np.asarray(P, np.float64)
    ankles = P[:, [leg[3] for leg in LEGS]]
    low = ankles[np.arange(len(P)), np.argmin(ankles[..., 2], axis=1)]  # (T, 3)
    keep = np.ones(len(low), bool)
    coef = np.zeros(3)
    for _ in range(3):
        pts = low[keep]
        if len(pts) < 3:
            break
        xy = pts[:, :2] - pts[:, :2].mean(axis=0)
        lam = len(pts) * cfg.ground_spread ** 2
        A = xy.T @ xy + lam * np.eye(2)
        ab = np.linalg.solve(A, xy.T @ (pts[:, 2] - pts[:, 2].mean()))
        c = pts[:, 2].mean() - ab @ pts[:, :2].mean(axis=0)
        coef = np.array([ab[0], ab[1], c])
        resid = low[:, 2] - (low[:, :2] @ coef[:2] + coef[2])
        keep = resid <= 0.02
    n = np.array([-coef[0], -coef[1], 1.0])
    n /= np.linalg.norm(n)
    tilt = float(np.degrees(np.arccos(np.clip(n[2], -1.0, 1.0))))
    if tilt > cfg.max_ground_tilt_deg:
        return np.eye(3), tilt
    return _rotation_to_z(n), tilt


# ------------------------------------------------------------------------------ contacts

def contact_scores(P: np.ndarray, fps: float, keypoints2d: np.ndarray | None = None,
                   config: FootLockConfig | None = None) -> tuple[np.ndarray, dict]:
    """Soft contact scores (T, 2) in [0, 1] for (left, right) ankles, and diagnostics.

    ``P``: (T, 17, 3) Z-up joints (metres). ``keypoints2d``: optional (T, 17, 3) pixels +
    confidence of the same frames (stillness in the image).
    """
    cfg = config or FootLockConfig()
    P = _check(P, fps)
    T = P.shape[0]
    half = max(1, int(round(cfg.speed_window_s * fps / 2)))
    ankles = P[:, [leg[3] for leg in LEGS]]  # (T, 2, 3)
    lower = ankles[..., 2].min(axis=1)
    if cfg.floor_window_s:  # the lifted body drifts up or down over a clip: follow the floor
        size = max(3, int(round(cfg.floor_window_s * fps)) | 1)
        low = uniform_filter1d(minimum_filter1d(lower, size, mode="nearest"), size, mode="nearest")
    else:
        low = np.full(T, np.percentile(lower, 5))
    height = ankles[..., 2] - low[:, None]  # (T, 2) above the floor under each frame
    v3 = np.stack([_speed(ankles[:, k, :2], fps, half) for k in range(2)], axis=1)

    def still(speed, band):
        return 1.0 - _smoothstep((speed - band[0]) / (band[1] - band[0]))

    def low_enough(band):
        return 1.0 - _smoothstep((height - band[0]) / (band[1] - band[0]))

    score = low_enough(cfg.height_band) * still(v3, cfg.speed_band)
    v2 = rel_v2 = None
    body_px = None
    kp = None if keypoints2d is None else np.asarray(keypoints2d, dtype=np.float64)
    if kp is not None and kp.shape == (T, NUM_JOINTS, 3) and np.all(np.isfinite(kp)):
        # metres per pixel from the person's size: 3D head-to-ankle over 2D head-to-ankle
        head = J["Head"]
        size3 = np.linalg.norm(P[:, head] - 0.5 * (ankles[:, 0] + ankles[:, 1]), axis=-1)
        mid2 = 0.5 * (kp[:, J["LAnkle"], :2] + kp[:, J["RAnkle"], :2])
        size2 = np.linalg.norm(kp[:, head, :2] - mid2, axis=-1)
        ok = size2 > 1.0
        if ok.sum() >= max(2, T // 4):
            body_px = float(np.median(size2[ok]))
            m_per_px = float(np.median(size3[ok] / size2[ok]))
            v2 = np.stack([_speed(kp[:, leg[3], :2], fps, half) for leg in LEGS], axis=1) * m_per_px
            conf = np.stack([kp[:, leg[3], 2] for leg in LEGS], axis=1)
            rel2 = kp[:, J["LAnkle"], :2] - kp[:, J["RAnkle"], :2]
            rel_v2 = _speed(rel2, fps, half) * m_per_px
            rel_v2[(conf < cfg.min_confidence).any(axis=1)] = 0.0
            s3 = still(v3, cfg.speed_band_3d_with_2d)
            s2 = np.where(conf >= cfg.min_confidence, still(v2, cfg.speed_band_2d), s3)
            w = cfg.weight_2d
            score = low_enough(cfg.height_band_2d) * (w * s2 + (1.0 - w) * s3)
    return score, {"height": height, "speed3d": v3, "speed2d": v2, "low_level": low,
                   "rel_speed2d": rel_v2, "body_px": body_px}


def _one_planted_when_apart(contacts, P, fps, diag, cfg):
    """Both feet cannot be planted while they move apart: where both are contacts and the
    ankles' relative horizontal speed (free of the root's error: both feet share it) exceeds
    ``apart_speed``, keep only the foot that is stiller in the image (or lower without 2D)."""
    half = max(1, int(round(cfg.speed_window_s * fps / 2)))
    ankles = P[:, [leg[3] for leg in LEGS], :2]
    apart = _speed(ankles[:, 0] - ankles[:, 1], fps, half) > cfg.apart_speed
    if cfg.apart_2d and diag.get("rel_speed2d") is not None:  # or apart in the image
        apart |= diag["rel_speed2d"] > cfg.apart_speed
    both = contacts.all(axis=1) & apart
    moving = diag["speed2d"] if diag["speed2d"] is not None else diag["height"]
    out = contacts.copy()
    drop = np.argmax(moving, axis=1)  # the foot that moves more (2D) or is higher
    out[both, drop[both]] = False
    if diag["speed2d"] is not None:
        # one foot swings (the feet move apart), neither was found planted, and one foot is
        # still in the image: that one is (a walk always has a foot down; in a run's flight
        # phase both feet move fast in the image, too)
        v2 = diag["speed2d"]
        keep = np.argmin(v2, axis=1)
        swings = np.ptp(v2, axis=1) > cfg.apart_speed  # the feet's image speeds differ
        none = ~contacts.any(axis=1) & swings & (v2.min(axis=1) < cfg.speed_band_2d[1])
        out[none, keep[none]] = True
    return out


def _hold_unseen(contacts: np.ndarray, kp: np.ndarray, fps: float, body_px: float, cfg) -> np.ndarray:
    """Fill a gap between two contacts of the same foot where the detector could not see the
    ankle well (median confidence below ``hold_confidence``) and the ankle is back where it was
    (image distance between the gap's two ends under ``hold_max_move`` x ``body_px``): the lifted
    foot rose on an unreliable 2D ankle, the foot itself did not move."""
    out = contacts.copy()
    longest = int(round(cfg.hold_max_s * fps))
    for k, leg in enumerate(LEGS):
        runs = _runs(contacts[:, k])
        for (_, e0), (s1, _) in zip(runs[:-1], runs[1:]):
            if s1 - e0 > longest:
                continue
            conf = np.median(kp[e0:s1, leg[3], 2])
            move = np.linalg.norm(kp[s1, leg[3], :2] - kp[e0 - 1, leg[3], :2])
            if conf < cfg.hold_confidence and move < cfg.hold_max_move * body_px:
                out[e0:s1, k] = True
    return out


def detect_contacts(P: np.ndarray, fps: float, keypoints2d: np.ndarray | None = None,
                    config: FootLockConfig | None = None) -> np.ndarray:
    """(T, 2) bool foot contacts (left, right ankle); see :func:`contact_scores`."""
    cfg = config or FootLockConfig()
    scores, diag = contact_scores(P, fps, keypoints2d, cfg)
    min_len = max(1, int(round(cfg.min_contact_s * fps)))
    fill = max(cfg.fill_frames, int(round(cfg.fill_s * fps)))
    out = np.stack([_clean(scores[:, k] > 0.5, fill, min_len) for k in range(2)], axis=1)
    out = _one_planted_when_apart(out, P, fps, diag, cfg)
    out = np.stack([_clean(out[:, k], fill, min_len) for k in range(2)], axis=1)
    if cfg.hold_confidence > 0 and diag["body_px"]:  # set only when the 2D keypoints are usable
        out = _hold_unseen(out, np.asarray(keypoints2d, dtype=np.float64), fps, diag["body_px"], cfg)
    before = int(round(cfg.grow_s * fps))
    after = int(round((cfg.grow_s if cfg.grow_end_s is None else cfg.grow_end_s) * fps))
    if before or after:  # contacts start a little before (and, optionally, end after) the foot is still
        size = before + after + 1  # frame t is a contact if one is in [t - after, t + before]
        out = maximum_filter1d(out.astype(np.uint8), size, axis=0, mode="constant", cval=0,
                               origin=after - size // 2).astype(bool)
    return out


# ------------------------------------------------------------------------------ root

def foot_driven_root(P: np.ndarray, contacts: np.ndarray, fade: int) -> np.ndarray:
    """(T, 2) horizontal shift per frame that makes the root follow the contacting feet.

    A foot in contact does not move in the world, so between two frames where it is in
    contact the root moves by minus the foot's displacement relative to the root
    (averaged over the feet in contact at both frames). Between contacts the root's step is
    interpolated from the neighbouring contacts' steps (a flight phase keeps its horizontal
    velocity) and fades to the estimated root's own step over ``fade`` frames away from
    every contact. The new track keeps the estimate's mean position; the returned shift is
    ``new - old`` (add it to every joint's X/Y).
    """
    T = P.shape[0]
    shift = np.zeros((T, 2))
    contacts = np.asarray(contacts, bool)
    if T < 2 or not contacts.any():
        return shift
    pel = P[:, 0, :2]
    rel = P[:, [leg[3] for leg in LEGS], :2] - pel[:, None]          # (T, 2, 2)
    both = (contacts[1:] & contacts[:-1]).astype(np.float64)        # (T-1, 2)
    n = both.sum(axis=1)
    has = n > 0
    if not has.any():
        return shift
    step_feet = -(both[..., None] * np.diff(rel, axis=0)).sum(axis=1) / np.maximum(n, 1.0)[:, None]
    step_est = np.diff(pel, axis=0)
    idx = np.arange(T - 1)
    held = np.stack([np.interp(idx, idx[has], step_feet[has, d]) for d in range(2)], axis=1)
    held[has] = step_feet[has]
    dist = distance_transform_edt(~has)  # frames from the nearest step with a contact
    alpha = 1.0 - _smoothstep(dist / max(fade, 1)) if fade > 0 else has.astype(np.float64)
    step = alpha[:, None] * held + (1.0 - alpha[:, None]) * step_est
    new = np.concatenate([np.zeros((1, 2)), np.cumsum(step, axis=0)]) + pel[0]
    new += (pel - new).mean(axis=0)
    return new - pel


def foot_driven_height(P: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """(T,) vertical shift putting the contacting ankles at :data:`ANKLE_HEIGHT` (mean over
    the feet in contact), interpolated between contacts (held before the first and after
    the last): a body the estimate has floating or sinking stands on its planted feet."""
    T = P.shape[0]
    z = P[:, [leg[3] for leg in LEGS], 2]
    c = np.asarray(contacts, bool)
    n = c.sum(axis=1)
    has = n > 0
    if not has.any():
        return np.zeros(T)
    need = np.where(c, ANKLE_HEIGHT - z, 0.0).sum(axis=1) / np.maximum(n, 1)
    idx = np.arange(T)
    return np.interp(idx, idx[has], need[has])


# ------------------------------------------------------------------------------ locking

def _smooth_cover(need: np.ndarray, blend: int) -> np.ndarray:
    """A smooth (T,) curve >= ``need`` almost everywhere: running max over +-``blend`` frames,
    then a moving average of the same width (exactly 0 where ``need`` is 0 nearby)."""
    if not need.any():
        return np.zeros_like(need)
    size = 2 * max(1, blend) + 1
    mx = maximum_filter1d(need, size, mode="constant", cval=0.0)
    return np.maximum(uniform_filter1d(mx, size, mode="constant", cval=0.0), 0.0)

def _corrections(track: np.ndarray, contact: np.ndarray, pins: list, blend: int) -> np.ndarray:
    """(T, 3) ankle corrections for one foot: ``pin - ankle`` inside contacts, faded outside."""
    T = track.shape[0]
    delta = np.zeros((T, 3))
    runs = _runs(contact)
    for (s, e), pin in zip(runs, pins):
        delta[s:e] = pin - track[s:e]
    if blend <= 0:
        return delta
    for k, (s, e) in enumerate(runs):
        # before the contact: fade in from zero, unless the previous contact is close
        prev_end = runs[k - 1][1] if k > 0 else None
        if prev_end is not None and s - prev_end <= 2 * blend:
            gap = s - prev_end
            a = _smoothstep((np.arange(prev_end, s) - prev_end + 1) / (gap + 1))
            delta[prev_end:s] = (1 - a)[:, None] * delta[prev_end - 1] + a[:, None] * delta[s]
        else:
            lo = max(0, s - blend)
            w = _smoothstep((np.arange(lo, s) - (s - blend - 1)) / (blend + 1))
            delta[lo:s] = w[:, None] * delta[s]
        next_start = runs[k + 1][0] if k + 1 < len(runs) else None
        if next_start is None or next_start - e > 2 * blend:
            hi = min(T, e + blend)
            w = _smoothstep(((e + blend) - np.arange(e, hi)) / (blend + 1))
            delta[e:hi] = w[:, None] * delta[e - 1]
    return delta


def two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray,
                forward: np.ndarray, lengths: tuple | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move (N, 3) ankles to ``target`` with the hip fixed; returns (knee, ankle, reached).

    Thigh and shin keep their per-frame lengths exactly. The knee stays in the plane of the
    original bend; ``forward`` (N, 3) is mixed in with a small weight so a straight leg
    bends forward instead of in a random direction. ``reached`` is False where the target
    was out of the leg's reach (the ankle then stops at the reachable point on the line).
    ``lengths``: (thigh, shin) per frame when ``hip`` was moved (default: measured).
    """
    if lengths is None:
        l1 = np.linalg.norm(knee - hip, axis=-1)
        l2 = np.linalg.norm(ankle - knee, axis=-1)
    else:
        l1, l2 = (np.asarray(x, np.float64) for x in lengths)
    to = target - hip
    dist = np.linalg.norm(to, axis=-1)
    u = np.divide(to, dist[:, None], out=np.zeros_like(to), where=dist[:, None] > 1e-9)
    bad = dist <= 1e-9  # target at the hip: keep the original direction
    if bad.any():
        orig = ankle[bad] - hip[bad]
        u[bad] = orig / np.maximum(np.linalg.norm(orig, axis=-1, keepdims=True), 1e-9)
    d_min = np.abs(l1 - l2) + 1e-6
    d_max = (l1 + l2) * (1.0 - 1e-7)
    d = np.clip(dist, d_min, d_max)
    reached = np.abs(d - dist) < 1e-6
    bend = (knee - hip) + 0.05 * l1[:, None] * forward
    v = bend - np.einsum("ni,ni->n", bend, u)[:, None] * u
    vn = np.linalg.norm(v, axis=-1)
    fallback = np.cross(u, np.array([1.0, 0.0, 0.0]))
    v = np.where(vn[:, None] > 1e-9, v / np.maximum(vn, 1e-12)[:, None], fallback)
    cos_a = np.clip((l1 ** 2 + d ** 2 - l2 ** 2) / (2 * l1 * d), -1.0, 1.0)
    sin_a = np.sqrt(1.0 - cos_a ** 2)
    new_knee = hip + l1[:, None] * (cos_a[:, None] * u + sin_a[:, None] * v)
    new_ankle = hip + d[:, None] * u
    return new_knee, new_ankle, reached


def lock_feet(P: np.ndarray, fps: float, keypoints2d: np.ndarray | None = None,
              config: FootLockConfig | None = None,
              contacts: np.ndarray | None = None) -> FootLock:
    """Pin contacting feet and put the floor under them; see the module docstring.

    Args:
        P: (T, 17, 3) joints, metres, Z up (armature space of the solver).
        fps: frames per second.
        keypoints2d: optional (T, 17, 3) pixels + confidence of the same frames.
        config: thresholds (:class:`FootLockConfig`).
        contacts: optional (T, 2) bool contacts (left, right) to use instead of detecting.

    Returns:
        A :class:`FootLock` (the corrected joints, the contacts used and the transforms).
    """
    cfg = config or FootLockConfig()
    P = _check(P, fps)
    T = P.shape[0]
    R_ground, tilt = fit_ground(P, cfg)
    pivot = P[:, 0].mean(axis=0)
    translation = pivot - R_ground @ pivot
    P = P @ R_ground.T + translation
    if contacts is None:
        contacts = detect_contacts(P, fps, keypoints2d, cfg)
    contacts = np.asarray(contacts, bool)
    if contacts.shape != (T, 2):
        raise PoseMoEError(f"contacts: shape {contacts.shape}, expected ({T}, 2)")
    out = P.copy()

    # ground: under the lowest contacts (each contact's median ankle height)
    levels = [float(np.median(P[s:e, leg[3], 2])) for k, leg in enumerate(LEGS)
              for s, e in _runs(contacts[:, k])]
    shift = float(np.percentile(levels, cfg.floor_percentile) - ANKLE_HEIGHT) if levels else 0.0
    out[..., 2] -= shift
    root_shift = np.zeros((T, 3))
    if cfg.foot_root:  # the body follows its planted feet: the pins are where the legs are
        root_shift[:, :2] = foot_driven_root(out, contacts, int(round(cfg.root_fade_s * fps)))
        out[..., :2] += root_shift[:, None, :2]
        root_shift[:, 2] = foot_driven_height(out, contacts)
        out[..., 2] += root_shift[:, None, 2]

    blend = max(0, int(round(cfg.blend_s * fps)))
    hips_line = out[:, J["LHip"]] - out[:, J["RHip"]]
    forward = np.cross(hips_line, np.array([0.0, 0.0, 1.0]))  # facing -Y when left is +X
    forward /= np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)
    targets, need = [], np.zeros(T)
    bones = [(np.linalg.norm(out[:, kn] - out[:, h], axis=-1), np.linalg.norm(out[:, a] - out[:, kn], axis=-1))
             for _, h, kn, a in LEGS]
    for k, (_, hip, knee, ankle) in enumerate(LEGS):
        track = out[:, ankle]
        pins = []
        for s, e in _runs(contacts[:, k]):
            xy = np.median(track[s:e, :2], axis=0)
            pins.append(np.array([xy[0], xy[1], ANKLE_HEIGHT]))
        delta = _corrections(track, contacts[:, k], pins, blend)
        target = track + delta
        sinking = target[:, 2] < ANKLE_HEIGHT  # no foot below the floor, contact or not
        target[sinking, 2] = ANKLE_HEIGHT
        targets.append((target, np.any(delta != 0.0, axis=1) | sinking))
        # pelvis drop that makes this target reachable (game-style foot IK)
        reach = cfg.reach * (bones[k][0] + bones[k][1])
        dh = np.linalg.norm(target[:, :2] - out[:, hip, :2], axis=-1)
        dv = out[:, hip, 2] - target[:, 2]
        drop = dv - np.sqrt(np.maximum(reach ** 2 - dh ** 2, 0.0))
        need = np.maximum(need, np.where(targets[-1][1], np.clip(drop, 0.0, cfg.max_pelvis_drop), 0.0))
    drop = _smooth_cover(need, blend)
    if drop.any():  # lower everything but the legs' knees and ankles (re-solved below)
        upper = [j for j in range(NUM_JOINTS) if j not in {leg[2] for leg in LEGS} | {leg[3] for leg in LEGS}]
        out[:, upper, 2] -= drop[:, None]
    unreached = 0
    for k, (_, hip, knee, ankle) in enumerate(LEGS):
        target, locked = targets[k]
        sel = np.flatnonzero(locked | (drop > 0))
        if sel.size == 0:
            continue
        # still out of reach (straight leg, pin below it): keep the pin's X/Y, lift it just
        # enough; the foot then hovers a little above the floor instead of sliding
        reach = cfg.reach * (bones[k][0] + bones[k][1])
        dh = np.linalg.norm(target[:, :2] - out[:, hip, :2], axis=-1)
        lowest = out[:, hip, 2] - np.sqrt(np.maximum(reach ** 2 - dh ** 2, 0.0))
        target = target.copy()
        lift = np.where(dh < reach, lowest - target[:, 2], np.inf)
        # a small lift keeps X/Y exactly; beyond ``max_lift`` the foot would visibly hover, so
        # it is lifted that much and then slides towards the hip instead
        target[:, 2] += np.clip(lift, 0.0, cfg.max_lift)
        # still too far: slide the target horizontally towards the hip at that height (the
        # IK would otherwise put the ankle on the hip-target line, i.e. raise the foot)
        dv = np.maximum(out[:, hip, 2] - target[:, 2], 0.0)
        dh_max = np.sqrt(np.maximum(reach ** 2 - dv ** 2, 0.0)) * (1.0 - 1e-6)
        far = dh > dh_max
        if far.any():
            to = target[far, :2] - out[far, hip, :2]
            target[far, :2] = out[far, hip, :2] + to / np.maximum(dh[far], 1e-12)[:, None] * dh_max[far, None]
        new_knee, new_ankle, reached = two_bone_ik(out[sel, hip], out[sel, knee], out[sel, ankle],
                                                   target[sel], forward[sel],
                                                   (bones[k][0][sel], bones[k][1][sel]))
        out[sel, knee] = new_knee
        out[sel, ankle] = new_ankle
        unreached += int((~reached).sum())
    translation = translation - np.array([0.0, 0.0, shift])
    return FootLock(joints=out, contacts=contacts, ground_rotation=R_ground,
                    ground_translation=translation,
                    ground_tilt_deg=tilt if tilt <= cfg.max_ground_tilt_deg else 0.0,
                    floor_shift=shift, root_shift=root_shift,
                    pelvis_drop_max_m=float(drop.max()) if T else 0.0,
                    unreached_frames=unreached, blend_frames=blend)
