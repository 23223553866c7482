"""Plot solved skeletons from an FBX (re-imported in Blender) or a joints .npz, next to the truth.

    .venv/bin/python -m posemoe_lab.experiments.plot_skeleton out/demo.blend --truth samples/demo_truth.npz -o out/demo_skeleton.png

For a .blend the armature is evaluated with Blender at a few frames (what an animator sees);
for a .npz the root-relative ``joints3d`` are drawn (camera axes turned to Z up).
"""

from __future__ import annotations

import argparse
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from posemoe_blender.joints import BONES, JOINT_NAMES  # noqa: E402


def blend_joints(path: str, frames: list[int]) -> np.ndarray:
    """(len(frames), 17, 3) world joints of the first armature in a .blend (Z up)."""
    import bpy
    from posemoe_blender.solving.skeleton import BONE_NAMES, BONE_TAIL_JOINT
    bpy.ops.wm.open_mainfile(filepath=path)
    obj = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    out = np.zeros((len(frames), 17, 3))
    for i, f in enumerate(frames):
        bpy.context.scene.frame_set(f)
        mw = np.array(obj.matrix_world)
        for b, name in enumerate(BONE_NAMES):
            pb = obj.pose.bones[name]
            out[i, BONE_TAIL_JOINT[b]] = (mw @ np.append(np.array(pb.tail), 1))[:3]
            if name == "Hips":
                out[i, 0] = (mw @ np.append(np.array(pb.head), 1))[:3]
    return out


def cam_to_zup(j: np.ndarray) -> np.ndarray:
    """Camera axes (x right, y down, z forward) -> x right, y forward, z up."""
    return np.stack([j[..., 0], j[..., 2], -j[..., 1]], axis=-1)


def draw(ax, joints, colour, label):
    for k, (p, c) in enumerate(BONES):
        ax.plot(*zip(joints[p], joints[c]), color=colour, lw=2, label=label if k == 0 else None)
    left = [i for i, n in enumerate(JOINT_NAMES) if n.startswith("L")]
    ax.scatter(*joints[left].T, color=colour, s=12, marker="o")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result", help=".blend written by convert --blend, or a joints .npz")
    ap.add_argument("--truth", help="truth npz (samples/demo_truth.npz)")
    ap.add_argument("--frames", default="0,30,60,89", help="0-based frames to draw")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    frames = [int(f) for f in args.frames.split(",")]
    if args.result.endswith(".blend"):
        ours = blend_joints(args.result, [f + 1 for f in frames])
        ours = ours - ours[:, :1] * np.array([1, 1, 0])  # centre over the pelvis, keep height
    else:
        ours = cam_to_zup(np.load(args.result)["joints3d"][frames])
    truth = None
    if args.truth:
        t = np.load(args.truth)
        truth = t["joints_world"][frames] if args.result.endswith(".blend") else cam_to_zup(t["joints3d"][frames])
        if args.result.endswith(".blend"):
            truth = truth - truth[:, :1] * np.array([1, 1, 0])
    fig = plt.figure(figsize=(4 * len(frames), 4.5))
    for i, f in enumerate(frames):
        ax = fig.add_subplot(1, len(frames), i + 1, projection="3d")
        draw(ax, ours[i], "tab:red", "ours")
        if truth is not None:
            draw(ax, truth[i], "tab:green", "truth")
        ax.set_title(f"frame {f}")
        lo, hi = np.minimum(ours[i].min(0), -0.9), np.maximum(ours[i].max(0), 0.9)
        mid, half = (lo + hi) / 2, (hi - lo).max() / 2
        ax.set_xlim(mid[0] - half, mid[0] + half)
        ax.set_ylim(mid[1] - half, mid[1] + half)
        ax.set_zlim(mid[2] - half, mid[2] + half)
        ax.view_init(elev=10, azim=-60)
        ax.set_box_aspect((1, 1, 1))
        if i == 0:
            ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(args.output, dpi=80)
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
