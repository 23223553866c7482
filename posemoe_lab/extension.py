"""Build the installable Blender extension: one zip per platform with its own wheels, and a
plain zip without them.

Usage::

    .venv/bin/python -m posemoe_lab.extension [--output-dir dist] [--platform linux-x64 ...]
                                              [--no-wheels] [--lock] [--no-validate]

Each zip holds, at its root, ``blender_manifest.toml`` next to a two-line ``__init__.py``
(``from .posemoe_blender import register, unregister``), the ``posemoe_blender/`` package
itself, ``weights/`` (every non-empty file: the ``.pt`` networks, their ``.json`` and any
``.onnx`` exports) and ``LICENSE``. Keeping the package as a sub-folder mirrors the
repository, so ``weights/`` sits where the package looks for it and an external Python can
import the bundled package as ``posemoe_blender`` (see ``addon/remote.py``).

**Platform zips** (``posemoe_blender-<version>-<platform>.zip``, Blender's ``extension build
--split-platforms`` naming, e.g. ``..._linux_x64.zip``) also hold ``wheels/*.whl``: the
packages the pipeline imports at run time (:data:`PINS`: numpy, SciPy, MediaPipe and what it
really imports for its pose and hands solutions, OpenCV (contrib), ONNX Runtime; no torch,
no jax, no CUDA), and their manifest lists them (``wheels = [...]``) with ``platforms =
["<platform>"]``. Blender installs the wheels itself when the zip is installed, so the add-on
converts at once. The wheel files are fixed by the lock file :data:`LOCK` (file name and
sha256 per platform): the build downloads exactly those (``pip download --no-deps
--only-binary=:all: --platform ... --python-version 3.11``, which pip's cache serves on a
rebuild) into :data:`WHEEL_CACHE` and refuses a file whose hash differs. ``--lock`` resolves
the pins again and rewrites the lock. Before writing, every bundled wheel's ``Requires-Dist``
(markers evaluated for the platform) must be met by another bundled wheel or be one of
:data:`DROPPED` (each with the reason it is not needed).

**The plain zip** (``posemoe_blender-<version>.zip``, all platforms) has no wheels: the add-on's
Install Dependencies button (pip inside Blender) or an external Python supplies the packages
(for platforms without a bundle, and for CUDA torch).

The zips carry only what an animator runs: the lab (``posemoe_lab``: training, evaluation,
render sets) is a separate package and never enters them, and the package's Ray module
(:data:`EXCLUDED`) is left out, since the add-on never uses Ray and ``batch --ray`` runs from the
project's install. The build refuses a bundled module that imports ``ray`` or ``posemoe_lab``.

Checks before writing: the manifest's ``version`` equals ``posemoe_blender.__version__``,
``id`` is ``posemoe_blender``, the tagline is at most 64 characters without closing
punctuation. When ``bpy`` is installed, Blender's own ``blender_ext.py validate`` is run on
each result as well. Each zip is written atomically.
"""

from __future__ import annotations

from posemoe_lab import REPO_ROOT

import argparse
import ast
import hashlib
import importlib.util
import json
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

#: The wheels' lock: per Blender platform, each wheel file's name and sha256 (``--lock`` rewrites it).
LOCK = REPO / "posemoe_lab" / "extension_wheels.json"
#: Where the build keeps the downloaded wheels, one folder per platform (``--wheel-dir``).
WHEEL_CACHE = REPO / ".cache" / "extension-wheels"
#: Blender's Python (4.2 to 5.x).
PYTHON_VERSION = "3.11"

