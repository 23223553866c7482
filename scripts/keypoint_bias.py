"""How far BlazePose's 2D joints sit from the training skeleton's joints, on a rendered set.

``python scripts/keypoint_bias.py .cache/render_set [--weights W ...]``

1. Detects every video of the set (``core.detection``) and compares the 17 mapped joints with
   the true 2D joints of the mocap skeleton (``*_truth.npz`` ``keypoints2d``) in frames with a
   detection: mean offset (image x, y) and RMS per joint, in units of the person's height in
   the image.
2. Ankle confidence in the truth's contact vs swing frames (``evaluate_render.truth_contacts``):
   how often BlazePose is unsure of a planted foot and of a swinging one.
3. Fits the per-joint correction of ``core/landmarks.py`` (along a reference bone -- the torso
   for the torso, head and shoulder joints, the parent bone for the limbs -- and across the
   body's width line) leave-one-clip-out (fitted on the other clips, applied to this one), and reports each network's PA-MPJPE (mm, frames with a
   detection, before smoothing) on the raw and on the corrected 2D.
Results and what they mean: docs/benchmarks-quality.md ("Where the render set's error comes from").
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from posemoe_blender.core import lifting, smoothing  # noqa: E402
from posemoe_blender.core.landmarks import fit_correction, to_training_convention  # noqa: E402
from posemoe_blender.core.detection import detect_video  # noqa: E402
from posemoe_blender.core.video import open_video  # noqa: E402
from posemoe_blender.evaluate_render import pa_mpjpe, truth_contacts  # noqa: E402
from posemoe_blender.joints import JOINT_INDEX as J, JOINT_NAMES  # noqa: E402

def fit(rows) -> np.ndarray:
    """Per-joint correction (:func:`~posemoe_blender.core.landmarks.fit_correction`) from these videos."""
    return fit_correction([(r["kp"][r["ok"]], r["gt2"][r["ok"]]) for r in rows])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set_dir")
    ap.add_argument("--weights", nargs="*", default=["weights/posemoe_default.pt", "weights/entangled.pt"])
    args = ap.parse_args()
    rows = []
    for tf in sorted(glob.glob(os.path.join(args.set_dir, "*_truth.npz"))):
        with np.load(tf) as d:
            truth = {k: d[k] for k in d.files}
        with open_video(tf.replace("_truth.npz", ".mp4")) as reader:
            det = detect_video(reader)
        rows.append(dict(clip=str(truth["clip"]), kp=det.keypoints2d, ok=det.detected, gt2=truth["keypoints2d"][..., :2],
                         contacts=truth_contacts(truth["joints_world"].astype(np.float64), float(truth["fps"])),
                         gt3=truth["joints3d"], w=int(truth["width"]), h=int(truth["height"]), fps=float(truth["fps"])))
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
          " ".join(f"{n}:{a:+.3f}/{b:+.3f}" for n, (a, b) in zip(JOINT_NAMES, fit(rows))))
    for w in args.weights:
        res = {"raw 2D": [], "corrected 2D (leave-one-clip-out)": []}
        for r in rows:
            alpha = fit([q for q in rows if q["clip"] != r["clip"]])
            kp, _ = smoothing.fill_gaps(r["kp"], r["fps"])
            g = r["gt3"] - r["gt3"][:, :1]
            for key, k2 in zip(res, (kp, to_training_convention(kp, alpha))):
                p = lifting.lift_keypoints(k2, r["w"], r["h"], device="cpu", weights=w).astype(np.float64)
                res[key].append(pa_mpjpe(p[r["ok"]], g[r["ok"]]))
        print(w, " | ".join(f"{k}: PA-MPJPE {np.mean(v):.1f} mm" for k, v in res.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
