"""Foot contacts and the ground under the feet of solved joints (no bpy here).

Works on ``(T, 17, 3)`` joints in the solver's armature space (metres, Z up, the floor
near Z = 0, constant bone lengths: :func:`~.body.place_joints`'s). The first two steps of
foot locking (:func:`~.footlock.lock_feet`), per foot (the ankle joint):

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

:class:`FootLockConfig` holds the thresholds of both modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

from ..errors import PoseMoEError
from ..geometry import smoothstep
from ..joints import JOINT_INDEX as J, NUM_JOINTS

#: (name, hip, knee, ankle) joint indices of each leg; contact arrays use this order.
LEGS = (("L", J["LHip"], J["LKnee"], J["LAnkle"]), ("R", J["RHip"], J["RKnee"], J["RAnkle"]))


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

def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of the True runs of a (T,) bool array, as Python ints."""
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
    runs = true_runs(out)
    for (s0, e0), (s1, _) in zip(runs[:-1], runs[1:]):
        if s1 - e0 <= fill:
            out[e0:s1] = True
    for s, e in true_runs(out):
        if e - s < min_len:
            out[s:e] = False
    return out


def check_clip(P, fps) -> np.ndarray:
    """Joints ``P`` as a float64 (T, 17, 3) array, T > 0, all finite, with a positive ``fps``;
    else a :class:`~posemoe_blender.errors.PoseMoEError`."""
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
    """(3, 3) smallest rotation taking unit vector ``n`` (3,) to +Z (Rodrigues' formula; the
    identity where ``n`` is along Z).

    Not :func:`~posemoe_blender.geometry.min_rotation`: :func:`~.footlock.lock_feet` turns a
    last-bit change of this rotation into a visible change of the locked joints, so the
    levelling keeps its own arithmetic."""
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
    P = check_clip(P, fps)
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
        return 1.0 - smoothstep((speed - band[0]) / (band[1] - band[0]))

    def low_enough(band):
        return 1.0 - smoothstep((height - band[0]) / (band[1] - band[0]))

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
        runs = true_runs(contacts[:, k])
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


