"""Prepare the motion-capture sources for lifting training.

``python -m posemoe_lab.training.prepare --data ../shared/data/mocap --out .cache/mocap
[--sources bandai,hdm05,reactidle]``

1. unpacks the archives (once) under ``<out>/raw``;
2. Bandai Namco 1 and 2: parses every BVH, runs vectorised FK, maps the 22-joint skeleton to
   the 17 Human3.6M joints (see ``docs/model.md``), converts cm -> m (world frame, Y up, 30 fps);
   HDM05's train actors and ReActIdle: :mod:`.sources` (their own mapping rules, resampled to
   30 fps);
3. writes ``<out>/mocap.npz``: ``joints`` (N, 17, 3) float32 (all clips concatenated),
   ``clip_start``/``clip_len`` (C,), ``clip_name``, ``dataset``, ``source`` (``bandai-1``,
   ``bandai-2``, ``hdm05``, ``reactidle``), ``style``, ``content``, ``split``
   (``train``/``test``) and ``<out>/manifest.json``.

The held-out test split (never trained on) is Bandai's dataset-1 style ``happy`` and dataset-2
style ``youthful``. HDM05's actors ``mm`` and ``tr`` are not read at all (the cross-source
benchmark). Everything is deterministic (sorted file lists, no randomness).
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from posemoe_blender.cli import _Parser
from posemoe_blender.errors import PoseMoEError, run_main
from posemoe_blender.fileio import atomic_output
from posemoe_blender.joints import JOINT_NAMES, NUM_JOINTS, save_npz
from posemoe_lab.training.archive import extract_once
from posemoe_lab.training.bvh import forward_kinematics, parse_bvh_text
from posemoe_lab.training.sources import READERS

ARCHIVES = ("bandai-namco-motion-1.tar.xz", "bandai-namco-motion-2.tar.xz")
TEST_STYLES = {"dataset-1": ("happy",), "dataset-2": ("youthful",)}

#: Distance (m) from the BVH Head joint (top of the neck) to the H36M "Neck/Nose" point and
#: to the top of the head, along the head bone's own axis.
HEAD_NOSE_M = 0.09
HEAD_TOP_M = 0.20


def map_to_h36m(names: list[str], pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """(F, J, 3) global BVH positions in metres + rotations -> (F, 17, 3) H36M joints."""
    ix = {n: i for i, n in enumerate(names)}
    P = lambda n: pos[:, ix[n]]  # noqa: E731
    head = P("Head")
    # bones of this skeleton point along the joint's local +x axis in the rest pose
    head_axis = rot[:, ix["Head"], :, 0]
    out = np.empty((pos.shape[0], NUM_JOINTS, 3), dtype=np.float64)
    table = {
        "Pelvis": P("Hips"),
        "RHip": P("UpperLeg_R"), "RKnee": P("LowerLeg_R"), "RAnkle": P("Foot_R"),
        "LHip": P("UpperLeg_L"), "LKnee": P("LowerLeg_L"), "LAnkle": P("Foot_L"),
        "Spine": 0.5 * (P("Spine") + P("Chest")),
        "Thorax": P("Neck"),
        "Neck": head + HEAD_NOSE_M * head_axis,
        "Head": head + HEAD_TOP_M * head_axis,
        "LShoulder": P("UpperArm_L"), "LElbow": P("LowerArm_L"), "LWrist": P("Hand_L"),
        "RShoulder": P("UpperArm_R"), "RElbow": P("LowerArm_R"), "RWrist": P("Hand_R"),
    }
    for j, name in enumerate(JOINT_NAMES):
        out[:, j] = table[name]
    return out


def _parse_one(path: str) -> tuple[str, np.ndarray, float]:
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    skel, motion, frame_time = parse_bvh_text(text, path)
    pos, rot = forward_kinematics(skel, motion)
    pos *= 0.01  # cm -> m
    try:
        joints = map_to_h36m(skel.names, pos, rot).astype(np.float32)
    except KeyError as exc:
        raise PoseMoEError(f"{path}: not the Bandai Namco skeleton (no joint {exc.args[0]})") from None
    return path, joints, frame_time


def unpack(data_dir: Path, raw_dir: Path) -> list[Path]:
    """The two Bandai Namco archives unpacked (once) under ``raw_dir``; their top folders."""
    return [extract_once(data_dir / arch, raw_dir, f"Bandai-Namco-Research-Motiondataset-{k}", "data/*.bvh",
                         "the Bandai Namco BVH clips")
            for k, arch in enumerate(ARCHIVES, start=1)]


def clip_meta(bvh: Path, cfg: Path) -> dict:
    """A Bandai clip's labels (its ``.json`` beside it, the label lists in ``cfg``); a missing
    or unreadable label is a PoseMoEError."""
    try:
        label = json.loads(bvh.with_suffix(".json").read_text())
        contents = cfg.joinpath("content_label.txt").read_text().split()
        styles = cfg.joinpath("style_label.txt").read_text().split()
        style = styles[label["style"]].split("_", 1)[1]
        content = contents[label["content"]].split("_", 1)[1]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise PoseMoEError(f"{bvh}: its labels ({bvh.with_suffix('.json').name}, {cfg}/*_label.txt) "
                           f"are missing or unreadable ({type(exc).__name__})") from None
    ds = bvh.name.split("_")[0]
    return {"name": bvh.stem, "dataset": ds, "style": style, "content": content}


def main(argv=None) -> int:
    ap = _Parser(prog="python -m posemoe_lab prepare", description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data/mocap", help="folder with the .tar.xz archives")
    ap.add_argument("--out", default=".cache/mocap", help="output folder")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="debug: at most N clips per dataset")
    ap.add_argument("--sources", default="bandai,hdm05,reactidle",
                    help="comma-separated sources (bandai, hdm05, reactidle)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    fresh = [d for d in (out, out / "raw") if not d.exists()]
    try:
        return _prepare(args)
    finally:
        for d in reversed(fresh):  # folders this run made and left empty (it failed early)
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()


def _prepare(args) -> int:
    t0 = time.time()
    out = Path(args.out)
    sources = {x.strip() for x in args.sources.split(",") if x.strip()}
    unknown = sources - {"bandai", *READERS}
    if unknown:
        raise PoseMoEError(f"--sources: unknown {', '.join(sorted(unknown))} (bandai, {', '.join(READERS)})")
    roots = unpack(Path(args.data), out / "raw") if "bandai" in sources else []
    files, metas = [], []
    for root in roots:
        bvhs = sorted((root / "data").glob("*.bvh"))
        if args.limit:
            bvhs = bvhs[: args.limit]
        for b in bvhs:
            files.append(str(b))
            metas.append(clip_meta(b, root / "cfg"))
    print(f"parsing {len(files)} BVH files with {args.workers} workers ...", flush=True)
    results: dict[str, np.ndarray] = {}
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as ex:
        for path, joints, ft in ex.map(_parse_one, files, chunksize=16):
            if abs(ft - 1 / 30) > 1e-3:
                raise PoseMoEError(f"{path}: frame time {ft}, expected 1/30 s")
            results[path] = joints
    arrays = [results[f] for f in files]
    for m in metas:
        m["source"] = {"dataset-1": "bandai-1", "dataset-2": "bandai-2"}[m["dataset"]]
        m["split"] = "test" if m["style"] in TEST_STYLES.get(m["dataset"], ()) else "train"
    for name in sources - {"bandai"}:
        for take in READERS[name](Path(args.data), out / "raw"):
            arrays.append(take.joints)
            metas.append({"name": take.name, "dataset": take.source, "source": take.source,
                          "style": take.style, "content": take.style, "split": take.split})
    if not arrays:
        raise PoseMoEError(f"{args.data}: no clips in the sources {', '.join(sorted(sources))}")
    lens = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    split = np.array([m["split"] for m in metas])
    source = np.array([m["source"] for m in metas])
    joints = np.concatenate(arrays, axis=0).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    save_npz(out / "mocap.npz", joints=joints, clip_start=starts, clip_len=lens,
             clip_name=np.array([m["name"] for m in metas]),
             dataset=np.array([m["dataset"] for m in metas]), source=source,
             style=np.array([m["style"] for m in metas]),
             content=np.array([m["content"] for m in metas]), split=split,
             joint_names=np.array(JOINT_NAMES), fps=np.float32(30.0))
    digest = hashlib.sha256(joints.tobytes()).hexdigest()
    manifest = {
        "clips": len(arrays), "frames": int(lens.sum()),
        "train_clips": int((split == "train").sum()), "test_clips": int((split == "test").sum()),
        "train_frames": int(lens[split == "train"].sum()), "test_frames": int(lens[split == "test"].sum()),
        "test_styles": TEST_STYLES, "fps": 30, "units": "metres, world frame, Y up",
        "sources": {str(n): {"clips": int((source == n).sum()), "frames": int(lens[source == n].sum()),
                             "train_frames": int(lens[(source == n) & (split == "train")].sum())}
                    for n in sorted(set(source.tolist()))},
        "joints_sha256": digest, "seconds": round(time.time() - t0, 1),
    }
    with atomic_output(out / "manifest.json") as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=2))
    print(json.dumps(manifest, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    run_main(main)
