"""The pipeline's heavy dependencies inside Blender: check, and install with pip (no ``bpy``).

Blender's bundled Python has numpy but not mediapipe, scipy, OpenCV or a lifting runtime. The
platform zips of the extension (``posemoe_lab/extension.py``) bundle them as wheels that Blender
installs with the extension: numpy, SciPy, MediaPipe, OpenCV and ONNX Runtime (no torch). The
lifting stage runs with either runtime (:data:`LIFTING_RUNTIMES`: torch, for CUDA and training,
or ONNX Runtime on the CPU), so the bundled set is complete and the add-on converts at once.

For the plain zip (no wheels), or to get CUDA torch, the add-on can install the packages into its own user directory (``extension_path_user(..., "site-packages")``, kept
across add-on upgrades, no admin rights) with Blender's Python running
``python -m pip install --target DIR ...`` in the background (:class:`PipInstaller`, polled
from a timer), from PyPI or from a local folder of wheel files, then puts that directory on
``sys.path`` (and so does every later start of the add-on).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import threading
from collections import deque
from typing import Iterable, Optional, Sequence

#: Import name -> pip requirement that Install Dependencies installs (the versions the project
#: pins, see requirements.txt).
DEPENDENCIES = {
    "torch": "torch",
    "mediapipe": "mediapipe==0.10.21",
    "scipy": "scipy",
    "cv2": "opencv-contrib-python",
    "numpy": "numpy<2",
}

#: The lifting stage's runtimes (import name -> name shown), in the order the lifting stage
#: prefers them: either one is enough. ``torch`` stands for both in :func:`missing_modules`
#: (it is what Install Dependencies installs).
LIFTING_RUNTIMES = {"torch": "torch", "onnxruntime": "ONNX Runtime"}


def _found(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing_modules(names: Optional[Iterable[str]] = None, refresh: bool = False) -> list[str]:
    """The import names in ``names`` (default: :data:`DEPENDENCIES`) that this Python cannot
    find (nothing is imported); ``refresh`` re-reads the folders on ``sys.path``. With the
    default names, ``torch`` counts as missing only when ONNX Runtime is missing as well (the
    extension's bundled runtime: numpy, SciPy, MediaPipe, OpenCV, ONNX Runtime is complete)."""
    default = names is None
    if default:
        names = tuple(DEPENDENCIES)
    if refresh:
        importlib.invalidate_caches()
    out = []
    for name in names:
        if _found(name):
            continue
        if default and name in LIFTING_RUNTIMES and any(_found(n) for n in LIFTING_RUNTIMES):
            continue
        out.append(name)
    return out


def lifting_runtime() -> Optional[str]:
    """The import name of the lifting runtime this Python would use (the first of
    :data:`LIFTING_RUNTIMES` it can find), or None; nothing is imported."""
    return next((n for n in LIFTING_RUNTIMES if _found(n)), None)


def module_origin(name: str, site_dir: Optional[str] = None) -> str:
    """Where ``name`` would be imported from, in words: "bundled with the extension" (the
    wheels Blender installed into its extensions' ``.local`` site-packages), "installed by
    Install Dependencies" (``site_dir``, the add-on's own folder) or "Blender's Python"."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    origin = os.path.normcase(os.path.abspath(getattr(spec, "origin", None) or ""))
    if site_dir and origin.startswith(os.path.normcase(os.path.abspath(site_dir)) + os.sep):
        return "installed by Install Dependencies"
    parts = origin.replace("\\", "/").split("/")
    if "extensions" in parts and ".local" in parts:
        return "bundled with the extension"
    return "Blender's Python"


def runtime_summary(site_dir: Optional[str] = None) -> str:
    """One line for the preferences: the lifting runtime Blender's Python would use and where
    it comes from (nothing is imported, so the device is not known: see :func:`device_summary`)."""
    name = lifting_runtime()
    if name is None:
        return "no lifting runtime (torch or ONNX Runtime) in Blender's Python"
    device = "CPU" if name == "onnxruntime" else "CPU or CUDA GPU (Detect GPU tells)"
    return f"{LIFTING_RUNTIMES[name]}, {device}, {module_origin(name, site_dir)}"


def device_summary() -> str:
    """The runtime and device the lifting stage would use in this Python, e.g. ``"ONNX Runtime
    1.32.0: CPU"`` or ``"torch 2.13.0: CUDA GPU NVIDIA ..."`` (imports the runtime)."""
    name = lifting_runtime()
    if name is None:
        return "no lifting runtime (torch or ONNX Runtime) in Blender's Python"
    try:
        if name == "torch":
            import torch
            if torch.cuda.is_available():
                return f"torch {torch.__version__}: CUDA GPU {torch.cuda.get_device_name(0)}"
            return f"torch {torch.__version__}: no CUDA GPU found, the CPU will be used"
        import onnxruntime
        return f"ONNX Runtime {onnxruntime.__version__}: CPU"
    except Exception as exc:  # a broken install
        return f"{LIFTING_RUNTIMES[name]} cannot be imported: {exc}"


def requirements_for(missing: Sequence[str]) -> list[str]:
    """pip requirements for the missing import names (all of them when none are given)."""
    names = list(missing) or list(DEPENDENCIES)
    return [DEPENDENCIES.get(n, n) for n in names]


def add_site_dir(path: Optional[str]) -> bool:
    """Append ``path`` to ``sys.path`` when it exists (after Blender's own modules, so Blender's
    numpy etc. keep precedence). Returns True when it is on ``sys.path``."""
    if not path or not os.path.isdir(path):
        return False
    if path not in sys.path:
        sys.path.append(path)
        importlib.invalidate_caches()
    return True


def remove_site_dir(path: Optional[str]) -> None:
    while path and path in sys.path:
        sys.path.remove(path)


def pip_commands(python: str, target: str, requirements: Sequence[str],
                 find_links: Optional[str] = None) -> list[list[str]]:
    """The commands :class:`PipInstaller` runs: make sure pip exists, then install.
    ``find_links``: a folder of wheel files to install from instead of downloading
    (``pip --no-index --find-links``)."""
    local = ["--no-index", "--find-links", find_links] if find_links else []
    return [
        [python, "-m", "ensurepip", "--default-pip"],
        [python, "-m", "pip", "install", "--upgrade", "--target", target,
         "--no-warn-script-location", "--disable-pip-version-check", "--progress-bar", "off",
         *local, *requirements],
    ]


class PipInstaller:
    """Runs a list of commands one after another in a background thread.

    The main thread polls ``finished``, ``returncode``, ``status`` (the last line of output)
    and ``error`` (a one-line reason when it failed). ``cancel()`` terminates the running
    command. The first command (``ensurepip``) may fail when pip is already there and the
    Python is read-only; only the last command decides success.
    """

    def __init__(self, commands: Sequence[Sequence[str]], env: Optional[dict] = None):
        self.commands = [list(c) for c in commands]
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONNOUSERSITE", "1")
        self.lines: deque = deque(maxlen=200)
        self.returncode: Optional[int] = None
        self.error = ""
        self.step = 0
        self._proc = None
        self._cancel = threading.Event()
        self._done = threading.Event()

    def start(self) -> "PipInstaller":
        self.thread = threading.Thread(target=self._run, name="posemoe-pip", daemon=True)
        self.thread.start()
        return self

    def _run(self):
        rc = 0
        try:
            for i, cmd in enumerate(self.commands):
                if self._cancel.is_set():
                    rc = -1
                    break
                self.step = i + 1
                self.lines.append("$ " + " ".join(os.path.basename(c) if k == 0 else c
                                                  for k, c in enumerate(cmd)))
                try:
                    self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                  stdin=subprocess.DEVNULL, text=True, env=self.env)
                except OSError as exc:
                    rc = 1
                    self.error = f"cannot run {cmd[0]}: {exc.strerror or exc}"
                    break
                for line in self._proc.stdout:
                    if line.strip():
                        self.lines.append(line.rstrip())
                rc = self._proc.wait()
                if rc != 0 and i == len(self.commands) - 1:
                    errors = [ln for ln in self.lines if "ERROR" in ln or "error" in ln.lower()]
                    self.error = (errors[-1] if errors else self.lines[-1] if self.lines
                                  else f"exit status {rc}").strip()
            if self._cancel.is_set():
                rc, self.error = -1, "cancelled"
        finally:
            self.returncode = rc
            self._done.set()

    def cancel(self) -> None:
        self._cancel.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        return self._done.wait(timeout)

    @property
    def ok(self) -> bool:
        return self.finished and self.returncode == 0

    @property
    def status(self) -> str:
        last = self.lines[-1] if self.lines else "starting"
        return f"step {self.step}/{len(self.commands)}: {last[:120]}"
