"""Do BlazePose's joints sit where the training skeleton's joints are -- on real people too?

``python -m posemoe_lab.experiments.landmark_proportions .cache/render_set ../shared/data/videos/single_person_cam0*.mp4``

On the rendered set, BlazePose's hips sit ~3 % of the person's height below the mocap hips and
its ankles ~2 % above them (``posemoe_lab/experiments/keypoint_bias.py``). If a real person's landmarks are off in
the same way, a correction learnt on the renders would help real videos; if the offsets come
from the primitive figure, it would hurt them. Without 3D truth for real footage, this compares
**proportions that need no truth**: in frames where a leg is straight and near-vertical and the
torso upright (so foreshortening scales every segment alike), per video

* ``torso/leg`` = |mid-shoulders - mid-hips| / (|hip - knee| + |knee - ankle|) of that leg;
* ``thigh/shin`` = |hip - knee| / |knee - ankle|;
* ``hips/shoulders`` = |left hip - right hip| / |left shoulder - right shoulder| (both lines
  foreshorten alike as the person turns);

for (a) the mocap skeleton's true 2D joints on the renders (what the lifters were trained on),
(b) BlazePose on the same renders, (c) BlazePose on real videos. Hips placed too low make the
torso long and the thigh short; ankles placed too high make the shin short. Real adults vary
by about +-5 % in these ratios (anthropometric tables), far less than the shift being tested.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

import numpy as np

from posemoe_lab.evaluation.detections import cached_detections  # noqa: E402
from posemoe_blender.joints import JOINT_INDEX as J  # noqa: E402

HEADER = ("| source | frame-legs | torso/leg median (IQR) | thigh/shin median (IQR) | hips/shoulders median (IQR) |\n"
          "|---|---:|---:|---:|---:|")
LEGS = (("RHip", "RKnee", "RAnkle"), ("LHip", "LKnee", "LAnkle"))
USED = ["LShoulder", "RShoulder", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle"]


def proportions(kp: np.ndarray, ok: np.ndarray, min_conf: float = 0.5,
                max_tilt_deg: float = 15.0, min_straight: float = 0.985) -> dict[str, np.ndarray]:
    """(T, 17, 2 or 3) image points -> per qualifying (frame, leg) ratios ``torso/leg``, ``thigh/shin``."""
    pts = kp[..., :2].astype(np.float64)
    good = ok.copy()
    if kp.shape[-1] > 2:
        good &= (kp[:, [J[n] for n in USED], 2] >= min_conf).all(axis=1)
    mid_sh = 0.5 * (pts[:, J["LShoulder"]] + pts[:, J["RShoulder"]])
    mid_hip = 0.5 * (pts[:, J["LHip"]] + pts[:, J["RHip"]])
    torso_v = mid_sh - mid_hip
    torso = np.linalg.norm(torso_v, axis=-1)
    cos_tilt = np.cos(np.radians(max_tilt_deg))
    upright = -torso_v[:, 1] >= cos_tilt * torso          # image y points down
    out = {"torso/leg": [], "thigh/shin": [], "hips/shoulders": []}
    for hip, knee, ankle in LEGS:
        h, k, a = pts[:, J[hip]], pts[:, J[knee]], pts[:, J[ankle]]
        thigh, shin = np.linalg.norm(h - k, axis=-1), np.linalg.norm(k - a, axis=-1)
        chord = a - h
        straight = np.linalg.norm(chord, axis=-1) >= min_straight * (thigh + shin)
        vertical = chord[:, 1] >= cos_tilt * np.linalg.norm(chord, axis=-1)
        sel = good & upright & straight & vertical & (shin > 0)
        out["torso/leg"].append(torso[sel] / (thigh + shin)[sel])
        out["thigh/shin"].append(thigh[sel] / shin[sel])
        hip_w = np.linalg.norm(pts[:, J["LHip"]] - pts[:, J["RHip"]], axis=-1)
        sh_w = np.linalg.norm(pts[:, J["LShoulder"]] - pts[:, J["RShoulder"]], axis=-1)
        wide = sel & (sh_w > 0.4 * torso)  # facing the camera enough to measure widths
        out["hips/shoulders"].append(hip_w[wide] / sh_w[wide])
    return {key: np.concatenate(v) for key, v in out.items()}


def row(name: str, p: dict[str, np.ndarray]) -> str:
    n = len(p["torso/leg"])
    if n == 0:
        return f"| {name} | 0 | - | - | - |"
    cells = [f"{np.median(v):.3f} ({np.percentile(v, 25):.3f}-{np.percentile(v, 75):.3f})" if len(v) else "-"
             for v in p.values()]
    return f"| {name} | {n} | " + " | ".join(cells) + " |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set_dir", help="rendered set (*.mp4 + *_truth.npz)")
    ap.add_argument("videos", nargs="*", help="real videos of one person")
    args = ap.parse_args()
    truth_rows, det_rows, lines = [], [], []
    for tf in sorted(glob.glob(os.path.join(args.set_dir, "*_truth.npz"))):
        with np.load(tf) as d:
            gt2 = d["keypoints2d"][..., :2]
        det = cached_detections(tf.replace("_truth.npz", ".mp4"))
        truth_rows.append(proportions(gt2, det.detected))
        det_rows.append(proportions(det.keypoints2d, det.detected))
    merge = lambda rows: {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}  # noqa: E731
    lines.append(HEADER)
    lines.append(row("renders: mocap skeleton's true 2D (training convention)", merge(truth_rows)))
    lines.append(row("renders: BlazePose", merge(det_rows)))
    for v in args.videos:
        det = cached_detections(v)
        lines.append(row(f"real: BlazePose, {os.path.basename(v)}", proportions(det.keypoints2d, det.detected)))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
