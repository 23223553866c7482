"""The hand (wrist) bone turned with the palm vs continuing the forearm (issue #15).

Usage (repository root)::

    .venv/bin/python -m posemoe_lab.evaluation.hands_palm_eval .cache/render_hands/close_45_a.mp4 ...   # renders: truth
    .venv/bin/python -m posemoe_lab.evaluation.hands_palm_eval /work/shared/data/videos/single_person_cam01.mp4 ...

Each clip runs twice through ``posemoe_blender.pipeline.process_clip``: ``before``
(``hand_rotation=False``: the hands continue the forearms) and ``after`` (the default: the hand
bones turn with the palms); detection is deterministic, so both solve the same placed joints. Renders (a ``*_truth.npz`` beside the video):
mean angle (degrees) between the rig's hand axis (wrist -> middle knuckle) / palm normal
(knuckle line x hand axis), in the solved camera, and the true ones (``hands_cam``), over the
frames the truth shows the hand. Every clip: 95th percentile of the hand bone's world
frame-to-frame turn (degrees/frame) and, as the reference, the forearm's.
"""
import os
import sys
import types

import numpy as np
from scipy.spatial.transform import Rotation  # noqa: E402

from posemoe_blender import pipeline  # noqa: E402
from posemoe_blender.output import preview
from posemoe_blender.solving.rest import rig_rest_pose
from posemoe_blender.solving.skeleton import POINT_INDEX, RIG_BONE_NAMES, RIG_BONE_PARENTS  # noqa: E402
from posemoe_blender.options import ConvertOptions  # noqa: E402
from posemoe_blender.quiet import native_output_silenced  # noqa: E402


def _ang(a, b):
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(a * b, -1), -1, 1)))


def world_rotations(anim, lengths):
    """(T, B, 3, 3) each bone's world delta from the local quaternions (w, x, y, z)."""
    M = rig_rest_pose(lengths)[3]
    q = anim.rotations
    T, B = q.shape[:2]
    L = Rotation.from_quat(np.concatenate([q[..., 1:], q[..., :1]], -1).reshape(-1, 4)).as_matrix().reshape(T, B, 3, 3)
    G = np.zeros((T, B, 3, 3))
    for b in range(B):
        Gp = np.eye(3) if RIG_BONE_PARENTS[b] < 0 else G[:, RIG_BONE_PARENTS[b]]
        G[:, b] = Gp @ (M[b] @ L[:, b] @ M[b].T)
    return G


def speed(G):
    R = np.einsum("tji,tjk->tik", G[:-1], G[1:])
    return np.degrees(np.arccos(np.clip((np.trace(R, axis1=1, axis2=2) - 1) / 2, -1, 1)))


def main(clips):
    for clip in clips:
        store = {}
        with native_output_silenced():
            for mode, turn in (("before", False), ("after", True)):
                res = pipeline.process_clip(clip, ConvertOptions(hand_rotation=turn))
                store[mode] = res.animation
        store["lengths"] = np.array(list(res.animation.report.bone_lengths.values()))
        tp = clip[:-4] + "_truth.npz"
        truth = np.load(tp) if os.path.exists(tp) else None
        name = os.path.basename(clip)[:-4]
        row = [name]
        for mode in ("before", "after"):
            anim = store[mode]
            G = world_rotations(anim, store["lengths"])
            sp = {n: np.percentile(speed(G[:, RIG_BONE_NAMES.index(n)]), 95)
                  for n in ("LeftHand", "RightHand", "LeftLowerArm", "RightLowerArm")}
            txt = f"{mode}: jitter p95 hand L {sp['LeftHand']:.1f} R {sp['RightHand']:.1f} forearm L {sp['LeftLowerArm']:.1f} R {sp['RightLowerArm']:.1f}"
            if truth is not None:
                cam = preview.solved_camera_points(types.SimpleNamespace(animation=anim, root=res.root))
                hc = truth["hands_cam"].astype(np.float64)
                T = min(len(cam), len(hc))
                errs = []
                for s, S in enumerate("LR"):
                    vis = truth["hands_visible"][:T, s]
                    ax_r = cam[:T, POINT_INDEX[S + "Middle1"]] - cam[:T, POINT_INDEX[S + "Wrist"]]
                    kn_r = cam[:T, POINT_INDEX[S + "Index1"]] - cam[:T, POINT_INDEX[S + "Little1"]]
                    ax_t = hc[:T, s, 9] - hc[:T, s, 0]
                    kn_t = hc[:T, s, 5] - hc[:T, s, 17]
                    e_ax = _ang(ax_r, ax_t)[vis]
                    e_n = _ang(np.cross(kn_r, ax_r), np.cross(kn_t, ax_t))[vis]
                    errs.append((e_ax, e_n))
                ea = np.concatenate([e[0] for e in errs])
                en = np.concatenate([e[1] for e in errs])
                txt += (f" | axis err {ea.mean():.1f} (L {errs[0][0].mean():.1f} R {errs[1][0].mean():.1f})"
                        f" normal err {en.mean():.1f} (L {errs[0][1].mean():.1f} R {errs[1][1].mean():.1f}) n={len(ea)}")
            row.append(txt)
        print("\n   ".join(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
