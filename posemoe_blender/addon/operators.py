"""Operators: thin wrappers around :mod:`.controller`, :mod:`.deps` and the export layer.

Imported when the add-on registers: bpy, the standard library and numpy only; the pipeline
and the rig layer are imported by the controller when a conversion runs.
"""

from __future__ import annotations

import os
import sys

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy.types import Operator
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..retargeting.presets import PRESETS, load_mapping, mapping_from_dict, save_mapping
from ..solving.skeleton import RIG_BONE_NAMES  # every bone of the generated rig, feet and toes included
from ..errors import PoseMoEError
from . import deps
from .controller import RUNNING, BatchController, ConvertController, choose_backend, get_prefs, site_packages_dir


def _state(context):
    return context.window_manager.posemoe_job


#: The pollers of conversions started with ``wait=False`` that are still running (each is
#: registered with ``bpy.app.timers``; kept here so that scripts and tests can find them).
POLLERS: list = []


class TimerPoller:
    """Steps a started controller from a ``bpy.app.timers`` callback until it is done.

    Calling the poller is one timer tick: it returns the seconds until the next tick, or None
    when the job is over (Blender then drops the timer). ``result`` is the final state."""

    interval = 0.1

    def __init__(self, ctrl, report=print):
        self.ctrl = ctrl
        self.result = None
        self._report = report

    def __call__(self):
        context = bpy.context
        try:
            result = self.ctrl.step(context)
        except Exception as exc:  # a bug: stop polling, keep Blender usable
            self.ctrl.cancel()
            state = _state(context)
            state.running, state.cancel_requested, state.status = False, False, ""
            state.last_message = f"{type(exc).__name__}: {exc}"
            result = 'FAILED'
        if result == RUNNING:
            return self.interval
        self.result = result
        self._report(f"PoseMoE: {self.ctrl.message or result.lower()}")
        if self in POLLERS:
            POLLERS.remove(self)
        return None


class _JobOperator:
    """invoke (the panel's button): modal, timer polling, ESC cancels; execute: blocking
    (scripts), or with ``wait=False`` started and polled by a ``bpy.app.timers`` callback
    (:class:`TimerPoller`), so a script or another add-on does not block Blender."""

    controller_class = None

    @classmethod
    def poll(cls, context):
        return not _state(context).running

    def _done(self, ctrl, result):
        level = {'FINISHED': 'INFO', 'CANCELLED': 'WARNING'}.get(result, 'ERROR')
        self.report({level}, ctrl.message or result.lower())
        if getattr(ctrl, "rows", None):
            print(ctrl.report())
        return {'FINISHED'} if result == 'FINISHED' else {'CANCELLED'}

    def _abort(self, context, message):
        state = _state(context)
        state.running, state.cancel_requested, state.status = False, False, ""
        state.last_message = message
        try:
            context.workspace.status_text_set(None)
        except (AttributeError, RuntimeError):
            pass
        self.report({'ERROR'}, message)
        return {'CANCELLED'}

    def execute(self, context):
        if not getattr(self, "wait", True):
            return self._start_polled(context)
        try:
            ctrl = self.controller_class.from_context(context)
            result = ctrl.run_blocking(context)
        except PoseMoEError as exc:
            if _state(context).running:
                return self._abort(context, str(exc))
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        return self._done(ctrl, result)

    def _start_polled(self, context):
        try:
            ctrl = self.controller_class.from_context(context)
            ctrl.start(context)
        except PoseMoEError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        poller = TimerPoller(ctrl)
        POLLERS.append(poller)
        bpy.app.timers.register(poller, first_interval=poller.interval)
        self.report({'INFO'}, "started; a timer applies the result when it is ready")
        return {'FINISHED'}

    def invoke(self, context, event):
        try:
            self._ctrl = self.controller_class.from_context(context)
            self._ctrl.start(context)
        except PoseMoEError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        if event.type == 'ESC' and event.value == 'PRESS':
            self._ctrl.cancel()
            return {'RUNNING_MODAL'}
        if event.type != 'TIMER' or event.timer != self._timer:
            return {'PASS_THROUGH'}
        try:
            result = self._ctrl.step(context)
        except Exception as exc:  # a bug: stop polling, keep Blender usable
            self._ctrl.cancel()
            context.window_manager.event_timer_remove(self._timer)
            return self._abort(context, f"{type(exc).__name__}: {exc}")
        if result == RUNNING:
            return {'PASS_THROUGH'}
        context.window_manager.event_timer_remove(self._timer)
        return self._done(self._ctrl, result)


