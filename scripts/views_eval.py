"""Truth-free score on real footage: four synchronised cameras film one man, so the 3D each
view gives must agree (issue #16).

Usage::

    .venv/bin/python scripts/views_eval.py [--videos ../shared/data/videos/single_person_cam0?.mp4] \
        [--variant NAME=LIFTER[,weights=FILE][,nocorr]] ... [--mean NAME=A+B] [--json out.json]

For each method, every view's root-relative 3D: MediaPipe's world landmarks as they come
(``mediapipe_raw``), or the solved rig's joints of the whole pipeline (``--variant``, as in
``scripts/cross_eval.py``), or the per-joint mean of two variants (``--mean``). For each of the
6 view pairs one similarity transform (rotation, scale, translation) over all frames both
views detected and the 12 limb joints maps the first view's joints onto the second's; the
disagreement is the mean remaining distance (mm, in the second view's scale), averaged over
the pairs, and as a ratio to ``mediapipe_raw``. Frames are matched by index (the cameras are
synchronised; the clips have the same length).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cross_eval import LIMBS, _similarity, cached_detector, parse_variant  # noqa: E402
from posemoe_blender.core import pipeline, smoothing  # noqa: E402
from posemoe_blender.evaluation.detections import cached_detections  # noqa: E402

DEFAULT_VIDEOS = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "videos", "single_person_cam0?.mp4")


def disagreement(views: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, list]:
    """Mean over view pairs of the joint distance after one similarity alignment per pair.
    ``views``: (joints (T, 17, 3), detected (T,)) per view."""
    pairs = []
    for a in range(len(views)):
        for b in range(a + 1, len(views)):
            n = min(len(views[a][0]), len(views[b][0]))
            ok = views[a][1][:n] & views[b][1][:n]
            pa = views[a][0][:n][ok] - views[a][0][:n][ok][:, :1]
            pb = views[b][0][:n][ok] - views[b][0][:n][ok][:, :1]
            pa, pb = pa[:, LIMBS], pb[:, LIMBS]
            pairs.append(float(np.linalg.norm(_similarity(pa, pb, True) - pb, axis=-1).mean() * 1000))
    return float(np.mean(pairs)), pairs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", nargs="*", default=None)
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--mean", action="append", default=[])
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    videos = args.videos or sorted(glob.glob(DEFAULT_VIDEOS))
    if len(videos) < 2:
        raise SystemExit("error: need at least two synchronised views (../shared/data/videos/single_person_cam0?.mp4)")
    variants = [parse_variant(v) for v in args.variant]
    means = [(m.split("=")[0], *m.split("=")[1].split("+")) for m in args.mean]
    per_method: dict[str, list] = {"mediapipe_raw": []}
    with cached_detector():
        for v in videos:
            dets = cached_detections(v)
            world = np.concatenate([dets.world3d, dets.keypoints2d[..., 2:3]], axis=-1)
            mp = smoothing.fill_gaps(world, dets.fps)[0][..., :3].astype(np.float64)
            per_method["mediapipe_raw"].append((mp, dets.detected))
            solved = {}
            for name, opts in variants:
                jw = pipeline.process_clip(v, opts).animation.joints_world.astype(np.float64)
                solved[name] = jw
                per_method.setdefault(name, []).append((jw, dets.detected[:len(jw)]))
            for name, a, b in means:
                mean = 0.5 * (solved[a] + _similarity(solved[b], solved[a], False))
                per_method.setdefault(name, []).append((mean, dets.detected[:len(mean)]))
    out = {m: disagreement(views) for m, views in per_method.items()}
    base = out["mediapipe_raw"][0]
    print(f"four-view disagreement over {len(videos)} views (12 limb joints, mm; ratio to mediapipe_raw)")
    for m, (d, pairs) in out.items():
        print(f"{m:34s} {d:7.1f} {d / base:5.2f}x   pairs: " + " ".join(f"{p:.0f}" for p in pairs))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"videos": [os.path.basename(v) for v in videos], "variants": args.variant,
                       "means": args.mean, "disagreement_mm": {m: d for m, (d, _) in out.items()},
                       "pairs_mm": {m: p for m, (_, p) in out.items()}}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
