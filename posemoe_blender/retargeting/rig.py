"""Put a solved animation on a rig in the scene: the one place that builds a rig and its Action.

:func:`build_rig_action` is used by ``convert`` (:mod:`.scene`), the add-on (after its worker
has finished, on the main thread) and the benchmarks. It either builds the generated rig
(``target='NEW'``) or retargets onto an armature already in the scene (``'EXISTING'``: a
Rigify, Mixamo, Unreal or custom rig, with a :class:`~posemoe_blender.retargeting.presets.BoneMapping`),
and keys one new Action. Everything it creates (armature, Action, NLA track, changed scene
range) is recorded in a :class:`SceneChanges`; if anything fails half-way it is undone, so a
failed conversion leaves the file exactly as it was.

:func:`load_target_rig` opens a rig file (``.blend`` or ``.fbx``) for ``convert --target-rig``.
The math lives in :mod:`posemoe_blender.retargeting.solve` (no bpy); this module only reads the
rig's rest layout and writes keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

import bpy
import numpy as np
from bpy_extras.anim_utils import action_ensure_channelbag_for_slot

from .solve import TargetRig, quaternions_to_euler, retarget
from .presets import PRESETS, BoneMapping, detect_mapping
from ..errors import PoseMoEError
from ..output.armature import build_armature
from ..output.keyframes import fill_fcurve, fps_settings, write_action

#: Custom properties on every Action the add-on writes (used to skip converted clips).
SOURCE_PROP = "posemoe_source"
TARGET_PROP = "posemoe_target"


@dataclass
class RigRequest:
    """Where and how one clip's animation goes (the panel's values, or convert's options)."""

    video: str                             # the source clip (recorded on the Action)
    target: str = "NEW"                    # NEW | EXISTING
    armature: Optional[str] = None         # object name for EXISTING
    mapping: Optional[BoneMapping] = None  # for EXISTING
    match_rest: bool = True
    root_motion: bool = True
    start_frame: int = 1
    set_scene_range: bool = True
    push_to_nla: bool = False
    action_name: str = ""
    rig_name: str = ""                     # NEW: the armature's name (default PoseMoE_<action>)

    def __post_init__(self):
        if not self.action_name:
            self.action_name = os.path.splitext(os.path.basename(self.video))[0] or "PoseMoE"
        if not self.rig_name:
            self.rig_name = f"PoseMoE_{self.action_name}"


#: The add-on's older name for :class:`RigRequest`.
ApplyRequest = RigRequest


# --------------------------------------------------------------------------- rest layout

def target_rig_from_object(obj) -> TargetRig:
    """The rest layout of an armature object (bones in ``obj.data.bones`` order)."""
    if obj is None or obj.type != 'ARMATURE':
        raise PoseMoEError("choose an armature object as the target")
    bones = list(obj.data.bones)
    index = {b.name: i for i, b in enumerate(bones)}
    n = len(bones)
    mats = np.empty((n, 3, 3))
    heads = np.empty((n, 3))
    tails = np.empty((n, 3))
    for i, b in enumerate(bones):
        m = np.array(b.matrix_local)
        mats[i] = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0, keepdims=True)
        heads[i] = b.head_local
        tails[i] = b.tail_local
    parents = [index[b.parent.name] if b.parent else -1 for b in bones]
    return TargetRig(names=[b.name for b in bones], parents=parents, rest_matrices=mats,
                     rest_heads=heads, rest_tails=tails, matrix_world=np.array(obj.matrix_world))


# --------------------------------------------------------------------------- undo record

