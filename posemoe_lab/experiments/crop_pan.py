"""Synthetic pans of real footage (issue #23): the same frames cropped by a still window and by
a window that pans sideways with hand-held shake, and the comparison of their conversions.

A crop window that translates shifts the picture, which for a pinhole camera is close to a
turn about its optical centre, so a converted pan should give the still crop's root path.

Usage (from the repository root)::

    .venv/bin/python -m posemoe_lab.experiments.crop_pan make CLIP.mp4 OUT_DIR [--amplitude 124] [--shake 2]
    .venv/bin/python -m posemoe_lab.experiments.crop_pan compare STILL.npz PANNED.npz

``make`` writes ``OUT_DIR/<clip>_still.mp4`` (the window centred) and ``OUT_DIR/<clip>_pan.mp4``
(the window's x offset ``amplitude * sin(2 pi t / period)`` pixels, ``period`` the shorter of
4 s and the clip, plus uniform integer shake in ``[-shake, shake]`` on x and y, seeded), both
``2 * (amplitude + shake)`` pixels narrower and ``2 * shake`` shorter than the clip.
``compare`` prints, for two ``--save-joints`` files of the same frames, the root trajectory's
RMS difference (metres; raw and after removing the mean offset) and the root-relative joints'
mean difference (MPJPE, metres), as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def window_offsets(frames: int, fps: float, amplitude: float = 124.0, shake: int = 2, seed: int = 0
                   ) -> np.ndarray:
    """(frames, 2) int pixel offsets (x, y) of the panning window from the centred one."""
    period = min(4.0 * fps, float(frames))
    t = np.arange(frames)
    rng = np.random.default_rng(seed)
    jitter = rng.integers(-shake, shake + 1, size=(frames, 2)) if shake else np.zeros((frames, 2), int)
    x = np.round(amplitude * np.sin(2.0 * np.pi * t / period)).astype(int)
    return np.column_stack([x, np.zeros(frames, int)]) + jitter


def make(clip: Path, out_dir: Path, amplitude: float = 124.0, shake: int = 2, seed: int = 0) -> tuple[Path, Path]:
    """Write the still and the panned crop of ``clip``; returns their paths."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    if not frames:
        raise SystemExit(f"error: {clip}: no frames")
    h, w = frames[0].shape[:2]
    mx, my = int(np.ceil(amplitude)) + shake, shake
    cw, ch = (w - 2 * mx) // 2 * 2, (h - 2 * my) // 2 * 2
    if cw < 32 or ch < 32:
        raise SystemExit(f"error: {clip}: {w}x{h} is too small for a +-{amplitude} px pan")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / f"{clip.stem}_still.mp4", out_dir / f"{clip.stem}_pan.mp4"
    offsets = window_offsets(len(frames), fps, amplitude, shake, seed)
    writers = [cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"mp4v"), fps, (cw, ch)) for p in paths]
    for bgr, (dx, dy) in zip(frames, offsets):
        writers[0].write(np.ascontiguousarray(bgr[my:my + ch, mx:mx + cw]))
        writers[1].write(np.ascontiguousarray(bgr[my + dy:my + dy + ch, mx + dx:mx + dx + cw]))
    for wr in writers:
        wr.release()
    return paths


def compare(still: Path, panned: Path) -> dict:
    """Root path and joint differences between two joint files of the same frames (metres)."""
    a, b = np.load(still), np.load(panned)
    ra, rb = a["root"].astype(np.float64), b["root"].astype(np.float64)
    d = rb - ra
    ja, jb = a["joints3d"].astype(np.float64), b["joints3d"].astype(np.float64)
    return {"root_rms_m": float(np.sqrt((d ** 2).sum(axis=1).mean())),
            "root_rms_aligned_m": float(np.sqrt(((d - d.mean(axis=0)) ** 2).sum(axis=1).mean())),
            "root_rms_x_m": float(np.sqrt((d[:, 0] ** 2).mean())),
            "joints_mpjpe_m": float(np.linalg.norm(jb - ja, axis=-1).mean()),
            "frames": int(len(ra))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m posemoe_lab.experiments.crop_pan", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    mk = sub.add_parser("make", help="write the still and the panned crop of a clip")
    mk.add_argument("clip", type=Path)
    mk.add_argument("out_dir", type=Path)
    mk.add_argument("--amplitude", type=float, default=124.0, help="pan amplitude, pixels (default 124)")
    mk.add_argument("--shake", type=int, default=2, help="hand-held shake, pixels (default 2)")
    mk.add_argument("--seed", type=int, default=0)
    cp = sub.add_parser("compare", help="root and joint differences of two --save-joints files")
    cp.add_argument("still", type=Path)
    cp.add_argument("panned", type=Path)
    args = parser.parse_args(argv)
    if args.command == "make":
        if not args.clip.is_file():
            print(f"error: {args.clip}: no such file", file=sys.stderr)
            return 2
        for p in make(args.clip, args.out_dir, args.amplitude, args.shake, args.seed):
            print(p)
        return 0
    for p in (args.still, args.panned):
        if not p.is_file():
            print(f"error: {p}: no such file", file=sys.stderr)
            return 2
    print(json.dumps(compare(args.still, args.panned)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
