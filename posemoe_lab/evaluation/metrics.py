"""Motion-quality metrics against rendered truth: one name, one meaning.

Joint sets (:data:`JOINT_SETS`): ``limbs`` = the 12 limb joints (hips, knees, ankles,
shoulders, elbows, wrists), ``all`` = the 17 joints. Joint groups (:data:`GROUPS`): ``legs``,
``arms``, ``torso_head`` (Spine, Thorax, Neck, Head).

Pose metrics (mm unless stated; root-relative joints; computed per joint set, the alignment
fitted on the same joints the error is read on):

``pa_mpjpe_frame_mm``
    PA-MPJPE per frame: one similarity transform (rotation, scale, translation) per frame.
``pa_mpjpe_seq_mm``
    PA-MPJPE per sequence: one similarity transform for the whole clip (all frames at once), so
    a pose that drifts, wobbles in scale or turns against the truth within the clip pays.
``mpjpe_mm``
    MPJPE: one rotation for the whole clip, no scale, no per-frame help (the method's own size).
``accel_error_mm_f2``
    Acceleration error (mm / frame^2): the second difference of the joints after the clip
    rotation against the truth's.

Per group:

``group_error_mm``
    Per-frame similarity fitted on all 17 joints, mean error over the group's joints (where the
    error sits once the body as a whole is aligned).

Whole-body metrics (one value per clip):

``root_error_mm``
    Pelvis track after :func:`~.alignment.align_world` (clip rotation, first frames coincide).
``foot_slide_cm_s``
    Mean horizontal ankle speed (cm/s) over frame pairs where the *truth* has that foot in
    contact (:func:`truth_contacts`), after :func:`~.alignment.align_world`.
``bone_std_mm``
    Mean over the 16 bones of each bone length's standard deviation over the clip.
``contact_height_err_cm``, ``swing_height_err_cm``
    Solved outputs (floor at Z = 0): ankle height against the rig's ankle height during truth
    contacts; against the truth's height above its lowest level during the truth's swing.
``lock_precision_pct``, ``lock_recall_pct``, ``locks_mid_swing_pct``
    Foot lock on: per foot-frame, the share of our locks the truth has in contact; of the
    truth's contacts we lock; of our locks where the truth ankle is more than 8 cm up.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from posemoe_blender.errors import PoseMoEError
from posemoe_blender.joints import BONES, JOINT_INDEX as J, NUM_JOINTS
from posemoe_lab.evaluation import alignment

#: The 12 limb joints and all 17.
LIMBS = tuple(J[n] for n in ("RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "LShoulder", "LElbow",
                             "LWrist", "RShoulder", "RElbow", "RWrist"))
ALL = tuple(range(NUM_JOINTS))
JOINT_SETS = {"limbs": LIMBS, "all": ALL}
GROUPS = {"legs": tuple(J[n] for n in ("RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle")),
          "arms": tuple(J[n] for n in ("LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist")),
          "torso_head": tuple(J[n] for n in ("Spine", "Thorax", "Neck", "Head"))}
POSE_METRICS = ("pa_mpjpe_frame_mm", "pa_mpjpe_seq_mm", "mpjpe_mm", "accel_error_mm_f2")
BODY_METRICS = ("root_error_mm", "foot_slide_cm_s", "bone_std_mm")
FLOOR_METRICS = ("contact_height_err_cm", "swing_height_err_cm")
LOCK_METRICS = ("lock_precision_pct", "lock_recall_pct", "locks_mid_swing_pct")
ANKLES = (J["LAnkle"], J["RAnkle"])
#: Truth contact: ankle within this height (m) of the clip's lowest ankle level ...
CONTACT_HEIGHT_M = 0.02
#: ... and slower than this horizontally (m/s, median over 5 frames: mocap ankles twitch).
CONTACT_SPEED_M_S = 0.3
#: A lock where the truth ankle is higher than this above its lowest level is mid-swing (m;
#: walks' ankles peak at 12-15 cm, heel-off and toe-roll stay below ~7 cm).
IN_AIR_HEIGHT_M = 0.08


def key(joints: str, metric: str) -> str:
    """The flat name of a per-joint-set or per-group metric: ``"limbs/pa_mpjpe_frame_mm"``."""
    return f"{joints}/{metric}"


def all_keys() -> tuple[str, ...]:
    """Every flat metric name a scored clip can have, in report order."""
    return (tuple(key(s, m) for s in JOINT_SETS for m in POSE_METRICS)
            + tuple(key(g, "group_error_mm") for g in GROUPS)
            + BODY_METRICS + FLOOR_METRICS + LOCK_METRICS)


def _rel(pred, gt, joints):
    p = alignment.root_relative(np.asarray(pred, np.float64))
    g = alignment.root_relative(np.asarray(gt, np.float64))
    idx = list(joints)
    return p[:, idx], g[:, idx]


# ------------------------------------------------------------------------------ pose metrics

def pa_mpjpe_frame_mm(pred: np.ndarray, gt: np.ndarray, joints: Sequence[int] = ALL) -> float:
    """mm after one similarity per frame, over ``joints``."""
    p, g = _rel(pred, gt, joints)
    return float(np.linalg.norm(alignment.align_per_frame(p, g) - g, axis=-1).mean() * 1000)


def pa_mpjpe_seq_mm(pred: np.ndarray, gt: np.ndarray, joints: Sequence[int] = ALL) -> float:
    """mm after one similarity for the whole clip, over ``joints``."""
    p, g = _rel(pred, gt, joints)
    return float(np.linalg.norm(alignment.align_similarity(p, g) - g, axis=-1).mean() * 1000)


def mpjpe_mm(pred: np.ndarray, gt: np.ndarray, joints: Sequence[int] = ALL) -> float:
    """mm, root-relative, after one rotation for the whole clip (fitted on ``joints``)."""
    p, g = _rel(pred, gt, joints)
    R = alignment.similarity(p, g, scale=False)[0]
    return float(np.linalg.norm(p @ R.T - g, axis=-1).mean() * 1000)


def accel_error_mm_f2(pred: np.ndarray, gt: np.ndarray, joints: Sequence[int] = ALL) -> float:
    """mm / frame^2: second differences of the root-relative ``joints`` after the clip rotation."""
    p, g = _rel(pred, gt, joints)
    if len(p) < 3:
        return float("nan")
    p = p @ alignment.similarity(p, g, scale=False)[0].T
    ap = p[2:] - 2 * p[1:-1] + p[:-2]
    ag = g[2:] - 2 * g[1:-1] + g[:-2]
    return float(np.linalg.norm(ap - ag, axis=-1).mean() * 1000)


def group_error_mm(pred: np.ndarray, gt: np.ndarray, group: Sequence[int]) -> float:
    """mm over ``group`` after one similarity per frame fitted on all 17 joints."""
    p, g = _rel(pred, gt, ALL)
    aligned = alignment.align_per_frame(p, g)
    idx = list(group)
    return float(np.linalg.norm(aligned[:, idx] - g[:, idx], axis=-1).mean() * 1000)


# ------------------------------------------------------------------------------ whole body

def root_error_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """mm: the Pelvis track after :func:`~.alignment.align_world`."""
    return float(np.linalg.norm(alignment.align_world(pred, gt)[:, 0] - np.asarray(gt)[:, 0], axis=-1).mean() * 1000)


def bone_std_mm(joints: np.ndarray) -> float:
    """mm: mean over the bones of each bone length's standard deviation over the clip."""
    lengths = np.stack([np.linalg.norm(joints[:, c] - joints[:, p], axis=-1) for p, c in BONES], axis=1)
    return float(lengths.std(axis=0).mean() * 1000)