@dataclass
class SceneChanges:
    """What an apply step created or changed, so it can be rolled back on failure."""

    scene: object
    ids: list = field(default_factory=list)        # (collection name, ID) created
    tracks: list = field(default_factory=list)     # (animation_data owner, track)
    anim_data_created: list = field(default_factory=list)
    assignments: list = field(default_factory=list)  # (obj, action, slot) before

    def __post_init__(self):
        s = self.scene
        self.saved = (s.frame_start, s.frame_end, s.frame_current, s.render.fps, s.render.fps_base)
        vl = bpy.context.view_layer
        self.active = vl.objects.active
        self.selected = [o for o in vl.objects if o.select_get()]

    def rollback(self):
        for owner, track in reversed(self.tracks):
            try:
                owner.animation_data.nla_tracks.remove(track)
            except (ReferenceError, RuntimeError, AttributeError):
                pass
        for obj, action, slot in self.assignments:
            try:
                obj.animation_data.action = action
                if action is not None and slot is not None:
                    obj.animation_data.action_slot = slot
            except (ReferenceError, RuntimeError, AttributeError):
                pass
        for obj in self.anim_data_created:
            try:
                obj.animation_data_clear()
            except ReferenceError:
                pass
        for kind, idblock in reversed(self.ids):
            try:
                getattr(bpy.data, kind).remove(idblock)
            except (ReferenceError, RuntimeError):
                pass
        s = self.scene
        s.frame_start, s.frame_end, _, s.render.fps, s.render.fps_base = self.saved
        s.frame_current = self.saved[2]
        vl = bpy.context.view_layer
        try:
            vl.update()
            for o in vl.objects:
                if o is not None:
                    o.select_set(o in self.selected)
            vl.objects.active = self.active
        except (ReferenceError, RuntimeError):
            pass


# --------------------------------------------------------------------------- writing


def _rotation_channels(pbone, quat: np.ndarray):
    """(data path suffix, (T, k) values) for a pose bone's rotation mode."""
    mode = pbone.rotation_mode
    if mode == 'QUATERNION':
        return "rotation_quaternion", quat
    if mode == 'AXIS_ANGLE':
        q = quat * np.where(quat[:, :1] < 0, -1.0, 1.0)
        angle = 2 * np.arccos(np.clip(q[:, 0], -1, 1))
        s = np.sqrt(np.maximum(1 - q[:, 0] ** 2, 0))
        axis = np.where(s[:, None] > 1e-9, q[:, 1:] / np.maximum(s, 1e-12)[:, None], [0.0, 1.0, 0.0])
        return "rotation_axis_angle", np.concatenate([angle[:, None], axis], axis=1)
    return "rotation_euler", quaternions_to_euler(quat, mode)


def _new_action(changes: SceneChanges, name: str, obj, video: str):
    action = bpy.data.actions.new(name)  # never overwrites: Blender picks a free name
    changes.ids.append(("actions", action))
    action[SOURCE_PROP] = os.path.abspath(video)
    action[TARGET_PROP] = obj.name
    slot = action.slots.new(id_type='OBJECT', name=obj.name)
    return action, slot


def _assign_or_push(changes: SceneChanges, obj, action, slot, start_frame: int, push: bool):
    if obj.animation_data is None:
        obj.animation_data_create()
        changes.anim_data_created.append(obj)
    ad = obj.animation_data
    if push:
        track = ad.nla_tracks.new()
        changes.tracks.append((obj, track))
        track.name = action.name
        strip = track.strips.new(action.name, int(start_frame), action)
        if strip.action_slot != slot:
            strip.action_slot = slot
    else:
        changes.assignments.append((obj, ad.action, ad.action_slot))
        ad.action = action
        ad.action_slot = slot


def _scene_range(scene, start: int, frames: int, fps: float):
    scene.frame_start = int(start)
    scene.frame_end = int(start + frames - 1)
    scene.render.fps, scene.render.fps_base = fps_settings(fps)


def apply_new_rig(context, request: RigRequest, animation, changes: SceneChanges) -> dict:
    """Build the generated rig for ``animation`` and key a new Action on it."""
    obj = build_armature(animation, request.rig_name, context.scene.collection)
    changes.ids.append(("objects", obj))
    changes.ids.append(("armatures", obj.data))
    action = write_action(obj, animation, request.action_name, start_frame=request.start_frame)
    changes.ids.append(("actions", action))
    action[SOURCE_PROP] = os.path.abspath(request.video)
    action[TARGET_PROP] = obj.name
    slot = obj.animation_data.action_slot
    if request.push_to_nla:
        obj.animation_data.action = None
        _assign_or_push(changes, obj, action, slot, request.start_frame, True)
    if not request.set_scene_range:  # write_action set them: put the saved ones back
        s = context.scene
        s.frame_start, s.frame_end, _, s.render.fps, s.render.fps_base = changes.saved
    return {"object": obj.name, "action": action.name, "bones": len(animation.bone_names),
            "missing": []}


