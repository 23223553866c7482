"""Per-actor (or per-view) table from scripts/cross_eval.py's JSON: mean of each metric and its
ratio to mediapipe_raw over the selected videos.

Usage: .venv/bin/python scripts/cross_table.py RESULT.json [--by actor|view|clip] [--metrics pa_frame,pa_seq,...]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json")
    ap.add_argument("--by", default="actor")
    ap.add_argument("--metrics", default="pa_frame,pa_seq,mpjpe,accel,foot_slide")
    args = ap.parse_args(argv)
    with open(args.json) as fh:
        data = json.load(fh)
    keys = args.metrics.split(",")
    groups = sorted({v[args.by] for v in data["videos"]})
    for g in groups:
        vids = [v for v in data["videos"] if v[args.by] == g]
        base = {k: np.nanmean([v["methods"]["mediapipe_raw"][k] for v in vids]) for k in keys}
        print(f"\n{args.by} {g}: {len(vids)} videos")
        print(f"{'method':22s}" + "".join(f"{k:>16s}" for k in keys))
        for m in vids[0]["methods"]:
            vals = {k: np.nanmean([v["methods"][m][k] for v in vids]) for k in keys}
            print(f"{m:22s}" + "".join(f"{vals[k]:8.1f} {vals[k] / base[k]:5.2f}x " for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
