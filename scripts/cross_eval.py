"""Score pipeline variants on a rendered set with truth, each against MediaPipe's own world
landmarks in the same run: the table that decides the defaults (issue #16).

Usage::

    .venv/bin/python scripts/cross_eval.py .cache/render_cross [--actor mm|tr] \
        [--variant NAME=LIFTER[,weights=FILE][,nocorr][,nolock]] ... [--mean NAME=A+B] \
        [--json out.json] [--markdown out.md]

Every video goes through :func:`posemoe_blender.core.pipeline.process_clip` once per variant
(BlazePose run once per video and cached on disk, ``posemoe_blender.evaluation.detections``).
Rows:

* ``mediapipe_raw``: MediaPipe's world landmarks as they come (gaps filled), root from the 2D;
* each ``--variant``: the whole pipeline (smoothing, solver, foot lock) with that lifter,
  scored on the solved rig's joints (``Animation.joints_world``);
* each ``--mean NAME=A+B``: the per-joint mean of variants A and B's solved joints (B rotated
  onto A's frame first).

Metrics, over the 12 limb joints (hips, knees, ankles, shoulders, elbows, wrists):
PA-MPJPE per frame (one similarity per frame), PA-MPJPE per sequence (one similarity per
video), MPJPE (root-relative, one rotation per video, the method's own scale), and per joint
group after the per-frame alignment of all 17 joints (legs, arms, torso+head); over all 17:
acceleration error (mm/frame^2) and foot sliding (cm/s while the truth's foot is in contact).
Every row also as a ratio to ``mediapipe_raw``. ``--actor`` keeps the videos of one HDM05 actor.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from posemoe_blender import evaluate_render as er  # noqa: E402
from posemoe_blender.core import detection, pipeline, smoothing, solving  # noqa: E402
from posemoe_blender.evaluation.detections import cached_detections  # noqa: E402
from posemoe_blender.joints import JOINT_INDEX as J  # noqa: E402
from posemoe_blender.model.metrics import procrustes_align  # noqa: E402
from posemoe_blender.options import ConvertOptions  # noqa: E402

LIMBS = [J[n] for n in ("RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "LShoulder", "LElbow",
                        "LWrist", "RShoulder", "RElbow", "RWrist")]
GROUPS = {"legs": [J[n] for n in ("RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle")],
          "arms": [J[n] for n in ("LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist")],
          "torso_head": [J[n] for n in ("Spine", "Thorax", "Neck", "Head")]}
KEYS = ("pa_frame", "pa_seq", "mpjpe", "accel", "foot_slide", "legs", "arms", "torso_head")


@contextlib.contextmanager
def cached_detector():
    """``core.detection.detect_video`` answered from the on-disk cache."""
    original = detection.detect_video

    def cached(reader, start=0, end=None, *args, **kwargs):
        dets = cached_detections(reader.path)
        stop = dets.num_frames if end is None else min(end, dets.num_frames)
        sl = slice(start, stop)
        return dataclasses.replace(dets, keypoints2d=dets.keypoints2d[sl], world3d=dets.world3d[sl],
                                   detected=dets.detected[sl], frame_indices=dets.frame_indices[sl],
                                   times=None if dets.times is None else dets.times[sl])

    detection.detect_video = cached
    try:
        yield
    finally:
        detection.detect_video = original


def _similarity(p: np.ndarray, g: np.ndarray, scale: bool) -> np.ndarray:
    R, t, s = er.kabsch(p, g, scale=scale)
    return (s * p.reshape(-1, 3) @ R.T + t).reshape(p.shape)


def score(pred: np.ndarray, gt: np.ndarray, fps: float, contacts: np.ndarray) -> dict:
    """Metrics of one method on one video: ``pred`` (T, 17, 3) any metric right-handed frame,
    ``gt`` (T, 17, 3) truth (Z up)."""
    p = pred - pred[:, :1]
    g = gt - gt[:, :1]
    pl, gl = p[:, LIMBS], g[:, LIMBS]
    aligned = procrustes_align(p, g)
    out = {
        "pa_frame": float(np.linalg.norm(procrustes_align(pl, gl) - gl, axis=-1).mean() * 1000),
        "pa_seq": float(np.linalg.norm(_similarity(pl, gl, True) - gl, axis=-1).mean() * 1000),
        "mpjpe": float(np.linalg.norm((p @ er.clip_rotation(pred, gt).T)[:, LIMBS] - gl, axis=-1).mean() * 1000),
        "accel": er.accel_error(pred, gt),
        "foot_slide": er.foot_sliding(er.align_world(pred, gt), contacts, fps),
    }
    for name, idx in GROUPS.items():
        out[name] = float(np.linalg.norm(aligned[:, idx] - g[:, idx], axis=-1).mean() * 1000)
    return out


def parse_variant(spec: str) -> tuple[str, ConvertOptions]:
    name, _, rest = spec.partition("=")
    parts = rest.split(",")
    opts = ConvertOptions(device="cpu", lifter=parts[0])
    for p in parts[1:]:
        if p.startswith("weights="):
            opts.weights = p[len("weights="):]
        elif p == "nocorr":
            opts.landmark_correction = False
        elif p == "nolock":
            opts.foot_lock = False
        elif p.startswith("smoothing="):
            opts.smoothing = float(p[len("smoothing="):])
        else:
            raise SystemExit(f"error: --variant {spec}: unknown part {p!r}")
    return name, opts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set_dir")
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--mean", action="append", default=[], help="NAME=A+B (variant names)")
    ap.add_argument("--actor", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    variants = [parse_variant(v) for v in args.variant]
    means = [(m.split("=")[0], *m.split("=")[1].split("+")) for m in args.mean]
    _, entries = er.load_set(args.set_dir)
    rows = []
    t0 = time.time()
    with cached_detector():
        for e in entries:
            with np.load(os.path.join(args.set_dir, e["truth"])) as d:
                truth = {k: d[k] for k in d.files}
            actor = str(truth.get("actor", ""))
            if args.actor and actor != args.actor:
                continue
            video = os.path.join(args.set_dir, e["video"])
            gt = truth["joints_world"].astype(np.float64)
            fps = float(truth["fps"])
            contacts = er.truth_contacts(gt, fps)
            dets = cached_detections(video)
            n = min(len(gt), dets.num_frames)
            gt, contacts = gt[:n], contacts[:n]
            kp2d = smoothing.fill_gaps(dets.keypoints2d[:n], fps)[0]
            world = np.concatenate([dets.world3d[:n], dets.keypoints2d[:n, :, 2:3]], axis=-1)
            mp_rel = smoothing.fill_gaps(world, fps)[0][..., :3].astype(np.float64)
            mp = mp_rel - mp_rel[:, :1] + solving.estimate_root(mp_rel, kp2d, dets.width, dets.height)[:, None]
            methods = {"mediapipe_raw": score(mp, gt, fps, contacts)}
            solved = {}
            for name, opts in variants:
                res = pipeline.process_clip(video, opts)
                jw = res.animation.joints_world.astype(np.float64)[:n]
                solved[name] = jw
                methods[name] = score(jw, gt, fps, contacts)
            for name, a, b in means:
                A, B = solved[a], solved[b]
                mean = 0.5 * (A + _similarity(B, A, False))
                methods[name] = score(mean, gt, fps, contacts)
            rows.append({"video": e["video"], "actor": actor, "clip": e["clip"], "view": e["view"],
                         "detected": float(dets.detected[:n].mean()), "methods": methods})
            print(f"[{len(rows)}] {e['video']}: " + ", ".join(
                f"{k} {v['pa_frame']:.0f}" for k, v in methods.items()) + f" ({time.time() - t0:.0f} s)",
                file=sys.stderr, flush=True)
    names = list(rows[0]["methods"])
    summary = {}
    for m in names:
        summary[m] = {k: float(np.nanmean([r["methods"][m][k] for r in rows])) for k in KEYS}
    base = summary["mediapipe_raw"]
    print(f"{args.set_dir}{' actor ' + args.actor if args.actor else ''}: {len(rows)} videos; 12 limb joints "
          "(accel, foot slide: 17); value and ratio to mediapipe_raw")
    print(f"{'method':34s}" + "".join(f"{k:>17s}" for k in KEYS))
    for m in names:
        s = summary[m]
        print(f"{m:34s}" + "".join(f"{s[k]:9.2f} {s[k] / base[k] if base[k] else float('nan'):5.2f}x " for k in KEYS))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"set": args.set_dir, "actor": args.actor, "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       "variants": args.variant, "means": args.mean, "summary": summary, "videos": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
