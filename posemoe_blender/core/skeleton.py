"""The generated rig's bones and the animation data the solver hands to the Blender layer.

Coordinates here are Blender's: metres, Z up, the character facing -Y in its rest pose
(so Blender's Front view looks at its face).

One bone per non-root joint of :mod:`posemoe_blender.joints`: bone ``BONE_NAMES[i]`` runs from
joint ``BONE_HEAD_JOINT[i]`` to joint ``BONE_TAIL_JOINT[i]``. ``Hips`` (Pelvis -> Spine) is the
root of the hierarchy and carries the root motion; the two hip bones hang from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..joints import JOINT_NAMES, PARENTS

#: Bone name for the bone that ends at each joint (index = joint index; Pelvis has none).
_BONE_FOR_JOINT = {
    "RHip": "RHip", "RKnee": "RThigh", "RAnkle": "RShin",
    "LHip": "LHip", "LKnee": "LThigh", "LAnkle": "LShin",
    "Spine": "Hips", "Thorax": "Spine", "Neck": "Neck", "Head": "Head",
    "LShoulder": "LClavicle", "LElbow": "LUpperArm", "LWrist": "LForearm",
    "RShoulder": "RClavicle", "RElbow": "RUpperArm", "RWrist": "RForearm",
}

#: Bones in hierarchy order (every parent before its children); Hips first.
BONE_TAIL_JOINT = (7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1, 2, 3, 4, 5, 6)
BONE_HEAD_JOINT = tuple(PARENTS[j] for j in BONE_TAIL_JOINT)
BONE_NAMES = tuple(_BONE_FOR_JOINT[JOINT_NAMES[j]] for j in BONE_TAIL_JOINT)
NUM_BONES = len(BONE_NAMES)


def _parent_bone(tail_joint: int) -> int:
    head = PARENTS[tail_joint]
    if head == 0:  # hangs from the Pelvis: child of Hips (except Hips itself)
        return -1 if tail_joint == 7 else 0
    return BONE_TAIL_JOINT.index(head)


#: Parent bone index of each bone (-1 for Hips).
BONE_PARENTS = tuple(_parent_bone(j) for j in BONE_TAIL_JOINT)


@dataclass
class Animation:
    """Everything the Blender layer needs to build and key the generated rig.

    Shapes (B = NUM_BONES = 16, T = frames):

    * ``rest_heads``, ``rest_tails``: (B, 3) metres, armature space, rest pose (a T-pose
      standing on the floor, Z up, facing -Y, Pelvis above the origin).
    * ``rest_matrices``: (B, 3, 3) each bone's rest orientation in armature space; columns are
      the bone's local X, Y (along the bone, head -> tail) and Z axes, as Blender's
      ``EditBone.matrix`` expects.
    * ``rotations``: (T, B, 4) each pose bone's ``rotation_quaternion`` (w, x, y, z), relative
      to its rest pose in the bone's local space (Blender's convention).
    * ``root_location``: (T, 3) the Hips pose bone's ``location`` (bone-local space, metres).
    * ``joints_world``: (T, 17, 3) the joint positions this animation reproduces by forward
      kinematics (armature space), kept for checks and evaluation.
    * ``contacts``: (T, 2) bool, the frames foot locking pinned the left / right foot (None
      when it was off); ``root_shift``: (T, 3) metres, the per-frame part of the body's path
      beyond the camera mapping (see ``core.solving.RootTrajectory``), or None.
    """

    fps: float
    rest_heads: np.ndarray
    rest_tails: np.ndarray
    rest_matrices: np.ndarray
    rotations: np.ndarray
    root_location: np.ndarray
    joints_world: np.ndarray
    bone_names: tuple = BONE_NAMES
    bone_parents: tuple = BONE_PARENTS
    info: dict = field(default_factory=dict)
    contacts: Optional[np.ndarray] = None
    root_shift: Optional[np.ndarray] = None

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])
