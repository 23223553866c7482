"""Background conversion jobs for the add-on (no ``bpy`` here).

A job runs one clip's bpy-free pipeline (:func:`~posemoe_blender.pipeline.process_clip`)
off Blender's main thread; the main thread polls it (``fraction``, ``status``, ``finished``)
from a timer and applies the result itself. Two kinds:

* :class:`ThreadJob`: a Python thread inside Blender (needs torch, mediapipe, scipy and
  OpenCV importable in Blender's Python);
* :class:`~posemoe_blender.addon.remote.RemoteJob`: another Python (for example a project
  virtual environment) running ``python -m posemoe_blender.addon.worker`` as a subprocess.

Cancelling sets a flag that the progress callback checks on every frame: it raises
:class:`~posemoe_blender.errors.ConversionCancelled`, so the pipeline stops at the next frame
and nothing is returned (a subprocess is terminated instead).

``python -m posemoe_blender.addon.worker VIDEO OUT.npz [options]`` is the remote side: it
prints ``PROGRESS done total`` lines on stdout, writes the solved animation to ``OUT.npz``
(:func:`save_animation`) and ends with ``DONE``, or ``ERROR message`` and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..errors import ConversionCancelled, PoseMoEError


@dataclass
class JobResult:
    """A finished conversion: the solved :class:`~posemoe_blender.solving.skeleton.Animation`
    and a summary (``frames``, ``fps``, ``lifter``, ``seconds``, ``gaps``)."""

    animation: object
    info: dict = field(default_factory=dict)


def options_dict(options) -> dict:
    """A ConvertOptions as a plain dict (for the remote command line and the report)."""
    return dataclasses.asdict(options)


def make_options(**values):
    """``(ConvertOptions, ignored)`` from panel values; values the options do not know are
    dropped and listed in ``ignored`` (:func:`posemoe_blender.options.options_from_values`)."""
    from ..options import options_from_values
    return options_from_values(**values)


def footage_fields(res) -> dict:
    """What showing the footage behind the rig needs from a ``ClipResult`` (JSON-safe): the
    first converted video frame, the video's frame rate, its upright size and the solve's
    focal length (see :mod:`posemoe_blender.output.footage`)."""
    from ..solving.root import default_focal_px
    return {"start": int(res.start), "source_fps": float(res.source_fps), "width": int(res.width),
            "height": int(res.height), "focal_px": float(default_focal_px(res.width, res.height))}


class Job:
    """State shared between a worker and the main thread (all reads/writes are atomic)."""

    def __init__(self, label: str = ""):
        self.label = label
        self.done = 0
        self.total = 0
        self.stage = "starting"
        self.result: Optional[JobResult] = None
        self.error: Optional[str] = None
        self.cancelled = False
        self.started = time.perf_counter()
        self._cancel = threading.Event()
        self._finished = threading.Event()

    # -- called by the worker
    def progress(self, done: int, total: int) -> None:
        """The pipeline's progress callback: records progress, raises when cancelled."""
        if self._cancel.is_set():
            raise ConversionCancelled(f"{self.label}: cancelled")
        self.done, self.total = int(done), int(total)
        self.stage = "detecting"

    def _finish(self, result=None, error=None, cancelled=False):
        self.result, self.error, self.cancelled = result, error, cancelled
        self.stage = "cancelled" if cancelled else ("failed" if error else "done")
        self._finished.set()

    # -- called by the main thread
    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        return self._finished.wait(timeout)

    @property
    def fraction(self) -> float:
        if self.finished:
            return 1.0
        # detection is most of the time; lifting + solving take the rest
        return 0.95 * self.done / self.total if self.total else 0.0

    @property
    def status(self) -> str:
        if self.stage == "detecting" and self.total:
            if self.done >= self.total:
                return "lifting and solving"
            elapsed = time.perf_counter() - self.started
            rate = self.done / elapsed if elapsed > 0 else 0.0
            return f"frame {self.done}/{self.total} ({rate:.1f} frames/s)"
        return self.stage


