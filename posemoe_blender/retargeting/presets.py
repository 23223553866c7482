"""Bone-name mappings ("bone maps") from the generated rig (:data:`~.skeleton.RIG_BONE_NAMES`)
to other rigs (standard library only: the add-on's panel lists them before the pipeline's
packages are installed).

A mapping is a :class:`BoneMapping`: ``bones`` maps our bone name -> the target rig's bone
name (only the bones listed are keyed; every other bone of the target is left untouched),
``root`` names the target bone that receives the root motion (default: the bone mapped to
``Hips``) and ``tips`` optionally names, for our bones whose end is not the head of another
mapped bone (forearms, shins, head), a target bone whose head marks that end (used only to
measure the target's rest direction; without it the bone's own axis is used).

Our ``LeftHipJoint``/``RightHipJoint`` bones (pelvis -> hip joint) have no counterpart in most
rigs: the thighs hang from the pelvis bone there, so the shipped maps leave them out; so is our
``Chest`` (it only halves the spine segment) and, until the hands are solved, ``LeftHand`` /
``RightHand``. Maps written with the bone names used before the rig had feet (``LThigh``,
``RShin``, ``LClavicle``, ... see :data:`~.skeleton.LEGACY_BONE_NAMES`) still load: those names
are translated.

The shipped maps are JSON files in ``posemoe_blender/data/bone_maps/``, found by walking that
folder (add a file there to add a preset; its id is the file name without ``.json`` in upper
case, e.g. ``mixamo.json`` -> ``MIXAMO``). A file (and a custom mapping saved from the panel)
looks like::

    {"name": "My rig", "bones": {"Hips": "pelvis", "LeftUpperLeg": "thigh_l", ...},
     "root": "pelvis", "tips": {"LeftLowerArm": "hand_l"},
     "description": "...", "aliases": ["myrig"], "order": 7}

``aliases`` are extra names ``convert --preset`` accepts; ``order`` sorts the panel's list;
optional ``settings`` ({bone: {custom property: value}}) are keyed as constants in every Action
made with the map, where the rig has them (the generated Rigify rig's IK/FK switches set to FK,
so its FK controls drive the limbs).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from ..errors import PoseMoEError
from ..fileio import atomic_output
from ..solving.skeleton import FINGER_BONE_NAMES, LEGACY_BONE_NAMES, RIG_BONE_NAMES

#: Where the shipped bone maps live (walked by :func:`find_bone_maps`).
BONE_MAP_DIR = Path(__file__).resolve().parents[1] / "data" / "bone_maps"


@dataclass
class BoneMapping:
    """Our bone -> target bone names (see the module docstring)."""

    name: str
    bones: dict
    root: Optional[str] = None
    tips: dict = field(default_factory=dict)
    description: str = ""
    aliases: tuple = ()
    source: str = ""
    settings: dict = field(default_factory=dict)

    @property
    def root_bone(self) -> Optional[str]:
        return self.root or self.bones.get("Hips")

    def to_json(self) -> dict:
        out = {"name": self.name, "bones": dict(self.bones)}
        if self.root:
            out["root"] = self.root
        if self.tips:
            out["tips"] = dict(self.tips)
        if self.settings:
            out["settings"] = {b: dict(p) for b, p in self.settings.items()}
        return out


def find_bone_maps(folders: Iterable[os.PathLike | str] = (BONE_MAP_DIR,)) -> dict:
    """Preset id -> :class:`BoneMapping` for every ``*.json`` under ``folders`` (walked in
    sorted order, sub-folders too), sorted by each file's ``order`` then id. A broken file is a
    PoseMoEError naming it (a shipped map must load)."""
    found = []
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(".json") and not name.startswith("."):
                    path = os.path.join(dirpath, name)
                    mapping = load_mapping(path)
                    with open(path, encoding="utf-8") as fh:
                        order = json.load(fh).get("order", 1000)
                    found.append((order, os.path.splitext(name)[0].upper(), mapping))
    return {key: mapping for _, key, mapping in sorted(found, key=lambda x: (x[0], x[1]))}


def get_preset(preset_id: str) -> BoneMapping:
    """A shipped map by id (``MIXAMO``), file name (``mixamo``, ``rigify-fk``) or alias
    (``rigify``, ``unreal``), case-insensitive; PoseMoEError listing the choices otherwise."""
    key = str(preset_id).strip().replace("-", "_")
    if key.upper() in PRESETS:
        return PRESETS[key.upper()]
    for mapping in PRESETS.values():
        if key.lower() in mapping.aliases:
            return mapping
    raise PoseMoEError(f"unknown retarget preset {preset_id!r} "
                       f"(choose from {', '.join(preset_names())})") from None


def preset_names() -> list:
    """The names ``convert --preset`` accepts for the shipped maps (file names, then aliases)."""
    names = [k.lower() for k in PRESETS]
    return names + [a for m in PRESETS.values() for a in m.aliases if a not in names]


def resolve_mapping(name_or_path: str) -> BoneMapping:
    """A shipped map's name (see :func:`get_preset`) or a mapping JSON file."""
    if str(name_or_path).lower().endswith(".json") or os.sep in str(name_or_path):
        return load_mapping(name_or_path)
    return get_preset(name_or_path)


