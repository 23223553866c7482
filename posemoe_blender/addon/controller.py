"""Conversion and batch control: start a worker, poll it, apply its result (main thread).

The operators in :mod:`.operators` only forward timer and ESC events here, and the tests
drive the same objects (``start``, then ``step`` until it is no longer ``'RUNNING'``). State
the panel shows lives on ``WindowManager.posemoe_job``; the job objects live on the
controller, which lives on the running operator (or its timer).

Imported when the add-on registers, so it imports only bpy, the standard library and numpy:
the rig layer (:mod:`posemoe_blender.retargeting.rig`, which needs SciPy) is imported inside
the functions that apply a finished conversion, after the dependencies are installed.
"""

from __future__ import annotations

import os
import time
from typing import Optional

import bpy

from ..retargeting.presets import POSEMOE, BoneMapping, get_preset, mapping_from_dict
from ..errors import PoseMoEError
from ..options import options_from_panel
from ..fileio import ensure_output_folder
from . import deps
from .remote import RemoteJob
from .worker import ThreadJob


def _rig_layer():
    """:mod:`posemoe_blender.retargeting.rig`, imported on first use (it needs SciPy)."""
    from ..retargeting import rig as retarget
    return retarget


def mapping_from_settings(settings) -> BoneMapping:
    """The preset chosen in the panel, or the custom mapping edited there."""
    if settings.preset != 'CUSTOM':
        return get_preset(settings.preset)
    return mapping_from_dict({"name": settings.custom_name or "Custom",
                              "bones": {row.source: row.target for row in settings.custom_mapping},
                              "root": settings.custom_root or None}, "custom mapping")

RUNNING, FINISHED, CANCELLED, FAILED = "RUNNING", "FINISHED", "CANCELLED", "FAILED"

_PKG = __package__.rpartition(".")[0]   # the posemoe_blender package (maybe inside bl_ext...)
#: The add-on's module name as Blender knows it (the extension's package for an extension).
ADDON_ID = ".".join(_PKG.split(".")[:3]) if _PKG.startswith("bl_ext.") else _PKG


