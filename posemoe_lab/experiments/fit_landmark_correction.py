"""Fit the landmark-convention correction (``detection/landmarks.py``) and check it where it is used.

``python -m posemoe_lab.experiments.fit_landmark_correction .cache/render_calib --eval .cache/render_set
--videos ../shared/data/videos/single_person_cam0*.mp4``

1. Reads every video's BlazePose detections (cached on disk, ``posemoe_lab.evaluation.detections``)
   of the calibration set (training-split motion, ``posemoe_lab/renders/eval_set.py
   --calibration``) and fits one ``alpha`` per joint against the true 2D joints
   (:func:`~posemoe_blender.detection.landmarks.fit_correction`); prints it as the
   ``CORRECTION`` literal to paste into ``detection/landmarks.py``.
2. ``--eval``: on the held-out set (never used for the fit), each network's PA-MPJPE (mm, frames
   with a detection, network output before smoothing) on the raw 2D and on the 2D corrected
   with the calibration fit.
3. ``--videos``: the proportions of ``posemoe_lab/experiments/landmark_proportions.py`` on real footage, raw and
   corrected: the correction should move them towards the training skeleton's, not past them.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

import numpy as np


from posemoe_lab.experiments.landmark_proportions import HEADER, proportions, row  # noqa: E402
from posemoe_blender.lifting import stage as lifting  # noqa: E402
from posemoe_blender.smoothing import filters as smoothing
from posemoe_blender.detection.landmarks import fit_correction, to_training_convention  # noqa: E402
from posemoe_lab.evaluation.detections import cached_detections  # noqa: E402
from posemoe_lab.evaluation.metrics import pa_mpjpe_frame_mm  # noqa: E402
from posemoe_blender.joints import JOINT_NAMES  # noqa: E402


def load_set(set_dir: str) -> list[dict]:
    """Every video of a rendered set, detected (cached), with its truth: one dict per video (``name``,
    ``clip``, ``kp`` (T, 17, 3) detections, ``ok`` detected frames, ``gt2`` true 2D, ``gt3`` true
    camera-space joints, ``world`` true world joints, ``w``, ``h``, ``fps``)."""
    rows = []
    for tf in sorted(glob.glob(os.path.join(set_dir, "*_truth.npz"))):
        with np.load(tf) as d:
            truth = {k: d[k] for k in ("clip", "keypoints2d", "joints3d", "joints_world", "width", "height", "fps")}
        det = cached_detections(tf.replace("_truth.npz", ".mp4"))
        rows.append(dict(name=os.path.basename(tf)[:-10], clip=str(truth["clip"]), kp=det.keypoints2d,
                         ok=det.detected, gt2=truth["keypoints2d"][..., :2], gt3=truth["joints3d"],
                         world=truth["joints_world"], w=int(truth["width"]), h=int(truth["height"]),
                         fps=float(truth["fps"])))
    if not rows:
        raise SystemExit(f"{set_dir}: no *_truth.npz")
    return rows


def fit_rows(rows: list[dict], symmetric: bool = True) -> np.ndarray:
    """The correction (17, 2) fitted on these videos' detected frames."""
    return fit_correction([(r["kp"][r["ok"]], r["gt2"][r["ok"]]) for r in rows], symmetric=symmetric)


def network_pa(rows: list[dict], weights: str, correction_of) -> tuple[float, float]:
    """A network's mean PA-MPJPE (mm; frames with a detection; output before smoothing) on the
    raw 2D and on the 2D corrected with ``correction_of(row)``."""
    raw, corrected = [], []
    for r in rows:
        kp, _ = smoothing.fill_gaps(r["kp"], r["fps"])
        g = r["gt3"] - r["gt3"][:, :1]
        for out, k2 in ((raw, kp), (corrected, to_training_convention(kp, correction_of(r)))):
            p = lifting.lift_keypoints(k2, r["w"], r["h"], device="cpu", weights=weights).astype(np.float64)
            out.append(pa_mpjpe_frame_mm(p[r["ok"]], g[r["ok"]]))
    return float(np.mean(raw)), float(np.mean(corrected))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("calib_dir")
    ap.add_argument("--eval", dest="eval_dir", help="held-out rendered set to check the fit on")
    ap.add_argument("--weights", nargs="*", default=["weights/posemoe_default.pt", "weights/entangled.pt"])
    ap.add_argument("--videos", nargs="*", default=[], help="real videos: proportions raw vs corrected")
    ap.add_argument("--asymmetric", action="store_true", help="fit left and right joints separately")
    args = ap.parse_args()
    calib = load_set(args.calib_dir)
    alpha = fit_rows(calib, symmetric=not args.asymmetric)
    frames = sum(int(r["ok"].sum()) for r in calib)
    print(f"fitted on {len(calib)} videos, {frames} detected frames ({args.calib_dir})")
    print("CORRECTION = np.array([  # (alpha along the reference bone, beta along the width line)")
    for name, (a, b) in zip(JOINT_NAMES, alpha):
        print(f"    [{a:+.4f}, {b:+.4f}],  # {name}")
    print("])")
    if args.eval_dir:
        held = load_set(args.eval_dir)
        for w in args.weights:
            raw, corrected = network_pa(held, w, lambda r: alpha)
            print(f"{w} on {args.eval_dir} ({len(held)} videos), PA-MPJPE before smoothing: "
                  f"raw 2D {raw:.1f} mm | corrected 2D {corrected:.1f} mm")
        err = lambda rows, a: np.mean(np.concatenate([  # noqa: E731
            np.linalg.norm(to_training_convention(r["kp"][r["ok"]], a)[..., :2] - r["gt2"][r["ok"]], axis=-1).ravel()
            for r in rows]))
        print(f"held-out 2D error vs the skeleton's joints: raw {err(held, np.zeros(17)):.2f} px, "
              f"along the bones only {err(held, alpha[:, 0]):.2f} px, corrected {err(held, alpha):.2f} px")
    if args.videos:
        print(HEADER)
        truth = [proportions(r["gt2"], r["ok"]) for r in calib]
        print(row("calibration renders: skeleton's true 2D", {k: np.concatenate([t[k] for t in truth]) for k in truth[0]}))
        for v in args.videos:
            det = cached_detections(v)
            name = os.path.basename(v)
            print(row(f"{name}: BlazePose raw", proportions(det.keypoints2d, det.detected)))
            print(row(f"{name}: corrected", proportions(to_training_convention(det.keypoints2d, alpha), det.detected)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
