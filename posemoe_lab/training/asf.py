"""Acclaim ASF/AMC motion capture (HDM05) -> the 17 Human3.6M joints.

HDM05 (Müller et al., Universität Bonn, CG-2007-2; CC BY-SA 3.0: "The data used in this
project was obtained from HDM05.") ships one ASF skeleton per actor and AMC motions at 120 fps.
The subset in ``../shared/data/mocap/hdm05-subset.tar.xz`` holds ``train/`` (actors ``bd``,
``bk``, ``dg``) and ``test/`` (``mm``, ``tr``) with one folder per motion class.

Forward kinematics (the Acclaim convention): every bone has a direction and a length in the
skeleton's rest pose and an ``axis`` (Euler XYZ, degrees) that gives its local frame ``C``;
a frame's rotation ``M`` from the AMC values of the bone's ``dof`` (rx, ry, rz in that order,
Euler XYZ, degrees, missing ones zero). The global rotation is
``R = R_parent @ C @ M @ C^-1`` and the bone's end is ``end_parent + length * R @ direction``
(the root: position and rotation from its AMC line, ``R_root = C_root @ M_root @ C_root^-1``).
Euler "XYZ" here is ``Rz @ Ry @ Rx`` (SciPy ``from_euler("xyz")``). Lengths are in the ASF's
unit (``:units length 0.45``: one unit is ``1 / 0.45`` inch) and become metres; Y is up.

Joint rule (ASF bone names; "end" = where the bone ends, i.e. where its children start):

| H36M | HDM05 |
|---|---|
| Pelvis | the root position |
| RHip, LHip | end of ``rhipjoint`` / ``lhipjoint`` (the femur heads) |
| RKnee, RAnkle (L likewise) | end of ``rfemur``, end of ``rtibia`` |
| Spine | end of ``lowerback`` and ``upperback`` averaged |
| Thorax | end of ``thorax`` (the base of the neck, where the clavicles start) |
| Neck (nose) | end of ``upperneck`` + 9 cm along the ``head`` bone |
| Head (top) | end of ``upperneck`` + 20 cm along the ``head`` bone |
| LShoulder, LElbow, LWrist (R likewise) | end of ``lclavicle``, ``lhumerus``, ``lradius`` |

The neck and head rule is the one used for the Bandai Namco ``Head`` joint (docs/model.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from posemoe_blender.errors import PoseMoEError
from posemoe_blender.joints import JOINT_NAMES
from posemoe_lab.training.archive import extract_once

HEAD_NOSE_M = 0.09
HEAD_TOP_M = 0.20
INCH_M = 0.0254
FPS = 120.0


@dataclass
class Bone:
    name: str
    direction: np.ndarray      # (3,) unit vector, rest pose, skeleton frame
    length: float              # metres
    C: np.ndarray              # (3, 3) local frame
    dof: tuple[str, ...]       # subset of ("rx", "ry", "rz"), in file order
    parent: str = "root"


@dataclass
class Skeleton:
    bones: dict[str, Bone]
    order: list[str]           # bones sorted parents first
    root_order: tuple[str, ...]
    root_C: np.ndarray
    scale: float               # metres per ASF length unit (root translations in the AMC)


def _euler_xyz(deg: np.ndarray) -> np.ndarray:
    return Rotation.from_euler("xyz", deg, degrees=True).as_matrix()


def parse_asf(text: str, path: str = "<asf>") -> Skeleton:
    """Read an ASF skeleton (bone directions, lengths in metres, axes, dofs, hierarchy)."""
    m = re.search(r":units(.*?):", text, re.S)
    unit = 1.0
    if m:
        lm = re.search(r"length\s+([0-9.eE+-]+)", m.group(1))
        if lm:
            unit = float(lm.group(1))
    scale = INCH_M / unit
    root = re.search(r":root(.*?):bonedata", text, re.S)
    if not root:
        raise PoseMoEError(f"{path}: not an ASF file (no :root / :bonedata)")
    ro = re.search(r"order\s+(.+)", root.group(1))
    root_order = tuple(x.lower() for x in ro.group(1).split()) if ro else ("tx", "ty", "tz", "rx", "ry", "rz")
    ax = re.search(r"axis\s+(\w+)", root.group(1))
    if ax and ax.group(1).upper() != "XYZ":
        raise PoseMoEError(f"{path}: root axis order {ax.group(1)} is not supported (XYZ only)")
    ori = re.search(r"orientation\s+([-0-9.eE+]+)\s+([-0-9.eE+]+)\s+([-0-9.eE+]+)", root.group(1))
    root_C = _euler_xyz(np.array([float(v) for v in ori.groups()])) if ori else np.eye(3)
    bones: dict[str, Bone] = {}
    bonedata = text[text.index(":bonedata"):text.index(":hierarchy")]
    for block in re.findall(r"begin(.*?)end", bonedata, re.S):
        name = re.search(r"name\s+(\S+)", block).group(1)
        d = np.array([float(v) for v in re.search(r"direction\s+(\S+)\s+(\S+)\s+(\S+)", block).groups()])
        length = float(re.search(r"length\s+(\S+)", block).group(1)) * scale
        am = re.search(r"axis\s+(\S+)\s+(\S+)\s+(\S+)\s+(\w+)", block)
        if am.group(4).upper() != "XYZ":
            raise PoseMoEError(f"{path}: bone {name}: axis order {am.group(4)} is not supported (XYZ only)")
        C = _euler_xyz(np.array([float(v) for v in am.groups()[:3]]))
        dm = re.search(r"dof\s+([^\n]+)", block)
        dof = tuple(x.lower() for x in dm.group(1).split()) if dm else ()
        bones[name] = Bone(name, d / max(np.linalg.norm(d), 1e-12), length, C, dof)
    hier = re.search(r":hierarchy\s*begin(.*?)end", text, re.S)
    if not hier:
        raise PoseMoEError(f"{path}: ASF without :hierarchy")
    for line in hier.group(1).strip().splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        for child in parts[1:]:
            if child not in bones:
                raise PoseMoEError(f"{path}: hierarchy names unknown bone {child}")
            bones[child].parent = parts[0]
    order, seen = [], {"root"}
    while len(order) < len(bones):
        added = [n for n, b in bones.items() if n not in seen and b.parent in seen]
        if not added:
            raise PoseMoEError(f"{path}: ASF hierarchy is not a tree")
        for n in added:
            order.append(n)
            seen.add(n)
    return Skeleton(bones, order, root_order, root_C, scale)


def parse_amc(text: str, skeleton: Skeleton, path: str = "<amc>") -> dict[str, np.ndarray]:
    """AMC values per bone (``"root"`` included): (F, n_dof) arrays, degrees / ASF units."""
    frames: list[dict[str, list[float]]] = []
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#:":
            continue
        parts = line.split()
        if len(parts) == 1 and parts[0].isdigit():
            current = {}
            frames.append(current)
            continue
        if current is None:
            continue
        current[parts[0]] = [float(v) for v in parts[1:]]
    if not frames:
        raise PoseMoEError(f"{path}: no frames in the AMC file")
    out = {}
    for name in ["root", *skeleton.order]:
        n = len(skeleton.root_order) if name == "root" else len(skeleton.bones[name].dof)
        if n == 0:
            continue
        try:
            out[name] = np.array([f[name] for f in frames], dtype=np.float64).reshape(len(frames), n)
        except (KeyError, ValueError):
            raise PoseMoEError(f"{path}: bone {name} missing or malformed in some frame") from None
    return out


def forward_kinematics(skeleton: Skeleton, motion: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Bone end positions (F, 3) metres and global rotations (F, 3, 3) by bone name
    (``"root"``: the root position and rotation)."""
    scale = skeleton.scale
    rv = motion["root"]
    F = rv.shape[0]
    trans = np.zeros((F, 3))
    rot = np.zeros((F, 3))
    for k, ch in enumerate(skeleton.root_order):
        if ch.startswith("t"):
            trans[:, "xyz".index(ch[1])] = rv[:, k] * scale
        else:
            rot[:, "xyz".index(ch[1])] = rv[:, k]
    C = skeleton.root_C
    R = {"root": C @ _euler_xyz(rot) @ C.T}
    P = {"root": trans}
    for name in skeleton.order:
        b = skeleton.bones[name]
        angles = np.zeros((F, 3))
        if b.dof:
            vals = motion[name]
            for k, ch in enumerate(b.dof):
                angles[:, "xyz".index(ch[1])] = vals[:, k]
        Rb = R[b.parent] @ b.C @ _euler_xyz(angles) @ b.C.T
        R[name] = Rb
        P[name] = P[b.parent] + b.length * np.einsum("fij,j->fi", Rb, b.direction)
    return P, R


