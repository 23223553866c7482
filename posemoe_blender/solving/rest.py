"""The generated rig's rest pose and its points from the joints (no bpy here).

* :func:`bone_lengths`, :func:`rechain`: each joint bone's robust length over a clip, and the
  clip's joints rebuilt from the Pelvis with those lengths (constant bones);
* :func:`rest_pose`: the 17 joints' T-pose, standing on the floor (Z up, facing -Y);
* :func:`rig_rest_pose`: the whole rig's T-pose (its 64 points, the 53 bones' heads, tails and
  rest matrices: hands, feet, toes and fingers included);
* :func:`rig_points`: the rig points that follow from posed joints (the Chest point, the
  hands' ends).
"""

from __future__ import annotations

import numpy as np

from ..geometry import X_AXIS, Y_AXIS, Z_AXIS, norm, unit
from ..joints import JOINT_INDEX as J, NUM_JOINTS
from . import feet as feet_mod
from . import fingers as fingers_mod
from .hand_bones import FINGER_BONE_INDEX, hand_frame
from .skeleton import BONE_HEAD_JOINT, BONE_NAMES, BONE_TAIL_JOINT, NUM_BONES, NUM_POINTS, POINT_INDEX, RIG_BONE_NAMES, RIG_HEAD_POINT, RIG_TAIL_POINT

#: Height of the ankle joint above the sole of the foot (metres).
ANKLE_HEIGHT = 0.08
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

_UP_BONES = {"Hips", "Spine", "Chest", "Neck", "Head"}
_ARM_BONES = {side + part for side in ("Left", "Right")
              for part in ("Shoulder", "UpperArm", "LowerArm", "Hand")}
_FOOT_BONES = {"LeftFoot", "LeftToes", "RightFoot", "RightToes"}
_LEFT_DIR_BONES = {"LeftShoulder", "LeftUpperArm", "LeftLowerArm", "LeftHand", "LeftHipJoint"}
_RIGHT_DIR_BONES = {"RightShoulder", "RightUpperArm", "RightLowerArm", "RightHand", "RightHipJoint"}
_BONE_INDEX = {name: i for i, name in enumerate(BONE_NAMES)}


def bone_lengths(P: np.ndarray, symmetric: bool) -> np.ndarray:
    """(16,) each joint bone's median length (metres) over joints ``P`` (T, 17, 3), left and
    right averaged when ``symmetric``; lengths of 0.1 mm or less become :data:`DEFAULT_BONE_LENGTHS`."""
    heads = P[:, list(BONE_HEAD_JOINT)]
    tails = P[:, list(BONE_TAIL_JOINT)]
    lengths = np.median(norm(tails - heads), axis=0)
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
    """(16, 3) each joint bone's unit direction in the T-pose (Blender axes)."""
    dirs = np.zeros((NUM_BONES, 3))
    for i, name in enumerate(BONE_NAMES):
        if name in _UP_BONES:
            dirs[i] = Z_AXIS
        elif name in _LEFT_DIR_BONES:
            dirs[i] = X_AXIS
        elif name in _RIGHT_DIR_BONES:
            dirs[i] = -X_AXIS
        else:  # thighs and shins hang down
            dirs[i] = -Z_AXIS
    return dirs


