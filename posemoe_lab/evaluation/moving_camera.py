"""Score the moving-camera render set (:mod:`posemoe_lab.renders.moving_camera_set`) in the
world frame: issue #23's rendered targets.

Usage (from the repository root)::

    .venv/bin/python -m posemoe_lab.evaluation.moving_camera .cache/render_camera [--out FILE.json]

Each clip is converted twice with :func:`posemoe_blender.pipeline.process_clip`: the default
options (``camera`` = ``auto``) and ``camera`` = ``still`` (the still-camera assumption, the
product before issue #23). The scored joints are the solved rig's world joints
(``animation.joints_world``, (T, 17, 3) metres, Z up), against the truth's ``joints_world``.

Metrics (one rigid alignment = rotation + translation, no scale: the method keeps its own size):

``root_rms_cm``
    The Pelvis trajectory's RMS distance (cm) to the truth's after one rigid alignment of the
    whole clip (fitted on all joints of all frames, :func:`rigid_align`).
``w_mpjpe_mm``
    World-frame MPJPE (mm): the clip cut into windows of :data:`WINDOW` frames
    (:func:`windows`), one rigid alignment per window fitted on all its joints, the mean joint
    distance over the window; the mean over the windows.
``foot_slide_cm_s``
    :func:`posemoe_lab.evaluation.metrics.foot_slide_cm_s` (mean horizontal ankle speed over the
    frame pairs where the truth has that foot planted, :func:`~.metrics.truth_contacts`) of the
    clip-aligned joints.
``camera_error_deg``
    Mean angle (degrees) between the estimated camera rotation (``result.camera.rotations``)
    and the truth's ``camera_rotations``, per frame.
``camera_ms_per_frame`` / ``convert_ms_per_frame``
    The camera estimate's time (``timings["camera"]``) and ``process_clip``'s whole wall time,
    per frame.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional

import numpy as np

from posemoe_blender.fileio import atomic_output
from posemoe_blender.errors import PoseMoEError
from posemoe_blender.joints import JOINT_INDEX
from posemoe_lab.evaluation import metrics
from posemoe_lab.evaluation.alignment import similarity

#: Frames per world-frame MPJPE window.
WINDOW = 100
PELVIS = JOINT_INDEX["Pelvis"]
MODES = ("auto", "still")


def _check(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3 or len(pred) < 2:
        raise PoseMoEError(f"prediction {pred.shape} and truth {gt.shape} must both be (T >= 2, J, 3)")
    if not (np.all(np.isfinite(pred)) and np.all(np.isfinite(gt))):
        raise PoseMoEError("prediction or truth has NaN or infinite values")
    return pred, gt


def rigid_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` (T, J, 3) moved by the one rotation and translation (no scale) that best puts
    all its joints of all frames on ``gt``'s (T, J, 3), least squares; same units."""
    pred, gt = _check(pred, gt)
    R, t, _ = similarity(pred, gt, scale=False)
    return pred @ R.T + t


def root_rms_cm(pred: np.ndarray, gt: np.ndarray) -> float:
    """cm: RMS distance of the Pelvis (joint 0) of ``pred`` (T, J, 3) metres after
    :func:`rigid_align` to ``gt``'s (T, J, 3) metres."""
    aligned = rigid_align(pred, gt)
    return float(np.sqrt(np.mean(np.sum((aligned[:, PELVIS] - gt[:, PELVIS]) ** 2, axis=-1))) * 100)


def windows(frames: int, window: int = WINDOW) -> list[tuple[int, int]]:
    """``[(start, end)]`` (end exclusive) of consecutive ``window``-frame windows from frame 0;
    frames after the last whole window are left out; a clip shorter than ``window`` is one
    window of all its frames."""
    if frames < window:
        return [(0, frames)]
    return [(s, s + window) for s in range(0, frames - window + 1, window)]


def w_mpjpe_mm(pred: np.ndarray, gt: np.ndarray, window: int = WINDOW) -> float:
    """mm: world-frame MPJPE of ``pred`` (T, J, 3) metres against ``gt`` (T, J, 3) metres, one
    rigid alignment per window (:func:`windows`), the mean over the windows."""
    pred, gt = _check(pred, gt)
    errs = []
    for s, e in windows(len(pred), window):
        aligned = rigid_align(pred[s:e], gt[s:e])
        errs.append(np.linalg.norm(aligned - gt[s:e], axis=-1).mean())
    return float(np.mean(errs) * 1000)


def foot_slide_cm_s(pred: np.ndarray, gt: np.ndarray, fps: float) -> float:
    """cm/s: :func:`~.metrics.foot_slide_cm_s` of ``pred`` (T, 17, 3) metres after
    :func:`rigid_align` to Z-up ``gt`` (T, 17, 3) metres, over the truth's planted feet."""
    aligned = rigid_align(pred, gt)
    return metrics.foot_slide_cm_s(aligned, metrics.truth_contacts(np.asarray(gt, np.float64), fps), fps)


def rotation_error_deg(est: np.ndarray, truth: np.ndarray) -> float:
    """Degrees: mean over frames of the angle of ``est[t]^T truth[t]`` ((T, 3, 3) each)."""
    rel = np.einsum("tji,tjk->tik", np.asarray(est, np.float64), np.asarray(truth, np.float64))
    cos = (np.trace(rel, axis1=1, axis2=2) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).mean())


