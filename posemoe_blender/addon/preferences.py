"""Add-on preferences: which Python and runtime run the pipeline, and the dependency installer.

The extension's platform zips bundle the pipeline's packages (Blender installs their wheels), so
nothing here needs to be done before converting; Install Dependencies (e.g. CUDA torch) and the
external Python stay as options."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty
from bpy.types import AddonPreferences

from . import deps
from .controller import ADDON_ID, site_packages_dir


def runtime_in_use(prefs, missing) -> str:
    """Which Python and lifting runtime a conversion would use with these preferences, in words
    (nothing is imported; the device is known after Detect GPU)."""
    backend = getattr(prefs, "backend", 'AUTO')
    python = bpy.path.abspath(getattr(prefs, "python_path", "") or "")
    if backend == 'EXTERNAL' or (backend == 'AUTO' and missing and python):
        return f"external Python {python or '(not set)'} (torch, CPU or CUDA)"
    if missing:
        return f"nothing yet: Blender's Python lacks {', '.join(missing)}"
    return "Blender's Python, " + deps.runtime_summary(site_packages_dir())


class PoseMoEPreferences(AddonPreferences):
    bl_idname = ADDON_ID

    backend: EnumProperty(name="Run the pipeline with", items=[
        ('AUTO', "Automatic", "Blender's Python when it has the dependencies (the extension bundles them), else the external Python"),
        ('BLENDER', "Blender's Python", "In a background thread inside Blender, with the bundled packages (or those installed below)"),
        ('EXTERNAL', "External Python", "In a separate process started with the Python below")],
        default='AUTO')
    wheel_folder: StringProperty(
        name="Wheel folder", subtype='DIR_PATH',
        description="Install from the wheel files (.whl) in this folder instead of downloading "
                    "(for computers without internet access)")
    python_path: StringProperty(
        name="External Python", subtype='FILE_PATH',
        description="A Python 3 with torch, mediapipe, scipy and OpenCV (e.g. the project's .venv/bin/python, "
                    "or one with CUDA torch)")

    def draw(self, context):
        layout = self.layout
        state = context.window_manager.posemoe_job
        layout.prop(self, "backend")
        missing = deps.missing_modules()
        layout.label(text="In use: " + runtime_in_use(self, missing), icon='INFO')
        if state.device_info:
            layout.label(text=state.device_info)

        box = layout.box()
        box.label(text="Dependencies in Blender's Python", icon='SCRIPT')
        if missing:
            box.label(text=f"Missing: {', '.join(missing)}", icon='ERROR')
        else:
            box.label(text="mediapipe, scipy, OpenCV, numpy and a lifting runtime are available",
                      icon='CHECKMARK')
            box.label(text="Lifting runtime: " + deps.runtime_summary(site_packages_dir()))
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


CLASSES = (PoseMoEPreferences,)
