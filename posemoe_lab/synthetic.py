"""A synthetic :class:`~posemoe_blender.solving.skeleton.Animation` with exact joints, for tests
and benchmarks of the Blender layer (no bpy needed to build it).

A T-pose with a distinct roll per bone, every bone rotating about its own axis and root motion
on the Hips. Its ``joints_world`` comes from a NumPy forward kinematics that follows Blender's
convention (pose = parent_pose @ parent_rest^-1 @ rest @ T(location) @ R(q)), so comparing it
with Blender's evaluated pose checks the quaternion convention end to end.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from posemoe_blender.joints import JOINT_NAMES
from posemoe_blender.solving.skeleton import BONE_HEAD_JOINT, BONE_NAMES, BONE_PARENTS, BONE_TAIL_JOINT, NUM_BONES, Animation


#: Rest T-pose joints (Blender space: metres, Z up, facing -Y, left = +X). Height 1.70 m
#: from the ankles to the top of the head.
REST_JOINTS = {
    "Pelvis": (0.0, 0.0, 1.0), "RHip": (-0.1, 0.01, 1.0), "LHip": (0.1, 0.01, 1.0),
    "RKnee": (-0.1, 0.0, 0.55), "LKnee": (0.1, 0.0, 0.55),
    "RAnkle": (-0.1, 0.02, 0.1), "LAnkle": (0.1, 0.02, 0.1),
    "Spine": (0.0, 0.0, 1.25), "Thorax": (0.0, 0.0, 1.5), "Neck": (0.0, -0.02, 1.62),
    "Head": (0.0, 0.0, 1.8),
    "LShoulder": (0.18, 0.0, 1.5), "LElbow": (0.45, 0.0, 1.5), "LWrist": (0.7, 0.0, 1.5),
    "RShoulder": (-0.18, 0.0, 1.5), "RElbow": (-0.45, 0.0, 1.5), "RWrist": (-0.7, 0.0, 1.5),
}
REST_HEIGHT = 1.70


def _rest_matrix(direction: np.ndarray, roll: float) -> np.ndarray:
    """(3,3) columns X, Y = direction, Z; then rolled by ``roll`` radians about Y."""
    y = direction / np.linalg.norm(direction)
    ref = np.array([0.0, 1.0, 0.0]) if abs(y[1]) < 0.9 else np.array([0.0, 0.0, 1.0])
    z = ref - ref.dot(y) * y
    z /= np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z], axis=1) @ Rotation.from_euler("y", roll).as_matrix()


def make_animation(frames: int = 24, fps: float = 30.0, amplitude: float = 0.35,
                   seed: int = 0) -> Animation:
    """A synthetic Animation with exact ``joints_world`` (Blender's FK convention)."""
    B = NUM_BONES
    heads = np.array([REST_JOINTS[JOINT_NAMES[j]] for j in BONE_HEAD_JOINT], float)
    tails = np.array([REST_JOINTS[JOINT_NAMES[j]] for j in BONE_TAIL_JOINT], float)
    rest = np.stack([_rest_matrix(tails[b] - heads[b], 0.3 * b) for b in range(B)])
    lengths = np.linalg.norm(tails - heads, axis=1)

    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(B, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    t = np.arange(frames) / max(frames - 1, 1)
    angles = amplitude * np.sin(2 * np.pi * t[:, None] + rng.uniform(0, 2 * np.pi, B)[None])
    rotvec = (angles[..., None] * axes[None]).reshape(-1, 3)
    local = Rotation.from_rotvec(rotvec)
    quat = local.as_quat().reshape(frames, B, 4)[..., [3, 0, 1, 2]]  # w first
    local_m = local.as_matrix().reshape(frames, B, 3, 3)
    loc = np.stack([0.1 * np.sin(2 * np.pi * t), 0.05 * t, 0.03 * np.cos(2 * np.pi * t)], axis=1)

    rest4 = np.tile(np.eye(4), (B, 1, 1))
    rest4[:, :3, :3] = rest
    rest4[:, :3, 3] = heads
    joints = np.zeros((frames, 17, 3))
    for f in range(frames):
        pose = [None] * B
        for b in range(B):
            basis = np.eye(4)
            basis[:3, :3] = local_m[f, b]
            p = BONE_PARENTS[b]
            if p < 0:
                move = np.eye(4)
                move[:3, 3] = loc[f]
                pose[b] = rest4[b] @ move @ basis
            else:
                pose[b] = pose[p] @ np.linalg.inv(rest4[p]) @ rest4[b] @ basis
            joints[f, BONE_HEAD_JOINT[b]] = pose[b][:3, 3]
            joints[f, BONE_TAIL_JOINT[b]] = (pose[b] @ np.array([0.0, lengths[b], 0.0, 1.0]))[:3]
    # a rig of the 16 joint bones alone (the generated rig adds Chest, hands, feet and toes)
    return Animation(fps=fps, rest_heads=heads, rest_tails=tails, rest_matrices=rest,
                     rotations=quat, root_location=loc, joints_world=joints,
                     bone_names=BONE_NAMES, bone_parents=BONE_PARENTS)