class POSEMOE_OT_convert(_JobOperator, Operator):
    """Convert the video into a new Action (in the background; Esc cancels)"""

    bl_idname = "posemoe.convert"
    bl_label = "Convert"
    bl_options = {'REGISTER', 'UNDO'}
    controller_class = ConvertController

    wait: BoolProperty(name="Wait", default=True, options={'SKIP_SAVE'},
                       description="Scripts: wait for the result (off: start it and return; a timer applies it)")


class POSEMOE_OT_batch(_JobOperator, Operator):
    """Convert every clip in the folder (in the background; Esc cancels)"""

    bl_idname = "posemoe.batch"
    bl_label = "Convert Folder"
    bl_options = {'REGISTER', 'UNDO'}
    controller_class = BatchController

    wait: BoolProperty(name="Wait", default=True, options={'SKIP_SAVE'},
                       description="Scripts: wait for the result (off: start it and return; a timer applies it)")


class POSEMOE_OT_cancel(Operator):
    """Stop the running conversion, batch or installation"""

    bl_idname = "posemoe.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        state = _state(context)
        state.cancel_requested = True
        return {'FINISHED'}


class POSEMOE_OT_export_fbx(Operator):
    """Export the armature and its active Action as FBX with the chosen preset"""

    bl_idname = "posemoe.export_fbx"
    bl_label = "Export FBX"

    def execute(self, context):
        from ..output.fbx import export_fbx
        from ..quiet import python_stdout_silenced
        settings = context.scene.posemoe
        obj = settings.armature if settings.target == 'EXISTING' else context.active_object
        if obj is None or obj.type != 'ARMATURE':
            self.report({'ERROR'}, "select the armature to export (or choose it as the target)")
            return {'CANCELLED'}
        path = bpy.path.abspath(settings.export_path)
        if not path.lower().endswith(".fbx"):
            path += ".fbx"
        try:
            with python_stdout_silenced():
                path = export_fbx(path, obj, preset=settings.export_preset)
        except PoseMoEError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        self.report({'INFO'}, f"wrote {path} ({settings.export_preset} preset)")
        return {'FINISHED'}


def _preset_items(self, context):
    return [('BLANK', "Blank", "Our bones, no targets")] + [
        (k, m.name, m.description) for k, m in PRESETS.items()]


class POSEMOE_OT_mapping_from_preset(Operator):
    """Fill the custom mapping from a preset (then edit it)"""

    bl_idname = "posemoe.mapping_from_preset"
    bl_label = "Start From Preset"
    bl_options = {'REGISTER', 'UNDO'}

    preset: EnumProperty(name="Preset", items=_preset_items)

    def execute(self, context):
        settings = context.scene.posemoe
        mapping = PRESETS.get(self.preset)
        settings.custom_mapping.clear()
        for name in RIG_BONE_NAMES:
            row = settings.custom_mapping.add()
            row.source = name
            row.target = mapping.bones.get(name, "") if mapping else ""
        settings.custom_root = (mapping.root or "") if mapping else ""
        settings.custom_name = mapping.name + " (edited)" if mapping else "Custom"
        settings.preset = 'CUSTOM'
        return {'FINISHED'}


class POSEMOE_OT_mapping_save(Operator, ExportHelper):
    """Save the custom mapping as a JSON file"""

    bl_idname = "posemoe.mapping_save"
    bl_label = "Save Mapping"
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    def execute(self, context):
        settings = context.scene.posemoe
        try:
            mapping = mapping_from_dict({"name": settings.custom_name,
                                         "bones": {r.source: r.target for r in settings.custom_mapping},
                                         "root": settings.custom_root or None}, "custom mapping")
            path = save_mapping(self.filepath, mapping)
        except PoseMoEError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        self.report({'INFO'}, f"saved {path}")
        return {'FINISHED'}


