"""Pack the prepared mocap into a small file that can travel (and unpack it again).

``python -m posemoe_lab.training.datapack pack .cache/mocap PACK.npz``
``python -m posemoe_lab.training.datapack unpack PACK.npz FOLDER``

``mocap.npz`` stores ``joints`` (N, 17, 3) as float32 metres (86 MB for the two Bandai Namco
archives). The pack stores the same joints as int16 frame-to-frame differences of whole
millimetres, zlib-compressed (~14 MB): unpacking restores every coordinate to within 0.5 mm
(the quantisation step is 1 mm, three orders below the lifters' errors). The other arrays
(clip table, names, splits) are copied as they are. Used to carry the training data to a
GPU machine that cannot read ``../shared/data``; the pack is derived data and, like
``mocap.npz``, is never committed.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from posemoe_blender.errors import PoseMoEError, run_main
from posemoe_blender.joints import save_npz

FORMAT = "posemoe-mocap-pack-1"


def pack(folder: str | Path, out: str | Path) -> dict:
    """``<folder>/mocap.npz`` -> ``out`` (compressed npz). Returns a small report."""
    src = Path(folder) / "mocap.npz"
    if not src.is_file():
        raise PoseMoEError(f"{src}: no such file (run `python -m posemoe_lab prepare` first)")
    d = np.load(src, allow_pickle=False)
    mm = np.round(d["joints"].astype(np.float64) * 1000.0).astype(np.int64)   # (N, 17, 3)
    if np.abs(mm).max() >= 2 ** 31:
        raise PoseMoEError(f"{src}: coordinates too large to pack")
    delta = np.diff(mm, axis=0, prepend=np.zeros_like(mm[:1]))
    if delta.size and np.abs(delta).max() > np.iinfo(np.int16).max:
        raise PoseMoEError(f"{src}: a frame-to-frame jump over 32 m cannot be packed as int16")
    arrays = {k: d[k] for k in d.files if k != "joints"}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_npz(out, compressed=True, format=np.array(FORMAT), joints_delta_mm=delta.astype(np.int16), **arrays)
    manifest = Path(folder) / "manifest.json"
    return {"frames": int(mm.shape[0]), "bytes": out.stat().st_size,
            "manifest": json.loads(manifest.read_text()) if manifest.is_file() else None}


def unpack(path: str | Path, folder: str | Path) -> Path:
    """``path`` (a pack) -> ``<folder>/mocap.npz`` that :class:`~.dataset.Mocap` loads."""
    p = Path(path)
    if not p.is_file():
        raise PoseMoEError(f"{p}: no such file")
    try:
        d = np.load(p, allow_pickle=False)
        fmt = str(d["format"])
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line error
        raise PoseMoEError(f"{p}: not a mocap pack ({type(exc).__name__})") from None
    if fmt != FORMAT:
        raise PoseMoEError(f"{p}: unknown pack format {fmt!r} (expected {FORMAT})")
    joints = (np.cumsum(d["joints_delta_mm"].astype(np.int64), axis=0) / 1000.0).astype(np.float32)
    arrays = {k: d[k] for k in d.files if k not in ("format", "joints_delta_mm")}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "mocap.npz"
    save_npz(out, joints=joints, **arrays)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="posemoe_lab.training.datapack", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack", help="FOLDER (with mocap.npz) -> PACK.npz")
    a.add_argument("folder")
    a.add_argument("out")
    b = sub.add_parser("unpack", help="PACK.npz -> FOLDER/mocap.npz")
    b.add_argument("pack")
    b.add_argument("folder")
    args = ap.parse_args(argv)
    if args.cmd == "pack":
        rep = pack(args.folder, args.out)
        print(f"packed {rep['frames']} frames -> {args.out} ({rep['bytes'] / 1e6:.1f} MB)")
        if rep["manifest"]:
            shutil.copyfile(Path(args.folder) / "manifest.json", Path(args.out).with_suffix(".manifest.json"))
    else:
        out = unpack(args.pack, args.folder)
        man = Path(args.pack).with_suffix(".manifest.json")
        if man.is_file():
            shutil.copyfile(man, Path(args.folder) / "manifest.json")
        print(f"unpacked -> {out}")
    return 0


if __name__ == "__main__":
    run_main(main)
