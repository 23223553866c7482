"""A local wheel folder filled from this venv's own installed packages (no download).

The add-on's dependency installer runs ``pip install --no-index --find-links FOLDER`` when
the preferences name a wheel folder. The tests give it one made here: every distribution the
requirements need (their dependency closure, as installed in this venv) is packed back into
a wheel from its installed files (``RECORD``) and its ``*.dist-info`` (the ``WHEEL`` file
gives the tags). The archives are stored, not compressed (pip only unpacks them), and kept in
``.cache/wheelhouse`` between runs: a wheel whose name (distribution, version, tags) is
already there is not packed again.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "wheelhouse"
_SKIP = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def closure(requirements) -> dict:
    """Canonical name -> installed Distribution for ``requirements`` and everything they need
    (extras and environment markers evaluated for this Python)."""
    seen: dict = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        dist = metadata.distribution(req.name)
        seen[name] = dist
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is None or sub.marker.evaluate({"extra": ""}):
                todo.append(sub)
    return seen


def _dist_info(dist) -> str:
    return next(str(f).split("/")[0] for f in dist.files if str(f).split("/")[0].endswith(".dist-info"))


def wheel_name(dist) -> str:
    tags = [line.split(":", 1)[1].strip() for line in dist.read_text("WHEEL").splitlines()
            if line.startswith("Tag:")]
    parts = [t.split("-") for t in tags]
    py, abi, plat = (".".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))
    base = _dist_info(dist)[:-len(".dist-info")]  # name-version as installed
    return f"{base}-{py}-{abi}-{plat}.whl"


def pack(dist, folder: Path) -> Path:
    """Pack one installed distribution into ``folder`` as a wheel (kept if already there)."""
    target = folder / wheel_name(dist)
    if target.exists():
        return target
    info = _dist_info(dist)
    tmp = target.with_suffix(".tmp")
    entries = []
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for f in dist.files:
            name = str(f)
            if name.startswith("..") or "__pycache__" in name or name.endswith(".pyc"):
                continue  # console scripts (pip makes them again) and byte code
            if name.startswith(info + "/") and name.split("/", 1)[1] in _SKIP:
                continue
            path = Path(dist.locate_file(f))
            if not path.is_file():
                continue
            zf.write(path, name)
            entries.append(name)
        zf.writestr(f"{info}/RECORD", "".join(f"{n},,\n" for n in entries) + f"{info}/RECORD,,\n")
    os.replace(tmp, target)
    return target


def fill(folder: Path, requirements) -> list[Path]:
    """Wheels for ``requirements`` (and their dependencies) in ``folder``; returns them."""
    folder.mkdir(parents=True, exist_ok=True)
    return [pack(dist, folder) for dist in closure(requirements).values()]
