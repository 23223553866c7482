"""Motion-capture sources beyond Bandai Namco, mapped to the 17 Human3.6M joints at 30 fps.

Each reader returns a list of :class:`Take`: ``joints`` (N, 17, 3) float32 metres, world frame,
**Y up**, 30 fps, plus a name, a source, a style/class label and the train/test split. The
mapping rule per source (documented in docs/model.md, "Data"):

* **ReActIdle** (``reactidle-idle.tar.xz``, BVH, metres, Y up, 24 fps; a Rigify-like skeleton
  without hands): Pelvis = ``pelvis``; hips, knees, ankles = ``thigh``, ``shin``, ``foot``;
  Spine = ``spine.001``; Thorax = ``neck``; Neck (nose) and Head (top) = the ``face`` joint +
  9 cm and + 20 cm along the face bone's own up axis (the rule of the Bandai ``Head`` joint);
  shoulders, elbows = ``upper_arm``, ``forearm``; wrists = the ``forearm`` end sites. All 22
  clips (16 people) train.
* **HDM05** (``hdm05-subset.tar.xz``, ASF/AMC, 120 fps): read by :mod:`.asf` (its joint rule
  is documented there); only the train actors ``bd``, ``bk``, ``dg`` are read here. The test
  actors ``mm`` and ``tr`` are the cross-source benchmark and never enter training.

Frame rates are converted to 30 fps by linear interpolation in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posemoe_blender.errors import PoseMoEError
from posemoe_blender.joints import JOINT_NAMES, NUM_JOINTS
from posemoe_lab.training.archive import extract_once
from posemoe_lab.training.bvh import forward_kinematics, parse_bvh_text

HEAD_NOSE_M = 0.09
HEAD_TOP_M = 0.20
#: HDM05 actors that may train; ``mm`` and ``tr`` are held out for the cross-source benchmark.
HDM05_TRAIN_ACTORS = ("bd", "bk", "dg")
HDM05_HELD_OUT_ACTORS = ("mm", "tr")


@dataclass
class Take:
    name: str
    source: str        # "reactidle" | "hdm05"
    style: str         # ReActIdle: acted/genuine; HDM05: the motion class
    split: str         # "train" (sources other than Bandai contribute training data only)
    joints: np.ndarray  # (N, 17, 3) float32 metres, Y up, 30 fps


def to_30fps(joints: np.ndarray, fps: float) -> np.ndarray:
    """Linear resampling of ``(N, 17, 3)`` from ``fps`` to 30 fps (first frame kept)."""
    if abs(fps - 30.0) < 1e-6:
        return joints.astype(np.float32)
    n = joints.shape[0]
    t_src = np.arange(n) / fps
    t_dst = np.arange(0.0, t_src[-1] + 1e-9, 1.0 / 30.0)
    flat = joints.reshape(n, -1)
    out = np.stack([np.interp(t_dst, t_src, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(len(t_dst), NUM_JOINTS, 3).astype(np.float32)


# ---------------------------------------------------------------------- ReActIdle

def reactidle_to_h36m(names: list[str], pos: np.ndarray, rot: np.ndarray, end_offsets: dict) -> np.ndarray:
    """(F, J, 3) global positions (metres) + rotations of the ReActIdle skeleton -> (F, 17, 3)."""
    ix = {n: i for i, n in enumerate(names)}
    P = lambda n: pos[:, ix[n]]  # noqa: E731

    def end(n):
        off = np.asarray(end_offsets[ix[n]], dtype=np.float64)
        return pos[:, ix[n]] + np.einsum("fij,j->fi", rot[:, ix[n]], off)

    face_up = rot[:, ix["face"], :, 1]          # the face bone points along its local +y
    table = {
        "Pelvis": P("pelvis"),
        "RHip": P("thigh.R"), "RKnee": P("shin.R"), "RAnkle": P("foot.R"),
        "LHip": P("thigh.L"), "LKnee": P("shin.L"), "LAnkle": P("foot.L"),
        "Spine": P("spine.001"), "Thorax": P("neck"),
        "Neck": P("face") + HEAD_NOSE_M * face_up, "Head": P("face") + HEAD_TOP_M * face_up,
        "LShoulder": P("upper_arm.L"), "LElbow": P("forearm.L"), "LWrist": end("forearm.L"),
        "RShoulder": P("upper_arm.R"), "RElbow": P("forearm.R"), "RWrist": end("forearm.R"),
    }
    return np.stack([table[n] for n in JOINT_NAMES], axis=1)


def read_reactidle(data_dir: Path, raw_dir: Path) -> list[Take]:
    archive = data_dir / "reactidle-idle.tar.xz"
    root = extract_once(archive, raw_dir, "reactidle", "*/*.bvh", "ReActIdle's BVH takes")
    takes = []
    for bvh in sorted(root.glob("*/*.bvh")):
        skel, motion, frame_time = parse_bvh_text(bvh.read_text(errors="replace"), str(bvh))
        pos, rot = forward_kinematics(skel, motion)
        try:
            joints = reactidle_to_h36m(skel.names, pos, rot, skel.end_offsets)
        except KeyError as exc:
            raise PoseMoEError(f"{bvh}: not ReActIdle's skeleton (no joint or end site {exc.args[0]})") from None
        takes.append(Take(f"reactidle_{bvh.stem}", "reactidle", bvh.parent.name, "train",
                          to_30fps(joints, 1.0 / frame_time)))
    if not takes:
        raise PoseMoEError(f"{archive}: no BVH files (expected reactidle/*/*.bvh)")
    return takes


# ---------------------------------------------------------------------- HDM05

def read_hdm05_train(data_dir: Path, raw_dir: Path) -> list[Take]:
    """HDM05 takes of the train actors (``HDM05_TRAIN_ACTORS``) at 30 fps."""
    from posemoe_lab.training import asf

    takes = []
    for t in asf.list_takes(data_dir / "hdm05-subset.tar.xz", raw_dir, actors=HDM05_TRAIN_ACTORS):
        assert t.actor not in HDM05_HELD_OUT_ACTORS
        joints, fps = t.load()
        takes.append(Take(f"hdm05_{t.name}", "hdm05", t.motion_class, "train", to_30fps(joints, fps)))
    if not takes:
        raise PoseMoEError("hdm05: no takes of the train actors found")
    return takes


READERS = {"reactidle": read_reactidle, "hdm05": read_hdm05_train}
