"""Export the generated rig and its Action to FBX, atomically, with per-engine presets.

All presets export the armature only (``object_types={'ARMATURE'}``, ``use_selection``), no
leaf bones (``add_leaf_bones=False``; Unity/Unreal do not need the ``_end`` bones), deform bones
only, and the assigned Action baked on every frame (``bake_anim_simplify_factor=0``; NLA strips
and other Actions are ignored). The exporter writes each bone node's default transform from
the pose at the current frame, and importers use it as the rest pose when there is no bind pose
(there is none without a skinned mesh); :func:`export_fbx` therefore evaluates the rig in its
rest pose while writing (a temporary rest key one frame before the scene range, removed after),
so the FBX's default pose is the rig's rest T-pose. Bones keep io_scene_fbx's default axes (primary ``Y``,
secondary ``X``), which its importer reads back unchanged. Custom properties are exported
(``use_custom_props``) so each bone carries its ``posemoe_length`` (FBX has no bone lengths).
The animation take (FBX AnimStack) is named after the assigned Action (the clip's name), not
"Scene": io_scene_fbx names a single baked take after the scene, so the scene is renamed while
writing (and back after).

Presets (the axis pair is how Blender's Z-up, -Y-front space is written; every importer reads
the axis system and unit from the FBX GlobalSettings and converts):

* ``"unity"``: ``axis_forward='-Z'``, ``axis_up='Y'`` (io_scene_fbx's default, Unity's Y-up
  axes) and ``apply_scale_options='FBX_SCALE_UNITS'`` with ``apply_unit_scale=True``: the
  file says "1 unit = 1 m" (UnitScaleFactor 100) and node transforms stay unscaled, so Unity
  shows "1m (File)" with scale 1 instead of 100/0.01 (Unity's Convert Units). The
  experimental "Apply Transform" (``bake_space_transform``) is left off: it is known to break
  armature animation.
* ``"unreal"``: ``axis_forward='-Y'``, ``axis_up='Z'`` (Blender's own axes: Unreal is Z-up
  too, and its importer's "Convert Scene" handles the handedness) and
  ``apply_scale_options='FBX_SCALE_UNITS'``: metres declared in the header, which Unreal's
  "Convert Scene Unit" turns into centimetres without a 100x scale on the armature root.
* ``"blender"``: io_scene_fbx's defaults (``'-Z'``/``'Y'``, ``FBX_SCALE_NONE``), the settings
  Blender's own FBX importer round-trips exactly.
"""

from __future__ import annotations

import contextlib
import os

import bpy
from bpy_extras.anim_utils import animdata_get_channelbag_for_assigned_slot

from ..errors import PoseMoEError
from ..fileio import atomic_output

#: Axis and scale settings per preset (see the module docstring for the reasons).
PRESETS = {
    "unity": dict(axis_forward='-Z', axis_up='Y', apply_unit_scale=True,
                  apply_scale_options='FBX_SCALE_UNITS'),
    "unreal": dict(axis_forward='-Y', axis_up='Z', apply_unit_scale=True,
                   apply_scale_options='FBX_SCALE_UNITS'),
    "blender": dict(axis_forward='-Z', axis_up='Y', apply_unit_scale=True,
                    apply_scale_options='FBX_SCALE_NONE'),
}

#: Settings shared by every preset.
COMMON = dict(
    use_selection=True, object_types={'ARMATURE'}, global_scale=1.0,
    add_leaf_bones=False, use_armature_deform_only=True, primary_bone_axis='Y',
    secondary_bone_axis='X', armature_nodetype='NULL', bake_space_transform=False,
    bake_anim=True, bake_anim_use_all_bones=True, bake_anim_use_nla_strips=False,
    bake_anim_use_all_actions=False, bake_anim_force_startend_keying=True, bake_anim_step=1.0,
    bake_anim_simplify_factor=0.0, use_custom_props=True, path_mode='AUTO',
    embed_textures=False, batch_mode='OFF', use_metadata=True, check_existing=False,
)


