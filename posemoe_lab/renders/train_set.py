"""Render training-split motion on the project's first figure, so that networks fusing
MediaPipe's 3D can be fine-tuned on BlazePose's *real* outputs (2D and world landmarks) next to
the true joints, not only on the simulated ones of ``posemoe_lab/training/mpnoise.py``.

Usage (headless, from the repository root)::

    .venv/bin/python -m posemoe_lab.renders.train_set --out .cache/render_train [--per-source 12]

Clips: from ``.cache/mocap/mocap.npz`` (``python -m posemoe_lab.training.prepare``), training
split only, one clip per content class and source in a fixed order (Bandai 1 and 2, HDM05's
train actors ``bd``/``bk``/``dg``: one per class and actor, ReActIdle), ``--per-source`` per
source (twice that for HDM05), a window of up to 3 s from each. Figure, cameras (front / three-quarter / side, 27 mm) and outputs are those of
``posemoe_lab/renders/eval_set.py``. Nothing from the cross-source benchmark (HDM05 ``mm``/``tr``,
the second figure) is used.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


from posemoe_lab.renders import eval_set as res  # noqa: E402  (imports bpy)


def training_clips(per_source: int, mocap: str = res.MOCAP) -> list[tuple[str, str, int, int]]:
    """(short name, source clip, first frame, frames): one clip per (source, content) in file
    order, training split, at least 45 frames; ``per_source`` per source."""
    with np.load(mocap) as d:
        names, split, lens = d["clip_name"], d["split"], d["clip_len"]
        source = d["source"] if "source" in d.files else d["dataset"]
        content = d["content"]
    out, seen, count = [], set(), {}
    for i in range(len(names)):
        src = str(source[i])
        limit = 2 * per_source if src == "hdm05" else per_source
        if split[i] != "train" or lens[i] < 45 or count.get(src, 0) >= limit:
            continue
        # HDM05: one clip per class and actor (the motion closest to the benchmark's classes)
        key = (src, str(content[i])) + ((str(names[i]).split("_")[1],) if src == "hdm05" else ())
        if key in seen:
            continue
        seen.add(key)
        count[src] = count.get(src, 0) + 1
        n = int(min(90, lens[i] - 2))
        start = int(max(0, (lens[i] - n) // 2))
        out.append((f"t{len(out):02d}_{src}_{str(content[i])[:24]}", str(names[i]), start, n))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(res.REPO, ".cache", "render_train"))
    ap.add_argument("--per-source", type=int, default=12)
    ap.add_argument("--aa", default="FXAA")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    clips = training_clips(args.per_source)
    rows, t0 = [], time.time()
    for short, source, start, frames in clips:
        done = all(os.path.isfile(os.path.join(args.out, f"{short}_{v[0]}_truth.npz")) for v in res.VIEWS)
        rows += res.render_clip(args.out, short, source, start, frames, res.VIEWS, args.aa,
                                render=not done, split="train")
        res.write_manifest(os.path.join(args.out, "manifest.json"), rows, args.aa, True)
    print(f"rendered {len(rows)} videos of {len(clips)} training clips into {args.out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