class ThreadJob(Job):
    """Runs ``process_clip`` in a daemon thread of this process."""

    def start(self, video: str, options) -> "ThreadJob":
        self.thread = threading.Thread(target=self._run, args=(video, options),
                                       name="posemoe-convert", daemon=True)
        self.thread.start()
        return self

    def _run(self, video, options):
        try:
            from ..pipeline import process_clip
            self.stage = "loading"
            t0 = time.perf_counter()
            res = process_clip(video, options, self.progress)
            if self._cancel.is_set():
                raise ConversionCancelled(f"{self.label}: cancelled")
            info = {"frames": int(res.keypoints2d.shape[0]), "frames_out": res.animation.num_frames,
                    "fps": float(res.fps), "lifter": res.lifter,
                    "seconds": time.perf_counter() - t0,
                    "gaps": [(int(g.start), int(g.end)) for g in res.gaps], **footage_fields(res)}
            self._finish(JobResult(res.animation, info))
        except ConversionCancelled:
            self._finish(cancelled=True)
        except PoseMoEError as exc:
            self._finish(error=str(exc))
        except Exception as exc:  # a bug or a broken dependency: keep Blender alive, report it
            self._finish(error=f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- animation files

_ARRAYS = ("rest_heads", "rest_tails", "rest_matrices", "rotations", "root_location", "joints_world")
_OPTIONAL = ("contacts", "root_shift")


def _as_dict(record) -> Optional[dict]:
    """A :class:`~.solving.skeleton.CameraMapping` or :class:`~.solving.skeleton.SolveReport` as
    JSON-friendly data (None stays None)."""
    return None if record is None else record.to_dict()


def _from_dict(cls, text: str):
    """``cls.from_dict`` of the JSON ``text``, or None for ``null``."""
    data = json.loads(text)
    return None if data is None else cls.from_dict(data)


def save_animation(path: str, animation, info: Optional[dict] = None) -> None:
    """Write an Animation (and a JSON-safe ``info`` dict, the job's summary) to ``path`` (.npz,
    atomic); the animation's ``camera`` and ``report`` travel as JSON (``null`` when None)."""
    from ..joints import save_npz
    arrays = {k: np.asarray(getattr(animation, k), dtype=np.float64) for k in _ARRAYS}
    for k in _OPTIONAL:
        if getattr(animation, k, None) is not None:
            arrays[k] = np.asarray(getattr(animation, k))
    save_npz(path, fps=np.float64(animation.fps), bone_names=np.array(animation.bone_names),
             bone_parents=np.array(animation.bone_parents, dtype=np.int32),
             anim_camera=np.array(json.dumps(_as_dict(animation.camera))),
             anim_report=np.array(json.dumps(_as_dict(animation.report))),
             job_info=np.array(json.dumps(info or {})),
             **arrays)


def load_animation(path: str):
    """Read :func:`save_animation`'s file: returns ``(Animation, info dict)``, the animation's
    ``camera`` and ``report`` rebuilt."""
    from ..solving.skeleton import Animation, CameraMapping, SolveReport
    try:
        with np.load(path, allow_pickle=False) as data:
            anim = Animation(fps=float(data["fps"]),
                             bone_names=tuple(str(n) for n in data["bone_names"]),
                             bone_parents=tuple(int(p) for p in data["bone_parents"]),
                             camera=_from_dict(CameraMapping, str(data["anim_camera"])),
                             report=_from_dict(SolveReport, str(data["anim_report"])),
                             **{k: np.array(data[k]) for k in _ARRAYS},
                             **{k: np.array(data[k]) for k in _OPTIONAL if k in data.files})
            info = json.loads(str(data["job_info"]))
    except (OSError, KeyError, ValueError) as exc:
        raise PoseMoEError(f"{path}: not a PoseMoE animation file ({exc})") from None
    return anim, info


# --------------------------------------------------------------------------- remote side

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m posemoe_blender.addon.worker",
                                description="Convert one clip and save the solved animation (.npz).")
    p.add_argument("video")
    p.add_argument("output", help=".npz to write")
    p.add_argument("--options", default="{}", help="ConvertOptions as JSON")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    out = sys.stdout

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 0.05 or done >= total:
            last[0] = now
            say(f"PROGRESS {done} {total}")

    try:
        from ..pipeline import process_clip
        from ..quiet import native_output_silenced
        options, _ = make_options(**json.loads(args.options))
        t0 = time.perf_counter()
        with native_output_silenced():
            res = process_clip(args.video, options, progress)
        info = {"frames": int(res.keypoints2d.shape[0]), "frames_out": res.animation.num_frames,
                "fps": float(res.fps), "lifter": res.lifter, "seconds": time.perf_counter() - t0,
                "gaps": [(int(g.start), int(g.end)) for g in res.gaps], **footage_fields(res)}
        save_animation(args.output, res.animation, info)
    except PoseMoEError as exc:
        say(f"ERROR {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        say("ERROR interrupted")
        return 130
    say("DONE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