def to_h36m(P: dict) -> np.ndarray:
    """(F, 17, 3) H36M joints from the bone ends of :func:`forward_kinematics` (rule above)."""
    head_dir = P["head"] - P["upperneck"]
    head_dir /= np.maximum(np.linalg.norm(head_dir, axis=-1, keepdims=True), 1e-9)
    table = {
        "Pelvis": P["root"],
        "RHip": P["rhipjoint"], "RKnee": P["rfemur"], "RAnkle": P["rtibia"],
        "LHip": P["lhipjoint"], "LKnee": P["lfemur"], "LAnkle": P["ltibia"],
        "Spine": 0.5 * (P["lowerback"] + P["upperback"]), "Thorax": P["thorax"],
        "Neck": P["upperneck"] + HEAD_NOSE_M * head_dir, "Head": P["upperneck"] + HEAD_TOP_M * head_dir,
        "LShoulder": P["lclavicle"], "LElbow": P["lhumerus"], "LWrist": P["lradius"],
        "RShoulder": P["rclavicle"], "RElbow": P["rhumerus"], "RWrist": P["rradius"],
    }
    return np.stack([table[n] for n in JOINT_NAMES], axis=1)


def load_amc_joints(asf_path: str | Path, amc_path: str | Path) -> np.ndarray:
    """(F, 17, 3) float32 metres, world frame (Y up), at :data:`FPS`."""
    skel = parse_asf(Path(asf_path).read_text(errors="replace"), str(asf_path))
    motion = parse_amc(Path(amc_path).read_text(errors="replace"), skel, str(amc_path))
    P, _ = forward_kinematics(skel, motion)
    return to_h36m(P).astype(np.float32)


