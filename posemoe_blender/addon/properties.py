"""The add-on's settings (``Scene.posemoe``) and runtime state (``WindowManager.posemoe_job``).

The settings of the conversion itself are made from :class:`~posemoe_blender.options.ConvertOptions`'
declarations (:func:`option_properties`); the rest (video, target rig, clip range switch, batch,
export) are the panel's own.
"""

from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty,
                       IntProperty, PointerProperty, StringProperty)
from bpy.types import PropertyGroup

from ..retargeting.presets import PRESETS
from ..options import DEFAULT_FBX_PRESET, LIFTER_ITEMS, Option, option_default, option_fields, option_type

PRESET_ITEMS = [(key, m.name, m.description) for key, m in PRESETS.items()] + [
    ("CUSTOM", "Custom mapping", "The mapping edited below (save/load it as JSON)")]

EXPORT_ITEMS = [
    ("unity", "Unity", "Y up, metres declared in the file (Unity shows scale 1)"),
    ("unreal", "Unreal", "Z up, metres declared in the file (Unreal converts to centimetres)"),
    ("blender", "Blender", "Blender's own FBX defaults (round-trips exactly)"),
]

#: The 2D-to-3D lifter (``ConvertOptions.lifter``; the identifiers are its values).
LIFTER_ITEMS = list(LIFTER_ITEMS)


def option_property(name: str, option: Option):
    """The panel property of :class:`~posemoe_blender.options.ConvertOptions` field ``name``:
    an enum for an ``Option`` with ``items``, else a bool, int or float property of the field's
    type, with the option's label, tooltip, bounds and default (``panel_default`` where set)."""
    default = option.panel_default if option.panel_default is not None else option_default(name)
    common = dict(name=option.label, description=option.description, default=default)
    if option.items:
        return EnumProperty(items=list(option.items), **common)
    kind = option_type(name)
    if kind is bool:
        return BoolProperty(**common)
    bounds = {key: kind(value) for key, value in (("min", option.minimum), ("max", option.maximum))
              if value is not None}
    if kind is int:
        return IntProperty(subtype=option.subtype, **bounds, **common)
    if kind is float:
        return FloatProperty(subtype=option.subtype, **bounds, **common)
    raise TypeError(f"ConvertOptions.{name}: no panel property for {kind.__name__} values")


def option_properties() -> dict:
    """``{property name: property}`` for each ConvertOptions field on the panel (a label)."""
    return {option.prop or name: option_property(name, option)
            for name, option in option_fields() if option.label}


def _is_armature(self, obj):
    return obj.type == 'ARMATURE'


def _armature_chosen(self, context):
    """A newly chosen armature gets the shipped bone map that fits its bone names (as
    ``convert --target-rig`` picks one), unless a custom mapping is being edited."""
    from ..retargeting.presets import detect_mapping
    obj = self.armature
    if obj is None or obj.type != 'ARMATURE' or self.preset == 'CUSTOM':
        return
    found = detect_mapping(obj.data.bones.keys())
    for key, mapping in PRESETS.items():
        if mapping is found:
            self.preset = key
            return


class PoseMoEMappingItem(PropertyGroup):
    """One row of the custom mapping: our bone -> a bone of the target rig."""

    source: StringProperty(name="Bone", description="Bone of the generated rig")
    target: StringProperty(name="Target", description="Bone of the target rig (empty: not mapped)")


class PoseMoEBatchRow(PropertyGroup):
    """One clip of the last batch report."""

    video: StringProperty()
    status: StringProperty()
    frames: IntProperty()
    seconds: FloatProperty()
    detail: StringProperty()


