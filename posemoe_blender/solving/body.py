"""From 3D joints to an :class:`~.skeleton.Animation` of the generated rig (no bpy here).

Pipeline of :func:`solve_animation`:

1. **Axes**: camera coordinates (x right, y down, z forward, metres) -> Blender axes
   (X right, Y forward away from the camera, Z up): ``(x, y, z) -> (x, z, -y)``. A person
   facing the camera then faces -Y, like the rest pose.
2. **Up correction** (assumption: the person is mostly upright over the clip, the camera
   may be tilted): the world up is the median pelvis->thorax direction, averaged with the
   median ankle->hip direction of the supporting (lower, straight) leg where there is one.
   The minimal rotation taking it to +Z is applied when it is below ``max_tilt_deg``.
3. **Constant bone lengths**: each bone's median length over the clip (left/right averaged
   when ``symmetric``); every frame is re-chained from the Pelvis along the hierarchy,
   keeping bone directions.
4. **Grounding**: the floor (Z = 0) is the median of the lower ankle's height minus
   :data:`ANKLE_HEIGHT` (ankle joint above the sole: most frames have a foot on the ground,
   even in walks and jumps); frames whose lower foot would sink below the floor are raised
   onto it. The first frame's Pelvis is put above the armature origin (X = Y = 0).
5. **Rotations**: each bone's frame is its direction plus a twist reference (see
   :func:`solve_animation`), expressed as Blender pose-bone quaternions. The rig's bones
   beyond the 17 joints (:mod:`.skeleton`): ``Chest`` (the upper half of the Spine -> Thorax
   segment) and the hands follow their parents; the feet and toes come from
   :func:`.feet.solve_feet` (BlazePose's heels and toe tips, levelled where a foot is planted);
   each finger bone turns by its joint's flexion about its own X axis, towards the palm, and
   the proximal bones by their base joint's flexion and spread (the thumb: CMC flexion across
   the palm and palmar abduction) where given (:func:`.hands.solve_hands`; a relaxed hand
   without hands).

Armature space = ``camera_to_armature @ p_camera + armature_offset`` (both in ``info``), plus
``Animation.root_shift[t]`` (frames raised onto the floor, foot locking; see
:class:`RootTrajectory`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import PoseMoEError
from ..joints import JOINT_INDEX as J, NUM_JOINTS, PARENTS
from ..camera import fit_root
from . import feet as feet_mod
from . import fingers as fingers_mod
from .skeleton import BONE_HEAD_JOINT, BONE_NAMES, BONE_TAIL_JOINT, FINGER_BONE_NAMES, JOINT_ON_RIG, NUM_BONES, NUM_POINTS, NUM_RIG_BONES, POINT_INDEX, RIG_BONE_NAMES, RIG_BONE_PARENTS, RIG_HEAD_POINT, RIG_TAIL_POINT, Animation

#: Height of the ankle joint above the sole of the foot (metres).
ANKLE_HEIGHT = 0.08
#: Camera tilts larger than this are not corrected (the person may be lying down).
MAX_TILT_DEG = 45.0
#: Standing heights (top of head to sole, metres) a solved character is kept within.
STATURE_RANGE = (1.55, 1.95)
#: 35 mm-equivalent focal length assumed for phone videos when none is given (mm).
DEFAULT_FOCAL_35MM = 27.0

#: Camera (x right, y down, z forward) -> Blender (X right, Y forward, Z up).
CAMERA_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

#: Fallback bone lengths (metres, roughly Human3.6M means) for bones measured as zero.
DEFAULT_BONE_LENGTHS = {
    "Hips": 0.23, "Spine": 0.26, "Neck": 0.12, "Head": 0.12,
    "LeftShoulder": 0.15, "LeftUpperArm": 0.28, "LeftLowerArm": 0.25,
    "RightShoulder": 0.15, "RightUpperArm": 0.28, "RightLowerArm": 0.25,
    "RightHipJoint": 0.13, "RightUpperLeg": 0.45, "RightLowerLeg": 0.45,
    "LeftHipJoint": 0.13, "LeftUpperLeg": 0.45, "LeftLowerLeg": 0.45,
}
#: Hand bone length (wrist -> knuckles) as a fraction of the forearm's.
HAND_FRACTION = 0.36

_X, _Y, _Z = np.eye(3)
_UP_BONES = {"Hips", "Spine", "Chest", "Neck", "Head"}
_ARM_BONES = {side + part for side in ("Left", "Right")
              for part in ("Shoulder", "UpperArm", "LowerArm", "Hand")}
_FOOT_BONES = {"LeftFoot", "LeftToes", "RightFoot", "RightToes"}
_LEFT_DIR_BONES = {"LeftShoulder", "LeftUpperArm", "LeftLowerArm", "LeftHand", "LeftHipJoint"}
_RIGHT_DIR_BONES = {"RightShoulder", "RightUpperArm", "RightLowerArm", "RightHand", "RightHipJoint"}
_BONE_INDEX = {name: i for i, name in enumerate(BONE_NAMES)}
_EPS = 1e-9
#: Finger bone name -> (side 0 left / 1 right, finger 0 thumb .. 4 little, phalanx 0..2).
_FINGER_BONES = {f"{side}{finger}{p}": (s, f, k)
                 for s, side in enumerate(("Left", "Right"))
                 for f, finger in enumerate(fingers_mod.FINGER_NAMES)
                 for k, p in enumerate(fingers_mod.PHALANX_NAMES)}
assert set(_FINGER_BONES) == set(FINGER_BONE_NAMES)


# --------------------------------------------------------------------------- small helpers

def _norm(v: np.ndarray) -> np.ndarray:
    return np.linalg.norm(v, axis=-1)


def _unit(v: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
    """Normalise along the last axis; degenerate vectors become ``fallback`` (or 0)."""
    n = _norm(v)[..., None]
    out = np.divide(v, n, out=np.zeros_like(v, dtype=np.float64), where=n > _EPS)
    if fallback is not None:
        out = np.where(n > _EPS, out, np.broadcast_to(fallback, out.shape))
    return out


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    s = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return s * s * (3 - 2 * s)


def _min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 3, 3) smallest rotations taking unit vectors ``a`` (T, 3) onto ``b`` (T, 3)."""
    axis = np.cross(a, b)
    sin = _norm(axis)
    cos = np.einsum("ti,ti->t", a, b)
    angle = np.arctan2(sin, cos)
    # antiparallel: any axis perpendicular to a
    perp = np.cross(a, _X)
    perp = np.where((_norm(perp) < 1e-6)[:, None], np.cross(a, _Y), perp)
    axis = np.where((sin < 1e-9)[:, None], perp, axis)
    return Rotation.from_rotvec(_unit(axis) * angle[:, None]).as_matrix()


