"""Read an FBX back into Blender and summarise what a game engine or the tests would see.

Used by the end-to-end tests and for manual checks::

    python -c "from posemoe_blender.output.inspect_fbx import summarize_fbx as s; print(s('out.fbx'))"

Joint positions come from the imported armature evaluated by the depsgraph at a few frames:
a joint at a bone's end is the posed bone head plus its posed Y axis times the bone length.
FBX stores no bone lengths, so the length is read from the ``posemoe_length`` custom property
that :func:`~posemoe_blender.output.armature.build_armature` writes (exported with the bone),
falling back to the length Blender's importer guessed.
"""

from __future__ import annotations

import os

import bpy
import numpy as np
from bpy_extras.anim_utils import animdata_get_channelbag_for_assigned_slot

from ..errors import PoseMoEError
from .armature import LENGTH_PROP

#: Joint -> (bone, "head" | "tip") on the generated rig (see solving/skeleton.py).
JOINT_BONES = {
    "Pelvis": ("Hips", "head"), "Head": ("Head", "tip"), "Neck": ("Neck", "tip"),
    "LHip": ("LeftHipJoint", "tip"), "RHip": ("RightHipJoint", "tip"),
    "LAnkle": ("LeftLowerLeg", "tip"), "RAnkle": ("RightLowerLeg", "tip"),
    "LWrist": ("LeftLowerArm", "tip"), "RWrist": ("RightLowerArm", "tip"),
    "LToe": ("LeftToes", "tip"), "RToe": ("RightToes", "tip"),
}


def _bone_length(bone) -> float:
    value = bone.get(LENGTH_PROP)
    return float(value) if value is not None else float(bone.length)


def _joint_positions(obj, names) -> dict:
    """World positions (3,) of the joints in ``names`` for the current evaluated pose."""
    mw = np.array(obj.matrix_world)
    out = {}
    for joint in names:
        bone_name, end = JOINT_BONES[joint]
        pb = obj.pose.bones.get(bone_name)
        if pb is None:
            continue
        m = np.array(pb.matrix)  # armature space, includes the bone's scale
        p = m[:3, 3] if end == "head" else m[:3, 3] + m[:3, 1] * _bone_length(pb.bone)
        out[joint] = mw[:3, :3] @ p + mw[:3, 3]
    return out


def _keyed_frames(obj) -> np.ndarray:
    """Sorted distinct frames (floats) that carry a key on any F-curve of ``obj``'s Action."""
    anim = obj.animation_data
    if anim is None or anim.action is None:
        return np.zeros(0)
    bag = animdata_get_channelbag_for_assigned_slot(anim)
    if bag is None:
        return np.zeros(0)
    frames = []
    for fc in bag.fcurves:
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        frames.append(co[0::2])
    return np.unique(np.round(np.concatenate(frames), 3)) if frames else np.zeros(0)


