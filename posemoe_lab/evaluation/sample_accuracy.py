"""Accuracy of the whole pipeline on the project's own sample clip (samples/demo.mp4).

    .venv/bin/python -m posemoe_lab.evaluation.sample_accuracy

Runs the bpy-free pipeline (detection, lifting, smoothing, solving, foot locking) on the
rendered clip once per lifter and compares with the clip's true joints (samples/demo_truth.npz)
using the metrics of ``posemoe_lab.evaluation.metrics``: the lifted root-relative joints
("lifted", what ``--save-joints`` writes) and the final animation read from the solved rig
("final", what is keyed). Prints a table; the numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

from posemoe_lab import REPO_ROOT

import argparse
import os
import sys
import time

import numpy as np

REPO = str(REPO_ROOT)

from posemoe_blender.pipeline import ConvertOptions, process_clip  # noqa: E402
from posemoe_lab.evaluation.metrics import pa_mpjpe_frame_mm, score  # noqa: E402

LIFTERS = {
    "TCN, fused (weights/tcn_fused.pt, the default)": dict(lifter="tcn"),
    "entangled transformer, fused (--lifter entangled)": dict(lifter="entangled"),
    "PoseMoE, fused (--lifter posemoe)": dict(lifter="posemoe"),
    "MediaPipe world landmarks (--lifter mediapipe)": dict(lifter="mediapipe"),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=os.path.join(REPO, "samples", "demo.mp4"))
    ap.add_argument("--truth", default=os.path.join(REPO, "samples", "demo_truth.npz"))
    args = ap.parse_args(argv)
    truth = np.load(args.truth)
    rows = []
    for name, kw in LIFTERS.items():
        t0 = time.perf_counter()
        res = process_clip(args.video, ConvertOptions(device="cpu", **kw))
        seconds = time.perf_counter() - t0
        final = score(res.animation.joints_world, truth["joints_world"], res.fps, floor_frame=True)
        lifted_pa = pa_mpjpe_frame_mm(res.joints3d, truth["joints3d"])
        lifted_mpjpe = float(np.linalg.norm(res.joints3d - truth["joints3d"], axis=-1).mean() * 1000)
        rows.append((name, res.lifter, lifted_mpjpe, lifted_pa, final, seconds))
    print("| lifter | lifted MPJPE mm | lifted PA-MPJPE mm | final MPJPE mm | final PA-MPJPE mm "
          "| root error mm | foot sliding cm/s | accel error mm/f² | contact height err cm | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, lifter, lm, lpa, f, sec in rows:
        print(f"| {name} | {lm:.1f} | {lpa:.1f} | {f['all/mpjpe_mm']:.1f} | {f['all/pa_mpjpe_frame_mm']:.1f} "
              f"| {f['root_error_mm']:.0f} | {f['foot_slide_cm_s']:.2f} | {f['all/accel_error_mm_f2']:.1f} "
              f"| {f['contact_height_err_cm']:.1f} | {sec:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