@dataclass
class AmcTake:
    actor: str            # "bd", "bk", "dg", "mm", "tr"
    motion_class: str     # e.g. "squat1Reps"
    name: str             # the AMC file's stem without the "HDM_" prefix
    split: str            # "train" | "test" (the subset's folder)
    asf: Path
    amc: Path

    def load(self) -> tuple[np.ndarray, float]:
        """``(joints (F, 17, 3) metres Y up, fps)``."""
        return load_amc_joints(self.asf, self.amc), FPS


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack the subset once under ``dest``; returns ``dest / "hdm05-subset"``."""
    return extract_once(archive, dest, "hdm05-subset", "*/*/*.amc", "the HDM05 subset's AMC takes")


_AMC = re.compile(r"HDM_([a-z]+)_(.+?)_(\d+)_120\.amc$")


def list_takes(archive: Path, raw_dir: Path, actors: tuple[str, ...] | None = None) -> list[AmcTake]:
    """Every take of the subset (optionally only ``actors``), sorted by split, class, file."""
    root = unpack(Path(archive), Path(raw_dir))
    takes = []
    for amc in sorted(root.glob("*/*/*.amc")):
        m = _AMC.search(amc.name)
        if not m:
            continue
        actor, cls = m.group(1), m.group(2)
        if actors is not None and actor not in actors:
            continue
        asf = amc.parent / f"HDM_{actor}.asf"
        if not asf.is_file():
            raise PoseMoEError(f"{amc}: no skeleton {asf.name} beside it")
        takes.append(AmcTake(actor, cls, amc.stem[len("HDM_"):], amc.parent.parent.name, asf, amc))
    return takes
