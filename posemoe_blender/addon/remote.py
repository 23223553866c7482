"""Run the pipeline in another Python (no ``bpy`` here).

For users who already have a Python with torch, mediapipe, scipy and OpenCV (this project's
``.venv/bin/python``, a conda environment) instead of installing them into Blender: the
add-on starts ``PYTHON -m posemoe_blender.addon.worker VIDEO OUT.npz --options JSON`` with
this add-on's own copy of the package first on ``PYTHONPATH``, reads ``PROGRESS`` lines from
its stdout and loads the animation file it writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Optional

from ..errors import PoseMoEError
from .worker import Job, JobResult, load_animation, options_dict

#: The folder that holds the ``posemoe_blender`` package (the repository or the extension).
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
#: The package's import name in the other Python.
PACKAGE_NAME = Path(__file__).resolve().parents[1].name


def python_env(extra: Optional[dict] = None) -> dict:
    """Environment for the other Python: our package first on PYTHONPATH, no user site."""
    env = dict(os.environ)
    for key in ("PYTHONHOME", "PYTHONSTARTUP"):  # Blender's own settings would break it
        env.pop(key, None)
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_PARENT)] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def check_python(python: str, modules=("torch", "mediapipe", "scipy", "cv2", "numpy"),
                 timeout: float = 60.0) -> dict:
    """Ask ``python`` which of ``modules`` it lacks and what torch sees.

    Returns ``{"ok": bool, "missing": [...], "version": "3.11.x", "gpu": "name" or "",
    "error": ""}``; never raises (a broken path is reported in ``error``).
    """
    out = {"ok": False, "missing": list(modules), "version": "", "gpu": "", "error": ""}
    if not python:
        out["error"] = "no Python set"
        return out
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        out["error"] = f"{python}: not an executable file"
        return out
    code = (
        "import importlib.util, json, sys\n"
        f"mods = {list(modules)!r}\n"
        "missing = [m for m in mods if importlib.util.find_spec(m) is None]\n"
        "gpu = ''\n"
        "if 'torch' not in missing:\n"
        "    import torch\n"
        "    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''\n"
        "print(json.dumps({'missing': missing, 'gpu': gpu, 'version': sys.version.split()[0]}))\n")
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True,
                              timeout=timeout, env=python_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        out["error"] = f"{python}: {exc}"
        return out
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        out["error"] = f"{python}: {tail}"
        return out
    data = json.loads(lines[-1])
    out.update(data, ok=not data["missing"])
    return out


class RemoteJob(Job):
    """One clip converted by ``python -m posemoe_blender.addon.worker`` in another Python."""

    def start(self, python: str, video: str, options) -> "RemoteJob":
        if not (python and os.path.isfile(python)):
            raise PoseMoEError(f"{python or '(empty)'}: the external Python does not exist")
        self.tmpdir = tempfile.mkdtemp(prefix="posemoe-")
        self.out_path = os.path.join(self.tmpdir, "animation.npz")
        self.stderr_path = os.path.join(self.tmpdir, "stderr.txt")
        self.lines: deque = deque(maxlen=50)
        cmd = [python, "-m", f"{PACKAGE_NAME}.addon.worker", os.path.abspath(video), self.out_path,
               "--options", json.dumps(options_dict(options))]
        self._stderr = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr,
                                         stdin=subprocess.DEVNULL, env=python_env(), text=True,
                                         cwd=self.tmpdir)
        except OSError as exc:
            self._stderr.close()
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise PoseMoEError(f"{python}: cannot start ({exc.strerror or exc})") from None
        self.stage = "starting Python"
        self.thread = threading.Thread(target=self._read, name="posemoe-remote", daemon=True)
        self.thread.start()
        return self

    def cancel(self) -> None:
        super().cancel()
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def _read(self):
        error = None
        try:
            for line in self.proc.stdout:
                line = line.rstrip("\n")
                self.lines.append(line)
                if line.startswith("PROGRESS "):
                    try:
                        done, total = (int(x) for x in line.split()[1:3])
                    except ValueError:
                        continue
                    self.done, self.total, self.stage = done, total, "detecting"
                elif line.startswith("ERROR "):
                    error = line[6:]
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            self._stderr.close()
            if self.cancel_requested:
                self._finish(cancelled=True)
            elif rc != 0 or not os.path.isfile(self.out_path):
                if error is None:
                    with open(self.stderr_path, errors="replace") as fh:
                        tail = [ln for ln in fh.read().splitlines() if ln.strip()]
                    error = f"the external Python failed (exit status {rc}): " + (
                        tail[-1] if tail else "no message")
                self._finish(error=error)
            else:
                anim, info = load_animation(self.out_path)
                self._finish(JobResult(anim, info))
        except Exception as exc:  # never leave the main thread waiting
            self._finish(error=f"{type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
