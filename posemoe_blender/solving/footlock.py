"""Foot locking and ground placement on solved joints (no bpy here).

Works on ``(T, 17, 3)`` joints in the solver's armature space (metres, Z up, the floor
near Z = 0, constant bone lengths: the state inside
:func:`posemoe_blender.solving.body.solve_animation` after re-chaining and floor placement,
before the bone rotations are solved). :func:`lock_feet` does, per foot (the ankle joint):

1. **Ground plane** (:func:`~.contacts.fit_ground`): the clip is rotated so that the ground
   under its supporting feet is level (see :mod:`.contacts`).
2. **Contacts** (:func:`~.contacts.detect_contacts`, unless given): the frames each foot is
   planted, low and still (see :mod:`.contacts`).
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
from scipy.ndimage import distance_transform_edt, maximum_filter1d, uniform_filter1d

from ..errors import PoseMoEError
from ..geometry import smoothstep
from ..joints import JOINT_INDEX as J, NUM_JOINTS
from .contacts import LEGS, FootLockConfig, check_clip, detect_contacts, fit_ground, true_runs

#: Height of the ankle joint above the sole (metres); same value as the solver's.
ANKLE_HEIGHT = 0.08


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
        return int(sum(len(true_runs(self.contacts[:, k])) for k in range(2)))

    def summary(self) -> dict:
        """The numbers a report shows (JSON-safe scalars; the per-frame arrays stay here)."""
        return {"contacts": self.segments, "contact_frames": self.contact_frames,
                "ground_tilt_deg": float(self.ground_tilt_deg), "floor_shift": float(self.floor_shift),
                "unreached_frames": int(self.unreached_frames),
                "pelvis_drop_max_m": float(self.pelvis_drop_max_m), "blend_frames": int(self.blend_frames)}


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
    alpha = 1.0 - smoothstep(dist / max(fade, 1)) if fade > 0 else has.astype(np.float64)
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
    runs = true_runs(contact)
    for (s, e), pin in zip(runs, pins):
        delta[s:e] = pin - track[s:e]
    if blend <= 0:
        return delta
    for k, (s, e) in enumerate(runs):
        # before the contact: fade in from zero, unless the previous contact is close
        prev_end = runs[k - 1][1] if k > 0 else None
        if prev_end is not None and s - prev_end <= 2 * blend:
            gap = s - prev_end
            a = smoothstep((np.arange(prev_end, s) - prev_end + 1) / (gap + 1))
            delta[prev_end:s] = (1 - a)[:, None] * delta[prev_end - 1] + a[:, None] * delta[s]
        else:
            lo = max(0, s - blend)
            w = smoothstep((np.arange(lo, s) - (s - blend - 1)) / (blend + 1))
            delta[lo:s] = w[:, None] * delta[s]
        next_start = runs[k + 1][0] if k + 1 < len(runs) else None
        if next_start is None or next_start - e > 2 * blend:
            hi = min(T, e + blend)
            w = smoothstep(((e + blend) - np.arange(e, hi)) / (blend + 1))
            delta[e:hi] = w[:, None] * delta[e - 1]
    return delta


#: Below this share of the thigh's length, the knee's distance from the hip-ankle line is
#: completed by the forward direction in :func:`two_bone_ik` (a straight leg bends forward).
HINT_SHARE = 0.05


def two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray,
                forward: np.ndarray, lengths: tuple | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move (N, 3) ankles to ``target`` with the hip fixed; returns (knee, ankle, reached).

    Thigh and shin keep their per-frame lengths exactly. The knee stays in the plane of the
    original bend (its backward part dropped: a hyperextended knee bends forward);
    ``forward`` (N, 3) is mixed in as the bend gets shorter than :data:`HINT_SHARE` of the
    thigh, so a straight leg bends forward instead of in a random direction. The knee's side
    varies continuously with the input (a target at the ankle gives the same knee back). ``reached`` is False where the target
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
    # The knee's side: the original bend's, its backward part dropped (a hyperextended knee bends
    # forward), with the forward hint mixed in only as the bend gets shorter than HINT_SHARE of
    # the thigh (a straight leg bends forward). The side then varies continuously with the
    # input: a target at the ankle gives the knee back, and no tiny change flips it over.
    fo = forward - np.einsum("ni,ni->n", forward, u)[:, None] * u
    side = (knee - hip) - np.einsum("ni,ni->n", knee - hip, u)[:, None] * u
    back = np.minimum(np.einsum("ni,ni->n", side, fo), 0.0)
    side = side - (back / np.maximum(np.einsum("ni,ni->n", fo, fo), 1e-12))[:, None] * fo
    hint = HINT_SHARE * l1
    weight = hint * np.clip(1.0 - np.linalg.norm(side, axis=-1) / np.maximum(hint, 1e-12), 0.0, 1.0)
    v = side + weight[:, None] * fo
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
    P = check_clip(P, fps)
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
              for s, e in true_runs(contacts[:, k])]
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
        for s, e in true_runs(contacts[:, k]):
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
