"""Two PNGs for one evaluated video: joint tracks (truth, MediaPipe raw, the default pipeline and
the other variants asked for) and ankle heights with the truth's contacts and our foot locks."""

from __future__ import annotations

import os

import numpy as np

from posemoe_blender.joints import JOINT_INDEX as J
from posemoe_lab.evaluation.metrics import ANKLES, truth_floor
from posemoe_lab.evaluation.variants import RAW

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def make_plots(row: dict, folder: str, default: str, others: tuple[str, ...] = ()) -> dict:
    """Write the two plots of ``row`` (a :func:`~.runner.run_video` result) into ``folder``;
    ``default``: the variant drawn as "ours"; ``others``: more variants on the track plot.
    Returns {title: path}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(folder, exist_ok=True)
    tr = row["tracks"]
    fps = row["fps"]
    T = tr["truth"].shape[0]
    t = np.arange(T) / fps
    name = os.path.splitext(row["video"])[0]
    paths = {}

    series = [("truth", "k", "truth", 2.0), (RAW, "tab:red", "MediaPipe world (raw)", 1.0)]
    for k, other in enumerate((default,) + tuple(o for o in others if o != default)):
        if other in tr:
            series.append((other, COLOURS[k % len(COLOURS)], other, 1.4 if other == default else 0.9))
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5), sharex=True)
    for r_, joint in enumerate(("RAnkle", "LWrist")):
        for c, axis in enumerate("XYZ"):
            ax = axes[r_, c]
            for key, col, lab, lw in series:
                rel = tr[key][:, J[joint]] - tr[key][:, 0]  # root-relative, truth axes
                ax.plot(t, rel[:, c], color=col, lw=lw, label=lab)
            ax.set_title(f"{joint} {axis} (root-relative, m)", fontsize=9)
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"{row['video']}: joint tracks in the truth's frame", fontsize=10)
    fig.tight_layout()
    p = os.path.join(folder, f"quality_tracks_{name}.png")
    fig.savefig(p, dpi=90)
    plt.close(fig)
    paths[f"{row['video']}: joint tracks (truth, MediaPipe, ours)"] = p

    arm_key = default + "_armature"
    if arm_key not in tr:
        return paths
    from posemoe_blender.solving.rest import ANKLE_HEIGHT
    fig, axes = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    gt, contacts = tr["truth"], tr["contacts"]
    floor_truth = truth_floor(gt)
    for k, (ax, side) in enumerate(zip(axes, ("left", "right"))):
        a = ANKLES[k]
        ax.fill_between(t, 0, 1, where=contacts[:, k], transform=ax.get_xaxis_transform(),
                        color="tab:green", alpha=0.15, label="truth contact")
        ax.plot(t, gt[:, a, 2] - floor_truth, "k", lw=2, label="truth (above its lowest contact)")
        ax.plot(t, tr[arm_key][:, a, 2] - ANKLE_HEIGHT, color="tab:blue", lw=1.3, label=f"{default} (foot lock on)")
        locks = tr.get(default + "_locks")
        if locks is not None:
            ax.plot(t[locks[:, k]], np.full(locks[:, k].sum(), -0.02), "|", color="tab:blue", ms=8,
                    label="ours: foot locked")
            false = locks[:, k] & ~contacts[:, k]
            ax.plot(t[false], np.full(false.sum(), -0.035), "|", color="tab:red", ms=8,
                    label="ours: locked, truth not in contact")
        ax.set_ylabel(f"{side} ankle height (m)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=3, loc="upper right")
    axes[1].set_xlabel("time (s)")
    fig.suptitle(f"{row['video']}: ankle height above the floor, contacts marked", fontsize=10)
    fig.tight_layout()
    fig.subplots_adjust(left=max(fig.subplotpars.left, 0.08))
    p = os.path.join(folder, f"quality_feet_{name}.png")
    fig.savefig(p, dpi=90)
    plt.close(fig)
    paths[f"{row['video']}: foot height with contacts"] = p
    return paths