def _constrained(obj, names) -> list:
    """Keyed bones whose pose also depends on constraints (on the bone or an ancestor) or on
    non-default rotation inheritance: the numpy solution assumes plain parenting there."""
    out = []
    for name in names:
        pb = obj.pose.bones.get(name)
        if pb is None:
            continue
        chain = [pb] + list(pb.parent_recursive)
        if any(c.enabled and c.influence > 0 for p in chain for c in p.constraints) or \
                any(not p.bone.use_inherit_rotation for p in chain):
            out.append(name)
    return out


def _normalized(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=0, keepdims=True)


def _correct_for_constraints(context, obj, res, curves, loc_curves, frames, max_iter: int = 8,
                             tol_deg: float = 0.01) -> float:
    """Fix the keys against the rig as Blender evaluates it (constraints included).

    Per iteration: evaluate every frame, compare each keyed bone's posed orientation
    (``PoseBone.matrix``) with the intended one (``res.pose_matrices``) and correct its local
    rotation by the difference (``L_new = L @ actual^T @ intended``), and the root bone's
    location by its head's offset; write the keys; repeat until the worst error is below
    ``tol_deg`` (each pass settles at least one more level of the hierarchy). Returns the worst
    remaining error in degrees (bones that are themselves constrained cannot follow)."""
    from .solve import _matrix_to_quat, _quat_to_matrix
    scene = context.scene
    keep = scene.frame_current
    T, K = res.rotations.shape[:2]
    L = _quat_to_matrix(res.rotations)                   # (T, K, 3, 3) current keys
    loc = None if res.root_location is None else np.array(res.root_location, float)
    root_pb = obj.pose.bones[res.root_bone] if (loc is not None and loc_curves) else None
    root_k = res.bone_names.index(res.root_bone) if res.root_bone in res.bone_names else None
    rest_head = np.array(obj.data.bones[res.root_bone].head_local) if root_pb is not None else None
    worst = 0.0
    try:
        for _ in range(max_iter):
            worst = 0.0
            L_new = L.copy()
            for t, f in enumerate(frames):
                scene.frame_set(int(f))
                for k, name in enumerate(res.bone_names):
                    actual = _normalized(np.array(obj.pose.bones[name].matrix)[:3, :3])
                    delta = actual.T @ res.pose_matrices[t, k]
                    worst = max(worst, float(np.degrees(np.arccos(np.clip((np.trace(delta) - 1) / 2, -1, 1)))))
                    L_new[t, k] = L[t, k] @ delta
                if root_pb is not None:
                    actual = _normalized(np.array(root_pb.matrix)[:3, :3])
                    Lr = L[t, root_k] if root_k is not None else np.eye(3)
                    miss = rest_head + res.root_offset[t] - np.array(root_pb.head)
                    worst = max(worst, float(np.degrees(np.linalg.norm(miss))))  # 1 degree per 17.45 mm (radians in metres)
                    loc[t] = loc[t] + (actual @ Lr.T).T @ miss
            if worst < tol_deg:
                break
            L = L_new
            quats = _matrix_to_quat(L)
            for k, name in enumerate(res.bone_names):
                _, values = _rotation_channels(obj.pose.bones[name], quats[:, k])
                for i, fc in enumerate(curves[name]):
                    _set_values(fc, frames, values[:, i])
            if root_pb is not None:
                for i, fc in enumerate(loc_curves):
                    _set_values(fc, frames, loc[:, i])
    finally:
        scene.frame_set(keep)
    return worst


def _set_values(fc, frames, values):
    co = np.empty((len(frames), 2), dtype=np.float32)
    co[:, 0] = frames
    co[:, 1] = values
    fc.keyframe_points.foreach_set("co", co.ravel())
    fc.update()