class PoseMoESettings(PropertyGroup):
    """What the panel edits (saved with the .blend)."""

    video: StringProperty(name="Video", subtype='FILE_PATH',
                          description="Video of one person (mp4, mov, avi, mkv, webm)")
    target: EnumProperty(name="Target", items=[
        ('NEW', "New armature", "Build the generated rig (53 bones: body, feet, toes, fingers) for this clip"),
        ('EXISTING', "Existing armature", "Retarget onto an armature in the scene")],
        default='NEW')
    armature: PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature,
                              update=_armature_chosen,
                              description="The rig to animate (choosing one picks the rig preset that fits its bone names)")
    preset: EnumProperty(name="Rig preset", items=PRESET_ITEMS, default='RIGIFY_METARIG',
                         description="How our bones map to the target rig's bones")
    custom_mapping: CollectionProperty(type=PoseMoEMappingItem)
    custom_root: StringProperty(name="Root bone",
                                description="Target bone receiving the root motion (empty: the bone mapped to Hips)")
    custom_name: StringProperty(name="Name", default="Custom")
    match_rest: BoolProperty(name="Match rest pose", default=True,
                             description="Turn each mapped bone to our T-pose first (for A-pose rigs such as the Unreal mannequins)")

    use_range: BoolProperty(name="Frame range", default=False,
                            description="Convert only part of the clip")
    # clip_start, clip_end (ConvertOptions.start, .end; counted while use_range is on) and the
    # other conversion options: option_properties(), added below
    start_frame: IntProperty(name="Start frame", default=1,
                             description="Scene frame where the animation starts")
    set_scene_range: BoolProperty(name="Set scene range and fps", default=True,
                                  description="Set the scene's frame range and frame rate to the clip")

    show_footage: BoolProperty(name="Show footage behind the rig", default=True,
                               description="After converting, add a camera that sees the rig as the video does, "
                                           "with the video as its background, in step with the Action "
                                           "(look through it: Numpad 0)")
    push_to_nla: BoolProperty(name="Push to NLA", default=False,
                              description="Put the new Action on its own NLA track instead of making it the active Action")

    batch_folder: StringProperty(name="Clips folder", subtype='DIR_PATH')
    batch_mode: EnumProperty(name="Batch output", items=[
        ('ACTIONS', "Actions", "One Action per clip on the chosen rig (skips clips that already have one)"),
        ('FBX', "FBX files", "One FBX per clip in the output folder (skips existing files)")],
        default='ACTIONS')
    batch_output: StringProperty(name="Output folder", subtype='DIR_PATH')
    batch_rows: CollectionProperty(type=PoseMoEBatchRow)

    export_preset: EnumProperty(name="FBX preset", items=EXPORT_ITEMS, default=DEFAULT_FBX_PRESET)
    export_path: StringProperty(name="FBX file", subtype='FILE_PATH', default="//animation.fbx")


PoseMoESettings.__annotations__.update(option_properties())


class PoseMoEJobState(PropertyGroup):
    """Runtime state shown by the panel (not saved: lives on the WindowManager)."""

    running: BoolProperty(default=False)
    kind: StringProperty(default="")
    progress: FloatProperty(default=0.0, min=0.0, max=1.0)
    status: StringProperty(default="")
    cancel_requested: BoolProperty(default=False)
    last_message: StringProperty(default="")
    device_info: StringProperty(default="")
    deps_running: BoolProperty(default=False)
    deps_status: StringProperty(default="")
    deps_missing: StringProperty(default="")


CLASSES = (PoseMoEMappingItem, PoseMoEBatchRow, PoseMoESettings, PoseMoEJobState)


@bpy.app.handlers.persistent
def reset_job_state(*_args):
    """After loading a file: no job of this session runs for it (a file saved during a
    conversion would otherwise show it as still running)."""
    state = getattr(bpy.context.window_manager, "posemoe_job", None)
    if state is not None:
        state.running = state.deps_running = state.cancel_requested = False
        state.status = ""


def register_props():
    bpy.types.Scene.posemoe = PointerProperty(type=PoseMoESettings)
    bpy.types.WindowManager.posemoe_job = PointerProperty(type=PoseMoEJobState)
    bpy.app.handlers.load_post.append(reset_job_state)


def unregister_props():
    while reset_job_state in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(reset_job_state)
    del bpy.types.WindowManager.posemoe_job
    del bpy.types.Scene.posemoe