def summarize_fbx(path: str | os.PathLike, samples: int = 5) -> dict:
    """Import ``path`` into a fresh empty scene (discarding the current one) and summarise it.

    Returns a dict:

    * ``takes`` (sorted list): the names of the file's animation takes (FBX AnimStacks);
    * ``armatures`` (int), ``bone_names`` (list, first armature), ``leaf_bones`` (names ending
      in ``_end``), ``armature_scale`` (3 floats, object scale after import);
    * ``first_frame``, ``last_frame`` (floats), ``keyed_frames`` (count of distinct keyed
      frames), ``fps`` (scene fps after import). Imported with ``anim_offset=0`` so frames
      are FBX time x fps, i.e. the frames the exporting scene keyed (Blender's importer adds
      1 by default);
    * ``sampled_frames`` (list of ``samples`` frames evenly spread over the keyed range) and
      ``positions``: joint name -> list of (x, y, z) metres in Blender world space (Z up) at
      those frames, for Pelvis, Neck, Head (top of head), hips, wrists, ankles;
    * ``height``: largest top-of-head minus lowest-ankle height over the samples (metres);
      ``rest_height``: the same in the rest pose;
    * ``upright``: head above pelvis in every sample; ``facing``: unit horizontal vector
      the character faces at the first sample ((left hip - right hip) x up);
    * ``moves`` / ``max_motion``: whether any joint moves more than 1 cm between samples;
    * ``min_foot_height``: lowest ankle Z over the samples.

    Raises :class:`PoseMoEError` if the file is missing or cannot be imported.
    """
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise PoseMoEError(f"{path}: no such file")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    try:
        bpy.ops.import_scene.fbx(filepath=path, anim_offset=0.0)
    except RuntimeError as exc:
        raise PoseMoEError(f"{path}: cannot import FBX ({str(exc).strip().splitlines()[-1]})") from None
    scene = bpy.context.scene
    arms = [o for o in scene.objects if o.type == 'ARMATURE']
    out = {"armatures": len(arms), "bone_names": [], "leaf_bones": [], "fps": scene.render.fps
           / scene.render.fps_base}
    if not arms:
        return out
    obj = arms[0]
    out["bone_names"] = [b.name for b in obj.data.bones]
    # the importer names each Action "<object>|<take>" (or "<object>|<take>|<layer>")
    out["takes"] = sorted({a.name.split("|")[1] for a in bpy.data.actions if a.name.count("|") >= 1})
    out["leaf_bones"] = [n for n in out["bone_names"] if n.endswith("_end")]
    out["armature_scale"] = [float(v) for v in obj.matrix_world.to_scale()]

    frames = _keyed_frames(obj)
    out["keyed_frames"] = int(len(frames))
    out["first_frame"] = float(frames[0]) if len(frames) else None
    out["last_frame"] = float(frames[-1]) if len(frames) else None
    lo, hi = (frames[0], frames[-1]) if len(frames) else (scene.frame_current,) * 2
    sampled = sorted({int(round(f)) for f in np.linspace(lo, hi, max(samples, 1))})
    out["sampled_frames"] = sampled

    names = list(JOINT_BONES)
    per_frame = []
    for f in sampled:
        scene.frame_set(f)
        per_frame.append(_joint_positions(obj, names))
    names = [n for n in names if all(n in p for p in per_frame)]
    pos = {n: np.array([p[n] for p in per_frame]) for n in names}
    out["positions"] = {n: v.tolist() for n, v in pos.items()}

    if {"Head", "LAnkle", "RAnkle", "Pelvis"} <= set(pos):
        feet = np.minimum(pos["LAnkle"][:, 2], pos["RAnkle"][:, 2])
        out["height"] = float(np.max(pos["Head"][:, 2] - feet))
        out["min_foot_height"] = float(feet.min())
        out["upright"] = bool(np.all(pos["Head"][:, 2] > pos["Pelvis"][:, 2]))
    if {"LHip", "RHip"} <= set(pos):
        fwd = np.cross(pos["LHip"][0] - pos["RHip"][0], [0.0, 0.0, 1.0])
        fwd[2] = 0.0
        norm = np.linalg.norm(fwd)
        out["facing"] = (fwd / norm).tolist() if norm > 1e-9 else None
    stacked = np.stack([pos[n] for n in names], axis=1)  # (S, J, 3)
    motion = float(np.max(np.linalg.norm(stacked - stacked[:1], axis=-1))) if len(sampled) else 0.0
    out["max_motion"] = motion
    out["moves"] = motion > 0.01

    # rest pose
    mw = np.array(obj.matrix_world)

    def rest_point(joint):
        bone_name, end = JOINT_BONES[joint]
        bone = obj.data.bones.get(bone_name)
        if bone is None:
            return None
        m = np.array(bone.matrix_local)
        p = m[:3, 3] if end == "head" else m[:3, 3] + m[:3, 1] * _bone_length(bone)
        return mw[:3, :3] @ p + mw[:3, 3]

    head, la, ra = rest_point("Head"), rest_point("LAnkle"), rest_point("RAnkle")
    if head is not None and la is not None and ra is not None:
        out["rest_height"] = float(head[2] - min(la[2], ra[2]))
    return out
