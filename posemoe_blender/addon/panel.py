"""The 3D View sidebar tab "PoseMoE": convert, retarget, batch and export."""

from __future__ import annotations

import bpy
from bpy.types import Panel

from . import deps


class _Base:
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "PoseMoE"


def _job_box(layout, state, kind):
    """Progress bar + Cancel while a job of ``kind`` runs; the last message otherwise."""
    if state.running and state.kind == kind:
        col = layout.column(align=True)
        col.progress(factor=state.progress, text=state.status or "working...", type='BAR')
        col.operator("posemoe.cancel", text="Cancel (Esc)", icon='CANCEL')
        return True
    return False


class POSEMOE_PT_main(_Base, Panel):
    bl_label = "PoseMoE: Video to Animation"
    bl_idname = "POSEMOE_PT_main"

    def draw(self, context):
        layout = self.layout
        s = context.scene.posemoe
        state = context.window_manager.posemoe_job
        layout.use_property_split = True
        layout.use_property_decorate = False

        missing = deps.missing_modules()
        if missing:
            box = layout.box()
            box.label(text=f"Blender's Python lacks {', '.join(missing)}", icon='ERROR')
            box.label(text="Install them or set an external Python in the add-on preferences")

        layout.prop(s, "video")
        layout.prop(s, "target")
        if s.target == 'EXISTING':
            layout.prop(s, "armature")
            layout.prop(s, "preset")
            layout.prop(s, "match_rest")

        col = layout.column(heading="Clip")
        col.prop(s, "use_range", text="Part of the clip")
        sub = col.column(align=True)
        sub.active = s.use_range
        sub.prop(s, "clip_start", text="First Video Frame")
        sub.prop(s, "clip_end", text="End Video Frame")
        layout.prop(s, "start_frame")
        layout.prop(s, "set_scene_range")

        layout.prop(s, "lifter")
        sub = layout.row()
        sub.active = s.lifter != 'mediapipe'
        sub.prop(s, "landmark_correction")
        row = layout.row(align=True)
        row.prop(s, "device")
        row.operator("posemoe.detect_device", text="", icon='VIEWZOOM')
        if state.device_info:
            layout.label(text=state.device_info, icon='INFO')
        layout.prop(s, "smoothing", slider=True)
        layout.prop(s, "root_motion")
        layout.prop(s, "foot_lock")
        layout.prop(s, "camera")
        layout.prop(s, "hands")
        sub = layout.row()
        sub.active = s.hands  # the palms come from the hands
        sub.prop(s, "hand_rotation")
        layout.prop(s, "push_to_nla")
        layout.prop(s, "show_footage")

        if not _job_box(layout, state, "convert"):
            row = layout.row()
            row.scale_y = 1.4
            row.enabled = not state.running
            row.operator("posemoe.convert", icon='ARMATURE_DATA')
        if state.last_message and not state.running:
            layout.label(text=state.last_message)
        obj = context.active_object
        if obj is not None and obj.type == 'ARMATURE':
            row = layout.row(align=True)
            row.operator("posemoe.footage", text="Show Footage", icon='FILE_MOVIE').action = 'ADD'
            row.operator("posemoe.footage", text="", icon='X').action = 'REMOVE'


class POSEMOE_PT_mapping(_Base, Panel):
    bl_label = "Custom Mapping"
    bl_parent_id = "POSEMOE_PT_main"
    bl_options = {'DEFAULT_CLOSED'}

    @classmethod
    def poll(cls, context):
        s = context.scene.posemoe
        return s.target == 'EXISTING'

    def draw(self, context):
        layout = self.layout
        s = context.scene.posemoe
        row = layout.row(align=True)
        row.operator_menu_enum("posemoe.mapping_from_preset", "preset", text="Start From Preset")
        row.operator("posemoe.mapping_load", text="", icon='FILEBROWSER')
        row.operator("posemoe.mapping_save", text="", icon='FILE_TICK')
        if s.preset != 'CUSTOM':
            layout.label(text="Using a preset; start from it to edit a custom mapping", icon='INFO')
            return
        layout.prop(s, "custom_name")
        arm = s.armature.data if s.armature is not None and s.armature.type == 'ARMATURE' else None
        col = layout.column(align=True)
        for item in s.custom_mapping:
            row = col.row(align=True)
            row.label(text=item.source)
            if arm is not None:
                row.prop_search(item, "target", arm, "bones", text="")
            else:
                row.prop(item, "target", text="")
        if arm is not None:
            layout.prop_search(s, "custom_root", arm, "bones")
        else:
            layout.prop(s, "custom_root")


class POSEMOE_PT_batch(_Base, Panel):
    bl_label = "Batch"
    bl_parent_id = "POSEMOE_PT_main"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        layout = self.layout
        s = context.scene.posemoe
        state = context.window_manager.posemoe_job
        layout.use_property_split = True
        layout.prop(s, "batch_folder")
        layout.prop(s, "batch_mode")
        if s.batch_mode == 'FBX':
            layout.prop(s, "batch_output")
            layout.prop(s, "export_preset")
        else:
            layout.label(text="Actions go on the target above (a new rig: built once)", icon='INFO')
        if not _job_box(layout, state, "batch"):
            row = layout.row()
            row.enabled = not state.running
            row.operator("posemoe.batch", icon='FILE_FOLDER')
        if len(s.batch_rows):
            box = layout.box()
            for r in s.batch_rows:
                icon = {'ok': 'CHECKMARK', 'skipped': 'FORWARD', 'failed': 'ERROR'}.get(r.status, 'CANCEL')
                line = f"{r.video}: {r.status}"
                if r.status == 'ok':
                    line += f", {r.frames} frames, {r.seconds:.1f} s"
                box.label(text=line, icon=icon)
                if r.detail:
                    box.label(text="    " + r.detail[:120])


class POSEMOE_PT_export(_Base, Panel):
    bl_label = "Export FBX"
    bl_parent_id = "POSEMOE_PT_main"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        layout = self.layout
        s = context.scene.posemoe
        layout.use_property_split = True
        layout.prop(s, "export_preset")
        layout.prop(s, "export_path")
        obj = s.armature if s.target == 'EXISTING' else context.active_object
        layout.label(text=f"Armature: {obj.name if obj is not None and obj.type == 'ARMATURE' else '(select one)'}")
        layout.operator("posemoe.export_fbx", icon='EXPORT')


CLASSES = (POSEMOE_PT_main, POSEMOE_PT_mapping, POSEMOE_PT_batch, POSEMOE_PT_export)