def apply_to_rig(context, request: RigRequest, animation, changes: SceneChanges) -> dict:
    """Retarget ``animation`` onto the existing armature and key a new Action on it."""
    obj = bpy.data.objects.get(request.armature or "")
    rig = target_rig_from_object(obj)
    res = retarget(animation, rig, request.mapping, match_rest=request.match_rest,
                   root_motion=request.root_motion)
    action, slot = _new_action(changes, request.action_name, obj, request.video)
    bag = action_ensure_channelbag_for_slot(action, slot)
    T = res.rotations.shape[0]
    frames = np.arange(request.start_frame, request.start_frame + T, dtype=np.float64)
    curves, loc_curves = {}, []
    for k, name in enumerate(res.bone_names):
        pb = obj.pose.bones[name]
        prop, values = _rotation_channels(pb, res.rotations[:, k])
        curves[name] = [fill_fcurve(bag, f'pose.bones["{name}"].{prop}', i, name, frames, values[:, i])
                        for i in range(values.shape[1])]
    warnings = []
    if res.root_bone is not None and res.root_location is not None:
        if obj.data.bones[res.root_bone].use_connect:
            warnings.append(f"root bone {res.root_bone} is connected to its parent: no root motion")
        else:
            loc_curves = [fill_fcurve(bag, f'pose.bones["{res.root_bone}"].location', i, res.root_bone,
                                  frames, res.root_location[:, i]) for i in range(3)]
    for bone, props in request.mapping.settings.items():  # e.g. Rigify's IK/FK switches -> FK
        pb = obj.pose.bones.get(bone)
        for prop, value in props.items():
            if pb is not None and prop in pb.keys():
                fill_fcurve(bag, f'pose.bones["{bone}"]["{prop}"]', 0, bone, frames, np.full(T, value))
    _assign_or_push(changes, obj, action, slot, request.start_frame, False)
    constrained = _constrained(obj, res.bone_names + ([res.root_bone] if loc_curves else []))
    if constrained:  # e.g. a generated Rigify rig: check against Blender's own evaluation
        err = _correct_for_constraints(context, obj, res, curves, loc_curves, frames)
        if err > 1.0:
            warnings.append(f"constraints keep some bones up to {err:.0f} degrees off "
                            "(for Rigify: set IK/FK to FK)")
    if request.push_to_nla:
        prev_action, prev_slot = changes.assignments[-1][1:]
        obj.animation_data.action = prev_action
        if prev_action is not None and prev_slot is not None:
            obj.animation_data.action_slot = prev_slot
        changes.assignments.pop()
        _assign_or_push(changes, obj, action, slot, request.start_frame, True)
    if request.set_scene_range:
        _scene_range(context.scene, request.start_frame, T, animation.fps)
    return {"object": obj.name, "action": action.name, "bones": len(res.bone_names),
            "missing": res.missing, "scale": res.scale, "warnings": warnings,
            "constrained": constrained}


def build_rig_action(context, request: RigRequest, animation) -> dict:
    """Build the generated rig (``request.target == 'NEW'``) or retarget onto the existing
    armature ``request.armature`` with ``request.mapping``, and key one new Action from
    ``animation``, in one step; on any error nothing is left behind.

    Returns ``{"object", "action"}`` (the names Blender gave them), ``"bones"`` (keyed),
    ``"missing"`` (mapped bones the rig lacks) and, when retargeting, ``"scale"``,
    ``"warnings"`` and ``"constrained"``."""
    if request.target == 'EXISTING':
        obj = bpy.data.objects.get(request.armature or "")
        if obj is None or obj.type != 'ARMATURE':
            raise PoseMoEError(f"the target armature {request.armature!r} is gone")
    changes = SceneChanges(context.scene)
    try:
        if request.target == 'EXISTING':
            return apply_to_rig(context, request, animation, changes)
        return apply_new_rig(context, request, animation, changes)
    except BaseException:
        changes.rollback()
        raise


#: The add-on's older name for :func:`build_rig_action`.
apply_result = build_rig_action


def export_clip_fbx(context, animation, action_name: str, path: str, preset: str) -> str:
    """Write one clip's generated rig + Action to ``path`` (FBX) without changing the scene:
    the temporary rig, its Action and the scene settings are removed/restored afterwards."""
    from ..output.fbx import export_fbx
    from ..quiet import python_stdout_silenced
    changes = SceneChanges(context.scene)
    try:
        obj = build_armature(animation, f"PoseMoE_{action_name}", context.scene.collection)
        changes.ids.append(("objects", obj))
        changes.ids.append(("armatures", obj.data))
        action = write_action(obj, animation, action_name, start_frame=1)
        changes.ids.append(("actions", action))
        with python_stdout_silenced():
            return export_fbx(path, obj, preset=preset)
    finally:
        changes.rollback()


