"""The pipeline's heavy dependencies inside Blender: check, and install with pip (no ``bpy``).

Blender's bundled Python has numpy but not torch, mediapipe, scipy or OpenCV. The add-on can
install them into its own user directory (``extension_path_user(..., "site-packages")``, kept
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

#: Import name -> pip requirement (the versions the project pins, see requirements.txt).
DEPENDENCIES = {
    "torch": "torch",
    "mediapipe": "mediapipe==0.10.21",
    "scipy": "scipy",
    "cv2": "opencv-contrib-python",
    "numpy": "numpy<2",
}


def missing_modules(names: Optional[Iterable[str]] = None, refresh: bool = False) -> list[str]:
    """The import names in ``names`` (default: :data:`DEPENDENCIES`) that this Python cannot
    find (nothing is imported); ``refresh`` re-reads the folders on ``sys.path``."""
    if names is None:
        names = tuple(DEPENDENCIES)
    if refresh:
        importlib.invalidate_caches()
    out = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(name)
    return out


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
