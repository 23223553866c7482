"""evaluate-render: metrics on synthetic known answers, and a smoke test on a tiny rendered set
(tests/data/render_tiny: 1 held-out clip, side view, 30 frames, from scripts/render_eval_set.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posemoe_blender import evaluate_render as ev
from posemoe_blender.joints import JOINT_INDEX as J
from test_footlock import synthetic_walk

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "render_tiny"
FPS = 30.0


@pytest.fixture
def walk():
    P, contacts = synthetic_walk(T=120)
    return P, contacts


def test_rigid_motion_of_the_whole_clip_costs_nothing(walk):
    gt, _ = walk
    R = Rotation.from_euler("xyz", [20, -35, 70], degrees=True).as_matrix()
    pred = gt @ R.T + [3.0, -1.0, 0.5]  # another frame (e.g. camera axes): fully explained
    m = ev.evaluate_joints(pred, gt, FPS)
    for key in ("mpjpe_mm", "pa_mpjpe_mm", "root_error_mm", "accel_error_mm_f2"):
        assert m[key] == pytest.approx(0.0, abs=1e-6), key
    # its feet slide exactly as much as the truth's (which are planted: 0)
    assert m["foot_slide_cm_s"] == pytest.approx(0.0, abs=1e-6)


def test_known_scale_error_gives_known_mpjpe(walk):
    gt, _ = walk
    pred = gt.copy()
    pred = pred[:, :1] + 1.1 * (pred - pred[:, :1])  # 10% too big
    expected = 0.1 * np.linalg.norm(gt - gt[:, :1], axis=-1).mean() * 1000
    assert ev.mpjpe(pred, gt) == pytest.approx(expected, rel=1e-6)
    assert ev.pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)  # scale is forgiven there


def test_known_joint_offset_gives_known_mpjpe(walk):
    gt, _ = walk
    pred = gt.copy()
    pred[:, J["Head"]] += [0.0, 0.0, 0.17]  # 17 cm on one joint of 17
    # the best clip rotation moves little: the mean error is close to 170 / 17 = 10 mm
    assert ev.mpjpe(pred, gt) == pytest.approx(10.0, rel=0.05)


def test_root_drift_gives_known_trajectory_error(walk):
    gt, _ = walk
    T = len(gt)
    drift = (np.arange(T) / FPS * 0.1)[:, None, None] * np.array([1.0, 0.0, 0.0])  # 10 cm/s
    pred = gt + drift
    expected = (np.arange(T) / FPS * 0.1).mean() * 1000
    assert ev.root_trajectory_error(pred, gt) == pytest.approx(expected, rel=1e-6)
    assert ev.mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)  # root-relative: unaffected


def test_known_sliding_speed_is_measured(walk):
    gt, contacts = walk
    T = len(gt)
    pred = gt.copy()
    for k, a in enumerate(ev.ANKLES):  # during contacts the ankle drifts at 5 cm/s along X
        drift = np.zeros(T)
        for t in range(1, T):
            drift[t] = drift[t - 1] + (0.05 / FPS if contacts[t, k] and contacts[t - 1, k] else 0.0)
        pred[:, a, 0] += drift
    m = ev.foot_sliding(pred, contacts, FPS)
    assert m == pytest.approx(5.0, abs=1e-6)
    assert ev.foot_sliding(gt, contacts, FPS) == pytest.approx(0.0, abs=1e-9)


def test_known_jitter_gives_known_acceleration_error(walk):
    gt, _ = walk
    pred = gt.copy()
    a = 0.002  # +-2 mm alternating on one joint: second difference 4a = 8 mm/frame^2
    pred[:, J["LWrist"], 1] += a * (-1.0) ** np.arange(len(gt))
    assert ev.accel_error(pred, gt) == pytest.approx(8.0 / 17, rel=0.02)


def test_bone_length_variation(walk):
    gt, _ = walk
    assert ev.bone_length_std(gt) == pytest.approx(0.0, abs=1e-6)
    pred = gt.copy()
    e, w = J["LElbow"], J["LWrist"]
    d = pred[:, w] - pred[:, e]
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    pred[:, w] += d * 0.016 * (-1.0) ** np.arange(len(gt))[:, None]  # forearm +-16 mm: SD 16 mm
    assert ev.bone_length_std(pred) == pytest.approx(16.0 / 16, rel=1e-3)  # 1 of 16 bones


def test_truth_contacts_on_a_walk(walk):
    gt, truth = walk
    found = ev.truth_contacts(gt, FPS)
    tp = (found & truth).sum()
    assert tp / found.sum() > 0.95 and tp / truth.sum() > 0.9


def test_contact_height_error():
    P, contacts = synthetic_walk(T=60)
    assert ev.contact_height_error(P, contacts, 0.08) == pytest.approx(0.0, abs=1e-9)
    assert ev.contact_height_error(P + [0, 0, 0.03], contacts, 0.08) == pytest.approx(3.0)


def test_targets_in_summary():
    m = {k: 1.0 for k in ev.METRICS}
    rows = [{"view": "side", "truth_slide_cm_s": 0.5, "methods": {
        "mediapipe_raw": dict(m, pa_mpjpe_mm=100.0, accel_error_mm_f2=30.0),
        "full": dict(m, pa_mpjpe_mm=65.0, accel_error_mm_f2=16.0, foot_slide_cm_s=1.5)}}]
    t = ev.summarize(rows)["targets"]
    assert t["pa_mpjpe"]["ratio"] == pytest.approx(0.65) and t["pa_mpjpe"]["met"]
    assert t["foot_slide"]["met"]
    assert t["accel"]["ratio"] == pytest.approx(16 / 30) and not t["accel"]["met"]


@pytest.mark.skipif(not (TINY / "manifest.json").is_file(), reason="tiny render set missing")
def test_evaluate_render_smoke(tmp_path):
    out = tmp_path / "quality.md"
    proc = subprocess.run([sys.executable, "-m", "posemoe_blender", "evaluate-render", str(TINY), "--json",
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    methods = report["summary"]["methods"]
    assert {"mediapipe_raw", "full", "full_nolock"} <= set(methods)
    for name, m in methods.items():
        assert 10 < m["pa_mpjpe_mm"] < 200, (name, m)
        assert np.isfinite(m["accel_error_mm_f2"])
    assert methods["full"]["bone_std_mm"] < 0.01  # the solved rig keeps its bone lengths
    assert methods["mediapipe_raw"]["bone_std_mm"] > 1.0
    # smoothing: much less acceleration error than the raw landmarks
    assert methods["full"]["accel_error_mm_f2"] < methods["mediapipe_raw"]["accel_error_mm_f2"]
    assert set(report["summary"]["targets"]) == {"pa_mpjpe", "foot_slide", "accel"}
    # the lock's contacts against the truth's: per foot-frame precision / recall, swing height
    for key in ("contact_precision_pct", "contact_recall_pct", "locks_in_air_pct"):
        assert 0.0 <= methods["full"][key] <= 100.0, key
        assert methods["full_nolock"][key] is None and methods["mediapipe_raw"][key] is None
    assert np.isfinite(methods["full"]["swing_height_err_cm"])
    text = out.read_text()
    assert "| full pipeline (convert defaults) |" in text
    assert "lock precision (%)" in text and "swing height err (cm)" in text
    pngs = sorted((tmp_path / "img").glob("*.png"))
    assert len(pngs) == 2 and all(p.stat().st_size > 10_000 for p in pngs)


MOCAP = REPO / ".cache" / "mocap" / "mocap.npz"


@pytest.mark.skipif(not MOCAP.is_file(), reason="prepared mocap (.cache/mocap) missing")
def test_render_set_figure_follows_the_heldout_mocap():
    """The benchmark's figure, driven by the solver's rotations, reproduces the mocap joints
    (so the rendered truth is the held-out motion), without rendering anything."""
    pytest.importorskip("bpy")
    sys.path.insert(0, str(REPO / "scripts"))
    import render_eval_set as rset
    from mathutils import Matrix

    short, source, start, _ = rset.CLIPS[0]
    P, meta = rset.load_clip(source, start, 20)
    assert meta["style"] in ("happy", "youthful")  # held-out styles only
    arm, layout = rset.build_clip_scene(P, "FXAA")
    globs, moves, lengths = rset.solve_figure_motion(P, layout)
    posed = np.stack([rset.rs.apply_pose(arm, layout, g, Matrix.Translation(tuple(m)))
                      for g, m in zip(globs, moves)])
    assert np.abs(posed - P).max() < 0.005  # mocap clavicle/neck lengths wobble by ~2 mm
    lengths_posed = np.linalg.norm(posed[:, 2] - posed[:, 1], axis=-1)
    assert np.ptp(lengths_posed) < 1e-5 and lengths_posed[0] == pytest.approx(lengths["RThigh"], abs=1e-5)
    # turned to face -Y on average, centred, shoes on the floor
    assert abs(P[:, 0, :2].mean(axis=0)).max() < 1e-6
    assert P[:, [J["LAnkle"], J["RAnkle"]], 2].min() == pytest.approx(rset.FIGURE_ANKLE_HEIGHT, abs=0.03)


@pytest.mark.skipif(not (TINY / "manifest.json").is_file(), reason="tiny render set missing")
def test_evaluate_render_with_posemoe_weights(tmp_path):
    """With (here untrained) PoseMoE weights the network path runs end to end and the
    'PoseMoE before smoothing' row appears (numbers meaningless for random weights)."""
    from posemoe_blender.model.posemoe import PoseMoEConfig
    from posemoe_blender.model.weights import build_model, save_weights
    import torch
    torch.manual_seed(0)
    cfg = PoseMoEConfig().to_dict()
    weights = tmp_path / "random.pt"
    save_weights(weights, build_model(cfg), cfg)
    proc = subprocess.run([sys.executable, "-m", "posemoe_blender", "evaluate-render", str(TINY), "--json",
                           "--weights", str(weights)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert "posemoe_raw" in report["summary"]["methods"]
    assert report["videos"][0]["lifter"] == "posemoe"


def test_lock_precision_and_recall_per_foot_frame():
    truth = np.zeros((10, 2), bool)
    truth[2:6, 0] = True                 # left: 4 contact frames
    truth[5:9, 1] = True                 # right: 4
    locks = np.zeros((10, 2), bool)
    locks[3:8, 0] = True                 # left: 3 right (3, 4, 5), 2 false (6, 7)
    locks[5:8, 1] = True                 # right: 3 right, none false
    p, r = ev.contact_precision_recall(locks, truth)
    assert p == pytest.approx(100 * 6 / 8) and r == pytest.approx(100 * 6 / 8)
    p, r = ev.contact_precision_recall(truth, truth)
    assert p == pytest.approx(100.0) and r == pytest.approx(100.0)
    p, r = ev.contact_precision_recall(np.zeros_like(truth), truth)  # no locks: nothing pinned
    assert np.isnan(p) and r == 0.0
    p, r = ev.contact_precision_recall(np.ones_like(truth), truth)  # everything pinned
    assert p == pytest.approx(100 * 8 / 20) and r == pytest.approx(100.0)
    with pytest.raises(Exception):
        ev.contact_precision_recall(locks[:5], truth)


def test_swing_height_error_and_locks_mid_swing(walk):
    gt, contacts = walk  # floor frame: stance ankles at 0.08, swing arcs up to 12 cm above
    h = 0.08
    assert ev.swing_height_error(gt, gt, contacts, h) == pytest.approx(0.0, abs=1e-9)
    assert ev.swing_height_error(gt + [0, 0, 0.03], gt, contacts, h) == pytest.approx(3.0)
    # a foot kept on the floor through its swing costs the truth's swing height
    flat = gt.copy()
    flat[:, list(ev.ANKLES), 2] = h
    swing = gt[:, list(ev.ANKLES), 2][~contacts] - h
    assert ev.swing_height_error(flat, gt, contacts, h) == pytest.approx(swing.mean() * 100)
    assert swing.mean() > 0.05
    # locks: exactly the truth's contacts are never mid-swing; locking every frame is, in the
    # share of foot-frames whose ankle is more than 8 cm up
    assert ev.locks_in_air(contacts, gt) == pytest.approx(0.0)
    high = gt[:, list(ev.ANKLES), 2] - h > ev.IN_AIR_HEIGHT_M
    assert 0 < high.mean() < 0.5
    assert ev.locks_in_air(np.ones_like(contacts), gt) == pytest.approx(100 * high.mean())
    m = ev.evaluate_joints(gt, gt, FPS, contacts, floor_frame=True, locks=contacts)
    assert m["contact_precision_pct"] == pytest.approx(100.0) and m["contact_recall_pct"] == pytest.approx(100.0)
    assert m["locks_in_air_pct"] == 0.0 and m["swing_height_err_cm"] == pytest.approx(0.0, abs=1e-9)
    m = ev.evaluate_joints(gt, gt, FPS, contacts)  # no lock, no floor frame: not applicable
    assert all(np.isnan(m[k]) for k in ("contact_precision_pct", "contact_recall_pct",
                                        "locks_in_air_pct", "swing_height_err_cm"))


@pytest.mark.skipif(not MOCAP.is_file(), reason="prepared mocap (.cache/mocap) missing")
def test_benchmark_clips_are_held_out_and_calibration_clips_are_not():
    """The benchmark set renders only held-out clips; its calibration twin (which fits the
    landmark correction) only training clips, so the correction never sees the benchmark."""
    pytest.importorskip("bpy")
    sys.path.insert(0, str(REPO / "scripts"))
    import render_eval_set as rset

    with np.load(MOCAP) as d:
        split = dict(zip(map(str, d["clip_name"]), map(str, d["split"])))
        length = dict(zip(map(str, d["clip_name"]), map(int, d["clip_len"])))
    for table, want in ((rset.CLIPS, "test"), (rset.CALIBRATION_CLIPS, "train")):
        assert len(table) >= 6 and len({c[0] for c in table}) == len(table)
        for short, source, start, frames in table:
            assert split[source] == want, (short, source)
            assert start + frames <= length[source] and frames >= 90, (short, source)  # 3 s at 30 fps
    assert len(rset.CLIPS) >= 10  # ~10 clips x 3 views, as issue #7 asks
