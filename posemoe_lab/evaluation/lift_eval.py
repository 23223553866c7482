"""Network-only accuracy on a rendered set: each weights file lifts the cached BlazePose
detections of every video (no smoothing, no solver), scored against the true joints next to
MediaPipe's own world landmarks and their per-joint mean with each network.

Usage::

    .venv/bin/python -m posemoe_lab.evaluation.lift_eval SET_DIR NAME=WEIGHTS.pt [NAME=WEIGHTS.pt ...]
        [--no-landmark-correction] [--actor mm]

Scores over the 12 limb joints (hips, knees, ankles, shoulders, elbows, wrists), frames where
BlazePose found the person: PA-MPJPE per frame (similarity per frame), PA-MPJPE per sequence
(one similarity per video), MPJPE after one rotation per video (root-relative, scale as
predicted), each as mm and as a ratio to MediaPipe's world landmarks. A quick development
check of the lifting stage; the benchmark of the whole pipeline is ``evaluate-render``.
"""

from __future__ import annotations

from posemoe_lab import REPO_ROOT

import argparse
import glob
import json
import os
import sys

import numpy as np

REPO = str(REPO_ROOT)

from posemoe_blender.detection import landmarks  # noqa: E402
from posemoe_blender.lifting import stage as lifting
from posemoe_blender.smoothing import filters as smoothing
from posemoe_lab.evaluation.detections import cached_detections  # noqa: E402
from posemoe_blender.joints import JOINT_INDEX as J  # noqa: E402
from posemoe_lab.evaluation.pose_metrics import procrustes_align  # noqa: E402

LIMBS = [J[n] for n in ("RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "LShoulder", "LElbow",
                        "LWrist", "RShoulder", "RElbow", "RWrist")]


def _kabsch(p: np.ndarray, g: np.ndarray, scale: bool) -> np.ndarray:
    """Align all frames of ``p`` (T, J, 3) to ``g`` with one rotation (+ scale) + translation."""
    P = p.reshape(-1, 3)
    G = g.reshape(-1, 3)
    mp, mg = P.mean(0), G.mean(0)
    H = (P - mp).T @ (G - mg)
    U, S, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    D = np.diag([1.0, 1.0, d])
    R = Vt.T @ D @ U.T
    s = (S * np.diag(D)).sum() / max(((P - mp) ** 2).sum(), 1e-12) if scale else 1.0
    return (s * (P - mp) @ R.T + mg).reshape(p.shape)


def scores(pred: np.ndarray, gt: np.ndarray) -> dict:
    p = pred[:, LIMBS] - pred[:, :1]
    g = gt[:, LIMBS] - gt[:, :1]
    pa = np.linalg.norm(procrustes_align(p, g) - g, axis=-1).mean() * 1000
    pas = np.linalg.norm(_kabsch(p, g, True) - g, axis=-1).mean() * 1000
    mp = np.linalg.norm(_kabsch(pred - pred[:, :1], gt - gt[:, :1], False)[:, LIMBS] - g, axis=-1).mean() * 1000
    return {"pa_frame": pa, "pa_seq": pas, "mpjpe": mp}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set_dir")
    ap.add_argument("weights", nargs="+", help="NAME=FILE")
    ap.add_argument("--no-landmark-correction", action="store_true")
    ap.add_argument("--actor", default="", help="only videos whose truth names this actor")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    nets = [w.split("=", 1) for w in args.weights]
    rows: dict[str, list] = {"mediapipe": []}
    for truth_path in sorted(glob.glob(os.path.join(args.set_dir, "*_truth.npz"))):
        video = truth_path[: -len("_truth.npz")] + ".mp4"
        truth = np.load(truth_path)
        if args.actor and ("actor" not in truth.files or str(truth["actor"]) != args.actor):
            continue
        dets = cached_detections(video)
        gt = truth["joints3d"].astype(np.float64)
        n = min(len(gt), dets.num_frames)
        ok = dets.detected[:n]
        kp, _ = smoothing.fill_gaps(dets.keypoints2d[:n], dets.fps)
        conf = np.repeat(dets.detected[:n, None, None].astype(np.float32), 17, axis=1)
        world = smoothing.fill_gaps(np.concatenate([dets.world3d[:n], conf], -1), dets.fps)[0][..., :3]
        kp_in = kp if args.no_landmark_correction else landmarks.to_training_convention(kp)
        rows["mediapipe"].append(scores(world[ok], gt[:n][ok]))
        for name, path in nets:
            pred = lifting.lift_keypoints(kp_in, dets.width, dets.height, device="cpu", weights=path,
                                          world3d=world)
            rows.setdefault(name, []).append(scores(pred[ok], gt[:n][ok]))
            mean = 0.5 * (pred - pred[:, :1] + world - world[:, :1])
            rows.setdefault(f"mean({name}, mediapipe)", []).append(scores(mean[ok], gt[:n][ok]))
    base = {k: np.mean([r[k] for r in rows["mediapipe"]]) for k in ("pa_frame", "pa_seq", "mpjpe")}
    print(f"{args.set_dir}: {len(rows['mediapipe'])} videos; 12 limb joints; ratio to MediaPipe's world landmarks")
    print(f"{'method':40s} {'PA/frame':>14s} {'PA/sequence':>14s} {'MPJPE':>14s}")
    out = {}
    for name, rs in rows.items():
        m = {k: float(np.mean([r[k] for r in rs])) for k in base}
        out[name] = m
        print(f"{name:40s} " + " ".join(f"{m[k]:7.1f} {m[k] / base[k]:5.2f}x" for k in base))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def four_view(videos: list[str], nets: list[tuple[str, str]], correction: bool = True) -> dict:
    """Four-view disagreement (mm, 12 limb joints): for each method, the root-relative 3D of
    every view; for each view pair one similarity transform over the frames both views
    detected aligns one onto the other (scale to the second view's); mean joint distance,
    averaged over the pairs. Frames are matched by index (the cameras are synchronised)."""
    per_view = []
    for v in videos:
        dets = cached_detections(v)
        kp, _ = smoothing.fill_gaps(dets.keypoints2d, dets.fps)
        conf = np.repeat(dets.detected[:, None, None].astype(np.float32), 17, axis=1)
        world = smoothing.fill_gaps(np.concatenate([dets.world3d, conf], -1), dets.fps)[0][..., :3]
        kp_in = landmarks.to_training_convention(kp) if correction else kp
        out = {"mediapipe": world - world[:, :1]}
        for name, path in nets:
            out[name] = lifting.lift_keypoints(kp_in, dets.width, dets.height, device="cpu", weights=path,
                                               world3d=world)
            out[f"mean({name}, mediapipe)"] = 0.5 * (out[name] + out["mediapipe"])
        per_view.append((dets.detected, out))
    result = {}
    for method in per_view[0][1]:
        errs = []
        for a in range(len(per_view)):
            for b in range(a + 1, len(per_view)):
                n = min(len(per_view[a][0]), len(per_view[b][0]))
                ok = per_view[a][0][:n] & per_view[b][0][:n]
                pa = per_view[a][1][method][:n][ok][:, LIMBS]
                pb = per_view[b][1][method][:n][ok][:, LIMBS]
                errs.append(np.linalg.norm(_kabsch(pa, pb, True) - pb, axis=-1).mean() * 1000)
        result[method] = float(np.mean(errs))
    return result


if __name__ == "__views__":  # pragma: no cover
    pass