#: Distribution -> version bundled: the pipeline's run-time imports and what they import in
#: turn (MediaPipe's ``mp.solutions`` imports matplotlib at module level, through
#: ``drawing_utils``; ONNX Runtime needs flatbuffers, packaging, protobuf).
PINS = {
    "numpy": "1.26.4",
    "scipy": "1.17.1",
    "mediapipe": "0.10.21",
    "opencv-contrib-python": "4.11.0.86",
    "onnxruntime": "1.32.0",
    "protobuf": "4.25.8",  # MediaPipe wants <5, ONNX Runtime >=4.25.8
    "absl-py": "2.5.1",
    "attrs": "26.1.0",
    "flatbuffers": "25.12.19",
    "packaging": "26.4",
    "matplotlib": "3.11.2",
    "contourpy": "1.3.3",
    "cycler": "0.12.1",
    "fonttools": "4.69.1",
    "kiwisolver": "1.5.1",
    "pillow": "13.0.0",
    "pyparsing": "3.3.3",
    "python-dateutil": "4.0.0",
    "tzdata": "2026.6",
}

#: Blender platform -> pip's ``--platform`` tags and the pins that differ there.
PLATFORMS = {
    "linux-x64": {"tags": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
                  "pins": {}},
    "windows-x64": {"tags": ["win_amd64"], "pins": {}},
    # ONNX Runtime 1.32's only macOS wheel is macosx_14_0_arm64: the bundle needs macOS 14+
    "macos-arm64": {"tags": ["macosx_14_0_arm64"], "pins": {}},
    # ONNX Runtime publishes no x86_64 macOS wheel after 1.23.2 (macosx_13_0_x86_64), and
    # OpenCV's is macosx_13_0_x86_64: the bundle needs macOS 13+
    "macos-x64": {"tags": ["macosx_13_0_x86_64"], "pins": {"onnxruntime": "1.23.2"}},
}

#: Requirements of bundled wheels that are deliberately not bundled (distribution -> why).
#: tests/test_blender_like.py runs MediaPipe's pose and hands and the conversion with them
#: unimportable.
DROPPED = {
    "jax": "MediaPipe imports it only in tasks.python.genai.converter (LLM weight conversion)",
    "jaxlib": "jax's own library; see jax",
    "sounddevice": "MediaPipe imports it only in tasks.python.audio.core.audio_record (microphone input)",
    "sentencepiece": "MediaPipe imports it only in tasks.python.genai.bundler (LLM tokenizer bundles)",
    "coloredlogs": "ONNX Runtime 1.23 (macos-x64) uses it only in its onnxruntime.tools scripts",
    "sympy": "ONNX Runtime 1.23 (macos-x64) uses it only in onnxruntime.tools' symbolic shape inference",
}

#: Blender platform -> the environment markers of a wheel's Requires-Dist are evaluated in.
MARKERS = {
    "linux-x64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                  "os_name": "posix"},
    "windows-x64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
                    "os_name": "nt"},
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                    "os_name": "posix"},
    "macos-x64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "x86_64",
                  "os_name": "posix"},
}

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


