"""Make a long test clip by looping a short one back and forth (continuous motion).

    .venv/bin/python -m posemoe_lab.experiments.make_long_clip SRC.mp4 DST.mp4 N_FRAMES [--fps 60]

Used for the memory benchmark in docs/benchmarks.md (write DST outside the repo).
"""

from __future__ import annotations

import argparse
import sys

import cv2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("frames", type=int)
    ap.add_argument("--fps", type=float, default=60.0)
    args = ap.parse_args(argv)
    cap = cv2.VideoCapture(args.src)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    if not frames:
        print(f"error: {args.src}: no frames", file=sys.stderr)
        return 2
    seq = frames + frames[-2:0:-1]  # ping-pong, so the motion stays continuous
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(args.dst, cv2.VideoWriter_fourcc(*"mp4v"), args.fps, (w, h))
    for i in range(args.frames):
        out.write(seq[i % len(seq)])
    out.release()
    print(f"{args.dst}: {args.frames} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