def converted_actions(video: str, target_name: str) -> list:
    """Actions this add-on already made from ``video`` for the object ``target_name``."""
    src = os.path.abspath(video)
    return [a for a in bpy.data.actions
            if a.get(SOURCE_PROP) == src and a.get(TARGET_PROP) == target_name]


RIG_SUFFIXES = (".blend", ".fbx")


def check_rig_file(path: str) -> str:
    """The absolute path of an existing ``.blend`` / ``.fbx`` rig file, else PoseMoEError."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not path.lower().endswith(RIG_SUFFIXES):
        raise PoseMoEError(f"{path}: the target rig must be a .blend or .fbx file")
    if not os.path.isfile(path):
        raise PoseMoEError(f"{path}: no such file")
    return path


def choose_armature(objects, mapping: Optional[BoneMapping] = None, name: Optional[str] = None):
    """The armature object to animate among ``objects``: the one called ``name``; else the
    only armature; else the one with the most bones of ``mapping`` (any shipped map when
    None). PoseMoEError when there is none or the choice is unclear."""
    arms = [o for o in objects if o.type == 'ARMATURE']
    if name:
        for o in arms:
            if o.name == name:
                return o
        raise PoseMoEError(f"no armature called {name!r} (armatures: {', '.join(o.name for o in arms) or 'none'})")
    if not arms:
        raise PoseMoEError("the target rig file has no armature")
    if len(arms) == 1:
        return arms[0]
    maps = [mapping] if mapping is not None else list(PRESETS.values())

    def hits(o):
        names = set(o.data.bones.keys())
        return max(sum(t in names for t in m.bones.values()) for m in maps)

    ranked = sorted(arms, key=hits, reverse=True)
    if hits(ranked[0]) == 0 or hits(ranked[0]) == hits(ranked[1]):
        raise PoseMoEError(f"the target rig file has several armatures "
                           f"({', '.join(o.name for o in arms)}): cannot tell which to animate")
    return ranked[0]


def load_target_rig(path: str, mapping: Optional[BoneMapping] = None, armature: Optional[str] = None):
    """Open a rig file as the current scene and return ``(armature object, mapping)``.

    ``.blend``: the file is opened (its whole scene, so a saved ``--blend`` keeps the
    character); ``.fbx``: imported into an empty factory scene with Blender's FBX importer
    (centimetre files such as Mixamo's come in with their 0.01 armature scale). ``mapping``
    None: the shipped bone map that matches the rig's bone names best
    (:func:`~posemoe_blender.retargeting.presets.detect_mapping`). PoseMoEError for a file
    that cannot be read, no armature, or no map that fits."""
    from ..quiet import python_stdout_silenced
    path = check_rig_file(path)
    try:
        with python_stdout_silenced():
            if path.lower().endswith(".blend"):
                bpy.ops.wm.open_mainfile(filepath=path, load_ui=False)
            else:
                bpy.ops.wm.read_factory_settings(use_empty=True)
                bpy.ops.import_scene.fbx(filepath=path)
    except RuntimeError as exc:
        raise PoseMoEError(f"{path}: cannot read the rig ({str(exc).strip().splitlines()[-1]})") from None
    obj = choose_armature(bpy.context.scene.objects, mapping, armature)
    if mapping is None:
        mapping = detect_mapping(obj.data.bones.keys())
        if mapping is None:
            raise PoseMoEError(f"{path}: no shipped bone map fits {obj.name}'s bones "
                               f"(e.g. {', '.join(list(obj.data.bones.keys())[:4])}): "
                               "give --preset NAME or a mapping JSON file")
    names = set(obj.data.bones.keys())
    if not any(t in names for t in mapping.bones.values()):
        raise PoseMoEError(f"{path}: {obj.name} has none of the bones of the {mapping.name!r} map "
                           f"(e.g. {', '.join(list(mapping.bones.values())[:4])})")
    return obj, mapping


__all__ = ["RigRequest", "ApplyRequest", "build_rig_action", "apply_result", "export_clip_fbx",
           "target_rig_from_object", "converted_actions",
           "load_target_rig", "choose_armature", "check_rig_file", "SceneChanges"]
