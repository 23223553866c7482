"""The keyed Blender rig's joints: the check that the scored joints are what ``convert`` keys.

The pipeline variants are scored on ``Animation.joints_world``; :func:`keyed_joints` builds and
keys the generated rig exactly as ``convert`` does (``blender.armature`` + ``blender.keyframes``)
in a fresh factory scene and reads every frame's joints back (pose-bone heads and tails), so
the report can state how far the two are apart.
"""

from __future__ import annotations

import numpy as np

from posemoe_blender.joints import NUM_JOINTS


def keyed_joints(animation) -> np.ndarray:
    """(T, 17, 3) joints of the keyed rig, frame by frame. Needs ``bpy``."""
    import bpy

    from posemoe_blender.output.armature import build_armature
    from posemoe_blender.output.keyframes import write_action
    from posemoe_blender.solving.skeleton import BONE_HEAD_JOINT, BONE_NAMES, BONE_TAIL_JOINT
    from posemoe_blender.quiet import python_stdout_silenced

    with python_stdout_silenced():
        bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = build_armature(animation, "EvalRig")
    write_action(obj, animation, "eval")
    scene = bpy.context.scene
    out = np.zeros((animation.num_frames, NUM_JOINTS, 3))
    for f in range(animation.num_frames):
        scene.frame_set(f + 1)
        mw = np.array(obj.matrix_world)
        for b, name in enumerate(BONE_NAMES):
            pb = obj.pose.bones[name]
            out[f, BONE_HEAD_JOINT[b]] = mw[:3, :3] @ np.array(pb.head) + mw[:3, 3]
            out[f, BONE_TAIL_JOINT[b]] = mw[:3, :3] @ np.array(pb.tail) + mw[:3, 3]
    return out


def keyed_deviation_mm(animation) -> float:
    """Largest distance (mm) between the keyed rig's joints and ``animation.joints_world``;
    NaN without ``bpy``."""
    try:
        return float(np.abs(keyed_joints(animation) - animation.joints_world).max() * 1000)
    except ImportError:
        return float("nan")