def pins_for(platform: str) -> dict[str, str]:
    """Distribution -> version bundled for the Blender ``platform`` (e.g. ``"linux-x64"``)."""
    return {**PINS, **PLATFORMS[platform]["pins"]}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_lock(path: Path = LOCK) -> dict:
    """``{platform: {wheel file name: sha256}}`` from the lock file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["platforms"]


def pip_download(platform: str, dest: Path, requirements: list[str]) -> None:
    """``pip download`` the binary wheels of ``requirements`` (``name==version``, no
    dependencies) for ``platform`` and Python 3.11 into ``dest``."""
    tags = [a for t in PLATFORMS[platform]["tags"] for a in ("--platform", t)]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--only-binary=:all:", *tags, "--python-version", PYTHON_VERSION,
           "--implementation", "cp", "--dest", str(dest), *requirements]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")]
        raise SystemExit(f"error: pip download for {platform} failed: "
                         + ("; ".join(errors) or proc.stderr.strip()[-300:]))


def wheel_distribution(filename: str) -> str:
    """The canonical distribution name of a wheel file name."""
    from packaging.utils import canonicalize_name, parse_wheel_filename
    return canonicalize_name(parse_wheel_filename(filename)[0])


def lock(wheel_dir: Path = WHEEL_CACHE, path: Path = LOCK, platforms=None) -> dict:
    """Download the pinned wheels of every platform afresh and write the lock file."""
    from packaging.utils import canonicalize_name, parse_wheel_filename
    out = {}
    for platform in platforms or PLATFORMS:
        dest = wheel_dir / platform
        dest.mkdir(parents=True, exist_ok=True)
        pins = pins_for(platform)
        pip_download(platform, dest, [f"{n}=={v}" for n, v in pins.items()])
        wanted = {canonicalize_name(n): v for n, v in pins.items()}
        found = {}
        for f in sorted(dest.glob("*.whl")):
            name, version = parse_wheel_filename(f.name)[:2]
            if wanted.get(canonicalize_name(name)) == str(version):
                found[f.name] = sha256(f)
        out[platform] = found
    document = {"python": PYTHON_VERSION,
                "how": "python -m posemoe_lab.extension --lock (pip download --no-deps "
                       "--only-binary=:all: of posemoe_lab.extension.PINS per platform)",
                "platforms": out}
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return out


def fetch_wheels(platform: str, wheel_dir: Path = WHEEL_CACHE) -> list[Path]:
    """The locked wheels of ``platform``, downloaded into ``wheel_dir/platform`` when not there
    yet (pip's cache serves a rebuild), each checked against its sha256 in the lock."""
    locked = read_lock()[platform]
    dest = wheel_dir / platform
    dest.mkdir(parents=True, exist_ok=True)
    absent = [name for name in locked if not (dest / name).is_file()]
    if absent:
        from packaging.utils import parse_wheel_filename
        reqs = []
        for name in absent:
            dist, version = parse_wheel_filename(name)[:2]
            reqs.append(f"{dist}=={version}")
        pip_download(platform, dest, reqs)
    paths = []
    for name, digest in sorted(locked.items()):
        path = dest / name
        if not path.is_file():
            raise SystemExit(f"error: {platform}: pip did not download the locked wheel {name} "
                             "(rerun with --lock when the pins changed)")
        if sha256(path) != digest:
            raise SystemExit(f"error: {path}: sha256 differs from the lock ({digest})")
        paths.append(path)
    return paths


def wheel_requirements(path: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's METADATA."""
    with zipfile.ZipFile(path) as zf:
        meta = next(n for n in zf.namelist()
                    if n.count("/") == 1 and n.split("/")[0].endswith(".dist-info") and n.endswith("/METADATA"))
        text = zf.read(meta).decode("utf-8")
    out = []
    for line in text.split("\n\n", 1)[0].splitlines():
        if line.startswith("Requires-Dist:"):
            out.append(line.split(":", 1)[1].strip())
    return out


def missing_requirements(platform: str, wheels: list[Path]) -> list[str]:
    """``"wheel: requirement"`` for each run-time requirement of the ``wheels`` (markers
    evaluated for ``platform`` and Python 3.11, no extras) that no other wheel of the set meets
    and that is not one of :data:`DROPPED`."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name, parse_wheel_filename
    have = {}
    for w in wheels:
        name, version = parse_wheel_filename(w.name)[:2]
        have[canonicalize_name(name)] = version
    env = {"python_version": PYTHON_VERSION, "python_full_version": PYTHON_VERSION + ".0",
           "implementation_name": "cpython", "platform_python_implementation": "CPython",
           "extra": "", **MARKERS[platform]}
    dropped = {canonicalize_name(n) for n in DROPPED}
    problems = []
    for w in wheels:
        for text in wheel_requirements(w):
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            name = canonicalize_name(req.name)
            if name in dropped:
                continue
            if name not in have:
                problems.append(f"{w.name}: {text} (not bundled)")
            elif not req.specifier.contains(have[name], prereleases=True):
                problems.append(f"{w.name}: {text} (bundled {have[name]})")
    return problems


def platform_manifest(text: str, platform: str, wheel_names: list[str]) -> str:
    """The manifest ``text`` with ``platforms = [platform]`` and ``wheels = [...]`` added (before
    its first table, where top-level keys must be)."""
    lines = text.splitlines(keepends=True)
    at = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("[") and not ln.lstrip().startswith("[\"")),
              len(lines))
    block = (f"platforms = [\"{platform}\"]\n"
             "# the packages the pipeline imports at run time; Blender installs them with the extension\n"
             "wheels = [\n" + "".join(f"  \"./wheels/{n}\",\n" for n in wheel_names) + "]\n\n")
    return "".join(lines[:at]) + block + "".join(lines[at:])


def zip_name(manifest: dict, platform: str | None) -> str:
    """Blender's ``extension build --split-platforms`` file name."""
    suffix = f"-{platform.replace('-', '_')}" if platform else ""
    return f"{manifest['id']}-{manifest['version']}{suffix}.zip"


def build(output_dir: Path, platform: str | None = None, wheel_dir: Path = WHEEL_CACHE) -> Path:
    """Write the plain zip (``platform`` None) or the zip of one Blender ``platform`` with its
    wheels; returns its path."""
    manifest = check_manifest(REPO / "blender_manifest.toml")
    files = entries()
    refused = refused_imports(files)
    if refused:
        raise SystemExit("error: the extension would carry modules that import the lab or Ray: "
                         + "; ".join(refused))
    if platform is not None and platform not in PLATFORMS:
        raise SystemExit(f"error: unknown platform {platform!r} (one of {', '.join(PLATFORMS)})")
    wheels = fetch_wheels(platform, wheel_dir) if platform else []
    if wheels:
        problems = missing_requirements(platform, wheels)
        if problems:
            raise SystemExit(f"error: {platform}: bundled wheels need what is not bundled: "
                             + "; ".join(problems))
    manifest_text = (REPO / "blender_manifest.toml").read_text(encoding="utf-8")
    if platform:
        manifest_text = platform_manifest(manifest_text, platform, [w.name for w in wheels])
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / zip_name(manifest, platform)
    with atomic_output(target, ".zip") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for src, name in files:
                if src is None:
                    zf.writestr(name, ROOT_INIT)
                elif name == "blender_manifest.toml":
                    zf.writestr(name, manifest_text)
                else:
                    zf.write(src, name)
            for w in wheels:  # already compressed: stored
                zf.write(w, f"wheels/{w.name}", compress_type=zipfile.ZIP_STORED)
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
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                        help="build this platform's zip (repeatable; default: every platform)")
    parser.add_argument("--no-wheels", action="store_true", help="build only the plain zip")
    parser.add_argument("--wheel-dir", default=str(WHEEL_CACHE), help="where the wheels are kept")
    parser.add_argument("--lock", action="store_true",
                        help="download the pinned wheels afresh and rewrite the lock file, then build")
    parser.add_argument("--no-validate", action="store_true", help="skip Blender's validator")
    args = parser.parse_args(argv)
    wheel_dir = Path(args.wheel_dir)
    if args.lock:
        lock(wheel_dir)
        print(f"wrote {LOCK.relative_to(REPO)}")
    targets: list[str | None] = [None]
    if not args.no_wheels:
        targets += args.platform or list(PLATFORMS)
    for platform in targets:
        path = build(Path(args.output_dir), platform, wheel_dir)
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        count = len(names)
        wheels = sum(n.startswith("wheels/") for n in names)
        note = ""
        if not args.no_validate:
            msg = validate(path)
            note = f"; Blender: {msg}" if msg else "; Blender's validator not found (bpy not installed)"
        print(f"wrote {path} ({count} files, {wheels} wheels, {path.stat().st_size / 1e6:.1f} MB){note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
