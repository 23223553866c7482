"""Truth-free score on real footage: synchronised cameras film one person, so the 3D that each
view gives must agree.

``python -m posemoe_lab.evaluation.multiview [VIDEO ...] [--variants ...] [--frames N] [--json]``
(default videos: ``../shared/data/videos/single_person_cam01..04.mp4``, one man filmed at the
same time by four cameras, 60 fps, 100 frames).

For each method (the variants of :mod:`.variants`, built the same way as for the rendered sets)
every view's root-relative 3D: MediaPipe's world landmarks as they come (``mediapipe_raw``), the
final animation's joints of the whole pipeline, or a per-joint mean. For each of the view
pairs (6 for four views), one similarity transform (rotation, uniform scale, translation;
Umeyama over all frames both views detected and the 12 limb joints at once) maps view A's
joints onto view B's; the pair's disagreement is the mean remaining joint distance:

``disagreement_mm``
    in view B's own scale (mm): what the issue's filer measured;
``disagreement_pct``
    the same distance divided by view B's mean limb-joint distance from the Pelvis (%), so a
    method that shrinks its people cannot look better by it.

Per method: the mean over pairs, and as a ratio to ``mediapipe_raw`` (issue #16's target:
<= 0.75x). Frames are matched by index (the cameras are synchronised; the clips have the same
length); BlazePose comes from the disk cache (:mod:`.detections`).
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import os
import sys
import time
from typing import Optional

import numpy as np

from posemoe_blender.errors import PoseMoEError
from posemoe_lab.evaluation import alignment, metrics, report, variants as variants_mod
from posemoe_lab.evaluation.detections import cached_detections, detections_from_cache
from posemoe_lab.evaluation.runner import mean_joints, mediapipe_world

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("POSEMOE_DATA", os.path.join(REPO, "..", "shared", "data"))
DEFAULT_VIDEOS = os.path.join(DATA, "videos", "single_person_cam0[1-4].mp4")


def pair_disagreement(a: np.ndarray, b: np.ndarray, ok: np.ndarray) -> tuple[float, float]:
    """(mm, %) for one view pair: ``a``, ``b`` (T, 17, 3) joints, ``ok`` (T,) frames to use."""
    pa = alignment.root_relative(a[ok])[:, list(metrics.LIMBS)]
    pb = alignment.root_relative(b[ok])[:, list(metrics.LIMBS)]
    dist = np.linalg.norm(alignment.align_similarity(pa, pb) - pb, axis=-1).mean()
    size = np.linalg.norm(pb, axis=-1).mean()
    return float(dist * 1000), float(100 * dist / size)


def disagreement(views: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Mean over view pairs; ``views``: (joints (T, 17, 3), detected (T,)) per view."""
    pairs = {}
    for i, j in itertools.combinations(range(len(views)), 2):
        n = min(len(views[i][0]), len(views[j][0]))
        ok = views[i][1][:n] & views[j][1][:n]
        if ok.sum() < 2:
            raise PoseMoEError(f"views {i + 1} and {j + 1}: fewer than two frames where both found the person")
        pairs[f"{i + 1}-{j + 1}"] = pair_disagreement(views[i][0][:n], views[j][0][:n], ok)
    return {"disagreement_mm": float(np.mean([v[0] for v in pairs.values()])),
            "disagreement_pct": float(np.mean([v[1] for v in pairs.values()])),
            "pairs_mm": {k: v[0] for k, v in pairs.items()}, "pairs_pct": {k: v[1] for k, v in pairs.items()}}


