"""End to end: video -> `python -m posemoe_blender convert` -> FBX re-imported in a fresh scene.

Runs the real pipeline (OpenCV, MediaPipe, the lifter, SciPy, bpy) as a user would, on the
project's own rendered sample clip (whose true joints are known) and on a real phone video.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posemoe_blender.joints import BONES, JOINT_NAMES

REPO = Path(__file__).resolve().parents[1]

#: PA-MPJPE (mm) of the sample clip's saved joints (the solved rig's joints) against its truth.
#: Measured 2026-11-25 with the shipped PoseMoE weights: 66.6 mm (MediaPipe fallback: 59.5 mm),
#: `posemoe_lab/evaluation/sample_accuracy.py`, docs/benchmarks.md. The bound leaves ~20% headroom.
SAMPLE_PA_MPJPE_BOUND_MM = 80.0


def convert(video: Path, tmp: Path, *extra) -> tuple[Path, Path, subprocess.CompletedProcess]:
    fbx, joints = tmp / "clip out é.fbx", tmp / "clip joints.npz"
    proc = subprocess.run([sys.executable, "-m", "posemoe_blender", "convert", str(video), "-o", str(fbx),
                           "--save-joints", str(joints), *map(str, extra)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return fbx, joints, proc


def check_fbx(fbx: Path, frames: int, take: str) -> dict:
    from posemoe_blender.output.inspect_fbx import summarize_fbx
    from posemoe_blender.solving.skeleton import HUMANOID_BONES, HUMANOID_REQUIRED, RIG_BONE_NAMES
    s = summarize_fbx(fbx)
    assert s["armatures"] == 1
    assert s["leaf_bones"] == []
    # every bone Unity's Humanoid avatar requires, under Unity's own names, plus the optional
    # chest, neck, shoulders and toes; the take is named after the clip (not "Scene")
    unity_required = ["Hips", "Spine", "Head", "LeftUpperArm", "LeftLowerArm", "LeftHand",
                      "RightUpperArm", "RightLowerArm", "RightHand", "LeftUpperLeg", "LeftLowerLeg",
                      "LeftFoot", "RightUpperLeg", "RightLowerLeg", "RightFoot"]
    assert sorted(HUMANOID_REQUIRED) == sorted(unity_required)
    assert set(unity_required + ["Chest", "Neck", "LeftShoulder", "RightShoulder", "LeftToes",
                                 "RightToes"]) <= set(s["bone_names"])
    assert set(HUMANOID_BONES) <= set(s["bone_names"]) and sorted(s["bone_names"]) == sorted(RIG_BONE_NAMES)
    assert s["takes"] == [take]
    toes = np.array(s["positions"]["LToe"] + s["positions"]["RToe"])
    assert toes[:, 2].min() > -0.02, "toes above the floor"
    assert s["keyed_frames"] == frames, "every frame keyed"
    assert s["moves"], "the joints move"
    assert s["upright"]
    head_top = max(z for _, _, z in s["positions"]["Head"])  # above the floor (Z = 0)
    # an adult, at the right scale (not cm for m): MediaPipe's own metric 3D puts the head top of
    # the real clip's man at 1.495 m, the shipped networks at 1.44-1.61 m (monocular scale is a
    # prior: the training bodies are 1.50-1.95 m tall)
    assert 1.4 <= head_top <= 2.0, head_top
    assert s["min_foot_height"] < 0.2, "feet near the floor"
    return s


def procrustes_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint error (metres) after a per-frame similarity alignment of pred to gt."""
    errs = []
    for p, g in zip(pred.astype(np.float64), gt.astype(np.float64)):
        mp, mg = p.mean(0), g.mean(0)
        p0, g0 = p - mp, g - mg
        u, s, vt = np.linalg.svd(p0.T @ g0)
        d = np.sign(np.linalg.det(u @ vt))
        s[-1] *= d
        u[:, -1] *= d
        r = u @ vt
        scale = s.sum() / (p0 ** 2).sum()
        errs.append(np.linalg.norm(scale * p0 @ r - g0, axis=-1).mean())
    return float(np.mean(errs))


