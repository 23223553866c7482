"""One clip from video file to FBX / .blend / joints .npz: checks, stages, outputs.

The bpy-free stages run in :func:`posemoe_blender.pipeline.process_clip`; this module checks
the outputs before any work starts, writes them atomically (temporary file + rename, so an
interrupted run never leaves a half-written file) and imports the Blender layer only when an FBX
or .blend is asked for.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .lifting.stage import prepare_lifter
from .pipeline import ClipResult, Progress, process_clip
from .smoothing import filters as smoothing
from .retargeting.presets import BoneMapping
from .solving.kinematics import camera_joints
from .errors import ConversionCancelled, PoseMoEError
from .options import DEFAULT_FBX_PRESET, ConvertOptions
from .fileio import ensure_output_folder, missing_folders, remove_empty_folders
from .joints import JOINT_NAMES, save_npz
from .quiet import python_stdout_silenced


@dataclass
class RigTarget:
    """``convert --target-rig``: the rig file to animate instead of the generated rig.

    ``path``: a ``.blend`` (opened) or ``.fbx`` (imported); ``mapping``: the bone map (None:
    the shipped map that fits the rig's bone names best); ``armature``: the object to animate
    (None: the only armature, or the one the map fits best); ``match_rest``: turn the rig's
    bones to the T-pose first (see :mod:`posemoe_blender.retargeting.solve`)."""

    path: str
    mapping: Optional[BoneMapping] = None
    armature: Optional[str] = None
    match_rest: bool = True

    def __post_init__(self):
        self.path = os.path.abspath(os.path.expanduser(os.fspath(self.path)))
        if not self.path.lower().endswith((".blend", ".fbx")):
            raise PoseMoEError(f"{self.path}: the target rig must be a .blend or .fbx file")
        if not os.path.isfile(self.path):
            raise PoseMoEError(f"{self.path}: no such file")


@dataclass
class Outputs:
    """Where a conversion writes; any may be None (not written). ``rig``: animate that rig
    instead of building the generated one (FBX and .blend only); ``preview``: an .mp4 of the
    footage with the detection and the solved rig drawn on it (:mod:`.core.preview`); ``sheet``: a
    contact sheet .png (a few frames of footage beside the rig from the front and the side)."""

    fbx: Optional[str] = None
    blend: Optional[str] = None
    joints: Optional[str] = None
    overwrite: bool = False
    preset: str = DEFAULT_FBX_PRESET
    rig: Optional[RigTarget] = None
    preview: Optional[str] = None
    sheet: Optional[str] = None
    footage: bool = True  # the .blend shows the video behind the rig (output/footage.py)


def check_output(path: Optional[str], suffix: str, overwrite: bool) -> Optional[str]:
    """Validate one output path before any work starts; create its folder if needed."""
    if path is None:
        return None
    path = os.path.abspath(os.path.expanduser(path))
    if not path.lower().endswith(suffix):
        raise PoseMoEError(f"{path}: output must end with {suffix}")
    if os.path.isdir(path):
        raise PoseMoEError(f"{path}: is a directory, expected a {suffix} file name")
    if os.path.exists(path) and not overwrite:
        raise PoseMoEError(f"{path}: already exists (use --overwrite to replace it)")
    ensure_output_folder(os.path.dirname(path))
    return path


def action_name_for(video_path: str) -> str:
    """The Action (and FBX take) name for a clip: its file name without the extension."""
    return os.path.splitext(os.path.basename(video_path))[0] or "PoseMoE"


def save_joints(path: str, result: ClipResult) -> None:
    """Write the joint-contract .npz for ``convert --save-joints``."""
    from .solving import fingers as fingers_mod
    kp2d = result.keypoints2d
    world3d = result.world3d if result.world3d is not None else np.zeros_like(kp2d)
    if kp2d.shape[0] != result.joints3d.shape[0]:  # --fps-out: keep all arrays on one time base
        kp2d = smoothing.resample(kp2d, result.source_fps, result.fps)
        world3d = smoothing.resample(world3d, result.source_fps, result.fps)
    # hands2d / hands3d (T, 2, 21, 3) [left, right]: pixels + confidence, wrist-relative metres;
    # zeros (confidence 0) where unseen, everywhere with --no-hands
    if result.hands is not None:
        h2, h3 = result.hands.hands2d, result.hands.hands3d
    else:
        h2 = h3 = np.zeros((result.joints3d.shape[0], 2, 21, 3), np.float32)
    if h2.shape[0] != result.joints3d.shape[0]:  # --fps-out: the nearest source frame
        src = smoothing.nearest_frames(result.joints3d.shape[0], result.source_fps, result.fps, h2.shape[0])
        h2, h3 = h2[src], h3[src]
    hands = {"hands2d": h2.astype(np.float32), "hands3d": h3.astype(np.float32)}
    # the fingers as keyed, radians, [left, right] x thumb .. little: finger_flexion (T, 2, 5, 3)
    # (core.hands.finger_flexion), finger_base_flexion / finger_spread (T, 2, 5) (core.hands.
    # finger_bases); a relaxed hand where unseen, everywhere with --no-hands
    T = result.joints3d.shape[0]
    if result.hands is not None:
        angles = result.hands.rig_angles()
        if angles.shape[0] != T:  # --fps-out: resampled like the rig's keys
            angles = fingers_mod.resample_fingers(angles, result.source_fps, result.fps)
    else:
        angles = fingers_mod.relaxed_rig_angles((T, 2))
    hands.update(finger_flexion=angles[..., :3].astype(np.float32),
                 finger_base_flexion=angles[..., 3].astype(np.float32),
                 finger_spread=angles[..., 4].astype(np.float32))
    followed = result.followed or {}
    joints3d = camera_joints(result.animation)  # what the rig shows, in the lifter's frame
    camera = result.animation.camera
    root = result.root * (1.0 if camera is None else float(camera.scale))
    save_npz(path, joints3d=joints3d, root=root.astype(np.float32),
             keypoints2d=kp2d.astype(np.float32), fps=np.float32(result.fps),
             width=np.int32(result.width), height=np.int32(result.height),
             lifter=np.array(result.lifter), detector=np.array("blazepose"),
             world3d=world3d.astype(np.float32),
             followed_box=np.array(followed.get("box", [0, 0, 0, 0]), np.int32),
             followed_frame=np.int32(followed.get("frame", 0)),
             followed_rule=np.array(followed.get("rule", "")), **hands)


def _staging_path(final: str) -> str:
    """A hidden name next to ``final`` where an output waits until every output is ready."""
    folder, name = os.path.split(final)
    return os.path.join(folder, f".posemoe-{os.getpid()}-{name}")


def _cleanup(paths) -> None:
    for path in paths:
        try:
            if path and os.path.exists(path):
                os.unlink(path)
        except OSError:
            pass


class _DeferredInterrupt:
    """Ctrl-C during the Blender stage: remember it, act on it between steps.

    Blender catches a KeyboardInterrupt raised inside its own code (add-on registration
    while ``bpy`` is imported, operators such as the FBX exporter), prints a traceback and
    carries on, so a plain Ctrl-C there would be lost. While this is active (main thread
    only) SIGINT sets a flag; :meth:`check` raises KeyboardInterrupt at safe points, and leaving
    the block raises it unless :attr:`committed` (the outputs were already renamed into place).
    """

    def __init__(self):
        self.hit = False
        self.committed = False
        self._old = None

    def _handler(self, signum, frame):
        self.hit = True

    def __enter__(self) -> "_DeferredInterrupt":
        if threading.current_thread() is threading.main_thread():
            try:
                self._old = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, OSError):
                self._old = None
        return self

    def check(self) -> None:
        if self.hit:
            raise KeyboardInterrupt

    def __exit__(self, exc_type, exc, tb):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        if self.hit and exc_type is None and not self.committed:
            raise KeyboardInterrupt
        return False


def write_blender_outputs(result: ClipResult, action_name: str, fbx: Optional[str],
                          blend: Optional[str], preset: str, timings: dict,
                          checkpoint=lambda: None, rig: Optional[RigTarget] = None,
                          video: str = "", footage: bool = True) -> dict:
    """Build the rig + Action, or retarget onto ``rig`` (``timings["keyframes"]``), export the
    FBX (``timings["export"]``) and save the .blend (``timings["blend"]``) with the Blender
    layer's public functions (``timings["blender_import"]``: importing bpy, once per process).
    The Action records ``video`` (first converted frame, frame rates, the solve's camera); with
    ``footage`` and a .blend, the video is shown behind the rig (:mod:`.blender.footage`).
    Returns :func:`~posemoe_blender.retargeting.rig.build_rig_action`'s summary."""
    t0 = time.perf_counter()
    import bpy  # bpy only when it is needed
    from .output import blend as scene
    from .output.fbx import export_fbx
    from .output.footage import footage_info
    from .solving.root import default_focal_px
    timings["blender_import"] = time.perf_counter() - t0
    checkpoint()
    source = footage_info(video, result.animation, video_start=result.start, video_fps=result.source_fps,
                          width=result.width, height=result.height,
                          focal_px=default_focal_px(result.width, result.height),
                          camera_rotations=getattr(result, "camera_rotations", None)) if video else None
    show = bool(blend and footage and video)
    with python_stdout_silenced():
        t0 = time.perf_counter()
        if rig is None:  # scene + Action (+ footage) only
            out = scene.write_outputs(result.animation, action_name, video=video, footage=source,
                                      show_footage=show)
        else:
            out = scene.write_outputs(result.animation, action_name, video=video, target_rig=rig.path,
                                      mapping=rig.mapping, armature=rig.armature,
                                      match_rest=rig.match_rest, footage=source, show_footage=show)
        obj = bpy.data.objects[out["object"]]
        timings["keyframes"] = time.perf_counter() - t0
        checkpoint()
        if fbx:
            t0 = time.perf_counter()
            export_fbx(fbx, obj, preset=preset)
            timings["export"] = time.perf_counter() - t0
            checkpoint()
        if blend:
            t0 = time.perf_counter()
            scene.save_blend(blend)
            timings["blend"] = time.perf_counter() - t0
    return out


def _process_while_importing_bpy(video: str, options: ConvertOptions,
                                 progress: Optional[Progress]) -> tuple[ClipResult, float]:
    """Run :func:`process_clip` on a worker thread while the main thread imports bpy.

    Importing bpy is a noticeable part of a short conversion (docs/benchmarks.md) and
    Blender must be imported on the main thread; detection does not care which thread it runs on. Ctrl-C
    (which arrives on the main thread) cancels the worker at its next frame and is re-raised.
    Returns the clip result and the seconds the import took (hidden behind detection).

    No shared library may be loaded on the worker while bpy's are: bpy's static initialisers
    (USD) release and retake the GIL while holding the dynamic loader's lock, so a worker that
    holds the GIL and calls ``dlopen`` (importing a C extension: MediaPipe's bindings, or torch
    loading a kernel library) deadlocks both threads (seen with gdb). So the lifter's weights
    are loaded here first, the import starts only once the worker has detected its first frame
    (the detector's libraries are loaded by then), and the worker lifts only after the import.
    """
    cancel = threading.Event()
    detecting = threading.Event()  # the worker has detected a frame (or stopped)
    imported = threading.Event()   # the main thread's import of bpy is over
    box: dict = {}
    prepare_lifter(options)  # here, not on the worker: see above (process_clip finds it cached)

    def guarded(done: int, total: int) -> None:
        if done > 0:
            detecting.set()
        if cancel.is_set():
            raise ConversionCancelled("interrupted")
        if progress:
            progress(done, total)

    def work() -> None:
        try:
            box["result"] = process_clip(video, options, guarded, lift_gate=imported)
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc
        finally:
            detecting.set()

    worker = threading.Thread(target=work, name="posemoe-pipeline", daemon=True)
    worker.start()
    try:
        while not detecting.wait(0.05):
            pass
        with _DeferredInterrupt() as interrupt:  # Blender swallows Ctrl-C raised in its import
            t0 = time.perf_counter()
            import bpy  # noqa: F401  (main thread only)
            from .output import blend as scene  # noqa: F401
            bpy_seconds = time.perf_counter() - t0
            imported.set()
            interrupt.check()
            interrupt.committed = True
        while worker.is_alive():
            worker.join(0.05)
    except BaseException:
        cancel.set()
        imported.set()
        worker.join()
        raise
    if "error" in box:
        raise box["error"]
    return box["result"], bpy_seconds


def convert_clip(video: str, outputs: Outputs, options: ConvertOptions,
                 progress: Optional[Progress] = None) -> dict:
    """Convert one clip; returns a summary dict. Raises PoseMoEError on any user-facing problem.

    All outputs appear together or not at all: each is first written (atomically) under a
    hidden ``.posemoe-<pid>-<name>`` in its folder and the set is renamed into place only when
    every one is complete; an error or Ctrl-C (KeyboardInterrupt) before that removes them, and
    the output folders this call created (still empty) too.
    """
    new_folders = [f for p in (outputs.fbx, outputs.blend, outputs.joints, outputs.preview, outputs.sheet) if p
                   for f in missing_folders(os.path.dirname(os.path.abspath(os.path.expanduser(p))))]
    try:
        return _convert_clip(video, outputs, options, progress)
    except BaseException:
        remove_empty_folders(new_folders)
        raise


def _convert_clip(video: str, outputs: Outputs, options: ConvertOptions,
                  progress: Optional[Progress]) -> dict:
    fbx = check_output(outputs.fbx, ".fbx", outputs.overwrite)
    blend = check_output(outputs.blend, ".blend", outputs.overwrite)
    joints = check_output(outputs.joints, ".npz", outputs.overwrite)
    preview = check_output(outputs.preview, ".mp4", outputs.overwrite)
    sheet = check_output(outputs.sheet, ".png", outputs.overwrite)
    if not (fbx or blend or joints or preview or sheet):
        raise PoseMoEError("nothing to write: give -o FILE.fbx, --blend FILE.blend, --save-joints FILE.npz "
                           "or --preview FILE.mp4")
    if outputs.rig is not None and not (fbx or blend):
        raise PoseMoEError("--target-rig needs -o FILE.fbx or --blend FILE.blend (the animated rig)")
    t_start = time.perf_counter()
    if (fbx or blend) and "bpy" not in sys.modules and threading.current_thread() is threading.main_thread():
        result, bpy_seconds = _process_while_importing_bpy(video, options, progress)
    else:
        result, bpy_seconds = process_clip(video, options, progress), None
    timings = dict(result.timings)
    if bpy_seconds is not None:
        timings["blender_import_overlapped"] = bpy_seconds
    staged = {final: _staging_path(final) for final in (fbx, blend, joints, preview, sheet) if final}
    rig_info: dict = {}
    try:
        with _DeferredInterrupt() as interrupt:
            if joints:
                t0 = time.perf_counter()
                save_joints(staged[joints], result)
                timings["save_joints"] = time.perf_counter() - t0
            if preview:
                from .output.preview import write_preview  # OpenCV: never on the add-on's import path
                t0 = time.perf_counter()
                write_preview(video, staged[preview], result)
                timings["preview"] = time.perf_counter() - t0
                interrupt.check()
            if sheet:
                from .output.preview import write_contact_sheet  # OpenCV, as the preview
                t0 = time.perf_counter()
                write_contact_sheet(video, staged[sheet], result)
                timings["contact_sheet"] = time.perf_counter() - t0
                interrupt.check()
            if fbx or blend:
                rig_info = write_blender_outputs(result, action_name_for(video), staged.get(fbx),
                                                 staged.get(blend), outputs.preset, timings,
                                                 interrupt.check, rig=outputs.rig, video=video,
                                                 footage=outputs.footage)
            interrupt.check()
            for final, tmp in staged.items():
                os.replace(tmp, final)
            interrupt.committed = True
    except OSError as exc:
        raise PoseMoEError(f"cannot write {exc.filename or 'output'}: {exc.strerror or exc}") from None
    except PoseMoEError as exc:  # name the user's file, not its hidden staging name
        message = str(exc)
        for final, tmp in staged.items():
            message = message.replace(tmp, final)
        if message == str(exc):
            raise
        raise type(exc)(message) from None
    finally:
        _cleanup(staged.values())
    elapsed = time.perf_counter() - t_start
    frames = int(result.keypoints2d.shape[0])
    return {
        "video": video, "frames": frames, "frames_out": int(result.joints3d.shape[0]),
        "fps": result.fps, "source_fps": result.source_fps, "lifter": result.lifter,
        "fbx": fbx, "blend": blend, "joints": joints, "preview": preview, "sheet": sheet, "seconds": elapsed,
        "throughput_fps": frames / elapsed if elapsed > 0 else 0.0,
        "gaps": [(g.start + result.start, g.end + result.start) for g in result.gaps],
        "person_gaps": [(g.start + result.start, g.end + result.start)
                        for g in result.gaps if g.whole_person],
        "joint_gaps": [(g.start + result.start, g.end + result.start, [JOINT_NAMES[j] for j in g.joints])
                       for g in result.gaps if not g.whole_person],
        "undetected": result.undetected, "followed": result.followed, "timings": timings,
        "expected_frames": result.expected_frames, "variable_rate": result.variable_rate,
        "rig": rig_info, "camera": camera_info(result),
    }


def camera_info(result) -> dict:
    """What the summary says about the camera: ``{}`` with ``--camera still``, else ``moving``
    (its rotation was removed), ``max_deg`` (the largest turn from the first frame, degrees) and
    ``fallbacks`` ``[(start, end, reason)]`` (video frames held still, end exclusive)."""
    cam = getattr(result, "camera", None)
    if cam is None:
        return {}
    return {"moving": result.camera_rotations is not None, "max_deg": float(cam.angles_deg.max()),
            "fallbacks": [(s + result.start, e + result.start, r) for s, e, r in cam.fallbacks]}


def _ranges(gaps) -> str:
    return ", ".join(f"{s}-{e - 1}" for s, e in gaps)


def summary_line(info: dict) -> str:
    """What ``convert`` prints at the end: one ``note: ...`` line per finding (person followed,
    gaps, truncated file, variable frame rate), then the one-line summary, always last."""
    written = ", ".join(p for p in (info["fbx"], info["blend"], info["joints"], info.get("preview"),
                                    info.get("sheet")) if p)
    line = (f"{os.path.basename(info['video'])}: {info['frames']} frames at {info['source_fps']:.3g} fps "
            f"-> {written} ({info['frames_out']} frames at {info['fps']:.3g} fps, lifter: {info['lifter']}, "
            f"{info['seconds']:.1f} s, {info['throughput_fps']:.1f} frames/s)")
    notes = []
    rig = info.get("rig") or {}
    if rig.get("mapping"):
        notes.append(f"retargeted onto {rig['object']} ({rig['mapping']} bone map, {rig['bones']} bones keyed"
                     + (f"; not on this rig: {', '.join(rig['missing'])}" if rig.get("missing") else "") + ")")
    for warning in rig.get("warnings", []):
        notes.append(warning)
    if info.get("expected_frames", 0) > info["frames"]:
        notes.append(f"the file ended after {info['frames']} frames although it announced "
                     f"{info['expected_frames']} (truncated or damaged?); converted what was there")
    if info.get("variable_rate"):
        notes.append(f"variable frame rate: resampled to a steady {info['source_fps']:.3g} fps "
                     f"({info['frames']} frames)")
    followed = info.get("followed") or {}
    if followed.get("box"):
        x, y, w, h = followed["box"]
        seen = followed.get("people_seen", 1)
        notes.append(f"followed person: {followed.get('rule', 'largest/most central')} at frame "
                     f"{followed.get('frame', 0)}, box (x={x}, y={y}, w={w}, h={h})"
                     + (f" of {seen} people seen" if seen > 1 else "")
                     + (f"; another person ignored in {followed['rejected']} frames"
                        if followed.get("rejected") else ""))
    camera = info.get("camera") or {}
    if camera.get("moving"):
        notes.append(f"moving camera: its turning (up to {camera['max_deg']:.1f} degrees from the first "
                     f"frame) removed; the motion is in the first frame's camera axes")
    why = {"texture": "too little background texture", "cut": "background lost (a cut?)"}
    if camera.get("fallbacks"):
        notes.append("camera taken as still where it could not be estimated: " + "; ".join(
            f"frames {s}-{e - 1} ({why.get(r, r)})" for s, e, r in camera["fallbacks"]))
    person_gaps = info.get("person_gaps", [])
    if info.get("undetected"):
        notes.append(f"person not found in {info['undetected']} frames: short gaps interpolated"
                     + (f", long gaps held (pose frozen) at frames {_ranges(person_gaps)}"
                        if person_gaps else ""))
    joint_gaps = info.get("joint_gaps", [])
    if joint_gaps:
        notes.append("joints unseen for long and held: " + "; ".join(
            f"{'/'.join(names) if len(names) <= 4 else f'{len(names)} joints'} at frames {s}-{e - 1}"
            for s, e, names in joint_gaps))
    return "\n".join([f"note: {n}" for n in notes] + [line])