def view_joints(video: str, chosen: list, frames: Optional[int] = None) -> tuple[dict, np.ndarray]:
    """Every variant's joints (T, 17, 3) on one view and the frames BlazePose found the person."""
    from posemoe_blender.pipeline import process_clip
    from dataclasses import replace

    dets = cached_detections(video)
    n = dets.num_frames if frames is None else min(frames, dets.num_frames)
    out = {}
    with detections_from_cache():
        for v in chosen:
            if v.kind == "raw":
                out[v.name] = mediapipe_world(dets, dets.fps)[:n]
            elif v.kind == "mean":
                out[v.name] = mean_joints(out[v.parts[0]], out[v.parts[1]])
            else:
                res = process_clip(video, replace(v.options, end=n))
                j = res.joints3d + res.root[:, None] if v.kind == "lifted" else res.animation.joints_world
                out[v.name] = np.asarray(j, np.float64)
    return out, dets.detected[:n]


def evaluate_views(videos: list[str], chosen: list, frames: Optional[int] = None,
                   log=None) -> dict:
    """{variant: :func:`disagreement`} plus ratios to ``mediapipe_raw``."""
    if len(videos) < 2:
        raise PoseMoEError("need at least two synchronised views")
    per_view = []
    for v in videos:
        t0 = time.time()
        per_view.append(view_joints(v, chosen, frames))
        if log:
            log(f"{os.path.basename(v)}: {len(chosen)} variants ({time.time() - t0:.0f} s)")
    out = {}
    for v in chosen:
        out[v.name] = disagreement([(pv[0][v.name], pv[1]) for pv in per_view])
    base = out.get(variants_mod.RAW)
    for d in out.values():
        for k in ("disagreement_mm", "disagreement_pct"):
            d[k.replace("disagreement", "ratio")] = d[k] / base[k] if base else float("nan")
    return out


def text(result: dict, chosen: list, videos: list[str]) -> str:
    lines = [f"{len(videos)}-view disagreement (12 limb joints; one similarity per view pair over all frames)",
             f"{'variant':36s} {'mm':>7s} {'ratio':>6s} {'% size':>7s} {'ratio':>6s}   pairs (mm)"]
    for v in chosen:
        d = result[v.name]
        lines.append(f"{v.name:36s} {d['disagreement_mm']:7.1f} {d['ratio_mm']:5.2f}x {d['disagreement_pct']:7.2f} "
                     f"{d['ratio_pct']:5.2f}x   " + " ".join(f"{k}:{p:.0f}" for k, p in d["pairs_mm"].items()))
    return "\n".join(lines)


def markdown_table(result: dict, chosen: list) -> list[str]:
    lines = ["| variant | disagreement (mm) | ratio | disagreement (% of body size) | ratio |",
             "|---|---:|---:|---:|---:|"]
    for v in chosen:
        d = result[v.name]
        name = f"**{v.name}**" if v.is_default else v.name
        lines.append(f"| {name} | {d['disagreement_mm']:.1f} | {d['ratio_mm']:.2f}x | {d['disagreement_pct']:.2f} | "
                     f"{d['ratio_pct']:.2f}x |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m posemoe_lab.evaluation.multiview",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("videos", nargs="*", help="synchronised views of one person (default: single_person_cam01..04)")
    ap.add_argument("--variants", action="append", default=[], help="as python -m posemoe_lab.evaluation")
    ap.add_argument("--weights", help="the default lifter's network file instead of the shipped one")
    ap.add_argument("--frames", type=int, help="only the first N frames")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = ap.parse_args(argv)
    videos = args.videos or sorted(glob.glob(DEFAULT_VIDEOS))
    try:
        spec = ";".join(args.variants)
        chosen = (variants_mod.parse_variants(spec, args.weights) if spec else
                  variants_mod.default_variants(args.weights))
        log = (lambda msg: print(msg, file=sys.stderr, flush=True))
        result = evaluate_views(videos, chosen, args.frames, log)
    except PoseMoEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        print(json.dumps(report.jsonable({"videos": [os.path.basename(v) for v in videos], "frames": args.frames,
                                          "variants": [v.name for v in chosen], "result": result}), indent=1))
    elif args.markdown:
        print("\n".join(markdown_table(result, chosen)))
    else:
        print(text(result, chosen, videos))
    return 0


if __name__ == "__main__":
    sys.exit(main())