def test_sample_clip_end_to_end(sample_clip, tmp_path):
    fbx, joints_path, proc = convert(sample_clip, tmp_path)
    assert "frames/s" in proc.stderr.splitlines()[-1], "one-line summary at the end"
    truth = np.load(sample_clip.with_name("demo_truth.npz"))
    out = np.load(joints_path)
    assert list(out["joint_names"]) == list(JOINT_NAMES)
    assert out["joints3d"].shape == truth["joints3d"].shape
    assert out["joints3d"].dtype == np.float32 and out["root"].shape == (len(truth["joints3d"]), 3)
    assert float(out["fps"]) == pytest.approx(30.0)
    assert np.all(np.isfinite(out["joints3d"]))
    # root-relative, and the detected 2D is on the figure
    assert np.abs(out["joints3d"][:, 0]).max() < 1e-5
    err2d = np.linalg.norm(out["keypoints2d"][..., :2] - truth["keypoints2d"][..., :2], axis=-1)
    assert err2d.mean() < 15.0, err2d.mean()
    pa = procrustes_mpjpe(out["joints3d"], truth["joints3d"]) * 1000
    assert pa < SAMPLE_PA_MPJPE_BOUND_MM, f"PA-MPJPE {pa:.1f} mm"
    umask = os.umask(0)
    os.umask(umask)
    for path in (fbx, joints_path):  # a normal file's mode, not a temporary file's 0600
        assert (path.stat().st_mode & 0o777) == 0o666 & ~umask
    s = check_fbx(fbx, frames=len(truth["joints3d"]), take=sample_clip.stem)
    assert abs(s["fps"] - 30.0) < 1e-6
    # constant bone lengths in the saved joints
    lengths = np.stack([np.linalg.norm(out["joints3d"][:, c] - out["joints3d"][:, p], axis=-1)
                        for p, c in BONES], axis=1)
    assert lengths.std(0).max() < 0.03


def test_real_phone_video_end_to_end(real_video, tmp_path):
    fbx, joints_path, _ = convert(real_video, tmp_path, "--blend", tmp_path / "clip.blend")
    out = np.load(joints_path)
    assert out["joints3d"].shape == (100, 17, 3)
    assert float(out["fps"]) == pytest.approx(60.0, abs=0.1)
    assert (int(out["width"]), int(out["height"])) == (1080, 1920)
    assert (tmp_path / "clip.blend").stat().st_size > 0
    s = check_fbx(fbx, frames=100, take=real_video.stem)
    assert abs(s["fps"] - 60.0) < 0.1
    # body proportions of a real person: shoulder-to-hip over hip-to-ankle length of the solved
    # skeleton. Joint-centre skeletons give 0.52 (the training mocap) to 0.59 (anthropometric
    # tables); lifting BlazePose's raw 2D (hips too low) gave this man 0.635, the landmark
    # correction 0.525 (2026-11-26, docs/joint-mapping.md)
    P = out["joints3d"].astype(np.float64)
    mid = lambda a, b: 0.5 * (P[:, JOINT_NAMES.index(a)] + P[:, JOINT_NAMES.index(b)])  # noqa: E731
    j = lambda n: P[:, JOINT_NAMES.index(n)]  # noqa: E731
    torso = np.linalg.norm(mid("LShoulder", "RShoulder") - mid("LHip", "RHip"), axis=-1)
    leg = np.linalg.norm(j("LHip") - j("LKnee"), axis=-1) + np.linalg.norm(j("LKnee") - j("LAnkle"), axis=-1)
    assert 0.45 <= float(np.median(torso / leg)) <= 0.60, float(np.median(torso / leg))


def test_fps_out_and_range(sample_clip, tmp_path):
    fbx, joints_path, _ = convert(sample_clip, tmp_path, "--start", 10, "--end", 70, "--fps-out", 24)
    out = np.load(joints_path)
    # 60 source frames at 30 fps span 59/30 s -> floor(59 * 24 / 30) + 1 = 48 frames at 24 fps
    assert out["joints3d"].shape[0] == 48 and out["keypoints2d"].shape[0] == 48
    assert float(out["fps"]) == pytest.approx(24.0)
    from posemoe_blender.output.inspect_fbx import summarize_fbx
    s = summarize_fbx(fbx)
    assert s["keyed_frames"] == 48 and abs(s["fps"] - 24.0) < 1e-6