def score_clip(video: str, truth_path: str, mode: str) -> dict:
    """Convert ``video`` with ``camera`` = ``mode`` and score it against ``truth_path``."""
    from posemoe_blender.options import ConvertOptions
    from posemoe_blender.pipeline import process_clip

    with np.load(truth_path) as d:
        gt = d["joints_world"].astype(np.float64)
        fps = float(d["fps"])
        turns = d["camera_rotations"].astype(np.float64)
    t0 = time.perf_counter()
    res = process_clip(video, ConvertOptions(camera=mode))
    wall = time.perf_counter() - t0
    pred = res.animation.joints_world.astype(np.float64)
    if len(pred) != len(gt):
        raise PoseMoEError(f"{video}: {len(pred)} frames solved, the truth has {len(gt)}")
    frames = len(gt)
    out = {"mode": mode, "frames": frames, "root_rms_cm": root_rms_cm(pred, gt),
           "w_mpjpe_mm": w_mpjpe_mm(pred, gt), "foot_slide_cm_s": foot_slide_cm_s(pred, gt, fps),
           "taken_as_moving": res.camera_rotations is not None,
           "convert_ms_per_frame": 1000 * wall / frames,
           "camera_ms_per_frame": 1000 * res.timings.get("camera", 0.0) / frames}
    if res.camera is not None and len(res.camera.rotations) == frames:
        out["camera_error_deg"] = rotation_error_deg(res.camera.rotations, turns)
        out["largest_estimated_turn_deg"] = float(res.camera.angles_deg.max())
    return out


def evaluate(set_dir: str, modes=MODES) -> dict:
    """Every clip of the set's ``manifest.json`` in every mode, with the ratios: each moving
    clip's default run over its still-assumption run, and over the still-camera clip's."""
    man_path = os.path.join(set_dir, "manifest.json")
    if not os.path.isfile(man_path):
        raise PoseMoEError(f"{set_dir}: no manifest.json (render the set with posemoe_lab.renders.moving_camera_set)")
    with open(man_path) as fh:
        rows = json.load(fh)["clips"]
    clips = {}
    for row in rows:
        truth = os.path.join(set_dir, row["truth"])
        with np.load(truth) as d:
            true_turn = float(np.degrees(np.arccos(np.clip(
                (np.trace(d["camera_rotations"], axis1=1, axis2=2) - 1) / 2, -1, 1))).max())
        clips[row["path"]] = {"largest_true_turn_deg": true_turn,
                              "runs": {m: score_clip(os.path.join(set_dir, row["video"]), truth, m) for m in modes}}
        print(row["path"], json.dumps(clips[row["path"]]), flush=True)
    still = clips.get("still", {}).get("runs", {}).get("auto")
    for name, c in clips.items():
        runs = c["runs"]
        if "auto" in runs and "still" in runs:
            c["root_ratio_to_still_assumption"] = runs["auto"]["root_rms_cm"] / max(runs["still"]["root_rms_cm"], 1e-9)
            c["w_mpjpe_ratio_to_still_assumption"] = runs["auto"]["w_mpjpe_mm"] / max(runs["still"]["w_mpjpe_mm"], 1e-9)
        if still is not None and "auto" in runs:
            c["root_ratio_to_still_camera"] = runs["auto"]["root_rms_cm"] / max(still["root_rms_cm"], 1e-9)
            c["foot_slide_minus_still_camera_cm_s"] = runs["auto"]["foot_slide_cm_s"] - still["foot_slide_cm_s"]
    return {"set": os.path.abspath(set_dir), "window": WINDOW, "clips": clips}


def table(doc: dict) -> str:
    """The result as a plain-text table, one row per clip and mode."""
    lines = [f"{'clip':6} {'mode':5} {'moving':6} {'root cm':>8} {'W-MPJPE':>8} {'slide':>6} {'cam err':>7} "
             f"{'cam ms/f':>8} {'ms/f':>6} {'root/still-assum':>16} {'slide-still cam':>15}"]
    for name, c in doc["clips"].items():
        for mode, r in c["runs"].items():
            ratio = c.get("root_ratio_to_still_assumption", float("nan")) if mode == "auto" else float("nan")
            dslide = c.get("foot_slide_minus_still_camera_cm_s", float("nan")) if mode == "auto" else float("nan")
            lines.append(f"{name:6} {mode:5} {str(r['taken_as_moving']):6} {r['root_rms_cm']:8.2f} "
                         f"{r['w_mpjpe_mm']:8.1f} {r['foot_slide_cm_s']:6.2f} {r.get('camera_error_deg', float('nan')):7.3f} "
                         f"{r['camera_ms_per_frame']:8.2f} {r['convert_ms_per_frame']:6.1f} {ratio:16.3f} {dslide:15.2f}")
    return "\n".join(lines)


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("set_dir", help="the rendered set (posemoe_lab.renders.moving_camera_set --out)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    try:
        doc = evaluate(args.set_dir)
    except PoseMoEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(doc))
    if args.out:
        with atomic_output(args.out) as staged, open(staged, "w") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
