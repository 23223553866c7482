"""How far BlazePose's 2D joints sit from the training skeleton's joints, on a rendered set.

``python -m posemoe_lab.experiments.keypoint_bias .cache/render_set [--weights W ...]``

1. Reads every video's BlazePose detections (``core.detection``, cached on disk) and compares the 17 mapped joints with
   the true 2D joints of the mocap skeleton (``*_truth.npz`` ``keypoints2d``) in frames with a
   detection: mean offset (image x, y) and RMS per joint, in units of the person's height in
   the image.
2. Ankle confidence in the truth's contact vs swing frames (``evaluation.metrics.truth_contacts``):
   how often BlazePose is unsure of a planted foot and of a swinging one.
3. Fits the per-joint correction of ``detection/landmarks.py`` (along a reference bone -- the torso
   for the torso, head and shoulder joints, the parent bone for the limbs -- and across the
   body's width line) leave-one-clip-out (fitted on the other clips, applied to this one), and reports each network's PA-MPJPE (mm, frames with a
   detection, before smoothing) on the raw and on the corrected 2D.
Results and what they mean: docs/benchmarks.md ("Where the render set's error comes from").
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from posemoe_lab.experiments.fit_landmark_correction import fit_rows, load_set, network_pa  # noqa: E402
from posemoe_lab.evaluation.metrics import truth_contacts  # noqa: E402
from posemoe_blender.joints import JOINT_INDEX as J, JOINT_NAMES  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set_dir")
    ap.add_argument("--weights", nargs="*", default=["weights/posemoe_default.pt", "weights/entangled.pt"])
    args = ap.parse_args()
    rows = load_set(args.set_dir)
    for r in rows:
        r["contacts"] = truth_contacts(r["world"].astype(np.float64), r["fps"])
    err = np.concatenate([(r["kp"][r["ok"], :, :2] - r["gt2"][r["ok"]])
                          / np.ptp(r["gt2"][r["ok"], :, 1], axis=1)[:, None, None] for r in rows])
    print(f"{len(err)} detected frames; offsets in units of the person's image height")
    print(f"{'joint':10s} {'mean x':>7s} {'mean y':>7s} {'rms':>7s}")
    for j, name in enumerate(JOINT_NAMES):
        m = err[:, j].mean(0)
        print(f"{name:10s} {m[0]:7.3f} {m[1]:7.3f} {np.sqrt((err[:, j] ** 2).sum(-1).mean()):7.3f}")
    conf = {"contact": [], "swing": []}
    for r in rows:
        for k, j in enumerate((J["LAnkle"], J["RAnkle"])):
            c = r["kp"][:, j, 2]
            conf["contact"].append(c[r["ok"] & r["contacts"][:, k]])
            conf["swing"].append(c[r["ok"] & ~r["contacts"][:, k]])
    for key, values in conf.items():
        v = np.concatenate(values)
        print(f"ankle confidence < 0.55 in {key} foot-frames: {(v < 0.55).mean() * 100:.1f} % of {len(v)}")
    print("correction (along the reference bone / across the width line), all clips:",
          " ".join(f"{n}:{a:+.3f}/{b:+.3f}" for n, (a, b) in zip(JOINT_NAMES, fit_rows(rows))))
    for w in args.weights:
        raw, loco = network_pa(rows, w, lambda r: fit_rows([q for q in rows if q["clip"] != r["clip"]]))
        print(w, f"raw 2D: PA-MPJPE {raw:.1f} mm | corrected 2D (leave-one-clip-out): PA-MPJPE {loco:.1f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
