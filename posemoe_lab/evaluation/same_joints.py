"""Behaviour checks for refactoring: the joint files of the sample clip and the real test clips.

Usage (from the repository root)::

    .venv/bin/python -m posemoe_lab.evaluation.same_joints convert OUT_DIR   # convert --save-joints each clip
    .venv/bin/python -m posemoe_lab.evaluation.same_joints compare BEFORE_DIR AFTER_DIR [--tol 1e-6]

``convert`` runs ``python -m posemoe_blender convert CLIP --save-joints OUT_DIR/<clip>.npz`` with
the defaults on ``samples/demo.mp4`` and on every ``*.mp4`` of ``$POSEMOE_DATA/videos`` (default
``../shared/data``; absent videos are skipped with a note). ``compare`` prints, per clip, whether
every array of the two joint files is identical, else the largest absolute difference of each
array that differs, and exits 1 when one exceeds ``--tol`` (metres for the joints).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from posemoe_lab import REPO_ROOT


def clips() -> list[Path]:
    """The sample clip, then the real test clips when ``$POSEMOE_DATA/videos`` is there."""
    data = Path(os.environ.get("POSEMOE_DATA", REPO_ROOT.parent / "shared" / "data"))
    found = [REPO_ROOT / "samples" / "demo.mp4"]
    videos = data / "videos"
    if videos.is_dir():
        found += sorted(videos.glob("*.mp4"))
    else:
        print(f"note: {videos} not found: only the sample clip", file=sys.stderr)
    return found


def convert(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    for clip in clips():
        stem = out_dir / clip.stem
        proc = subprocess.run([sys.executable, "-m", "posemoe_blender", "convert", str(clip),
                               "-o", f"{stem}.fbx", "--save-joints", f"{stem}.npz", "--overwrite"],
                              cwd=REPO_ROOT, capture_output=True, text=True)
        last = (proc.stderr.strip().splitlines() or [""])[-1]
        print(f"{clip.name}: {last}")
        if proc.returncode:
            return proc.returncode
    return 0


def differences(before: Path, after: Path) -> dict:
    """``{array: max |difference|}`` (float arrays), ``inf`` for a missing or unequal array."""
    a, b = np.load(before, allow_pickle=True), np.load(after, allow_pickle=True)
    out = {}
    for key in sorted(set(a.files) | set(b.files)):
        if key not in a.files or key not in b.files:
            out[key] = float("inf")
            continue
        x, y = a[key], b[key]
        if x.shape != y.shape:
            out[key] = float("inf")
        elif x.dtype.kind in "fc":
            d = float(np.max(np.abs(x.astype(np.float64) - y))) if x.size else 0.0
            if d > 0 or not np.array_equal(np.isnan(x), np.isnan(y)):
                out[key] = d
        elif not np.array_equal(x, y):
            out[key] = float("inf")
    return out


def compare(before_dir: Path, after_dir: Path, tol: float) -> int:
    worst = 0.0
    files = sorted(before_dir.glob("*.npz"))
    if not files:
        print(f"error: no joint files in {before_dir}", file=sys.stderr)
        return 2
    for f in files:
        other = after_dir / f.name
        if not other.is_file():
            print(f"{f.name}: missing in {after_dir}")
            worst = float("inf")
            continue
        diff = differences(f, other)
        worst = max([worst, *diff.values()])
        print(f"{f.name}: " + ("identical (bit for bit)" if not diff else
                               ", ".join(f"{k} max |diff| {v:.3g}" for k, v in diff.items())))
    print(f"largest difference: {worst:.3g} (tolerance {tol:g})")
    return 0 if worst <= tol else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m posemoe_lab.evaluation.same_joints")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert")
    c.add_argument("out_dir", type=Path)
    k = sub.add_parser("compare")
    k.add_argument("before", type=Path)
    k.add_argument("after", type=Path)
    k.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args(argv)
    if args.command == "convert":
        return convert(args.out_dir)
    return compare(args.before, args.after, args.tol)


if __name__ == "__main__":
    sys.exit(main())