class POSEMOE_OT_mapping_load(Operator, ImportHelper):
    """Load a custom mapping from a JSON file"""

    bl_idname = "posemoe.mapping_load"
    bl_label = "Load Mapping"
    bl_options = {'REGISTER', 'UNDO'}
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    def execute(self, context):
        settings = context.scene.posemoe
        try:
            mapping = load_mapping(self.filepath)
        except PoseMoEError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        settings.custom_mapping.clear()
        for name in RIG_BONE_NAMES:
            row = settings.custom_mapping.add()
            row.source, row.target = name, mapping.bones.get(name, "")
        settings.custom_root = mapping.root or ""
        settings.custom_name = mapping.name
        settings.preset = 'CUSTOM'
        return {'FINISHED'}


def _view_through_camera(context) -> None:
    """Look through the scene camera in every 3D View (none in a background Blender)."""
    wm = context.window_manager
    for window in getattr(wm, "windows", []):
        for area in window.screen.areas:
            if area.type == 'VIEW_3D':
                area.spaces.active.region_3d.view_perspective = 'CAMERA'
                area.tag_redraw()


class POSEMOE_OT_footage(Operator):
    """Show the source video behind the active converted armature (a camera with the footage as its background, in step with the Action), or remove it"""

    bl_idname = "posemoe.footage"
    bl_label = "Footage"
    bl_options = {'REGISTER', 'UNDO'}

    action: EnumProperty(name="Action", items=[
        ('ADD', "Show", "Add (or renew) the footage camera of the active armature"),
        ('REMOVE', "Remove", "Remove the active armature's footage camera")], default='ADD')

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and obj.type == 'ARMATURE'

    def execute(self, context):
        from ..output import footage  # bpy only
        obj = context.active_object
        if self.action == 'REMOVE':
            n = footage.remove_footage(context, obj)
            self.report({'INFO'}, f"removed {n} footage camera(s) of {obj.name}" if n
                        else f"{obj.name} has no footage camera")
            return {'FINISHED'}
        try:
            info = footage.footage_for_object(obj)
            out = footage.attach_footage(context, obj, info)
        except PoseMoEError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        _view_through_camera(context)
        self.report({'INFO'}, f"{os.path.basename(info.video)} behind {obj.name} through {out['camera']}"
                    + (f" (retimed {info.video_fps:.3g} -> {info.fps:.3g} fps)" if out["retimed"] else ""))
        return {'FINISHED'}


class POSEMOE_OT_detect_device(Operator):
    """Find out which runtime and device (CPU or GPU) the pipeline would use"""

    bl_idname = "posemoe.detect_device"
    bl_label = "Detect GPU"

    def execute(self, context):
        state = _state(context)
        try:
            backend, python = choose_backend(get_prefs(context))
        except PoseMoEError as exc:
            state.device_info = str(exc)
            self.report({'WARNING'}, str(exc))
            return {'CANCELLED'}
        if backend == "remote":
            from .remote import check_python
            info = check_python(python)
            state.device_info = info["error"] or (
                f"GPU: {info['gpu']} (external Python)" if info["gpu"] else "no CUDA GPU: CPU (external Python)")
        else:
            state.device_info = deps.device_summary()
        self.report({'INFO'}, state.device_info)
        return {'FINISHED'}


class POSEMOE_OT_check_dependencies(Operator):
    """Check which of the pipeline's packages Blender's Python can import"""

    bl_idname = "posemoe.check_dependencies"
    bl_label = "Check"

    def execute(self, context):
        deps.add_site_dir(site_packages_dir())
        missing = deps.missing_modules(refresh=True)
        state = _state(context)
        state.deps_missing = ", ".join(missing)
        state.deps_status = f"missing: {', '.join(missing)}" if missing else "all dependencies found"
        self.report({'WARNING' if missing else 'INFO'}, state.deps_status)
        return {'FINISHED'}


