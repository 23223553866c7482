"""The generated rig's bones and the animation data the solver hands to the Blender layer.

Coordinates here are Blender's: metres, Z up, the character facing -Y in its rest pose
(so Blender's Front view looks at its face).

**The rig** (:data:`RIG_BONE_NAMES`, 53 bones: 23 body bones, then 15 finger bones per hand)
carries every bone of Unity's Humanoid avatar (required: Hips, Spine, Head, Left/Right
UpperArm, LowerArm, Hand, UpperLeg, LowerLeg, Foot; optional: Chest, Neck, Left/Right
Shoulder, Toes and the fingers, :data:`FINGER_BONE_NAMES`) under Unity's own ``HumanBodyBones`` names,
which Unity's avatar auto-mapping and Unreal's retargeter recognise, plus ``LeftHipJoint`` /
``RightHipJoint`` (pelvis -> hip joint; the upper legs hang from them, an in-between bone that
Humanoid leaves unmapped). Bone ``RIG_BONE_NAMES[i]`` runs from rig point
``RIG_HEAD_POINT[i]`` to ``RIG_TAIL_POINT[i]``; the rig points (:data:`POINT_NAMES`, 24) are
the 17 joints of :mod:`posemoe_blender.joints` followed by ``Chest`` (half way between the
Spine and Thorax joints), the hands' ends, the balls of the feet, the toe tips and four points
per finger (``LIndex1`` its base .. ``LIndex4`` its tip).

**The joint bones** (:data:`BONE_NAMES`, 16) are the rig bones that span the 17 joints, one
per non-root joint: ``BONE_NAMES[i]`` runs from joint ``BONE_HEAD_JOINT[i]`` to joint
``BONE_TAIL_JOINT[i]`` (its parent among them: ``BONE_PARENTS[i]``). On the rig the
Spine -> Thorax segment is two bones, ``Spine`` (to the Chest point) and ``Chest``; ``Spine``
stands for the segment here. :data:`SEGMENT_NAMES` gives the same 16 segments their pre-rig
names (``LThigh``, ``RShin``, ...), which the render scripts and old bone maps use
(:data:`LEGACY_BONE_NAMES` maps them to the rig's names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..joints import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, PARENTS
from ..joints import FINGER_NAMES, PHALANX_NAMES

#: Bone name for the bone that ends at each joint (index = joint index; Pelvis has none).
_BONE_FOR_JOINT = {
    "RHip": "RightHipJoint", "RKnee": "RightUpperLeg", "RAnkle": "RightLowerLeg",
    "LHip": "LeftHipJoint", "LKnee": "LeftUpperLeg", "LAnkle": "LeftLowerLeg",
    "Spine": "Hips", "Thorax": "Spine", "Neck": "Neck", "Head": "Head",
    "LShoulder": "LeftShoulder", "LElbow": "LeftUpperArm", "LWrist": "LeftLowerArm",
    "RShoulder": "RightShoulder", "RElbow": "RightUpperArm", "RWrist": "RightLowerArm",
}
#: The pre-rig names of the same segments (render scripts, bone maps written before the rig).
_SEGMENT_FOR_JOINT = {
    "RHip": "RHip", "RKnee": "RThigh", "RAnkle": "RShin",
    "LHip": "LHip", "LKnee": "LThigh", "LAnkle": "LShin",
    "Spine": "Hips", "Thorax": "Spine", "Neck": "Neck", "Head": "Head",
    "LShoulder": "LClavicle", "LElbow": "LUpperArm", "LWrist": "LForearm",
    "RShoulder": "RClavicle", "RElbow": "RUpperArm", "RWrist": "RForearm",
}

#: Joint bones in hierarchy order (every parent before its children); Hips first.
BONE_TAIL_JOINT = (7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1, 2, 3, 4, 5, 6)
BONE_HEAD_JOINT = tuple(PARENTS[j] for j in BONE_TAIL_JOINT)
BONE_NAMES = tuple(_BONE_FOR_JOINT[JOINT_NAMES[j]] for j in BONE_TAIL_JOINT)
SEGMENT_NAMES = tuple(_SEGMENT_FOR_JOINT[JOINT_NAMES[j]] for j in BONE_TAIL_JOINT)
NUM_BONES = len(BONE_NAMES)
#: Pre-rig bone name -> the rig's name (bone maps with the old names still load).
LEGACY_BONE_NAMES = {old: new for old, new in zip(SEGMENT_NAMES, BONE_NAMES) if old != new}


def _parent_bone(tail_joint: int) -> int:
    head = PARENTS[tail_joint]
    if head == 0:  # hangs from the Pelvis: child of Hips (except Hips itself)
        return -1 if tail_joint == 7 else 0
    return BONE_TAIL_JOINT.index(head)


#: Parent joint bone of each joint bone (-1 for Hips).
BONE_PARENTS = tuple(_parent_bone(j) for j in BONE_TAIL_JOINT)

# --------------------------------------------------------------------------- the rig

#: Rig points: the 17 joints, then the points only the rig has.
EXTRA_POINT_NAMES = ("Chest", "LHandEnd", "RHandEnd", "LBall", "RBall", "LToeEnd", "RToeEnd") + tuple(
    f"{s}{finger}{k}" for s in "LR" for finger in FINGER_NAMES for k in range(1, 5))
POINT_NAMES = tuple(JOINT_NAMES) + EXTRA_POINT_NAMES
NUM_POINTS = len(POINT_NAMES)
POINT_INDEX = {name: i for i, name in enumerate(POINT_NAMES)}

#: (name, head point, tail point, parent bone name) of every rig bone, parents first.
_RIG = (
    ("Hips", "Pelvis", "Spine", None),
    ("Spine", "Spine", "Chest", "Hips"),
    ("Chest", "Chest", "Thorax", "Spine"),
    ("Neck", "Thorax", "Neck", "Chest"),
    ("Head", "Neck", "Head", "Neck"),
    ("LeftShoulder", "Thorax", "LShoulder", "Chest"),
    ("LeftUpperArm", "LShoulder", "LElbow", "LeftShoulder"),
    ("LeftLowerArm", "LElbow", "LWrist", "LeftUpperArm"),
    ("LeftHand", "LWrist", "LHandEnd", "LeftLowerArm"),
    ("RightShoulder", "Thorax", "RShoulder", "Chest"),
    ("RightUpperArm", "RShoulder", "RElbow", "RightShoulder"),
    ("RightLowerArm", "RElbow", "RWrist", "RightUpperArm"),
    ("RightHand", "RWrist", "RHandEnd", "RightLowerArm"),
    ("RightHipJoint", "Pelvis", "RHip", "Hips"),
    ("RightUpperLeg", "RHip", "RKnee", "RightHipJoint"),
    ("RightLowerLeg", "RKnee", "RAnkle", "RightUpperLeg"),
    ("RightFoot", "RAnkle", "RBall", "RightLowerLeg"),
    ("RightToes", "RBall", "RToeEnd", "RightFoot"),
    ("LeftHipJoint", "Pelvis", "LHip", "Hips"),
    ("LeftUpperLeg", "LHip", "LKnee", "LeftHipJoint"),
    ("LeftLowerLeg", "LKnee", "LAnkle", "LeftUpperLeg"),
    ("LeftFoot", "LAnkle", "LBall", "LeftLowerLeg"),
    ("LeftToes", "LBall", "LToeEnd", "LeftFoot"),
) + tuple(  # the fingers: points <s><Finger>1 (base) .. 4 (tip), three bones each
    (f"{side}{finger}{PHALANX_NAMES[k]}", f"{side[0]}{finger}{k + 1}", f"{side[0]}{finger}{k + 2}",
     f"{side}Hand" if k == 0 else f"{side}{finger}{PHALANX_NAMES[k - 1]}")
    for side in ("Left", "Right") for finger in FINGER_NAMES for k in range(3))
RIG_BONE_NAMES = tuple(r[0] for r in _RIG)
RIG_HEAD_POINT = tuple(POINT_INDEX[r[1]] for r in _RIG)
RIG_TAIL_POINT = tuple(POINT_INDEX[r[2]] for r in _RIG)
RIG_BONE_PARENTS = tuple(-1 if r[3] is None else RIG_BONE_NAMES.index(r[3]) for r in _RIG)
NUM_RIG_BONES = len(RIG_BONE_NAMES)
RIG_BONE_INDEX = {name: i for i, name in enumerate(RIG_BONE_NAMES)}

#: Unity's Humanoid bones (``HumanBodyBones`` names) the rig carries; the first 15 are the
#: ones Unity requires.
HUMANOID_REQUIRED = (
    "Hips", "Spine", "Head", "LeftUpperArm", "LeftLowerArm", "LeftHand", "RightUpperArm",
    "RightLowerArm", "RightHand", "LeftUpperLeg", "LeftLowerLeg", "LeftFoot", "RightUpperLeg",
    "RightLowerLeg", "RightFoot")
#: The 30 finger bones (Unity's names: ``LeftThumbProximal``, ``LeftThumbIntermediate``,
#: ``LeftThumbDistal``, ``LeftIndexProximal``, ... ``RightLittleDistal``), keyed from
#: :func:`~.hands.solve_hands`' flexion.
FINGER_BONE_NAMES = tuple(f"{side}{finger}{p}" for side in ("Left", "Right")
                          for finger in FINGER_NAMES for p in PHALANX_NAMES)
HUMANOID_BONES = HUMANOID_REQUIRED + (
    "Chest", "Neck", "LeftShoulder", "RightShoulder", "LeftToes", "RightToes") + FINGER_BONE_NAMES

#: Each joint on the rig: (rig bone index, 0 = its head / 1 = its tail).
JOINT_ON_RIG = tuple(
    (0, 0) if j == 0 else (RIG_TAIL_POINT.index(j), 1) for j in range(NUM_JOINTS))
assert set(HUMANOID_BONES) <= set(RIG_BONE_NAMES)
assert RIG_BONE_NAMES[-len(FINGER_BONE_NAMES):] == FINGER_BONE_NAMES
assert all(RIG_BONE_PARENTS[i] < i for i in range(NUM_RIG_BONES))
assert JOINT_INDEX["Thorax"] == RIG_TAIL_POINT[RIG_BONE_INDEX["Chest"]]


@dataclass
class CameraMapping:
    """How the solve put the lifter's camera frame into the armature's space.

    ``armature = camera_to_armature @ camera + armature_offset`` (plus the animation's
    ``root_shift[t]``: frames raised onto the floor, foot locking; see
    :class:`~.root.RootTrajectory`), camera coordinates x right, y down, z forward, armature
    coordinates Blender's (Z up), both in metres.

    * ``camera_to_armature``: (3, 3) float64, the rotation from the camera's axes to the
      armature's (axes swap and up correction, foot locking's levelling) times the stature
      ``scale``.
    * ``armature_offset``: (3,) float64 metres.
    * ``root_motion``: False when the pelvis was kept above the origin (the mapping then only
      holds for Z).
    * ``scale``: the stature scale applied about the camera centre (1.0: none); already part of
      ``camera_to_armature``.
    """

    camera_to_armature: np.ndarray
    armature_offset: np.ndarray
    root_motion: bool = True
    scale: float = 1.0

    def __post_init__(self) -> None:
        self.camera_to_armature = np.asarray(self.camera_to_armature, dtype=np.float64)
        self.armature_offset = np.asarray(self.armature_offset, dtype=np.float64)

    def to_armature(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) armature-space metres of camera-space points (..., 3), ``root_shift``
        not included."""
        return np.asarray(points, dtype=np.float64) @ self.camera_to_armature.T + self.armature_offset

    def to_camera(self, points: np.ndarray, relative: bool = False) -> np.ndarray:
        """(..., 3) camera-space metres of armature-space points (..., 3):
        ``camera_to_armature^-1 @ (armature - armature_offset)``; ``relative``: the points
        are differences (e.g. joints relative to the pelvis), the offset is not removed."""
        inverse = np.linalg.inv(self.camera_to_armature)
        if relative:
            return points @ inverse.T
        return (points - self.armature_offset) @ inverse.T

    def to_dict(self) -> dict:
        """JSON-friendly lists and scalars (:meth:`from_dict` reads them back exactly)."""
        return {"camera_to_armature": self.camera_to_armature.tolist(),
                "armature_offset": self.armature_offset.tolist(),
                "root_motion": bool(self.root_motion), "scale": float(self.scale)}

    @classmethod
    def from_dict(cls, data: dict) -> "CameraMapping":
        return cls(camera_to_armature=data["camera_to_armature"], armature_offset=data["armature_offset"],
                   root_motion=bool(data.get("root_motion", True)), scale=float(data.get("scale", 1.0)))