def detect_mapping(bone_names: Iterable[str]) -> Optional[BoneMapping]:
    """The shipped map that finds the most of its body bones among ``bone_names`` (at least
    half of them; the finger bones are optional: they only break ties), or None. Remaining
    ties go to the map listed first."""
    names = set(bone_names)
    best, best_hits = None, (0, 0)
    for mapping in PRESETS.values():
        body = [t for o, t in mapping.bones.items() if o not in FINGER_BONE_NAMES]
        hits = (sum(t in names for t in body),
                sum(t in names for o, t in mapping.bones.items() if o in FINGER_BONE_NAMES))
        if hits[0] * 2 >= len(body) and hits > best_hits:
            best, best_hits = mapping, hits
    return best


def mapping_from_dict(data: dict, source: str = "mapping") -> BoneMapping:
    """Validate a JSON-like dict (see the module docstring) and return a :class:`BoneMapping`."""
    if not isinstance(data, dict) or not isinstance(data.get("bones"), dict):
        raise PoseMoEError(f"{source}: expected an object with a \"bones\" table")
    bones = {}
    for ours, theirs in data["bones"].items():
        ours = LEGACY_BONE_NAMES.get(ours, ours)
        if ours not in RIG_BONE_NAMES:
            raise PoseMoEError(f"{source}: unknown bone {ours!r} (ours are {', '.join(RIG_BONE_NAMES)})")
        if not isinstance(theirs, str):
            raise PoseMoEError(f"{source}: target of {ours!r} must be a bone name")
        if theirs.strip():
            bones[ours] = theirs
    if not bones:
        raise PoseMoEError(f"{source}: the mapping maps no bones")
    targets = list(bones.values())
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        raise PoseMoEError(f"{source}: target bones mapped twice: {', '.join(dupes)}")
    tips = data.get("tips") or {}
    if isinstance(tips, dict):
        tips = {LEGACY_BONE_NAMES.get(k, k): v for k, v in tips.items()}
    if not isinstance(tips, dict) or any(k not in RIG_BONE_NAMES for k in tips):
        raise PoseMoEError(f"{source}: \"tips\" must map our bone names to target bone names")
    root = data.get("root") or None
    if root is not None and not isinstance(root, str):
        raise PoseMoEError(f"{source}: \"root\" must be a bone name")
    settings = data.get("settings") or {}
    if not isinstance(settings, dict) or not all(
            isinstance(v, dict) and all(isinstance(x, (int, float)) for x in v.values()) for v in settings.values()):
        raise PoseMoEError(f"{source}: \"settings\" must map bone names to {{property: number}}")
    aliases = data.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise PoseMoEError(f"{source}: \"aliases\" must be a list of names")
    return BoneMapping(name=str(data.get("name") or os.path.basename(source)), bones=bones,
                       root=root, tips={k: v for k, v in tips.items() if v},
                       description=str(data.get("description") or ""),
                       aliases=tuple(a.lower() for a in aliases), source=str(source),
                       settings={b: {k: float(x) for k, x in v.items()} for b, v in settings.items()})


def load_mapping(path: str | os.PathLike) -> BoneMapping:
    """Read a custom mapping JSON file. Raises PoseMoEError with the file name on problems."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise PoseMoEError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise PoseMoEError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    return mapping_from_dict(data, path)


def save_mapping(path: str | os.PathLike, mapping: BoneMapping) -> str:
    """Write ``mapping`` as JSON (atomically); returns the absolute path."""
    path = os.path.abspath(os.fspath(path))
    try:
        with atomic_output(path, ".json") as tmp:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(mapping.to_json(), fh, indent=2)
                fh.write("\n")
    except OSError as exc:
        raise PoseMoEError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


#: Preset id (as used by the panel) -> mapping: the shipped maps, found by a folder walk.
PRESETS = find_bone_maps()
#: The generated rig itself (identity mapping): a clip onto a rig built from another clip.
POSEMOE = PRESETS["POSEMOE"]
RIGIFY_METARIG = PRESETS["RIGIFY_METARIG"]
RIGIFY_FK = PRESETS["RIGIFY_FK"]
RIGIFY_DEF = PRESETS["RIGIFY_DEF"]
MIXAMO = PRESETS["MIXAMO"]
UE4 = PRESETS["UE4"]
UE5 = PRESETS["UE5"]
