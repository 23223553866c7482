"""Foot contacts, foot locking and ground placement on solved joints (no bpy here).

Works on ``(T, 17, 3)`` joints in the solver's armature space (metres, Z up, the floor
near Z = 0, constant bone lengths: the state inside
:func:`posemoe_blender.core.solving.solve_animation` after re-chaining and floor placement,
before the bone rotations are solved). :func:`lock_feet` does, per foot (the ankle joint):

1. **Contacts** (:func:`detect_contacts`): a frame is a contact when the ankle is low
   (within ``height_band`` of the lowest ankle level of the clip) *and* still. Stillness is
   the ankle's horizontal 3D speed, averaged with its 2D image speed converted to metres
   (when ``keypoints2d`` is given: a planted foot is still in the image even when the depth
   estimate wobbles; this assumes a static camera). Soft scores are thresholded, holes of
   ``fill_frames`` are closed and contacts shorter than ``min_contact_s`` dropped.
2. **Ground**: the floor is put under the lowest contacts (a low percentile of the
   per-contact median ankle heights, minus the ankle's height above the sole), so the
   whole clip is shifted in Z by ``info["floor_shift"]``.
3. **Pins**: each contact segment gets one target, the median of its ankle positions in
   X/Y at height :data:`ANKLE_HEIGHT` (the foot neither slides nor floats nor sinks).
4. **Blending**: inside a contact the ankle correction is ``pin - ankle``; it fades in before
   and out after each contact over ``blend_s`` (smoothstep, or a smooth interpolation
   between two contacts closer than that), so nothing pops. Frames farther than ``blend_s``
   from every contact are returned unchanged (bit for bit).
5. **Two-bone IK** per corrected frame: hip fixed, the ankle moved to its target (or as close
   as the leg reaches), the knee kept in the plane of the original knee bend (falling back
   smoothly to the body's forward direction for a straight leg); thigh and shin keep their
   exact lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PoseMoEError
from ..joints import JOINT_INDEX as J, NUM_JOINTS

#: Height of the ankle joint above the sole (metres); same value as the solver's.
ANKLE_HEIGHT = 0.08

#: (name, hip, knee, ankle) joint indices of each leg; contact arrays use this order.
LEGS = (("L", J["LHip"], J["LKnee"], J["LAnkle"]), ("R", J["RHip"], J["RKnee"], J["RAnkle"]))


@dataclass
class FootLockConfig:
    """Thresholds of contact detection and locking (metres, seconds, metres/second)."""

    height_band: tuple = (0.05, 0.12)   # ankle height above the lowest level: contact .. not
    speed_band: tuple = (0.20, 0.50)    # horizontal speed (m/s): still .. moving
    speed_window_s: float = 0.1         # speeds are measured over +-half this window
    min_contact_s: float = 0.1          # shorter contacts are dropped
    fill_frames: int = 2                # holes of at most this many frames are closed
    blend_s: float = 0.15               # fade in/out of each lock
    floor_percentile: float = 20.0      # of per-contact median ankle heights
    min_confidence: float = 0.3         # 2D keypoints below this are not used for stillness


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
    low = float(np.percentile(ankles[..., 2].min(axis=1), 5))
    height = ankles[..., 2] - low
    v3 = np.stack([_speed(ankles[:, k, :2], fps, half) for k in range(2)], axis=1)
    speed = v3
    kp = None if keypoints2d is None else np.asarray(keypoints2d, dtype=np.float64)
    if kp is not None and kp.shape == (T, NUM_JOINTS, 3) and np.all(np.isfinite(kp)):
        # metres per pixel from the person's size: 3D head-to-ankle over 2D head-to-ankle
        head = J["Head"]
        size3 = np.linalg.norm(P[:, head] - 0.5 * (ankles[:, 0] + ankles[:, 1]), axis=-1)
        mid2 = 0.5 * (kp[:, J["LAnkle"], :2] + kp[:, J["RAnkle"], :2])
        size2 = np.linalg.norm(kp[:, head, :2] - mid2, axis=-1)
        ok = size2 > 1.0
        if ok.sum() >= max(2, T // 4):
            m_per_px = float(np.median(size3[ok] / size2[ok]))
            v2 = np.stack([_speed(kp[:, leg[3], :2], fps, half) for leg in LEGS], axis=1) * m_per_px
            conf = np.stack([kp[:, leg[3], 2] for leg in LEGS], axis=1)
            use = conf >= cfg.min_confidence
            speed = np.where(use, 0.5 * (v3 + v2), v3)
    s_h = 1.0 - _smoothstep((height - cfg.height_band[0]) / (cfg.height_band[1] - cfg.height_band[0]))
    s_v = 1.0 - _smoothstep((speed - cfg.speed_band[0]) / (cfg.speed_band[1] - cfg.speed_band[0]))
    return s_h * s_v, {"height": height, "speed": speed, "speed3d": v3, "low_level": low}


def detect_contacts(P: np.ndarray, fps: float, keypoints2d: np.ndarray | None = None,
                    config: FootLockConfig | None = None) -> np.ndarray:
    """(T, 2) bool foot contacts (left, right ankle); see :func:`contact_scores`."""
    cfg = config or FootLockConfig()
    scores, _ = contact_scores(P, fps, keypoints2d, cfg)
    min_len = max(1, int(round(cfg.min_contact_s * fps)))
    return np.stack([_clean(scores[:, k] > 0.5, cfg.fill_frames, min_len) for k in range(2)], axis=1)


# ------------------------------------------------------------------------------ locking

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
                forward: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move (N, 3) ankles to ``target`` with the hip fixed; returns (knee, ankle, reached).

    Thigh and shin keep their per-frame lengths exactly. The knee stays in the plane of the
    original bend; ``forward`` (N, 3) is mixed in with a small weight so a straight leg
    bends forward instead of in a random direction. ``reached`` is False where the target
    was out of the leg's reach (the ankle then stops at the reachable point on the line).
    """
    l1 = np.linalg.norm(knee - hip, axis=-1)
    l2 = np.linalg.norm(ankle - knee, axis=-1)
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
              contacts: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Pin contacting feet and put the floor under them; see the module docstring.

    Args:
        P: (T, 17, 3) joints, metres, Z up (armature space of the solver).
        fps: frames per second.
        keypoints2d: optional (T, 17, 3) pixels + confidence of the same frames.
        config: thresholds (:class:`FootLockConfig`).
        contacts: optional (T, 2) bool contacts (left, right) to use instead of detecting.

    Returns:
        ``(joints, info)``: the corrected (T, 17, 3) float64 joints (only Z shifted and the
        knees/ankles changed) and a JSON-safe dict: ``floor_shift`` (metres subtracted from
        Z), ``contact_frames`` ({"L": n, "R": n}), ``contacts`` (number of contact
        segments), ``unreached_frames`` (IK targets out of reach), ``blend_frames``.
    """
    cfg = config or FootLockConfig()
    P = _check(P, fps)
    T = P.shape[0]
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

    blend = max(0, int(round(cfg.blend_s * fps)))
    hips_line = out[:, J["LHip"]] - out[:, J["RHip"]]
    forward = np.cross(hips_line, np.array([0.0, 0.0, 1.0]))  # facing -Y when left is +X
    forward /= np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)
    unreached = 0
    for k, (_, hip, knee, ankle) in enumerate(LEGS):
        track = out[:, ankle]
        pins = []
        for s, e in _runs(contacts[:, k]):
            xy = np.median(track[s:e, :2], axis=0)
            pins.append(np.array([xy[0], xy[1], ANKLE_HEIGHT]))
        delta = _corrections(track, contacts[:, k], pins, blend)
        sel = np.flatnonzero(np.any(delta != 0.0, axis=1))
        if sel.size == 0:
            continue
        new_knee, new_ankle, reached = two_bone_ik(out[sel, hip], out[sel, knee], out[sel, ankle],
                                                   out[sel, ankle] + delta[sel], forward[sel])
        out[sel, knee] = new_knee
        out[sel, ankle] = new_ankle
        unreached += int((~reached).sum())
    info = {
        "floor_shift": shift,
        "contact_frames": {leg[0]: int(contacts[:, k].sum()) for k, leg in enumerate(LEGS)},
        "contacts": int(sum(len(_runs(contacts[:, k])) for k in range(2))),
        "unreached_frames": unreached,
        "blend_frames": blend,
    }
    return out, info
