"""Bone-name mappings from the generated rig (:data:`~.skeleton.BONE_NAMES`) to common rigs.

A mapping is a :class:`BoneMapping`: ``bones`` maps our bone name -> the target rig's bone
name (only the bones listed are keyed; every other bone of the target is left untouched),
``root`` names the target bone that receives the root motion (default: the bone mapped to
``Hips``) and ``tips`` optionally names, for our bones whose end is not the head of another
mapped bone (forearms, shins, head), a target bone whose head marks that end (used only to
measure the target's rest direction; without it the bone's own axis is used).

Our ``LHip``/``RHip`` bones (pelvis -> hip joint) have no counterpart in most rigs: the thighs
hang from the pelvis bone there, so the presets leave them out.

Custom mappings are stored as JSON::

    {"name": "My rig", "bones": {"Hips": "pelvis", "LThigh": "thigh_l", ...},
     "root": "pelvis", "tips": {"LForearm": "hand_l"}}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Optional

from ..errors import PoseMoEError
from .skeleton import BONE_NAMES


@dataclass
class BoneMapping:
    """Our bone -> target bone names (see the module docstring)."""

    name: str
    bones: dict
    root: Optional[str] = None
    tips: dict = field(default_factory=dict)
    description: str = ""

    @property
    def root_bone(self) -> Optional[str]:
        return self.root or self.bones.get("Hips")

    def to_json(self) -> dict:
        out = {"name": self.name, "bones": dict(self.bones)}
        if self.root:
            out["root"] = self.root
        if self.tips:
            out["tips"] = dict(self.tips)
        return out


def _sided(center: dict, left: dict, tips_left: Optional[dict] = None, *, upper: str, lower: str,
           name: str, root: Optional[str] = None, description: str = "") -> BoneMapping:
    """A mapping from the centre-line bones and the left side, the right side derived by
    replacing ``lower`` (e.g. ``"_l"``, ``".L"``, ``"Left"``) with ``upper``'s counterpart."""
    bones = dict(center)
    tips = {}
    for ours, theirs in left.items():
        bones["L" + ours] = theirs
        bones["R" + ours] = theirs.replace(lower, upper)
    for ours, theirs in (tips_left or {}).items():
        if ours.startswith("L"):
            tips[ours] = theirs
            tips["R" + ours[1:]] = theirs.replace(lower, upper)
        else:
            tips[ours] = theirs
    return BoneMapping(name=name, bones=bones, root=root, tips=tips, description=description)


#: The generated rig itself (identity mapping): a clip onto a rig built from another clip.
POSEMOE = BoneMapping(name="PoseMoE rig", bones={b: b for b in BONE_NAMES},
                      description="The rig this add-on generates (same bone names)")

#: Rigify's human meta-rig (before "Generate Rig").
RIGIFY_METARIG = _sided(
    {"Hips": "spine", "Spine": "spine.002", "Neck": "spine.004", "Head": "spine.006"},
    {"Clavicle": "shoulder.L", "UpperArm": "upper_arm.L", "Forearm": "forearm.L",
     "Thigh": "thigh.L", "Shin": "shin.L"},
    {"LForearm": "hand.L", "LShin": "foot.L"},
    lower=".L", upper=".R", name="Rigify meta-rig",
    description="Rigify human meta-rig (spine, spine.002, spine.004, spine.006, upper_arm.L, ...)")

#: A generated Rigify rig, driving its FK controls (set the IK/FK switches to FK).
RIGIFY_FK = _sided(
    {"Hips": "hips", "Spine": "chest", "Neck": "neck", "Head": "head"},
    {"Clavicle": "shoulder.L", "UpperArm": "upper_arm_fk.L", "Forearm": "forearm_fk.L",
     "Thigh": "thigh_fk.L", "Shin": "shin_fk.L"},
    {"LForearm": "hand_fk.L", "LShin": "foot_fk.L"},
    lower=".L", upper=".R", name="Rigify (generated, FK controls)", root="torso",
    description="Generated Rigify rig: torso/hips/chest/neck/head and the *_fk limb controls")