def _rot_y(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    out[..., 0, 0] = c
    out[..., 0, 2] = s
    out[..., 1, 1] = 1
    out[..., 2, 0] = -s
    out[..., 2, 2] = c
    return out


def _unwrap_runs(angle: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Unwrap (T,) angles in time within each run of ``active`` frames, so that ``w * angle``
    stays continuous; each run starts from the principal value (inactive frames unchanged)."""
    out = angle.copy()
    padded = np.concatenate([[False], active, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    for s, e in zip(edges[::2], edges[1::2]):
        out[s:e] = np.unwrap(angle[s:e])
    return out


def _check_joints(name: str, arr, shape_tail=(NUM_JOINTS, 3)) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail or arr.shape[0] == 0:
        raise PoseMoEError(f"{name}: shape {arr.shape}, expected (T, {', '.join(map(str, shape_tail))})")
    if not np.all(np.isfinite(arr)):
        raise PoseMoEError(f"{name}: contains NaN or infinite values")
    return arr


# --------------------------------------------------------------------------- root estimate

def default_focal_px(width: int, height: int, equiv_mm: float = DEFAULT_FOCAL_35MM) -> float:
    """Focal length in pixels for a ``equiv_mm`` 35 mm-equivalent lens (diagonal-based).

    ``f_px = equiv_mm / 43.27 * hypot(width, height)`` (43.27 mm = the 35 mm frame's
    diagonal). 27 mm is a typical phone main camera (about 70 degrees across the long side).
    """
    return float(equiv_mm / 43.267 * np.hypot(width, height))


def estimate_root(joints3d: np.ndarray, keypoints2d: np.ndarray, width: int, height: int,
                  focal_px: float | None = None, min_depth: float = 0.3,
                  principal_point: tuple[float, float] | None = None) -> np.ndarray:
    """Camera-space translation of the root per frame from 2D/3D correspondences.

    Args:
        joints3d: (T, 17, 3) metres, root-relative, camera oriented (x right, y down, z fwd).
        keypoints2d: (T, 17, 3) pixels x, y and confidence (weights; 0 = ignored).
        width, height: image size in pixels; the principal point is the image centre.
        focal_px: focal length in pixels (default :func:`default_focal_px`).
        min_depth: the root depth is kept at least this far from the camera (metres).
        principal_point: (cx, cy) in pixels; default the image centre.

    Returns:
        (T, 3) float64 root (Pelvis) positions in camera coordinates, metres. For each frame
        ``t`` minimises the confidence-weighted linearised reprojection error
        ``u' (Z + tz) = f (X + tx)``, ``v' (Z + tz) = f (Y + ty)`` (``u' = u - cx``), refined
        by one re-weighting with ``1 / (Z + tz)`` (approximates the pixel error). Frames with
        fewer than 2 confident joints are interpolated from the others (or held).
    """
    joints3d = _check_joints("joints3d", joints3d)
    keypoints2d = _check_joints("keypoints2d", keypoints2d)
    if joints3d.shape != keypoints2d.shape:
        raise PoseMoEError(f"joints3d {joints3d.shape} and keypoints2d {keypoints2d.shape} differ")
    f = float(focal_px) if focal_px else default_focal_px(width, height)
    cx, cy = principal_point if principal_point is not None else (width / 2.0, height / 2.0)
    root, valid = fit_root(joints3d, keypoints2d, f, cx, cy, min_depth=min_depth)
    T = joints3d.shape[0]
    if not valid.any():
        raise PoseMoEError("keypoints2d: no frame has two confident joints to place the root")
    if not valid.all():
        idx = np.arange(T)
        for k in range(3):
            root[~valid, k] = np.interp(idx[~valid], idx[valid], root[valid, k])
    return root


# --------------------------------------------------------------------------- preparation

def _bone_lengths(P: np.ndarray, symmetric: bool) -> np.ndarray:
    """(B,) robust (median) length of each bone; zero lengths replaced by defaults."""
    heads = P[:, list(BONE_HEAD_JOINT)]
    tails = P[:, list(BONE_TAIL_JOINT)]
    lengths = np.median(_norm(tails - heads), axis=0)
    if symmetric:
        for i, name in enumerate(BONE_NAMES):
            if name.startswith("Left") and "Right" + name[4:] in _BONE_INDEX:
                k = _BONE_INDEX["Right" + name[4:]]
                pair = [lengths[i], lengths[k]]
                good = [x for x in pair if x > 1e-4]
                m = float(np.mean(good)) if good else 0.0
                lengths[i] = lengths[k] = m
    for i, name in enumerate(BONE_NAMES):
        if not lengths[i] > 1e-4:
            lengths[i] = DEFAULT_BONE_LENGTHS[name]
    return lengths


def _rest_directions() -> np.ndarray:
    dirs = np.zeros((NUM_BONES, 3))
    for i, name in enumerate(BONE_NAMES):
        if name in _UP_BONES:
            dirs[i] = _Z
        elif name in _LEFT_DIR_BONES:
            dirs[i] = _X
        elif name in _RIGHT_DIR_BONES:
            dirs[i] = -_X
        else:  # thighs and shins hang down
            dirs[i] = -_Z
    return dirs


def _rechain(P: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Rebuild (T, 17, 3) joints from the Pelvis with the given bone lengths, same directions.

    Zero-length bones take the previous frame's direction (the rest direction at the start).
    """
    out = np.empty_like(P)
    out[:, 0] = P[:, 0]
    rest_dirs = _rest_directions()
    for b in range(NUM_BONES):
        head, tail = BONE_HEAD_JOINT[b], BONE_TAIL_JOINT[b]
        vec = P[:, tail] - P[:, head]
        ok = _norm(vec) > 1e-6
        d = _unit(vec)
        if not ok.all():
            # forward-fill directions from the last good frame; rest direction before any
            idx = np.where(ok, np.arange(len(d)), -1)
            idx = np.maximum.accumulate(idx)
            d = np.where((idx >= 0)[:, None], d[np.maximum(idx, 0)], rest_dirs[b])
        out[:, tail] = out[:, head] + lengths[b] * d
    return out


def _up_direction(P: np.ndarray) -> np.ndarray:
    """Robust world-up estimate (unit 3-vector) from (T, 17, 3) joints in Blender axes."""
    trunk = _unit(np.median(_unit(P[:, J["Thorax"]] - P[:, J["Pelvis"]]), axis=0), _Z)
    samples = []
    for hip, knee, ankle in (("LHip", "LKnee", "LAnkle"), ("RHip", "RKnee", "RAnkle")):
        thigh = _unit(P[:, J[knee]] - P[:, J[hip]])
        shin = _unit(P[:, J[ankle]] - P[:, J[knee]])
        straight = np.einsum("ti,ti->t", thigh, shin) > np.cos(np.radians(20))
        other = "RAnkle" if ankle == "LAnkle" else "LAnkle"
        lower = P[:, J[ankle]] @ trunk <= P[:, J[other]] @ trunk + 1e-9  # supporting leg
        sel = straight & lower
        if sel.any():
            samples.append(_unit(P[sel, J[hip]] - P[sel, J[ankle]]))
    if samples:
        legs = np.concatenate(samples)
        if len(legs) >= max(3, 0.1 * len(P)):
            leg_up = _unit(np.median(legs, axis=0), trunk)
            return _unit(trunk + leg_up, trunk)
    return trunk


# --------------------------------------------------------------------------- rest pose

def _rest_pose(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rest joints (17, 3), bone heads, tails (B, 3) and matrices (B, 3, 3) of the T-pose.

    Standing on the floor, Z up, facing -Y (the character's left is +X); the Pelvis is at
    height ``max(thigh + shin) + ANKLE_HEIGHT``. Bone roll: Y along the bone; Z points
    forward (-Y) for the spine, neck, head, hips and legs, up (+Z) for clavicles and arms;
    X = Y x Z.
    """
    dirs = _rest_directions()
    L = dict(zip(BONE_NAMES, lengths))
    leg = max(L["LeftUpperLeg"] + L["LeftLowerLeg"], L["RightUpperLeg"] + L["RightLowerLeg"])
    joints = np.zeros((NUM_JOINTS, 3))
    joints[0] = (0.0, 0.0, leg + ANKLE_HEIGHT)
    for b in range(NUM_BONES):
        joints[BONE_TAIL_JOINT[b]] = joints[BONE_HEAD_JOINT[b]] + lengths[b] * dirs[b]
    mats = np.zeros((NUM_BONES, 3, 3))
    for b, name in enumerate(BONE_NAMES):
        z = _Z if name in _ARM_BONES else -_Y
        y = dirs[b]
        mats[b] = np.stack([np.cross(y, z), y, z], axis=1)
    heads = joints[list(BONE_HEAD_JOINT)]
    tails = joints[list(BONE_TAIL_JOINT)]
    return joints, heads, tails, mats


def _bone_matrix(y: np.ndarray, name: str) -> np.ndarray:
    """(3, 3) rest orientation (columns X, Y, Z) of a bone along unit ``y``: Z up for the
    arms, hands, feet, toes and fingers (the back of the hand: a finger flexes about its X
    axis, towards -Z), the thumb's nail side for the thumb, forward (-Y) for the others, made
    perpendicular to Y."""
    if name in _FINGER_BONES and _FINGER_BONES[name][1] == 0:
        hint = _hand_frame(_FINGER_BONES[name][0]) @ np.asarray(fingers_mod.THUMB_BACK)
    else:
        hint = _Z if (name in _ARM_BONES or name in _FOOT_BONES or name in _FINGER_BONES) else -_Y
    z = _unit(hint - (hint @ y) * y)
    return np.stack([np.cross(y, z), y, z], axis=1)


def _hand_frame(side: int) -> np.ndarray:
    """(3, 3) columns ``u`` (along the hand), ``v`` (towards the thumb), ``n`` (back of the
    hand) of a rest (T-pose, palm down) hand: left (0) along +X, right (1) along -X; the
    thumbs point forward (-Y)."""
    u = _X if side == 0 else -_X
    return np.stack([u, -_Y, _Z], axis=1)


def _finger_rest_points(wrist: np.ndarray, hand_length: float, side: int) -> dict:
    """Rest points ``{point name: (3,)}`` of one hand's fingers (:data:`~.hands.FINGER_LAYOUT`
    scaled by the hand bone's ``hand_length``)."""
    F = _hand_frame(side)
    out = {}
    for finger, (base, direction, lengths) in fingers_mod.FINGER_LAYOUT.items():
        p = wrist + hand_length * (F @ np.asarray(base))
        d = _unit(F @ np.asarray(direction))
        name = "LR"[side] + finger
        out[name + "1"] = p
        for k, length in enumerate(lengths):
            p = p + hand_length * length * d
            out[f"{name}{k + 2}"] = p
    return out


def _leg_length(lengths: np.ndarray) -> float:
    L = dict(zip(BONE_NAMES, lengths))
    return float(np.mean([L[s + "UpperLeg"] + L[s + "LowerLeg"] for s in ("Left", "Right")]))


def _rig_rest_pose(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The generated rig's T-pose: rest points (24, 3) (:data:`~.skeleton.POINT_NAMES`),
    bone heads, tails (23, 3) and matrices (23, 3, 3), from the 16 joint bones' ``lengths``.

    The joints are :func:`_rest_pose`'s; ``Chest`` halves the Spine -> Thorax segment; each
    hand continues its forearm by :data:`HAND_FRACTION` of its length; the feet are
    :func:`.feet.foot_offsets` of the mean leg (flat on the floor, facing -Y)."""
    joints = _rest_pose(lengths)[0]
    L = dict(zip(BONE_NAMES, lengths))
    pts = np.zeros((NUM_POINTS, 3))
    pts[:NUM_JOINTS] = joints
    pts[POINT_INDEX["Chest"]] = 0.5 * (joints[J["Spine"]] + joints[J["Thorax"]])
    for s, side, sign in (("L", "Left", 1.0), ("R", "Right", -1.0)):
        pts[POINT_INDEX[s + "HandEnd"]] = joints[J[s + "Wrist"]] + sign * _X * HAND_FRACTION * L[side + "LowerArm"]
        off = feet_mod.foot_offsets(_leg_length(lengths))
        pts[POINT_INDEX[s + "Ball"]] = joints[J[s + "Ankle"]] + off["ball"]
        pts[POINT_INDEX[s + "ToeEnd"]] = joints[J[s + "Ankle"]] + off["toe"]
        for name, p in _finger_rest_points(joints[J[s + "Wrist"]], HAND_FRACTION * L[side + "LowerArm"],
                                           0 if s == "L" else 1).items():
            pts[POINT_INDEX[name]] = p
    heads = pts[list(RIG_HEAD_POINT)]
    tails = pts[list(RIG_TAIL_POINT)]
    mats = np.stack([_bone_matrix(_unit(t - h), n) for n, h, t in zip(RIG_BONE_NAMES, heads, tails)])
    return pts, heads, tails, mats


# --------------------------------------------------------------------------- twist

def _twist_reference(name: str, P: np.ndarray, d: np.ndarray):
    """Desired bone Z direction (T, 3), its weight (T,) in [0, 1] and whether to keep the
    twist within +-90 degrees, or None for bones that just follow their parent (no twist)."""
    if name in ("Hips", "Spine"):
        line = (P[:, J["LHip"]] - P[:, J["RHip"]]) if name == "Hips" else \
            (P[:, J["LShoulder"]] - P[:, J["RShoulder"]])
        ref = np.cross(line, d)  # forward for a person with Z up, facing -Y
        sin = np.divide(_norm(ref), _norm(line), out=np.zeros(len(d)), where=_norm(line) > 1e-6)
        return ref, _smoothstep(sin, 0.2, 0.5), False
    if name.endswith("UpperLeg") or name.endswith("UpperArm"):
        side = name[0]
        child = J[side + ("Ankle" if name.endswith("UpperLeg") else "Wrist")]
        mid = J[side + ("Knee" if name.endswith("UpperLeg") else "Elbow")]
        seg = P[:, child] - P[:, mid]
        perp = seg - np.einsum("ti,ti->t", seg, d)[:, None] * d
        sin = np.divide(_norm(perp), _norm(seg), out=np.zeros(len(d)), where=_norm(seg) > 1e-6)
        weight = _smoothstep(sin, np.sin(np.radians(5)), np.sin(np.radians(25)))
        if name.endswith("UpperLeg"):
            return -perp, weight, True  # the knee points forward; bent backwards = mirrored
        ref = np.cross(perp, d) * (1.0 if side == "L" else -1.0)  # up for a forward elbow bend
        return ref, weight, False
    return None


# --------------------------------------------------------------------------- solve

@dataclass
class PlacedJoints:
    """The joints in armature space before foot locking (:func:`place_joints`).

    ``joints`` (T, 17, 3) metres, Z up, constant bone lengths ``lengths`` (16,), the floor at
    Z = 0 (``floor_offset`` metres were removed from Z), frames whose lower foot would sink
    raised by ``ground_lift`` (T,); ``camera_to_armature`` (3, 3, the stature ``scale``
    included) and ``armature_offset`` (3,) map camera coordinates to armature space:
    ``joints[t, 0] = camera_to_armature @ pelvis_camera[t] + armature_offset + (0, 0, ground_lift[t])``.
    """

    joints: np.ndarray
    lengths: np.ndarray
    camera_to_armature: np.ndarray
    armature_offset: np.ndarray
    floor_offset: float
    ground_lift: np.ndarray
    scale: float
    tilt_deg: float
    tilt_corrected: bool


@dataclass
class RootTrajectory:
    """Where the pelvis goes, decided in one place (:func:`root_trajectory`).

    ``pelvis`` (T, 3) armature space; the camera mapping ``camera_to_armature`` (3, 3) and
    ``armature_offset`` (3,) and the per-frame ``shift`` (T, 3) (frames raised onto the floor,
    the body moved onto its planted feet) relate it to the camera-space root estimate:
    ``pelvis[t] = camera_to_armature @ root_camera[t] + armature_offset + shift[t]`` (with
    ``root_motion`` off for Z only: X/Y stay above the origin; with foot locking up to the
    locking's small pelvis drop)."""

    pelvis: np.ndarray
    camera_to_armature: np.ndarray
    armature_offset: np.ndarray
    shift: np.ndarray
    floor_offset: float
    root_motion: bool


def place_joints(joints3d: np.ndarray, root: np.ndarray | None, fps: float, symmetric: bool = True,
                 max_tilt_deg: float = MAX_TILT_DEG,
                 stature_range: tuple[float, float] | None = STATURE_RANGE) -> PlacedJoints:
    """Camera joints -> armature space: axes, up correction, constant bone lengths, stature,
    floor (steps 1-4 of the module docstring). Arguments as :func:`solve_animation`."""
    joints3d = _check_joints("joints3d", joints3d)
    T = joints3d.shape[0]
    if root is None:
        root_cam = np.zeros((T, 3))
    else:
        root_cam = _check_joints("root", root, (3,))
        if root_cam.shape[0] != T:
            raise PoseMoEError(f"root has {root_cam.shape[0]} frames, joints3d has {T}")
    if not (np.isfinite(fps) and fps > 0):
        raise PoseMoEError(f"fps must be positive, got {fps}")

    cam = joints3d - joints3d[:, :1] + root_cam[:, None, :]
    P = cam @ CAMERA_TO_BLENDER.T

    up = _up_direction(P)
    tilt = float(np.degrees(np.arccos(np.clip(up @ _Z, -1, 1))))
    tilt_corrected = tilt <= max_tilt_deg
    R_tilt = _min_rotation(up[None], _Z[None])[0] if tilt_corrected else np.eye(3)
    R_total = R_tilt @ CAMERA_TO_BLENDER
    P = P @ R_tilt.T

    lengths = _bone_lengths(P, symmetric)
    P = _rechain(P, lengths)
    scale = 1.0
    if stature_range is not None:
        stature = float(_rest_pose(lengths)[0][J["Head"], 2])
        body = stature - ANKLE_HEIGHT  # the sole-to-ankle height is a constant, not scaled
        target = float(np.clip(stature, *stature_range))
        scale = (target - ANKLE_HEIGHT) / body if body > 0 else 1.0
        P = P * scale
        lengths = lengths * scale

    low_ankle = np.minimum(P[:, J["LAnkle"], 2], P[:, J["RAnkle"], 2])
    floor = float(np.median(low_ankle) - ANKLE_HEIGHT)
    offset = np.array([-P[0, 0, 0], -P[0, 0, 1], -floor])
    P = P + offset
    # Never below the floor: where the lower foot would sink (a pose whose legs are straighter
    # than the 2D root drop says, e.g. a deep squat), the body is raised onto the floor.
    sink = np.maximum(0.0, ANKLE_HEIGHT - (low_ankle - floor))
    P[:, :, 2] += sink[:, None]
    return PlacedJoints(joints=P, lengths=lengths, camera_to_armature=scale * R_total,
                        armature_offset=offset, floor_offset=floor, ground_lift=sink, scale=scale,
                        tilt_deg=tilt, tilt_corrected=bool(tilt_corrected))


def root_trajectory(placed: PlacedJoints, lock=None, root_motion: bool = True) -> tuple[np.ndarray, RootTrajectory]:
    """The one place that decides the body's path: the placed joints (camera root estimate,
    grounding), then the foot lock's levelling and its body-on-planted-feet shift (``lock``:
    a :class:`~.footlock.FootLock` of ``placed.joints``, or None), then ``root_motion`` off
    (the pelvis kept above the origin, its height kept). Returns the final joints (T, 17, 3)
    and the :class:`RootTrajectory`."""
    A = np.array(placed.camera_to_armature, dtype=np.float64)
    offset = np.array(placed.armature_offset, dtype=np.float64)
    floor = float(placed.floor_offset)
    shift = np.zeros((placed.joints.shape[0], 3))
    shift[:, 2] = placed.ground_lift
    P = np.array(placed.joints, dtype=np.float64)
    if lock is not None:
        R = np.asarray(lock.ground_rotation, dtype=np.float64)
        A, offset = R @ A, R @ offset + np.asarray(lock.ground_translation)
        shift = shift @ R.T + lock.root_shift
        floor += lock.floor_shift
        P = np.array(lock.joints, dtype=np.float64)
    if not root_motion:  # Pelvis kept above the origin: the camera mapping only holds for Z
        P[:, :, :2] -= P[:, :1, :2]
    return P, RootTrajectory(pelvis=P[:, 0].copy(), camera_to_armature=A, armature_offset=offset,
                             shift=shift, floor_offset=floor, root_motion=bool(root_motion))


def rig_points(P: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(T, 24, 3) the rig points (:data:`~.skeleton.POINT_NAMES`) for joints ``P`` (T, 17, 3)
    whose segments have ``lengths`` (16,): the joints, the Chest point half way up the
    Spine -> Thorax segment and the hands' ends continuing the forearms. The feet's points are
    left at their ankles (they come from the feet's rotations, see :func:`solve_pose`)."""
    T = P.shape[0]
    L = dict(zip(BONE_NAMES, lengths))
    Q = np.zeros((T, NUM_POINTS, 3))
    Q[:, :NUM_JOINTS] = P
    Q[:, POINT_INDEX["Chest"]] = 0.5 * (P[:, J["Spine"]] + P[:, J["Thorax"]])
    for s, side in (("L", "Left"), ("R", "Right")):
        fore = _unit(P[:, J[s + "Wrist"]] - P[:, J[s + "Elbow"]])
        Q[:, POINT_INDEX[s + "HandEnd"]] = P[:, J[s + "Wrist"]] + HAND_FRACTION * L[side + "LowerArm"] * fore
        for extra in ("Ball", "ToeEnd"):
            Q[:, POINT_INDEX[s + extra]] = P[:, J[s + "Ankle"]]
        for finger in fingers_mod.FINGER_NAMES:  # from the fingers' rotations, see solve_pose
            for k in range(1, 5):
                Q[:, POINT_INDEX[f"{s}{finger}{k}"]] = Q[:, POINT_INDEX[s + "HandEnd"]]
    return Q


def _rot_x(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    out[..., 0, 0] = 1
    out[..., 1, 1], out[..., 1, 2], out[..., 2, 1], out[..., 2, 2] = c, -s, s, c
    return out


def _axis_rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations by ``angle`` (T,) about the unit ``axis`` (3,)."""
    return Rotation.from_rotvec(np.asarray(angle, dtype=np.float64)[:, None] * axis[None]).as_matrix()


def _finger_base_rotation(side: int, f: int, base_flexion: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """(T, 3, 3) world delta, relative to the hand's, of ``side``'s finger ``f``'s proximal
    bone for its base joint's ``base_flexion`` and ``spread`` (T,) (:func:`~.hands.finger_bases`):
    the rest direction (:data:`~.hands.FINGER_LAYOUT`) turned out of the palm plane to the
    measured elevation, then about the palm's normal to the measured azimuth. Index .. little:
    the elevation is the MCP flexion (towards the palm) and the azimuth the spread (away from
    the middle finger); the thumb: the elevation is its CMC palmar abduction and the azimuth
    the rest thumb's less its CMC flexion (across the palm)."""
    F = _hand_frame(side)
    u, v, n = F.T
    name = fingers_mod.FINGER_NAMES[f]
    az0, el0 = fingers_mod._layout_angles(name)
    if f == 0:
        az, el = fingers_mod.THUMB_REST[0] - base_flexion, spread
    else:
        az, el = fingers_mod._SPREAD_SIGN[f - 1] * spread, base_flexion
    w0 = np.cos(az0) * u + np.sin(az0) * v
    return _axis_rotation(_unit(np.cross(u, v)), az - az0) @ _axis_rotation(_unit(np.cross(w0, -n)), el - el0)


#: The hand bone's turn relative to the forearm from the palm's orientation (:func:`_hand_rotation`),
#: degrees, (low, high), in each hand's own frame (a left hand mirrored): wrist flexion
#: (towards the palm, +) / extension (-) about the hand's thumb axis, radial (towards the
#: thumb, +) / ulnar (-) deviation about the palm's normal, and the twist about the hand's
#: axis. Pronation/supination is the forearm's twist, but the rig's forearm bones carry none
#: of it (their twist is the least turn from the upper arm's, not the anatomical one), so the
#: hand bone carries the palm's whole twist relative to the forearm, unlimited (a limit would
#: clip right readings, and flip sides where they cross +-180 degrees).
HAND_LIMITS_DEG = {"flexion": (-70.0, 80.0), "deviation": (-35.0, 20.0), "twist": (-180.0, 180.0)}

#: A palm whose hand axis turns more than this (degrees) past :data:`HAND_LIMITS_DEG`'s
#: flexion or deviation from the forearm is taken as misread: unseen there (eased).
HAND_IMPLAUSIBLE_DEG = 30.0

#: The share of the palm's measured swing (flexion, deviation: where the hand points) that
#: the hand bone takes; the rest continues the forearm. Decided on the 45-degree renders
#: (docs/benchmarks-hands.md): the whole swing pointed the hand worse than the forearm did
#: (MediaPipe's hand landmarks overstate it), half of it better; the twist is taken whole.
HAND_SWING_SHARE = 0.5


def _hand_rotation(side: int, Gp: np.ndarray, palm: np.ndarray, weight: np.ndarray,
                   camera_to_armature: np.ndarray, fps: float = 30.0) -> np.ndarray:
    """(T, 3, 3) world delta of ``side``'s hand bone turned with the palm: ``palm`` (T, 3, 3)
    the palm's frame in camera axes (:attr:`~.hands.HandSolve.palm`), taken to armature axes
    (the rotation of ``camera_to_armature``), relative to the forearm's world delta ``Gp``,
    limited (:data:`HAND_LIMITS_DEG`, mirror-symmetric: measured in each hand's own frame; the
    swing scaled by :data:`HAND_SWING_SHARE` first; a reading :data:`HAND_IMPLAUSIBLE_DEG` past
    the limits held from the nearest plausible one and eased out) and weighted by ``weight``
    (T,) (0: the hand continues the forearm, as without hands); ``fps``: the ease's time scale."""
    U, _, Vt = np.linalg.svd(np.asarray(camera_to_armature, dtype=np.float64))
    A = U @ Vt                                          # the rotation (any scale removed)
    F = _hand_frame(side)                               # rest: along the hand, thumb, back
    G_meas = np.einsum("ij,tjk,lk->til", A, palm, F)    # (A palm) F^T
    L = np.einsum("tji,tjk->tik", Gp, G_meas)           # relative to the forearm
    # no palm of this side (e.g. the identity of a hand never seen: not a left hand's frame)
    bad = ~(np.linalg.det(L) > 0.5)
    L[bad] = np.eye(3)
    weight = np.where(bad, 0.0, weight)
    Lh = np.einsum("ji,tjk,kl->til", F, L, F)           # in the hand's own (mirrored for the left) frame
    lim = {k: np.radians(v) for k, v in HAND_LIMITS_DEG.items()}
    # the swing from where the hand's axis points in the forearm's frame: flexion (towards the
    # palm, -Z, about Y) and deviation (towards the thumb, +Y, about Z)
    u = Lh[:, :, 0]
    flex = np.arctan2(-u[:, 2], u[:, 0])
    dev = np.arctan2(u[:, 1], np.hypot(u[:, 0], u[:, 2]))
    # a reading far outside what a wrist does (a palm read wrong, or the forearm): unseen
    slack = np.radians(HAND_IMPLAUSIBLE_DEG)
    odd = ((flex < lim["flexion"][0] - slack) | (flex > lim["flexion"][1] + slack)
           | (dev < lim["deviation"][0] - slack) | (dev > lim["deviation"][1] + slack))
    w = np.clip(np.asarray(weight, dtype=np.float64), 0.0, 1.0)
    flex = np.clip(HAND_SWING_SHARE * flex, *lim["flexion"])
    dev = np.clip(HAND_SWING_SHARE * dev, *lim["deviation"])
    zero = np.zeros_like(flex)
    swing = Rotation.from_rotvec(np.stack([zero, zero, dev], 1)) * Rotation.from_rotvec(np.stack([zero, flex, zero], 1))
    # the twist: what is left about the hand's axis
    rest = (swing.inv() * Rotation.from_matrix(Lh)).as_quat()
    rest = rest * np.where(rest[:, 3:] < 0, -1.0, 1.0)
    twist = 2 * np.arctan2(rest[:, 0], rest[:, 3])
    twist = np.clip((twist + np.pi) % (2 * np.pi) - np.pi, *lim["twist"])
    if odd.all():
        w = np.zeros_like(w)
    elif odd.any():   # held from the nearest plausible frame, eased out towards the forearm
        from scipy.ndimage import gaussian_filter1d
        keep = gaussian_filter1d((~odd).astype(np.float64), sigma=max(fingers_mod.EASE_S * fps, 0.5), mode="nearest")
        w = np.minimum(w, np.clip(keep * 1.25, 0.0, 1.0))
        from ..smoothing.filters import nearest_kept
        near = nearest_kept(~odd)
        flex, dev, twist = flex[near], dev[near], twist[near]
        swing = Rotation.from_rotvec(np.stack([zero, zero, dev], 1)) * Rotation.from_rotvec(np.stack([zero, flex, zero], 1))
    Lh = swing * Rotation.from_rotvec(np.stack([twist, zero, zero], 1))
    Lh = Rotation.from_rotvec(Lh.as_rotvec() * w[:, None]).as_matrix()
    return Gp @ np.einsum("ij,tjk,lk->til", F, Lh, F)


def solve_pose(P: np.ndarray, lengths: np.ndarray, fps: float, feet=None,
               fingers: np.ndarray | None = None, palms=None,
               camera_to_armature: np.ndarray | None = None) -> Animation:
    """Bone rotations and the root bone's location of the generated rig for joints ``P``
    (T, 17, 3) in armature space with constant bone ``lengths`` (16,) (step 5 of the module
    docstring); ``feet``: a :class:`~.feet.FootPose` (None: :func:`~.feet.solve_feet` without
    landmarks or contacts, i.e. flat feet turned with the pelvis); ``fingers``: (T, 2, 5, 3)
    flexion in radians ([left, right], thumb .. little, proximal .. distal, see
    :func:`~.hands.solve_hands`; None: a relaxed hand, :func:`~.hands.relaxed_rig_angles`), each finger bone turned by it about its
    X axis towards the palm; or (T, 2, 5, 5) :meth:`~.hands.HandSolve.rig_angles`, the same
    plus each finger's base flexion and spread, which then turn the proximal bones on their
    own axes instead (:func:`_finger_base_rotation`: the fingers spread in the palm plane, the
    thumb flexes across the palm and abducts out of it). ``palms``: None (the hands continue
    the forearms) or ``(palm (T, 2, 3, 3), weight (T, 2))`` (:class:`~.hands.HandSolve`'s
    ``palm`` and ``palm_weight``), the hand bones turned with the palms (:func:`_hand_rotation`;
    ``camera_to_armature``: the camera's axes in the armature, default
    :data:`CAMERA_TO_BLENDER`). ``info`` is left for the caller."""
    T = P.shape[0]
    rest_pts, heads, tails, M = _rig_rest_pose(lengths)
    if feet is None:
        feet = feet_mod.solve_feet(P, fps, _leg_length(lengths))
    Q = rig_points(P, lengths)
    if fingers is None:
        fingers = fingers_mod.relaxed_rig_angles((T, 2))
    fingers = np.asarray(fingers, dtype=np.float64)
    if fingers.shape not in ((T, 2, 5, 3), (T, 2, 5, 5)):
        raise PoseMoEError(f"fingers must be ({T}, 2, 5, 3) or ({T}, 2, 5, 5), got {fingers.shape}")
    bases = fingers.shape[-1] == 5
    foot_side = {"LeftFoot": 0, "RightFoot": 1}
    toe_side = {"LeftToes": 0, "RightToes": 1}

    G = np.zeros((T, NUM_RIG_BONES, 3, 3))
    for b, name in enumerate(RIG_BONE_NAMES):
        if name in foot_side:  # world rotation from the rest pose, solved in .feet
            G[:, b] = feet.rotations[:, foot_side[name]]
            continue
        if name in toe_side:  # the foot's, bent up about the rest foot's side axis (+X: up is -angle)
            G[:, b] = feet.rotations[:, toe_side[name]] @ _rot_x(-feet.toe_bend[:, toe_side[name]])
            continue
        p = RIG_BONE_PARENTS[b]
        Gp = np.broadcast_to(np.eye(3), (T, 3, 3)) if p < 0 else G[:, p]
        if palms is not None and name in ("LeftHand", "RightHand"):  # turned with the palm
            side = 0 if name == "LeftHand" else 1
            A = CAMERA_TO_BLENDER if camera_to_armature is None else camera_to_armature
            G[:, b] = _hand_rotation(side, Gp, np.asarray(palms[0], dtype=np.float64)[:, side],
                                     np.asarray(palms[1], dtype=np.float64)[:, side], A, fps)
            continue
        if name in _FINGER_BONES:  # local rotation: flexion about the bone's X (towards -Z, the palm)
            side, f, k = _FINGER_BONES[name]
            if bases and k == 0:  # the base joint on its own axes: flexion and spread
                G[:, b] = Gp @ _finger_base_rotation(side, f, fingers[:, side, f, 3], fingers[:, side, f, 4])
            else:
                G[:, b] = Gp @ M[b] @ _rot_x(-fingers[:, side, f, k]) @ M[b].T
            continue
        d = _unit(Q[:, RIG_TAIL_POINT[b]] - Q[:, RIG_HEAD_POINT[b]])
        zero_rot_dir = Gp @ M[b][:, 1]
        F = _min_rotation(zero_rot_dir, d) @ Gp @ M[b]  # swing-only frame, Y = d
        twist = _twist_reference(name, P, d)
        if twist is not None:
            ref, weight, half = twist
            phi = np.arctan2(np.einsum("ti,ti->t", ref, F[:, :, 0]),
                             np.einsum("ti,ti->t", ref, F[:, :, 2]))
            if half:
                phi = np.where(phi > np.pi / 2, phi - np.pi,
                               np.where(phi < -np.pi / 2, phi + np.pi, phi))
            else:  # no jump when the reference passes behind the fallback (phi ~ +-180)
                phi = _unwrap_runs(phi, weight > 0)
            F = F @ _rot_y(weight * phi)
        G[:, b] = F @ M[b].T

    Gp_all = np.stack([np.broadcast_to(np.eye(3), (T, 3, 3)) if p < 0 else G[:, p]
                       for p in RIG_BONE_PARENTS], axis=1)
    local = np.einsum("bji,tbkj,tbkl,blm->tbim", M, Gp_all, G, M)  # M^T Gp^T G M
    quat = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_quat().reshape(T, NUM_RIG_BONES, 4)
    quat = quat[..., [3, 0, 1, 2]]  # w first (Blender)
    quat = make_continuous(quat)

    root_location = (P[:, 0] - rest_pts[0]) @ M[0]  # M_hips^T (pelvis - pelvis_rest)
    anim = Animation(fps=float(fps), rest_heads=heads, rest_tails=tails, rest_matrices=M,
                     rotations=quat, root_location=root_location,
                     joints_world=np.zeros((T, NUM_JOINTS, 3)))
    anim.joints_world = forward_kinematics(anim)
    return anim


def solve_animation(joints3d: np.ndarray, root: np.ndarray | None, fps: float,
                    root_motion: bool = True, symmetric: bool = True,
                    max_tilt_deg: float = MAX_TILT_DEG,
                    stature_range: tuple[float, float] | None = STATURE_RANGE,
                    foot_lock: bool = False, keypoints2d: np.ndarray | None = None,
                    lock=None, feet3d: np.ndarray | None = None,
                    fingers: np.ndarray | None = None, palms=None) -> Animation:
    """Solve the generated rig's animation from 3D joints: :func:`place_joints`, foot locking
    (:func:`~.footlock.lock_feet`, when ``foot_lock``; or a ready ``lock`` of the placed
    joints, as :func:`~.pipeline.process_clip` passes it), :func:`root_trajectory` and
    :func:`solve_pose`.

    Args:
        joints3d: (T, 17, 3) metres, root-relative, camera oriented (x right, y down, z fwd).
        root: (T, 3) metres, the Pelvis in camera coordinates, or None (Pelvis fixed).
        fps: frames per second of the clip.
        root_motion: False keeps the Pelvis height but removes horizontal translation.
        symmetric: average left/right bone lengths.
        max_tilt_deg: larger estimated camera tilts are not corrected.
        stature_range: (min, max) metres of standing height (top of head to sole) of the
            solved character. A monocular estimate's absolute scale is ambiguous, so a person
            solved outside this range is scaled (about the camera centre, which keeps the 2D
            projection) to the nearest bound; ``info["scale"]`` says by how much. None: off.
        foot_lock: detect foot contacts, pin the contacting feet (two-bone leg IK, exact
            thigh/shin lengths) and put the floor under them (:mod:`.footlock`); the body's
            horizontal track and height then follow the planted feet.
        keypoints2d: optional (T, 17, 3) pixels + confidence of the same frames, used by
            foot locking to tell still feet from moving ones.
        feet3d: optional (T, 2, 3, 4) BlazePose's ankle, heel and toe-tip world landmarks per
            side (camera oriented, metres) + visibility: the feet's rotations (:mod:`.feet`);
            None: flat feet turned with the pelvis.
        fingers: optional (T, 2, 5, 3) finger flexion in radians (:func:`~.hands.solve_hands`),
            or (T, 2, 5, 5) with the bases' flexion and spread (:meth:`~.hands.HandSolve.rig_angles`,
            see :func:`solve_pose`); None: relaxed hands.
        palms: optional ``(palm (T, 2, 3, 3), weight (T, 2))``, the palms' frames in camera axes
            and how much each hand was seen (:class:`~.hands.HandSolve`): the hand bones turn
            with them (:func:`solve_pose`); None: the hands continue the forearms.

    Returns:
        An :class:`Animation`; see the module docstring for the axes. Twist of each bone:
        ``Hips`` from the hip line, ``Spine`` from the shoulder line, thighs from the plane
        of the bent knee (the knee points along bone Z) and upper arms from the plane of the
        bent elbow, each fading to "no twist relative to the parent" as the reference
        degenerates (straight limb, hip line along the spine); every other bone only swings
        (minimal rotation) relative to its parent, so knees and elbows are hinges; the
        feet and toes come from :func:`~.feet.solve_feet`.
        ``contacts`` holds the locked frames ((T, 2) bool, None without foot locking) and
        ``root_shift`` the per-frame shift of :class:`RootTrajectory`; ``info`` holds
        ``bone_lengths`` (dict, metres), ``floor_offset`` (metres removed from Z),
        ``up_correction_deg``, ``estimated_tilt_deg``, ``tilt_corrected``, ``scale``,
        ``camera_to_armature`` (3x3 list) and ``armature_offset`` (3 list) such that
        ``armature = camera_to_armature @ camera + armature_offset + root_shift[t]``,
        ``ankle_height``, ``root_motion``, ``foot_lock`` (:meth:`~.footlock.FootLock.summary`,
        or None) and ``feet`` (:meth:`~.feet.FootPose.summary`); ``bone_lengths`` holds the 16
        joint bones' lengths (``Spine``: the whole Spine -> Thorax segment, which the rig
        splits into ``Spine`` and ``Chest``). All values are JSON-serialisable scalars, small lists or dicts.
    """
    placed = place_joints(joints3d, root, fps, symmetric, max_tilt_deg, stature_range)
    if lock is None and foot_lock:
        from .footlock import lock_feet
        lock = lock_feet(placed.joints, fps, keypoints2d=keypoints2d)
    return animation_from(placed, lock, fps, root_motion, feet3d=feet3d, fingers=fingers, palms=palms)


def animation_from(placed: PlacedJoints, lock, fps: float, root_motion: bool = True,
                   feet3d: np.ndarray | None = None, fingers: np.ndarray | None = None,
                   palms=None) -> Animation:
    """The :class:`Animation` of placed (and possibly foot-locked) joints: the root
    trajectory, the feet (:func:`~.feet.solve_feet` with ``feet3d`` (T, 2, 3, 4), BlazePose's
    ankle/heel/toe-tip world landmarks, or None, and the lock's contacts), the rotations and
    the report (see :func:`solve_animation`); ``fingers``, ``palms``: see :func:`solve_pose`."""
    P, traj = root_trajectory(placed, lock, root_motion)
    contacts = None if lock is None else np.asarray(lock.contacts, bool)
    feet = feet_mod.solve_feet(P, fps, _leg_length(placed.lengths),
                               camera_to_armature=traj.camera_to_armature, feet3d=feet3d,
                               contacts=contacts)
    anim = solve_pose(P, placed.lengths, fps, feet, fingers, palms=palms,
                      camera_to_armature=traj.camera_to_armature)
    anim.contacts = contacts
    anim.root_shift = traj.shift
    anim.info = {
        "bone_lengths": {n: float(x) for n, x in zip(BONE_NAMES, placed.lengths)},
        "floor_offset": traj.floor_offset,
        "up_correction_deg": placed.tilt_deg if placed.tilt_corrected else 0.0,
        "scale": placed.scale,
        "estimated_tilt_deg": placed.tilt_deg,
        "tilt_corrected": placed.tilt_corrected,
        "camera_to_armature": traj.camera_to_armature.tolist(),
        "armature_offset": traj.armature_offset.tolist(),
        "ankle_height": ANKLE_HEIGHT,
        "root_motion": bool(root_motion),
        "foot_lock": None if lock is None else lock.summary(),
        "feet": feet.summary(),
    }
    return anim


def camera_joints(anim: Animation) -> np.ndarray:
    """(T, 17, 3) the solved animation's joints back in the lifter's frame: metres,
    root-relative, camera-oriented (x right, y down, z forward).

    These are the joints the rig actually shows (constant bone lengths, foot locking, the
    stature range applied), for ``--save-joints``.
    """
    A = np.asarray(anim.info["camera_to_armature"], dtype=np.float64)
    rel = anim.joints_world - anim.joints_world[:, :1]
    return (rel @ np.linalg.inv(A).T).astype(np.float32)


def make_continuous(quat: np.ndarray) -> np.ndarray:
    """Flip signs of (T, ..., 4) quaternions so consecutive frames have a positive dot."""
    quat = np.array(quat, dtype=np.float64)
    if quat.shape[0] < 2:
        return quat
    dots = np.sum(quat[1:] * quat[:-1], axis=-1)
    signs = np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)
    quat[1:] *= signs[..., None]
    return quat


def _joint_sources(bone_names) -> tuple:
    """Each joint's (bone index, 0 head / 1 tail) for an animation's bones: the generated rig
    (:data:`~.skeleton.JOINT_ON_RIG`) or a rig of the 16 joint bones alone."""
    names = tuple(bone_names)
    if names == RIG_BONE_NAMES:
        return JOINT_ON_RIG
    if names == BONE_NAMES:
        return ((0, 0),) + tuple((BONE_TAIL_JOINT.index(j), 1) for j in range(1, NUM_JOINTS))
    raise PoseMoEError(f"unknown bone layout ({len(names)} bones starting {names[:3]})")


def bone_ends(anim: Animation) -> tuple[np.ndarray, np.ndarray]:
    """Posed bone heads and tails, each (T, B, 3) in armature space, of ``anim``.

    Uses Blender's pose math: ``pose_b = pose_parent @ rest_parent^-1 @ rest_b @ local_b``
    with ``rest_b = [rest_matrix_b | rest_head_b]`` and ``local_b = [R(q_b) | loc_b]``
    (``loc`` only for the root bone).
    """
    T = anim.rotations.shape[0]
    B = len(anim.bone_names)
    q = np.asarray(anim.rotations, dtype=np.float64)
    R = Rotation.from_quat(q[..., [1, 2, 3, 0]].reshape(-1, 4)).as_matrix().reshape(T, B, 3, 3)
    M = np.asarray(anim.rest_matrices, dtype=np.float64)
    heads = np.asarray(anim.rest_heads, dtype=np.float64)
    lengths = _norm(np.asarray(anim.rest_tails) - heads)
    rest = np.zeros((B, 4, 4))
    rest[:, :3, :3] = M
    rest[:, :3, 3] = heads
    rest[:, 3, 3] = 1
    local = np.zeros((T, B, 4, 4))
    local[:, :, :3, :3] = R
    local[:, :, 3, 3] = 1
    local[:, 0, :3, 3] = anim.root_location
    pose = np.zeros((T, B, 4, 4))
    out_h = np.zeros((T, B, 3))
    out_t = np.zeros((T, B, 3))
    for b in range(B):
        p = anim.bone_parents[b]
        if p < 0:
            pose[:, b] = rest[b] @ local[:, b]
        else:
            pose[:, b] = pose[:, p] @ (np.linalg.inv(rest[p]) @ rest[b]) @ local[:, b]
        out_h[:, b] = pose[:, b, :3, 3]
        out_t[:, b] = (pose[:, b] @ np.array([0.0, lengths[b], 0.0, 1.0]))[:, :3]
    return out_h, out_t


def forward_kinematics(anim: Animation) -> np.ndarray:
    """(T, 17, 3) joint positions in armature space reproduced from ``anim``
    (:func:`bone_ends`): the Pelvis is the Hips head, each other joint the tail of the bone
    that ends there (the Thorax: ``Chest``'s on the generated rig)."""
    heads, tails = bone_ends(anim)
    src = _joint_sources(anim.bone_names)
    ends = np.stack([heads, tails], axis=2)  # (T, B, 2, 3)
    return ends[:, [b for b, _ in src], [e for _, e in src]]


def rig_points_world(anim: Animation) -> np.ndarray:
    """(T, 64, 3) every rig point (:data:`~.skeleton.POINT_NAMES`: the joints, the Chest
    point, the hands' ends, the balls of the feet, the toe tips and the fingers' points) of a
    generated-rig animation, armature space."""
    heads, tails = bone_ends(anim)
    out = np.zeros((heads.shape[0], NUM_POINTS, 3))
    for b, p in enumerate(RIG_HEAD_POINT):  # the fingers' bases are heads only
        out[:, p] = heads[:, b]
    for b, p in enumerate(RIG_TAIL_POINT):
        out[:, p] = tails[:, b]
    return out