def rechain(P: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Rebuild (T, 17, 3) joints from the Pelvis with the given bone lengths, same directions.

    Zero-length bones take the previous frame's direction (the rest direction at the start).
    """
    out = np.empty_like(P)
    out[:, 0] = P[:, 0]
    rest_dirs = _rest_directions()
    for b in range(NUM_BONES):
        head, tail = BONE_HEAD_JOINT[b], BONE_TAIL_JOINT[b]
        vec = P[:, tail] - P[:, head]
        ok = norm(vec) > 1e-6
        d = unit(vec)
        if not ok.all():
            # forward-fill directions from the last good frame; rest direction before any
            idx = np.where(ok, np.arange(len(d)), -1)
            idx = np.maximum.accumulate(idx)
            d = np.where((idx >= 0)[:, None], d[np.maximum(idx, 0)], rest_dirs[b])
        out[:, tail] = out[:, head] + lengths[b] * d
    return out


def rest_pose(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
        z = Z_AXIS if name in _ARM_BONES else -Y_AXIS
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
    if name in FINGER_BONE_INDEX and FINGER_BONE_INDEX[name][1] == 0:
        hint = hand_frame(FINGER_BONE_INDEX[name][0]) @ np.asarray(fingers_mod.THUMB_BACK)
    else:
        hint = Z_AXIS if (name in _ARM_BONES or name in _FOOT_BONES or name in FINGER_BONE_INDEX) else -Y_AXIS
    z = unit(hint - (hint @ y) * y)
    return np.stack([np.cross(y, z), y, z], axis=1)


def _finger_rest_points(wrist: np.ndarray, hand_length: float, side: int) -> dict:
    """Rest points ``{point name: (3,)}`` of one hand's fingers (:data:`~.fingers.FINGER_LAYOUT`
    scaled by the hand bone's ``hand_length``)."""
    F = hand_frame(side)
    out = {}
    for finger, (base, direction, lengths) in fingers_mod.FINGER_LAYOUT.items():
        p = wrist + hand_length * (F @ np.asarray(base))
        d = unit(F @ np.asarray(direction))
        name = "LR"[side] + finger
        out[name + "1"] = p
        for k, length in enumerate(lengths):
            p = p + hand_length * length * d
            out[f"{name}{k + 2}"] = p
    return out


def leg_length(lengths: np.ndarray) -> float:
    """Mean thigh + shin (metres) of the 16 joint bones' ``lengths``."""
    L = dict(zip(BONE_NAMES, lengths))
    return float(np.mean([L[s + "UpperLeg"] + L[s + "LowerLeg"] for s in ("Left", "Right")]))


def rig_rest_pose(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The generated rig's T-pose: rest points (64, 3) (:data:`~.skeleton.POINT_NAMES`),
    bone heads, tails (53, 3) and matrices (53, 3, 3), from the 16 joint bones' ``lengths``.

    The joints are :func:`rest_pose`'s; ``Chest`` halves the Spine -> Thorax segment; each
    hand continues its forearm by :data:`HAND_FRACTION` of its length; the feet are
    :func:`.feet.foot_offsets` of the mean leg (flat on the floor, facing -Y)."""
    joints = rest_pose(lengths)[0]
    L = dict(zip(BONE_NAMES, lengths))
    pts = np.zeros((NUM_POINTS, 3))
    pts[:NUM_JOINTS] = joints
    pts[POINT_INDEX["Chest"]] = 0.5 * (joints[J["Spine"]] + joints[J["Thorax"]])
    for s, side, sign in (("L", "Left", 1.0), ("R", "Right", -1.0)):
        pts[POINT_INDEX[s + "HandEnd"]] = joints[J[s + "Wrist"]] + sign * X_AXIS * HAND_FRACTION * L[side + "LowerArm"]
        off = feet_mod.foot_offsets(leg_length(lengths))
        pts[POINT_INDEX[s + "Ball"]] = joints[J[s + "Ankle"]] + off["ball"]
        pts[POINT_INDEX[s + "ToeEnd"]] = joints[J[s + "Ankle"]] + off["toe"]
        for name, p in _finger_rest_points(joints[J[s + "Wrist"]], HAND_FRACTION * L[side + "LowerArm"],
                                           0 if s == "L" else 1).items():
            pts[POINT_INDEX[name]] = p
    heads = pts[list(RIG_HEAD_POINT)]
    tails = pts[list(RIG_TAIL_POINT)]
    mats = np.stack([_bone_matrix(unit(t - h), n) for n, h, t in zip(RIG_BONE_NAMES, heads, tails)])
    return pts, heads, tails, mats


def rig_points(P: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(T, 64, 3) the rig points (:data:`~.skeleton.POINT_NAMES`) for joints ``P`` (T, 17, 3)
    whose segments have ``lengths`` (16,): the joints, the Chest point half way up the
    Spine -> Thorax segment and the hands' ends continuing the forearms. The feet's points are
    left at their ankles (they come from the feet's rotations, see :func:`~.body.solve_pose`)."""
    T = P.shape[0]
    L = dict(zip(BONE_NAMES, lengths))
    Q = np.zeros((T, NUM_POINTS, 3))
    Q[:, :NUM_JOINTS] = P
    Q[:, POINT_INDEX["Chest"]] = 0.5 * (P[:, J["Spine"]] + P[:, J["Thorax"]])
    for s, side in (("L", "Left"), ("R", "Right")):
        fore = unit(P[:, J[s + "Wrist"]] - P[:, J[s + "Elbow"]])
        Q[:, POINT_INDEX[s + "HandEnd"]] = P[:, J[s + "Wrist"]] + HAND_FRACTION * L[side + "LowerArm"] * fore
        for extra in ("Ball", "ToeEnd"):
            Q[:, POINT_INDEX[s + extra]] = P[:, J[s + "Ankle"]]
        for finger in fingers_mod.FINGER_NAMES:  # from the fingers' rotations, see solve_pose
            for k in range(1, 5):
                Q[:, POINT_INDEX[f"{s}{finger}{k}"]] = Q[:, POINT_INDEX[s + "HandEnd"]]
    return Q

