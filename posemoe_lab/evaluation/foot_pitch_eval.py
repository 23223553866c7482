"""Foot pitch of the solved rig on the rendered sets (issue #15's "foot pitch error on the
renders' planted frames").

The rendered figure's shoes are always level (``render_eval_set.solve_figure_motion`` keys them
flat, turned with the pelvis), so the true pitch is 0 on every frame; the error is the solved
Foot bone's pitch (the elevation of its forward axis in armature space, Z up) on the truth's
planted frames (``evaluation.metrics.truth_contacts``). Also reported: the same feet solved from
the landmarks alone, without levelling planted feet, and the pitch over all frames.

Usage (from the repository root; detections are run afresh, the caches hold no feet)::

    .venv/bin/python -m posemoe_lab.evaluation.foot_pitch_eval .cache/render_cross [N_VIDEOS]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from posemoe_blender.solving import feet as F, body as solving  # noqa: E402
from posemoe_blender import pipeline
from posemoe_blender.retargeting.solve import world_deltas  # noqa: E402
from posemoe_blender.solving.skeleton import RIG_BONE_INDEX as I  # noqa: E402
from posemoe_lab.evaluation.metrics import truth_contacts  # noqa: E402
from posemoe_blender.options import ConvertOptions  # noqa: E402


def main(folder: str, count: int | None = None) -> None:
    root = Path(folder)
    videos = json.loads((root / "manifest.json").read_text())["videos"]
    if count:
        videos = videos[:: max(1, len(videos) // count)][:count]
    captured = {}
    original = F.solve_feet

    def spy(*args, **kwargs):  # keep the solve's inputs to re-solve without plant levelling
        captured.update(args=args, kwargs=kwargs)
        return original(*args, **kwargs)

    solving.feet_mod.solve_feet = spy
    planted, raw, every = [], [], []
    for v in videos:
        t0 = time.perf_counter()
        res = pipeline.process_clip(str(root / v["video"]), ConvertOptions(device="cpu"))
        truth = np.load(root / v["truth"])["joints_world"].astype(np.float64)
        contacts = truth_contacts(truth, float(v["fps"]))
        anim = res.animation
        G = world_deltas(anim.rotations, anim.rest_matrices, anim.bone_parents)
        pitch = np.abs(F.foot_pitch_deg(G[:, [I["LeftFoot"], I["RightFoot"]]]))
        kwargs = dict(captured["kwargs"], contacts=None)
        pitch_raw = np.abs(F.foot_pitch_deg(original(*captured["args"], **kwargs).rotations))
        n = min(len(contacts), len(pitch))
        sel = contacts[:n]
        planted.append(pitch[:n][sel])
        raw.append(pitch_raw[:n][sel])
        every.append(pitch[:n].ravel())
        print(f"{v['video']}: {int(sel.sum())} planted foot-frames, mean |pitch| "
              f"{pitch[:n][sel].mean() if sel.any() else float('nan'):.1f} deg (landmarks only "
              f"{pitch_raw[:n][sel].mean() if sel.any() else float('nan'):.1f}), all frames {pitch.mean():.1f}, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    p, r, a = np.concatenate(planted), np.concatenate(raw), np.concatenate(every)
    print(f"{len(videos)} videos, {len(p)} planted foot-frames: mean |pitch| {p.mean():.2f} deg, median "
          f"{np.median(p):.2f}, p90 {np.percentile(p, 90):.2f}, within 10 deg {100 * np.mean(p <= 10):.1f}%; "
          f"landmarks only (planted feet not levelled): mean {r.mean():.2f}, p90 {np.percentile(r, 90):.2f}; "
          f"all frames: mean {a.mean():.2f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