#: A generated Rigify rig's deform bones (for rigs whose DEF- constraints were removed,
#: e.g. game-export copies; on a live Rigify rig the constraints override these keys).
RIGIFY_DEF = _sided(
    {"Hips": "DEF-spine", "Spine": "DEF-spine.002", "Neck": "DEF-spine.004",
     "Head": "DEF-spine.006"},
    {"Clavicle": "DEF-shoulder.L", "UpperArm": "DEF-upper_arm.L", "Forearm": "DEF-forearm.L",
     "Thigh": "DEF-thigh.L", "Shin": "DEF-shin.L"},
    {"LForearm": "DEF-hand.L", "LShin": "DEF-foot.L"},
    lower=".L", upper=".R", name="Rigify (generated, DEF- bones)",
    description="Generated Rigify rig's DEF- bones (constraint-free export rigs)")

#: Mixamo characters (``mixamorig:`` prefix, as imported from Mixamo's FBX).
MIXAMO = _sided(
    {"Hips": "mixamorig:Hips", "Spine": "mixamorig:Spine1", "Neck": "mixamorig:Neck",
     "Head": "mixamorig:Head"},
    {"Clavicle": "mixamorig:LeftShoulder", "UpperArm": "mixamorig:LeftArm",
     "Forearm": "mixamorig:LeftForeArm", "Thigh": "mixamorig:LeftUpLeg",
     "Shin": "mixamorig:LeftLeg"},
    {"LForearm": "mixamorig:LeftHand", "LShin": "mixamorig:LeftFoot",
     "Head": "mixamorig:HeadTop_End"},
    lower="Left", upper="Right", name="Mixamo",
    description="Mixamo rigs (mixamorig:Hips, mixamorig:LeftArm, ...)")

#: Unreal Engine 4 mannequin (SK_Mannequin).
UE4 = _sided(
    {"Hips": "pelvis", "Spine": "spine_02", "Neck": "neck_01", "Head": "head"},
    {"Clavicle": "clavicle_l", "UpperArm": "upperarm_l", "Forearm": "lowerarm_l",
     "Thigh": "thigh_l", "Shin": "calf_l"},
    {"LForearm": "hand_l", "LShin": "foot_l"},
    lower="_l", upper="_r", name="Unreal mannequin (UE4)",
    description="UE4 SK_Mannequin (pelvis, spine_01..03, upperarm_l, calf_l, ...)")

#: Unreal Engine 5 mannequin (SKM_Manny / SKM_Quinn).
UE5 = _sided(
    {"Hips": "pelvis", "Spine": "spine_03", "Neck": "neck_01", "Head": "head"},
    {"Clavicle": "clavicle_l", "UpperArm": "upperarm_l", "Forearm": "lowerarm_l",
     "Thigh": "thigh_l", "Shin": "calf_l"},
    {"LForearm": "hand_l", "LShin": "foot_l"},
    lower="_l", upper="_r", name="Unreal mannequin (UE5)",
    description="UE5 Manny/Quinn (pelvis, spine_01..05, neck_01..02, upperarm_l, ...)")

#: Preset id (as used by the panel) -> mapping.
PRESETS = {
    "POSEMOE": POSEMOE,
    "RIGIFY_METARIG": RIGIFY_METARIG,
    "RIGIFY_FK": RIGIFY_FK,
    "RIGIFY_DEF": RIGIFY_DEF,
    "MIXAMO": MIXAMO,
    "UE4": UE4,
    "UE5": UE5,
}


def get_preset(preset_id: str) -> BoneMapping:
    try:
        return PRESETS[preset_id]
    except KeyError:
        raise PoseMoEError(f"unknown retarget preset {preset_id!r} "
                           f"(choose from {', '.join(PRESETS)})") from None


def mapping_from_dict(data: dict, source: str = "mapping") -> BoneMapping:
    """Validate a JSON-like dict (see the module docstring) and return a :class:`BoneMapping`."""
    if not isinstance(data, dict) or not isinstance(data.get("bones"), dict):
        raise PoseMoEError(f"{source}: expected an object with a \"bones\" table")
    bones = {}
    for ours, theirs in data["bones"].items():
        if ours not in BONE_NAMES:
            raise PoseMoEError(f"{source}: unknown bone {ours!r} (ours are {', '.join(BONE_NAMES)})")
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
    if not isinstance(tips, dict) or any(k not in BONE_NAMES for k in tips):
        raise PoseMoEError(f"{source}: \"tips\" must map our bone names to target bone names")
    root = data.get("root") or None
    if root is not None and not isinstance(root, str):
        raise PoseMoEError(f"{source}: \"root\" must be a bone name")
    return BoneMapping(name=str(data.get("name") or os.path.basename(source)), bones=bones,
                       root=root, tips={k: v for k, v in tips.items() if v})


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
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(mapping.to_json(), fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise PoseMoEError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path
