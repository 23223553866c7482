"""Draw the pipeline's spine for docs/architecture.md (matplotlib boxes and arrows).

    .venv/bin/python -m posemoe_lab.experiments.draw_architecture [--out docs/img/architecture.png]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from posemoe_lab import REPO_ROOT  # noqa: E402

#: The spine, left to right: (folder, lines inside the box, the record handed to the next stage).
STAGES = [
    ("video/", ["reader.py", "streams frames", "(reader thread)"], "frames"),
    ("detection/", ["clip: detect_clip", "body: BlazePose,", "person following", "sides: L/R flips", "hands: tracking"], "DetectedClip"),
    ("lifting/", ["stage: lift", "registry, inference", "weights", "networks/: tcn,", "posemoe, entangled"], "Lifted"),
    ("smoothing/", ["stage: smooth_motion", "filters: zero-phase,", "Hz, gaps"], "Motion"),
    ("solving/", ["stage: solve_motion", "root, body, rest", "feet, foot lock", "fingers, hand bones"], "Solved"),
    ("retargeting/", ["presets (bone maps)", "solve (numpy)", "rig.py (bpy)"], "Retarget-\nResult"),
    ("output/", ["armature, keyframes", "FBX, .blend", "footage, preview", "inspect_fbx"], None),
]

STAGE_COLOUR = "#dbe9f6"
BPY_COLOUR = "#fde3c8"


def box(ax, x, y, w, h, title, lines=(), colour=STAGE_COLOUR, dashed=False, size=9):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=colour, ec="#333333", lw=1.2, ls="--" if dashed else "-"))
    ax.text(x + w / 2, y + h - 0.12, title, ha="center", va="top", fontsize=size + 1, weight="bold")
    for i, line in enumerate(lines):
        ax.text(x + w / 2, y + h - 0.45 - 0.24 * i, line, ha="center", va="top", fontsize=size - 1)


def arrow(ax, a, b, label="", dashed=False, label_dy=0.12):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=14, lw=1.3, color="#333333",
                                 ls="--" if dashed else "-", shrinkA=0, shrinkB=0))
    if label:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + label_dy, label, ha="center", va="bottom",
                fontsize=8, style="italic", color="#1f4e79")


def draw(out: str) -> str:
    fig, ax = plt.subplots(figsize=(18.5, 7.6))
    ax.set_xlim(0, 18.6)
    ax.set_ylim(0, 7.6)
    ax.axis("off")

    w, h, gap, y0 = 1.55, 1.75, 0.85, 1.3
    xs = [0.2 + i * (w + gap) for i in range(len(STAGES))]
    for i, (x, (name, lines, record)) in enumerate(zip(xs, STAGES)):
        colour = BPY_COLOUR if name == "output/" else STAGE_COLOUR
        box(ax, x, y0, w, h, name, lines, colour=colour)
        if record:
            arrow(ax, (x + w, y0 + h / 2), (xs[i + 1], y0 + h / 2))
            ax.text(x + w + gap / 2, y0 + h / 2 - 0.12, record, ha="center", va="top", fontsize=8,
                    style="italic", color="#1f4e79")

    # Who runs which part of the spine.
    right = xs[-1] + w
    pipe_end = xs[4] + w
    ax.plot([xs[0], pipe_end], [y0 + h + 0.25] * 2, color="#1f4e79", lw=2)
    ax.text((xs[0] + pipe_end) / 2, y0 + h + 0.3,
            "pipeline.py  process_clip(video, ConvertOptions) -> ClipResult   (no bpy)",
            ha="center", va="bottom", fontsize=9.5, color="#1f4e79")
    ax.plot([xs[5], right], [y0 + h + 0.25] * 2, color="#a0522d", lw=2)
    ax.text((xs[5] + right) / 2, y0 + h + 0.3, "convert.py (bpy side)", ha="center", va="bottom",
            fontsize=9.5, color="#a0522d")

    # convert.py above the spine, the entry points above it.
    cx, cw = 3.2, 9.8
    box(ax, cx, 4.05, cw, 0.85, "convert.py   convert_clip(video, Outputs, ConvertOptions)",
        ["runs pipeline.process_clip, then retargeting + output: FBX, .blend, joints .npz, preview, contact sheet"],
        colour="#e8f3e0")
    arrow(ax, (cx + 2.0, 4.05), (xs[1] + w / 2 + 0.6, y0 + h + 0.75))
    arrow(ax, (cx + cw - 1.5, 4.05), (xs[6] + w / 2 - 0.4, y0 + h + 0.75))
    entries = [(0.8, "addon/", ["Blender UI: panel,", "operators, worker"]),
               (4.6, "cli.py", ["python -m posemoe_blender", "convert | batch | lift"]),
               (8.4, "batch/", ["core.py: plan, report", "ray_cluster.py"]),
               (12.2, "options.py", ["ConvertOptions, lifters,", "defaults (stdlib only)"])]
    for x, name, lines in entries:
        box(ax, x, 5.65, 2.6, 1.05, name, lines, colour="#eeeeee")
    arrow(ax, (0.8 + 1.3, 5.65), (cx + 0.6, 4.9))
    arrow(ax, (4.6 + 1.3, 5.65), (cx + 3.0, 4.9))
    arrow(ax, (8.4 + 1.3, 5.65), (cx + 6.2, 4.9))
    arrow(ax, (4.6 + 2.6, 6.15), (8.4, 6.15))
    arrow(ax, (12.2 + 1.0, 5.65), (cx + cw - 0.6, 4.9), dashed=True)
    ax.text(8.2, 7.25, "posemoe_blender: the product (one folder per stage; top level: pipeline, convert, cli, "
            "options, camera, joints, errors, fileio)", ha="center", fontsize=10.5, weight="bold")

    # The lab beside.
    lx = 16.4
    box(ax, lx, 1.3, 2.0, 5.4, "posemoe_lab/", ["(the lab, not shipped)", "", "training/:", "prepare, train",
                                                "evaluation/:", "render sets, mocap,", "four views, bench",
                                                "renders/: sets", "experiments/", "pages.py:", "docs/benchmarks.md", "", "imports the product,", "times and scores it"],
        colour="#f3e6f7", dashed=True)
    arrow(ax, (lx, 2.2), (right + 0.05, 2.2), dashed=True)
    ax.text(lx + 1.0, 0.95, "writes weights/, benchmarks/", ha="center", fontsize=8.5, style="italic")

    ax.text(0.2, 0.55, "Blue: no bpy (numpy, torch, SciPy, MediaPipe).  Orange: needs bpy.  Italic labels: the record "
            "each stage hands on (docs/architecture.md).", fontsize=8.5, color="#444444")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(str(REPO_ROOT), "docs", "img", "architecture.png"))
    args = ap.parse_args(argv)
    print("wrote", draw(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
