"""A Python that stands for a user's Blender, for the tests that install the add-on as a user would.

Blender's own Python bundles numpy but not SciPy, torch, MediaPipe, OpenCV, matplotlib or ONNX
Runtime. The
project's venv has all of them, so a test run there cannot see an add-on that imports one of
them too early. :func:`run` starts a fresh process of the venv's Python (which has ``bpy``) with
a meta-path finder installed before anything else is imported: for those packages
(:data:`REFUSED`) it looks only outside the venv's site-packages (so the add-on's own
dependency folder, once the installer has filled it, is found) and otherwise raises
``ModuleNotFoundError``, so ``importlib.util.find_spec("scipy")`` fails as it does in Blender.

Children of that process (pip, the external-Python worker) are ordinary venv processes: the
finder is installed by a ``-c`` bootstrap, not through the environment. The process runs in an
empty working folder, so the repository's ``posemoe_blender`` is not importable there either:
the only copy is the one installed from the zip. ``BLENDER_USER_RESOURCES`` points at a
temporary user folder, so nothing touches ``~/.config/blender``.

A script reports back by printing one line ``RESULT <json>`` (the last one wins).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
#: Packages a user's Blender does not have: the pipeline's dependencies, MediaPipe's plotting
#: one, ONNX Runtime, and the MediaPipe requirements the extension's wheels leave out
#: (``posemoe_lab.extension.DROPPED``), so a test that passes here shows they are not needed.
REFUSED = ("scipy", "torch", "mediapipe", "cv2", "matplotlib", "onnxruntime", "jax", "jaxlib",
           "sounddevice", "sentencepiece")
#: The installed extension's module names.
ADDON = "bl_ext.user_default.posemoe_blender"
PKG = ADDON + ".posemoe_blender"

BOOTSTRAP = textwrap.dedent('''
    import importlib.abc, importlib.machinery, site, sys

    _REFUSED = set(%(refused)r)
    _VENV = {p.rstrip("/") for p in site.getsitepackages() + [site.getusersitepackages()]}


    class _NotInBlender(importlib.abc.MetaPathFinder):
        """Refuse the packages Blender's Python lacks unless they come from outside the venv."""

        def find_spec(self, name, path=None, target=None):
            if "." in name or name not in _REFUSED:
                return None  # submodules follow their package's own __path__
            outside = [p for p in sys.path if p.rstrip("/") not in _VENV]
            spec = importlib.machinery.PathFinder.find_spec(name, outside)
            if spec is None:
                raise ModuleNotFoundError(f"No module named {name!r} (not in Blender's Python)", name=name)
            return spec


    if sys.argv[1] == "refuse":
        sys.meta_path.insert(0, _NotInBlender())
    sys.argv = sys.argv[2:]
    import runpy
    runpy.run_path(sys.argv[0], run_name="__main__")
''') % {"refused": REFUSED}

#: Helpers every script gets (prepended to its text).
PRELUDE = textwrap.dedent('''
    import json as _json, sys as _sys


    def report(**values):
        """Print the script's result for the test (the last RESULT line wins)."""
        print("RESULT " + _json.dumps(values, default=str), flush=True)


    def install_extension(zip_path):
        import bpy
        return sorted(bpy.ops.extensions.package_install_files(
            filepath=zip_path, repo="user_default", enable_on_install=True))
''')


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    data: Optional[dict] = field(default=None)

    def check(self) -> dict:
        """The script's RESULT, or an AssertionError showing what went wrong."""
        assert self.returncode == 0 and self.data is not None, (
            f"exit status {self.returncode}\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-6000:]}")
        return self.data


def run(script: str, user_dir: os.PathLike, workdir: os.PathLike, *, args=(), env: Optional[dict] = None,
        timeout: float = 600, python: str = sys.executable, refuse: bool = True) -> Result:
    """Run ``script`` (Python source) in a fresh Blender-like process (``refuse=False``: the
    same process without the refusing finder, i.e. the venv as it is).

    ``user_dir``: Blender's user folder (``BLENDER_USER_RESOURCES``; it persists between runs,
    so a later run sees what an earlier one installed); ``workdir``: the (empty) working folder,
    where the script file is written; ``args``: its ``sys.argv[1:]``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"script_{os.getpid()}_{abs(hash(script)) % 10**8}.py"
    path.write_text(PRELUDE + "\n" + textwrap.dedent(script), encoding="utf-8")
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    full_env.update({"BLENDER_USER_RESOURCES": str(user_dir), "PYTHONNOUSERSITE": "1",
                     "PYTHONDONTWRITEBYTECODE": "1"})
    full_env.update(env or {})
    mode = "refuse" if refuse else "plain"
    proc = subprocess.run([python, "-c", BOOTSTRAP, mode, str(path), *map(str, args)], cwd=workdir,
                          env=full_env, capture_output=True, text=True, timeout=timeout)
    data = None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            data = json.loads(line[len("RESULT "):])
    return Result(proc.returncode, proc.stdout, proc.stderr, data)


def build_zip(out_dir: os.PathLike, platform: Optional[str] = None) -> Path:
    """Build the plain extension zip (``platform`` None) or one platform's zip with its wheels,
    as ``make extension`` does (validated by Blender's own tool)."""
    from posemoe_lab import extension as mod
    zip_path = mod.build(Path(out_dir), platform)
    mod.validate(zip_path)
    return zip_path
