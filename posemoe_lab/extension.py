"""Build the installable Blender extension: ``dist/posemoe_blender-<version>.zip``.

Usage::

    .venv/bin/python -m posemoe_lab.extension [--output-dir dist] [--no-validate]

The zip holds, at its root, ``blender_manifest.toml`` next to a two-line ``__init__.py``
(``from .posemoe_blender import register, unregister``), the ``posemoe_blender/`` package
itself, ``weights/`` (when it has files) and ``LICENSE``. Keeping the package as a sub-folder
mirrors the repository, so ``weights/`` sits where the package looks for it and an external
Python can import the bundled package as ``posemoe_blender`` (see ``addon/remote.py``).

The zip carries only what an animator runs: the lab (``posemoe_lab``: training, evaluation,
render sets) is a separate package and never enters it, and the package's Ray module
(:data:`EXCLUDED`) is left out, since the add-on never uses Ray and ``batch --ray`` runs from the
project's install. The build refuses a bundled module that imports ``ray`` or ``posemoe_lab``.

Checks before writing: the manifest's ``version`` equals ``posemoe_blender.__version__``,
``id`` is ``posemoe_blender``, the tagline is at most 64 characters without closing
punctuation. When ``bpy`` is installed, Blender's own ``blender_ext.py validate`` is run on the
result as well. Nothing is downloaded; the zip is written atomically.
"""

from __future__ import annotations

from posemoe_lab import REPO_ROOT

import argparse
import ast
import importlib.util
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = REPO_ROOT
PACKAGE = "posemoe_blender"
from posemoe_blender.fileio import atomic_output  # noqa: E402  (standard library only)

ROOT_INIT = '''"""PoseMoE Blender extension: the add-on is the bundled ``posemoe_blender`` package."""

from .posemoe_blender import register, unregister  # noqa: F401
'''

#: Package files left out of the zip (archive name -> why).
EXCLUDED = {
    f"{PACKAGE}/batch/ray_cluster.py": "Ray batches run from the project's install, not the add-on",
}
#: Top-level modules no bundled module may import.
REFUSED_IMPORTS = ("ray", "posemoe_lab")

_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".git"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".orig", ".rej", ".tmp")


def read_version() -> str:
    ns: dict = {}
    text = (REPO / PACKAGE / "__init__.py").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("__version__"):
            exec(line, ns)
            return ns["__version__"]
    raise SystemExit(f"error: no __version__ in {PACKAGE}/__init__.py")


def check_manifest(path: Path) -> dict:
    with open(path, "rb") as fh:
        manifest = tomllib.load(fh)
    problems = []
    version = read_version()
    if manifest.get("id") != PACKAGE:
        problems.append(f"id must be {PACKAGE!r}, got {manifest.get('id')!r}")
    if manifest.get("version") != version:
        problems.append(f"version {manifest.get('version')!r} differs from {PACKAGE}.__version__ {version!r}")
    tagline = manifest.get("tagline", "")
    if not tagline or len(tagline) > 64 or tagline[-1] in ".!?,;:":
        problems.append(f"tagline must be 1..64 characters without closing punctuation: {tagline!r}")
    if manifest.get("type") != "add-on":
        problems.append("type must be \"add-on\"")
    if problems:
        raise SystemExit("error: blender_manifest.toml: " + "; ".join(problems))
    return manifest


def iter_files(folder: Path):
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(_SKIP_SUFFIXES) or name.startswith("."):
                continue
            yield Path(dirpath) / name


def entries() -> list[tuple[Path | None, str]]:
    """(source file or None for generated, archive name) in archive order."""
    out: list[tuple[Path | None, str]] = [(REPO / "blender_manifest.toml", "blender_manifest.toml"),
                                          (None, "__init__.py")]
    for f in iter_files(REPO / PACKAGE):
        name = f.relative_to(REPO).as_posix()
        if name not in EXCLUDED:
            out.append((f, name))
    weights = REPO / "weights"
    if weights.is_dir():
        for f in iter_files(weights):
            if f.stat().st_size > 0:
                out.append((f, f.relative_to(REPO).as_posix()))
    if (REPO / "LICENSE").is_file():
        out.append((REPO / "LICENSE", "LICENSE"))
    return out


def refused_imports(files: list[tuple[Path | None, str]]) -> list[str]:
    """``"archive name: module"`` for each bundled module that imports one of
    :data:`REFUSED_IMPORTS` (at any level, lazy imports included)."""
    found = []
    for src, name in files:
        if src is None or not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(src.read_text(encoding="utf-8"), str(src))):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            else:
                continue
            found += [f"{name}: {m}" for m in modules if m.split(".")[0] in REFUSED_IMPORTS]
    return found


def build(output_dir: Path) -> Path:
    manifest = check_manifest(REPO / "blender_manifest.toml")
    files = entries()
    refused = refused_imports(files)
    if refused:
        raise SystemExit("error: the extension would carry modules that import the lab or Ray: "
                         + "; ".join(refused))
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    with atomic_output(target, ".zip") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for src, name in files:
                if src is None:
                    zf.writestr(name, ROOT_INIT)
                else:
                    zf.write(src, name)
    return target


def blender_ext_script() -> Path | None:
    """Blender's extension command-line tool inside the installed ``bpy`` module, if any."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for cand in sorted(Path(root).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py")):
            return cand
    return None


def validate(zip_path: Path) -> str | None:
    """Run Blender's ``blender_ext.py validate``; returns its message, None when unavailable.
    Raises SystemExit when Blender rejects the package."""
    script = blender_ext_script()
    if script is None:
        return None
    proc = subprocess.run([sys.executable, str(script), "validate", str(zip_path)],
                          capture_output=True, text=True)
    message = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or "error" in message.lower():
        raise SystemExit(f"error: Blender rejects {zip_path}: {message}")
    return message


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default=str(REPO / "dist"))
    parser.add_argument("--no-validate", action="store_true", help="skip Blender's validator")
    args = parser.parse_args(argv)
    path = build(Path(args.output_dir))
    with zipfile.ZipFile(path) as zf:
        count = len(zf.namelist())
    note = ""
    if not args.no_validate:
        msg = validate(path)
        note = f"; Blender: {msg}" if msg else "; Blender's validator not found (bpy not installed)"
    print(f"wrote {path} ({count} files, {path.stat().st_size / 1e6:.1f} MB){note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