def export_fbx(filepath: str | os.PathLike, armature_obj: bpy.types.Object,
               preset: str = "unity", take_name: str | None = None) -> str:
    """Write ``armature_obj`` (and its assigned Action, every frame of the scene range) to
    ``filepath`` as FBX; returns the absolute path. The take is named ``take_name`` (default:
    the assigned Action's name; the scene's name without an Action).

    The file is written to a temporary name in the same folder and renamed into place, so an
    interrupted export never leaves a half-written FBX. Selection and the active object are
    changed (only the armature ends up selected). Raises :class:`PoseMoEError` for an unknown
    preset, an unwritable/missing folder or a failed export.
    """
    if preset not in PRESETS:
        raise PoseMoEError(f"unknown FBX preset {preset!r} (choose from {', '.join(PRESETS)})")
    if armature_obj is None or armature_obj.type != 'ARMATURE':
        raise PoseMoEError("export_fbx needs an armature object")
    path = os.path.abspath(os.fspath(filepath))
    view_layer = bpy.context.view_layer
    with atomic_output(path, ".fbx") as tmp:
        if bpy.context.object is not None and bpy.context.object.mode != 'OBJECT':
            bpy.ops.object.mode_set(mode='OBJECT')
        for obj in view_layer.objects:
            obj.select_set(False)
        armature_obj.hide_set(False)
        armature_obj.select_set(True)
        view_layer.objects.active = armature_obj
        anim = armature_obj.animation_data
        if take_name is None and anim is not None and anim.action is not None:
            take_name = anim.action.name
        try:
            with _rest_pose_while_writing(armature_obj), _scene_named(take_name):
                result = bpy.ops.export_scene.fbx(filepath=tmp, **COMMON, **PRESETS[preset])
        except RuntimeError as exc:  # operator errors
            raise PoseMoEError(f"cannot write {path}: {str(exc).strip().splitlines()[-1]}") from None
        if 'FINISHED' not in result or os.path.getsize(tmp) == 0:
            raise PoseMoEError(f"cannot write {path}: the FBX exporter failed")
    return path


@contextlib.contextmanager
def _scene_named(name: str | None):
    """Rename the current scene to ``name`` (the exporter's take name) for the block. Scene
    names are unique: another scene holding the name is renamed aside for the block."""
    scene = bpy.context.scene
    if not name or scene.name == name:
        yield
        return
    old = scene.name
    other = bpy.data.scenes.get(name)
    if other is not None:
        other.name = name + ".posemoe-aside"
    scene.name = name
    try:
        yield
    finally:
        scene.name = old
        if other is not None:
            other.name = name


@contextlib.contextmanager
def _rest_pose_while_writing(obj: bpy.types.Object):
    """Make the current frame show the rest pose without changing the baked frame range.

    Adds a rest key (identity rotation, zero location/scale 1) one frame before
    ``scene.frame_start`` to every F-curve of ``obj``'s assigned Action, moves the current
    frame there, and on exit removes those keys and restores the frame. Does nothing if the
    Action already has keys at or before that frame.
    """
    scene = bpy.context.scene
    anim = obj.animation_data
    bag = animdata_get_channelbag_for_assigned_slot(anim) if anim and anim.action else None
    frame = scene.frame_start - 1
    curves = list(bag.fcurves) if bag is not None else []
    if not curves or any(fc.range()[0] <= frame + 0.5 for fc in curves if len(fc.keyframe_points)):
        yield
        return
    back = scene.frame_current
    added = []
    try:
        for fc in curves:
            prop = fc.data_path.rsplit(".", 1)[-1]
            value = {"rotation_quaternion": 1.0 if fc.array_index == 0 else 0.0,
                     "scale": 1.0}.get(prop, 0.0)
            fc.keyframe_points.insert(frame, value, options={'FAST'})
            added.append(fc)
        for fc in added:
            fc.update()
        scene.frame_set(frame)
        yield
    finally:
        for fc in added:
            points = fc.keyframe_points
            for i in range(len(points)):
                if abs(points[i].co[0] - frame) < 1e-3:
                    points.remove(points[i], fast=True)
                    break
            fc.update()
        scene.frame_set(back)
