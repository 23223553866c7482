"""Add-on preferences: which Python runs the pipeline, and the dependency installer."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty
from bpy.types import AddonPreferences

from . import deps
from .controller import ADDON_ID, site_packages_dir


class PoseMoEPreferences(AddonPreferences):
    bl_idname = ADDON_ID

    backend: EnumProperty(name="Run the pipeline with", items=[
        ('AUTO', "Automatic", "Blender's Python when it has the dependencies, else the external Python"),
        ('BLENDER', "Blender's Python", "In a background thread inside Blender (install the dependencies below)"),
        ('EXTERNAL', "External Python", "In a separate process started with the Python below")],
        default='AUTO')
    wheel_folder: StringProperty(
        name="Wheel folder", subtype='DIR_PATH',
        description="Install from the wheel files (.whl) in this folder instead of downloading "
                    "(for computers without internet access)")
    python_path: StringProperty(
        name="External Python", subtype='FILE_PATH',
        description="A Python 3 with torch, mediapipe, scipy and OpenCV (e.g. the project's .venv/bin/python)")

    def draw(self, context):
        layout = self.layout
        state = context.window_manager.posemoe_job
        layout.prop(self, "backend")

        box = layout.box()
        box.label(text="Dependencies in Blender's Python", icon='SCRIPT')
        missing = deps.missing_modules()
        if missing:
            box.label(text=f"Missing: {', '.join(missing)}", icon='ERROR')
        else:
            box.label(text="torch, mediapipe, scipy, OpenCV and numpy are available", icon='CHECKMARK')
        box.label(text=f"Installed into: {site_packages_dir()}")
        box.prop(self, "wheel_folder")
        if state.deps_running:
            box.progress(text=state.deps_status[:100] or "installing...", factor=0.5, type='BAR')
            box.operator("posemoe.cancel", text="Cancel", icon='CANCEL')
        else:
            row = box.row()
            row.operator("posemoe.install_dependencies", icon='IMPORT')
            row.operator("posemoe.check_dependencies", icon='FILE_REFRESH')
            if state.deps_status:
                box.label(text=state.deps_status[:160])
        if not bpy.app.online_access and not self.wheel_folder:
            box.label(text="Online access is off: enable it in Preferences > System > Network "
                           "to install, or set a wheel folder", icon='INFO')

        box = layout.box()
        box.label(text="External Python (alternative to installing)", icon='CONSOLE')
        box.prop(self, "python_path")
        box.operator("posemoe.check_python", icon='FILE_REFRESH')
        if state.device_info:
            box.label(text=state.device_info)


CLASSES = (PoseMoEPreferences,)
