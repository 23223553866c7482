"""Posed positions from a solved :class:`~.skeleton.Animation` (no bpy here).

Blender's pose math in numpy (:func:`bone_ends`), and what is read from it: the 17 joints
(:func:`forward_kinematics`), every rig point (:func:`rig_points_world`) and the joints back in
the lifter's camera frame (:func:`camera_joints`, for ``--save-joints``).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import PoseMoEError
from ..geometry import norm
from ..joints import NUM_JOINTS
from .skeleton import BONE_NAMES, BONE_TAIL_JOINT, JOINT_ON_RIG, NUM_POINTS, RIG_BONE_NAMES, RIG_HEAD_POINT, RIG_TAIL_POINT, Animation


def camera_joints(anim: Animation) -> np.ndarray:
    """(T, 17, 3) the solved animation's joints back in the lifter's frame: metres,
    root-relative, camera-oriented (x right, y down, z forward).

    These are the joints the rig actually shows (constant bone lengths, foot locking, the
    stature range applied), for ``--save-joints``; mapped back with the solve's
    :class:`~.skeleton.CameraMapping` (``anim.camera``, which must be set).
    """
    rel = anim.joints_world - anim.joints_world[:, :1]
    return anim.camera.to_camera(rel, relative=True).astype(np.float32)


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
    lengths = norm(np.asarray(anim.rest_tails) - heads)
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