@dataclass
class SolveReport:
    """What the solve found and decided, for reports and evaluation (JSON-friendly figures).

    * ``bone_lengths``: joint bone name (:data:`BONE_NAMES`) -> metres (``Spine``: the whole
      Spine -> Thorax segment, which the rig splits into ``Spine`` and ``Chest``).
    * ``floor_offset``: metres removed from Z to put the floor at Z = 0.
    * ``up_correction_deg``: the camera tilt corrected (degrees; 0.0 when not corrected);
      ``estimated_tilt_deg``: the tilt estimated; ``tilt_corrected``: whether it was.
    * ``ankle_height``: metres from the sole to the ankle joint
      (:data:`~.rest.ANKLE_HEIGHT`).
    * ``foot_lock``: :meth:`~.footlock.FootLock.summary`, or None without foot locking.
    * ``feet``: :meth:`~.feet.FootPose.summary`.
    """

    bone_lengths: dict
    floor_offset: float
    up_correction_deg: float
    estimated_tilt_deg: float
    tilt_corrected: bool
    ankle_height: float
    foot_lock: Optional[dict] = None
    feet: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-friendly scalars and dicts (:meth:`from_dict` reads them back)."""
        return {"bone_lengths": {str(k): float(v) for k, v in self.bone_lengths.items()},
                "floor_offset": float(self.floor_offset), "up_correction_deg": float(self.up_correction_deg),
                "estimated_tilt_deg": float(self.estimated_tilt_deg),
                "tilt_corrected": bool(self.tilt_corrected), "ankle_height": float(self.ankle_height),
                "foot_lock": None if self.foot_lock is None else dict(self.foot_lock),
                "feet": dict(self.feet)}

    @classmethod
    def from_dict(cls, data: dict) -> "SolveReport":
        return cls(bone_lengths=dict(data["bone_lengths"]), floor_offset=float(data["floor_offset"]),
                   up_correction_deg=float(data["up_correction_deg"]),
                   estimated_tilt_deg=float(data["estimated_tilt_deg"]),
                   tilt_corrected=bool(data["tilt_corrected"]), ankle_height=float(data["ankle_height"]),
                   foot_lock=None if data.get("foot_lock") is None else dict(data["foot_lock"]),
                   feet=dict(data.get("feet") or {}))


@dataclass
class Animation:
    """Everything the Blender layer needs to build and key the generated rig.

    Shapes (B = number of bones, :data:`NUM_RIG_BONES` = 23 for the generated rig, T = frames):

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
      beyond the camera mapping (see :class:`~.root.RootTrajectory`), or None.
    * ``camera``: the :class:`CameraMapping` of the solve (None for an animation not solved
      from a video, e.g. a hand-made one); ``report``: its :class:`SolveReport`, or None.
    * ``bone_names`` / ``bone_parents``: (B,) names and parent index (-1 = root), parents
      first (default: the generated rig, :data:`RIG_BONE_NAMES`).
    """

    fps: float
    rest_heads: np.ndarray
    rest_tails: np.ndarray
    rest_matrices: np.ndarray
    rotations: np.ndarray
    root_location: np.ndarray
    joints_world: np.ndarray
    bone_names: tuple = RIG_BONE_NAMES
    bone_parents: tuple = RIG_BONE_PARENTS
    contacts: Optional[np.ndarray] = None
    root_shift: Optional[np.ndarray] = None
    camera: Optional[CameraMapping] = None
    report: Optional[SolveReport] = None

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])