def truth_floor(world: np.ndarray) -> float:
    """Z of the truth's lowest ankle level (2nd percentile of the lower ankle per frame)."""
    return float(np.percentile(world[:, list(ANKLES), 2].min(axis=1), 2))


def truth_contacts(world: np.ndarray, fps: float, height_m: float = CONTACT_HEIGHT_M,
                   speed_m_s: float = CONTACT_SPEED_M_S) -> np.ndarray:
    """(T, 2) bool (left, right ankle) contacts of Z-up truth joints: low and still."""
    from scipy.ndimage import median_filter
    ankles = world[:, list(ANKLES)]
    low = truth_floor(world)
    speed = np.zeros(ankles.shape[:2])
    if len(world) > 1:
        step = np.linalg.norm(np.diff(ankles[..., :2], axis=0), axis=-1) * fps
        speed[1:-1] = 0.5 * (step[1:] + step[:-1])
        speed[0], speed[-1] = step[0], step[-1]
        speed = median_filter(speed, size=(5, 1), mode="nearest")
    return (ankles[..., 2] < low + height_m) & (speed < speed_m_s)


def foot_slide_cm_s(world: np.ndarray, contacts: np.ndarray, fps: float) -> float:
    """cm/s: mean horizontal ankle speed of Z-up ``world`` joints over frame pairs where both
    frames are contacts of that foot. NaN without contacts."""
    speeds = []
    for k, a in enumerate(ANKLES):
        both = contacts[1:, k] & contacts[:-1, k]
        step = np.linalg.norm(np.diff(world[:, a, :2], axis=0), axis=-1) * fps
        speeds.append(step[both])
    speeds = np.concatenate(speeds)
    return float(speeds.mean() * 100) if speeds.size else float("nan")