def get_prefs(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def site_packages_dir(create: bool = False) -> str:
    """The add-on's own folder for pip-installed dependencies (per user, kept on upgrades)."""
    if ADDON_ID.startswith("bl_ext."):
        return bpy.utils.extension_path_user(ADDON_ID, path="site-packages", create=create)
    return bpy.utils.user_resource('CONFIG', path=os.path.join(ADDON_ID, "site-packages"),
                                   create=create)


def choose_backend(prefs) -> tuple[str, Optional[str]]:
    """``("thread", None)`` when Blender's Python has the dependencies (and the preferences
    allow it), else ``("remote", python)``; raises PoseMoEError explaining what to do."""
    mode = getattr(prefs, "backend", 'AUTO')
    python = bpy.path.abspath(getattr(prefs, "python_path", "") or "")
    if mode == 'BLENDER' or (mode == 'AUTO' and not python):
        missing = deps.missing_modules()
        if missing:
            raise PoseMoEError(
                f"Blender's Python lacks {', '.join(missing)}: install them in Preferences > "
                "Add-ons > PoseMoE (Install dependencies), or set an external Python there")
        return "thread", None
    if mode == 'AUTO' and not deps.missing_modules():
        return "thread", None
    if not python:
        raise PoseMoEError("set the external Python in Preferences > Add-ons > PoseMoE")
    if not os.path.isfile(python):
        raise PoseMoEError(f"{python}: the external Python set in the preferences does not exist")
    return "remote", python


def options_from_settings(settings, clip_range: bool = True):
    """``(ConvertOptions, ignored)`` from the panel's settings: convert (``clip_range``: the
    clip range when its switch is on) and batch (``clip_range`` False: whole clips); see
    :func:`posemoe_blender.options.options_from_panel`."""
    return options_from_panel(settings, clip_range)


def request_from_settings(settings, video: str):
    """The :class:`~posemoe_blender.retargeting.rig.RigRequest` for the panel's settings."""
    req = _rig_layer().RigRequest(video=video, target=settings.target, match_rest=settings.match_rest,
                       root_motion=settings.root_motion, start_frame=settings.start_frame,
                       set_scene_range=settings.set_scene_range, push_to_nla=settings.push_to_nla)
    if settings.target == 'EXISTING':
        obj = settings.armature
        if obj is None or obj.type != 'ARMATURE':
            raise PoseMoEError("choose the target armature (or switch Target to New armature)")
        req.armature = obj.name
        req.mapping = mapping_from_settings(settings)
        names = set(obj.data.bones.keys())
        if not any(t in names for t in req.mapping.bones.values()):
            raise PoseMoEError(f"{obj.name} has none of the bones of the {req.mapping.name!r} "
                               "mapping: pick another preset or edit a custom mapping")
    return req


def start_job(backend: str, python: Optional[str], video: str, options, label: str):
    if backend == "remote":
        return RemoteJob(label).start(python, video, options)
    return ThreadJob(label).start(video, options)


def _set_status(context, text: Optional[str]) -> None:
    try:
        ws = context.workspace
        if ws is not None:
            ws.status_text_set(text)
    except (AttributeError, RuntimeError, TypeError):
        pass


def _redraw(context) -> None:
    wm = context.window_manager
    for window in getattr(wm, "windows", []):
        for area in window.screen.areas:
            if area.type in {'VIEW_3D', 'PREFERENCES'}:
                area.tag_redraw()


class ConvertController:
    """One clip: video -> worker -> (main thread) new Action on a new or existing rig."""

    kind = "convert"

    def __init__(self, request, options, backend: str = "thread",
                 python: Optional[str] = None, ignored=()):
        self.request = request
        self.options = options
        self.backend = backend
        self.python = python
        self.ignored = list(ignored)
        self.job = None
        self.result: dict = {}
        self.message = ""
        self.show_footage = True  # the panel's "Show footage behind the rig"

    @classmethod
    def from_context(cls, context) -> "ConvertController":
        settings = context.scene.posemoe
        video = bpy.path.abspath(settings.video) if settings.video else ""
        if not video:
            raise PoseMoEError("choose a video file first")
        if not os.path.isfile(video):
            raise PoseMoEError(f"{video}: no such file")
        request = request_from_settings(settings, video)
        options, ignored = options_from_settings(settings)
        backend, python = choose_backend(get_prefs(context))
        ctrl = cls(request, options, backend, python, ignored)
        ctrl.show_footage = bool(getattr(settings, "show_footage", True))
        return ctrl

    # -- lifecycle
    def start(self, context) -> None:
        state = context.window_manager.posemoe_job
        if state.running:
            raise PoseMoEError("a conversion is already running")
        self.job = start_job(self.backend, self.python, self.request.video, self.options,
                             os.path.basename(self.request.video))
        state.running, state.kind, state.progress = True, self.kind, 0.0
        state.cancel_requested = False
        state.status = f"{os.path.basename(self.request.video)}: starting"

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def step(self, context) -> str:
        """Poll the worker; apply the result when it is done. Returns the state."""
        state = context.window_manager.posemoe_job
        if state.cancel_requested and not self.job.cancel_requested:
            self.cancel()
        name = os.path.basename(self.request.video)
        if not self.job.finished:
            state.progress = self.job.fraction
            state.status = f"{name}: {'cancelling' if self.job.cancel_requested else self.job.status}"
            _set_status(context, f"PoseMoE: {state.status}  (Esc to cancel)")
            _redraw(context)
            return RUNNING
        return self._finish(context, self._complete(context))

    def run_blocking(self, context, timeout: Optional[float] = None) -> str:
        """Start and wait (scripts, tests and the operator's ``execute``)."""
        self.start(context)
        t0 = time.perf_counter()
        while True:
            self.job.wait(0.05)
            result = self.step(context)
            if result != RUNNING:
                return result
            if timeout is not None and time.perf_counter() - t0 > timeout:
                self.cancel()

    def _complete(self, context) -> str:
        job = self.job
        if job.cancelled:
            self.message = f"{os.path.basename(self.request.video)}: cancelled, nothing was changed"
            return CANCELLED
        if job.error:
            self.message = job.error
            return FAILED
        try:
            self.result = _rig_layer().build_rig_action(context, self.request, job.result.animation)
        except PoseMoEError as exc:
            self.message = str(exc)
            return FAILED
        self.result.update(job.result.info)
        notes = []
        footage_note = self._footage(context, job.result)
        if footage_note:
            notes.append(footage_note)
        if self.result.get("missing"):
            notes.append(f"not on this rig: {', '.join(self.result['missing'])}")
        notes += self.result.get("warnings", [])
        if self.ignored:
            notes.append(f"not implemented yet, ignored: {', '.join(self.ignored)}")
        lifter = job.result.info.get("lifter")
        self.message = (f"{self.result['action']} on {self.result['object']}: "
                        f"{job.result.animation.num_frames} frames at {job.result.info.get('fps', 0):.3g} fps"
                        + (f", lifter: {lifter}" if lifter else "")
                        + (f" ({'; '.join(notes)})" if notes else ""))
        return FINISHED

    def _footage(self, context, result) -> Optional[str]:
        """Record the source video on the new Action and, when the panel asks for it, show it
        behind the rig (:mod:`posemoe_blender.output.footage`, bpy only); a warning or None."""
        from ..output.footage import apply_footage, footage_info
        info = result.info
        source = footage_info(self.request.video, result.animation, video_start=info.get("start", 0),
                              video_fps=info.get("source_fps") or info.get("fps") or 0.0,
                              frame_start=self.request.start_frame, width=info.get("width", 0),
                              height=info.get("height", 0), focal_px=info.get("focal_px", 0.0))
        return apply_footage(context, self.result, source, attach=self.show_footage)

    def _finish(self, context, result: str) -> str:
        state = context.window_manager.posemoe_job
        state.running, state.cancel_requested = False, False
        state.progress = 1.0 if result == FINISHED else 0.0
        state.status = ""
        state.last_message = self.message
        _set_status(context, None)
        _redraw(context)
        return result


class BatchController:
    """A folder of clips: one Action per clip on a rig, or one FBX per clip.

    The clips, the rows, the table and the summary are the batch core's
    (:mod:`posemoe_blender.batch.plan`); exporting FBX files, the rows also go to the output
    folder's ``report.json`` as each clip is decided, as ``batch`` writes it. The clips are
    converted one at a time by the add-on's own jobs (a thread, or the external Python)."""

    kind = "batch"

    def __init__(self, clips, mode: str, template, options, backend="thread",
                 python=None, out_dir: str = "", export_preset: str = "unity"):
        self.clips = list(clips)
        self.mode = mode
        self.template = template
        self.options = options
        self.backend, self.python = backend, python
        self.out_dir = out_dir
        self.export_preset = export_preset
        self.rows: list[dict] = []
        self.index = 0
        self.job = None
        self.t0 = 0.0
        self.rig_name = template.armature
        self.message = ""
        self.cancelled = False
        self.record = None  # the output folder's BatchReport (FBX mode), from start()
        self.record_error = ""

    @classmethod
    def from_context(cls, context) -> "BatchController":
        from ..batch.plan import expand_clips
        settings = context.scene.posemoe
        folder = bpy.path.abspath(settings.batch_folder) if settings.batch_folder else ""
        if not folder or not os.path.isdir(folder):
            raise PoseMoEError(f"{folder or '(none)'}: choose the folder of clips")
        clips = expand_clips(folder)
        out_dir = ""
        if settings.batch_mode == 'FBX':
            out_dir = bpy.path.abspath(settings.batch_output) if settings.batch_output else ""
            if not out_dir:
                raise PoseMoEError("choose the output folder for the FBX files")
            ensure_output_folder(out_dir)
        template = request_from_settings(settings, clips[0])
        options, _ = options_from_settings(settings, clip_range=False)
        backend, python = choose_backend(get_prefs(context))
        return cls(clips, settings.batch_mode, template, options, backend, python, out_dir,
                   settings.export_preset)

    def start(self, context) -> None:
        state = context.window_manager.posemoe_job
        if state.running:
            raise PoseMoEError("a conversion is already running")
        state.running, state.kind, state.progress = True, self.kind, 0.0
        state.cancel_requested = False
        context.scene.posemoe.batch_rows.clear()
        if self.mode == 'FBX':
            from ..batch.plan import BatchReport
            self.record = BatchReport(os.path.abspath(self.out_dir), len(self.clips))

    def cancel(self) -> None:
        self.cancelled = True
        if self.job is not None:
            self.job.cancel()

    def _fbx_path(self, clip: str) -> str:
        return os.path.join(self.out_dir, os.path.splitext(os.path.basename(clip))[0] + ".fbx")

    def _skip(self, clip: str) -> Optional[str]:
        if self.mode == 'FBX':
            path = self._fbx_path(clip)
            return path if os.path.exists(path) else None
        if self.rig_name:
            done = _rig_layer().converted_actions(clip, self.rig_name)
        else:
            src = os.path.abspath(clip)
            done = [a for a in bpy.data.actions if a.get("posemoe_source") == src]
        return done[0].name if done else None

    def _row(self, context, clip, status, frames=0, seconds=0.0, error="", detail=""):
        """One row (:func:`~posemoe_blender.batch.plan.row_for`; its ``fbx``: the FBX written or
        skipped, or the Action made or found); in the panel's list and, but for a clip cancelled
        (still to do), in the output folder's report."""
        from ..batch.plan import Job, node_name, row_for
        row = row_for(Job(self.index, clip, detail), status, frames=frames, seconds=seconds, error=error,
                      node=node_name())
        self.rows.append(row)
        item = context.scene.posemoe.batch_rows.add()
        item.video, item.status, item.frames = os.path.basename(clip), status, frames
        item.seconds, item.detail = seconds, error or detail
        if self.record is not None and status != "cancelled":
            self._write_record(self.record.add, self.index, row)

    def _write_record(self, write, *args) -> None:
        """``write(*args)`` (a :class:`BatchReport` method); a folder that cannot take the
        report is said once, in the final message."""
        try:
            write(*args)
        except PoseMoEError as exc:
            self.record_error = self.record_error or str(exc)

    def step(self, context) -> str:
        state = context.window_manager.posemoe_job
        if state.cancel_requested and not self.cancelled:
            self.cancel()
        n = len(self.clips)
        if self.job is not None and self.job.finished:
            self._handle(context)
            self.job = None
            self.index += 1
        if self.job is None:
            while self.index < n and not self.cancelled:
                clip = self.clips[self.index]
                skipped = self._skip(clip)
                if not skipped:
                    break
                self._row(context, clip, "skipped", detail=skipped)
                self.index += 1
            if self.cancelled or self.index >= n:
                return self._finish(context)
            clip = self.clips[self.index]
            self.t0 = time.perf_counter()
            try:
                self.job = start_job(self.backend, self.python, clip, self.options, os.path.basename(clip))
            except PoseMoEError as exc:
                self._row(context, clip, "failed", error=str(exc))
                self.index += 1
                return RUNNING
        frac = (self.index + (self.job.fraction if self.job else 0.0)) / max(n, 1)
        state.progress = frac
        clip_name = os.path.basename(self.clips[min(self.index, n - 1)])
        state.status = (f"clip {min(self.index + 1, n)}/{n} {clip_name}: "
                        f"{'cancelling' if self.cancelled else (self.job.status if self.job else '')}")
        _set_status(context, f"PoseMoE batch: {state.status}  (Esc to cancel)")
        _redraw(context)
        return RUNNING

    def _handle(self, context) -> None:
        job, clip = self.job, self.clips[self.index]
        seconds = time.perf_counter() - self.t0
        if job.cancelled:
            self._row(context, clip, "cancelled", seconds=seconds)
            return
        if job.error:
            self._row(context, clip, "failed", seconds=seconds, error=job.error)
            return
        anim = job.result.animation
        frames = int(job.result.info.get("frames", anim.num_frames))
        stem = os.path.splitext(os.path.basename(clip))[0]
        rig = _rig_layer()
        try:
            if self.mode == 'FBX':
                detail = rig.export_clip_fbx(context, anim, stem, self._fbx_path(clip), self.export_preset)
            else:
                req = rig.RigRequest(video=clip, target='EXISTING' if self.rig_name else 'NEW',
                                   armature=self.rig_name, match_rest=self.template.match_rest,
                                   root_motion=self.template.root_motion,
                                   start_frame=self.template.start_frame,
                                   set_scene_range=self.template.set_scene_range and self.index == len(self.clips) - 1,
                                   push_to_nla=self.template.push_to_nla)
                if self.rig_name:
                    req.mapping = self.template.mapping if self.template.target == 'EXISTING' else POSEMOE
                out = rig.build_rig_action(context, req, anim)
                bpy.data.actions[out["action"]].use_fake_user = True  # kept even when not assigned
                self.rig_name = out["object"]
                detail = f"{out['action']} on {out['object']}"
        except PoseMoEError as exc:
            self._row(context, clip, "failed", seconds=seconds, error=str(exc))
            return
        self._row(context, clip, "ok", frames=frames, seconds=time.perf_counter() - self.t0, detail=detail)

    def report(self) -> str:
        from ..batch.plan import format_table
        return format_table(self.rows) if self.rows else "no clips"

    def _finish(self, context) -> str:
        from ..batch.plan import totals_line
        state = context.window_manager.posemoe_job
        if self.record is not None:  # a batch cancelled stays unfinished in the report, as on Ctrl-C
            self._write_record(self.record.flush if self.cancelled else self.record.finish)
        self.message = f"batch {'cancelled' if self.cancelled else 'done'}: {totals_line(self.rows)}"
        if self.record_error:
            self.message += f" (no report: {self.record_error})"
        state.running, state.cancel_requested, state.status = False, False, ""
        state.progress = 1.0
        state.last_message = self.message
        _set_status(context, None)
        _redraw(context)
        return CANCELLED if self.cancelled else FINISHED

    def run_blocking(self, context) -> str:
        self.start(context)
        while True:
            if self.job is not None:
                self.job.wait(0.05)
            result = self.step(context)
            if result != RUNNING:
                return result