class POSEMOE_OT_check_python(Operator):
    """Check that the external Python has the pipeline's packages"""

    bl_idname = "posemoe.check_python"
    bl_label = "Check External Python"

    def execute(self, context):
        from .remote import check_python
        prefs = get_prefs(context)
        python = bpy.path.abspath(getattr(prefs, "python_path", "") or "")
        info = check_python(python)
        state = _state(context)
        if info["error"]:
            state.device_info = info["error"]
        elif info["missing"]:
            state.device_info = f"Python {info['version']} lacks: {', '.join(info['missing'])}"
        else:
            state.device_info = (f"Python {info['version']}: all packages found; "
                                 + (f"GPU: {info['gpu']}" if info["gpu"] else "no CUDA GPU (CPU)"))
        self.report({'INFO' if info["ok"] else 'WARNING'}, state.device_info)
        return {'FINISHED'} if info["ok"] else {'CANCELLED'}


OFFLINE_MESSAGE = ("Online access is disabled, so nothing can be downloaded: enable "
                   "Preferences > System > Network > Allow Online Access (or start Blender with "
                   "--online-mode), or set an external Python in these preferences instead")


class POSEMOE_OT_install_dependencies(Operator):
    """Install torch, mediapipe, scipy and OpenCV with pip into this add-on's user folder (downloaded, or from the wheel folder set in the preferences)"""

    bl_idname = "posemoe.install_dependencies"
    bl_label = "Install Dependencies"

    @classmethod
    def poll(cls, context):
        return not _state(context).deps_running

    def _start(self, context):
        prefs = get_prefs(context)
        wheels = bpy.path.abspath(getattr(prefs, "wheel_folder", "") or "")
        if wheels and not os.path.isdir(wheels):
            self.report({'ERROR'}, f"{wheels}: the wheel folder set in the preferences does not exist")
            return None
        if not wheels and not bpy.app.online_access:
            self.report({'ERROR'}, OFFLINE_MESSAGE)
            return None
        missing = deps.missing_modules(refresh=True)
        if not missing:
            self._nothing_missing = True
            self.report({'INFO'}, "all dependencies are already installed")
            return None
        self._target = site_packages_dir(create=True)
        cmds = deps.pip_commands(sys.executable, self._target, deps.requirements_for(missing),
                                 find_links=wheels or None)
        self._installer = deps.PipInstaller(cmds).start()
        state = _state(context)
        state.deps_running, state.cancel_requested = True, False
        state.deps_status = f"installing {', '.join(deps.requirements_for(missing))}"
        return self._installer

    def _finish(self, context):
        state = _state(context)
        state.deps_running, state.cancel_requested = False, False
        inst = self._installer
        if inst.ok:
            deps.add_site_dir(self._target)
            missing = deps.missing_modules(refresh=True)
            state.deps_missing = ", ".join(missing)
            state.deps_status = ("installed; restart Blender if an import still fails" if not missing
                                 else f"installed, but still missing: {', '.join(missing)}")
            self.report({'INFO'}, state.deps_status)
            return {'FINISHED'}
        state.deps_status = f"installation failed: {inst.error}"
        self.report({'ERROR'}, state.deps_status)
        return {'CANCELLED'}

    def _not_started(self):
        return {'FINISHED'} if getattr(self, "_nothing_missing", False) else {'CANCELLED'}

    def execute(self, context):
        if self._start(context) is None:
            return self._not_started()
        self._installer.wait()
        return self._finish(context)

    def invoke(self, context, event):
        if self._start(context) is None:
            return self._not_started()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        if event.type != 'TIMER' or event.timer != self._timer:
            return {'PASS_THROUGH'}
        state = _state(context)
        if state.cancel_requested:
            self._installer.cancel()
            state.cancel_requested = False
        state.deps_status = self._installer.status
        for window in context.window_manager.windows:
            for area in window.screen.areas:
                area.tag_redraw()
        if not self._installer.finished:
            return {'PASS_THROUGH'}
        context.window_manager.event_timer_remove(self._timer)
        return self._finish(context)


CLASSES = (POSEMOE_OT_convert, POSEMOE_OT_batch, POSEMOE_OT_cancel, POSEMOE_OT_export_fbx,
           POSEMOE_OT_mapping_from_preset, POSEMOE_OT_mapping_save, POSEMOE_OT_mapping_load,
           POSEMOE_OT_footage,
           POSEMOE_OT_detect_device, POSEMOE_OT_check_dependencies, POSEMOE_OT_check_python,
           POSEMOE_OT_install_dependencies)