def contact_height_err_cm(armature_joints: np.ndarray, contacts: np.ndarray, ankle_height: float) -> float:
    """cm: mean |ankle Z - ankle_height| during contacts (floor at Z = 0)."""
    z = armature_joints[:, list(ANKLES), 2]
    return float(np.abs(z[contacts] - ankle_height).mean() * 100) if contacts.any() else float("nan")


def swing_height_err_cm(armature_joints: np.ndarray, gt_world: np.ndarray, contacts: np.ndarray,
                        ankle_height: float) -> float:
    """cm: mean |our ankle height - the truth's| over foot-frames where the truth foot is *not*
    in contact. Ours: Z - ``ankle_height`` (floor at Z = 0); the truth's: Z above its lowest
    ankle level. A foot kept on the floor while the truth lifts it costs the truth's height."""
    ours = armature_joints[:, list(ANKLES), 2] - ankle_height
    truth = gt_world[:, list(ANKLES), 2] - truth_floor(gt_world)
    swing = ~np.asarray(contacts, bool)
    return float(np.abs(ours - truth)[swing].mean() * 100) if swing.any() else float("nan")


def lock_precision_recall(locks: np.ndarray, contacts: np.ndarray) -> tuple[float, float]:
    """(precision, recall) in % of foot locks against the truth contacts, per foot-frame
    ((T, 2) bool each). NaN where the denominator is empty."""
    locks = np.asarray(locks, bool)
    contacts = np.asarray(contacts, bool)
    if locks.shape != contacts.shape:
        raise PoseMoEError(f"locks {locks.shape} and contacts {contacts.shape} differ")
    hit = int((locks & contacts).sum())
    precision = 100.0 * hit / locks.sum() if locks.any() else float("nan")
    recall = 100.0 * hit / contacts.sum() if contacts.any() else float("nan")
    return float(precision), float(recall)


def locks_mid_swing_pct(locks: np.ndarray, gt_world: np.ndarray, height_m: float = IN_AIR_HEIGHT_M) -> float:
    """%: share of our lock foot-frames where the truth ankle is more than ``height_m`` above
    its lowest level (a foot glued to the floor mid-swing). NaN without locks."""
    locks = np.asarray(locks, bool)
    if not locks.any():
        return float("nan")
    high = gt_world[:, list(ANKLES), 2] - truth_floor(gt_world) > height_m
    return float(100.0 * (locks & high).sum() / locks.sum())


# ------------------------------------------------------------------------------ one clip

def score(pred: np.ndarray, gt_world: np.ndarray, fps: float, contacts: Optional[np.ndarray] = None,
          floor_frame: bool = False, locks: Optional[np.ndarray] = None) -> dict:
    """Every metric of one method on one clip, flat names (:func:`all_keys`).

    ``pred`` (T, 17, 3) in any right-handed metric frame (camera or the solved rig's world);
    ``gt_world`` (T, 17, 3) Z-up truth. ``floor_frame``: ``pred`` has its floor at Z = 0
    (solved outputs): adds the contact and swing height errors. ``locks``: (T, 2) bool foot locks
    (foot lock on): adds their precision, recall and mid-swing share. Metrics that do not apply
    are NaN."""
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt_world, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[1:] != (NUM_JOINTS, 3):
        raise PoseMoEError(f"prediction {pred.shape} and truth {gt.shape} differ")
    if contacts is None:
        contacts = truth_contacts(gt, fps)
    out = {k: float("nan") for k in all_keys()}
    fns = {"pa_mpjpe_frame_mm": pa_mpjpe_frame_mm, "pa_mpjpe_seq_mm": pa_mpjpe_seq_mm,
           "mpjpe_mm": mpjpe_mm, "accel_error_mm_f2": accel_error_mm_f2}
    for set_name, joints in JOINT_SETS.items():
        for metric, fn in fns.items():
            out[key(set_name, metric)] = fn(pred, gt, joints)
    for group, joints in GROUPS.items():
        out[key(group, "group_error_mm")] = group_error_mm(pred, gt, joints)
    out["root_error_mm"] = root_error_mm(pred, gt)
    out["foot_slide_cm_s"] = foot_slide_cm_s(alignment.align_world(pred, gt), contacts, fps)
    out["bone_std_mm"] = bone_std_mm(pred)
    if floor_frame:
        from posemoe_blender.solving.rest import ANKLE_HEIGHT
        out["contact_height_err_cm"] = contact_height_err_cm(pred, contacts, ANKLE_HEIGHT)
        out["swing_height_err_cm"] = swing_height_err_cm(pred, gt, contacts, ANKLE_HEIGHT)
    if locks is not None:
        out["lock_precision_pct"], out["lock_recall_pct"] = lock_precision_recall(locks, contacts)
        out["locks_mid_swing_pct"] = locks_mid_swing_pct(locks, gt)
    return out
