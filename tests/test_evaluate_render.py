"""The evaluation package: metrics on synthetic known answers, the variant list, the report's
ratios and targets, the four-view agreement, and smoke runs on a tiny rendered set
(tests/data/render_tiny: 1 held-out clip, side view, 30 frames, from posemoe_lab/renders/eval_set.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posemoe_blender import options
from posemoe_lab.evaluation import alignment, metrics as ev, multiview, report, variants
from posemoe_blender.joints import JOINT_INDEX as J
from test_footlock import synthetic_walk

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "render_tiny"
FPS = 30.0
POSE = ("pa_mpjpe_frame_mm", "pa_mpjpe_seq_mm", "mpjpe_mm", "accel_error_mm_f2")


@pytest.fixture
def walk():
    P, contacts = synthetic_walk(T=120)
    return P, contacts


def test_rigid_motion_of_the_whole_clip_costs_nothing(walk):
    gt, _ = walk
    R = Rotation.from_euler("xyz", [20, -35, 70], degrees=True).as_matrix()
    pred = gt @ R.T + [3.0, -1.0, 0.5]  # another frame (e.g. camera axes): fully explained
    m = ev.score(pred, gt, FPS)
    for joints in ("limbs", "all"):
        for k in POSE:
            assert m[f"{joints}/{k}"] == pytest.approx(0.0, abs=1e-6), (joints, k)
    for g in ev.GROUPS:
        assert m[f"{g}/group_error_mm"] == pytest.approx(0.0, abs=1e-6)
    assert m["root_error_mm"] == pytest.approx(0.0, abs=1e-6)
    assert m["foot_slide_cm_s"] == pytest.approx(0.0, abs=1e-6)  # the truth's feet are planted
    assert set(m) == set(ev.all_keys())


def test_known_scale_error_gives_known_mpjpe(walk):
    gt, _ = walk
    pred = gt[:, :1] + 1.1 * (gt - gt[:, :1])  # 10% too big
    rel = gt - gt[:, :1]
    assert ev.mpjpe_mm(pred, gt) == pytest.approx(0.1 * np.linalg.norm(rel, axis=-1).mean() * 1000, rel=1e-6)
    limbs = list(ev.LIMBS)
    assert ev.mpjpe_mm(pred, gt, ev.LIMBS) == pytest.approx(
        0.1 * np.linalg.norm(rel[:, limbs], axis=-1).mean() * 1000, rel=1e-6)
    # scale is forgiven by both Procrustes alignments
    assert ev.pa_mpjpe_frame_mm(pred, gt) == pytest.approx(0.0, abs=1e-6)
    assert ev.pa_mpjpe_seq_mm(pred, gt) == pytest.approx(0.0, abs=1e-6)


def test_per_frame_and_per_sequence_pa_mpjpe_differ_where_they_should(walk):
    """A pose that turns and breathes in scale within the clip is forgiven per frame, not per
    sequence."""
    gt, _ = walk
    rel = gt - gt[:, :1]
    T = len(gt)
    angles = np.linspace(0, 40, T)
    scales = 1.0 + 0.1 * np.sin(np.linspace(0, 6, T))
    pred = np.stack([s * r @ Rotation.from_euler("z", a, degrees=True).as_matrix().T
                     for s, r, a in zip(scales, rel, angles)])
    assert ev.pa_mpjpe_frame_mm(pred, gt) == pytest.approx(0.0, abs=1e-6)
    assert ev.pa_mpjpe_seq_mm(pred, gt) > 20.0
    assert ev.mpjpe_mm(pred, gt) >= ev.pa_mpjpe_seq_mm(pred, gt) - 1e-9  # less help, more error


def test_known_joint_offset_gives_known_errors(walk):
    gt, _ = walk
    pred = gt.copy()
    pred[:, J["Head"]] += [0.0, 0.0, 0.17]  # 17 cm on one joint of 17, not a limb joint
    assert ev.mpjpe_mm(pred, gt) == pytest.approx(10.0, rel=0.05)
    assert ev.mpjpe_mm(pred, gt, ev.LIMBS) == pytest.approx(0.0, abs=1e-6)
    m = ev.score(pred, gt, FPS)
    assert m["torso_head/group_error_mm"] > 2 * max(m["legs/group_error_mm"], m["arms/group_error_mm"])


def test_root_drift_gives_known_trajectory_error(walk):
    gt, _ = walk
    T = len(gt)
    drift = (np.arange(T) / FPS * 0.1)[:, None, None] * np.array([1.0, 0.0, 0.0])  # 10 cm/s
    pred = gt + drift
    assert ev.root_error_mm(pred, gt) == pytest.approx((np.arange(T) / FPS * 0.1).mean() * 1000, rel=1e-6)
    assert ev.mpjpe_mm(pred, gt) == pytest.approx(0.0, abs=1e-6)  # root-relative: unaffected


def test_known_sliding_speed_is_measured(walk):
    gt, contacts = walk
    T = len(gt)
    pred = gt.copy()
    for k, a in enumerate(ev.ANKLES):  # during contacts the ankle drifts at 5 cm/s along X
        drift = np.zeros(T)
        for t in range(1, T):
            drift[t] = drift[t - 1] + (0.05 / FPS if contacts[t, k] and contacts[t - 1, k] else 0.0)
        pred[:, a, 0] += drift
    assert ev.foot_slide_cm_s(pred, contacts, FPS) == pytest.approx(5.0, abs=1e-6)
    assert ev.foot_slide_cm_s(gt, contacts, FPS) == pytest.approx(0.0, abs=1e-9)


def test_known_jitter_gives_known_acceleration_error(walk):
    gt, _ = walk
    pred = gt.copy()
    a = 0.002  # +-2 mm alternating on one joint: second difference 4a = 8 mm/frame^2
    pred[:, J["LWrist"], 1] += a * (-1.0) ** np.arange(len(gt))
    assert ev.accel_error_mm_f2(pred, gt) == pytest.approx(8.0 / 17, rel=0.02)
    assert ev.accel_error_mm_f2(pred, gt, ev.LIMBS) == pytest.approx(8.0 / 12, rel=0.02)


def test_bone_length_variation(walk):
    gt, _ = walk
    assert ev.bone_std_mm(gt) == pytest.approx(0.0, abs=1e-6)
    pred = gt.copy()
    e, w = J["LElbow"], J["LWrist"]
    d = pred[:, w] - pred[:, e]
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    pred[:, w] += d * 0.016 * (-1.0) ** np.arange(len(gt))[:, None]  # forearm +-16 mm: SD 16 mm
    assert ev.bone_std_mm(pred) == pytest.approx(16.0 / 16, rel=1e-3)  # 1 of 16 bones


def test_truth_contacts_on_a_walk(walk):
    gt, truth = walk
    found = ev.truth_contacts(gt, FPS)
    tp = (found & truth).sum()
    assert tp / found.sum() > 0.95 and tp / truth.sum() > 0.9


def test_contact_height_error():
    P, contacts = synthetic_walk(T=60)
    assert ev.contact_height_err_cm(P, contacts, 0.08) == pytest.approx(0.0, abs=1e-9)
    assert ev.contact_height_err_cm(P + [0, 0, 0.03], contacts, 0.08) == pytest.approx(3.0)


def test_lock_precision_and_recall_per_foot_frame():
    truth = np.zeros((10, 2), bool)
    truth[2:6, 0] = True
    truth[5:9, 1] = True
    locks = np.zeros((10, 2), bool)
    locks[3:8, 0] = True                 # left: 3 right (3, 4, 5), 2 false (6, 7)
    locks[5:8, 1] = True                 # right: 3 right, none false
    p, r = ev.lock_precision_recall(locks, truth)
    assert p == pytest.approx(100 * 6 / 8) and r == pytest.approx(100 * 6 / 8)
    p, r = ev.lock_precision_recall(np.zeros_like(truth), truth)
    assert np.isnan(p) and r == 0.0
    p, r = ev.lock_precision_recall(np.ones_like(truth), truth)
    assert p == pytest.approx(100 * 8 / 20) and r == pytest.approx(100.0)
    with pytest.raises(Exception):
        ev.lock_precision_recall(locks[:5], truth)


def test_swing_height_error_and_locks_mid_swing(walk):
    gt, contacts = walk  # floor frame: stance ankles at 0.08, swing arcs up to 12 cm above
    h = 0.08
    assert ev.swing_height_err_cm(gt, gt, contacts, h) == pytest.approx(0.0, abs=1e-9)
    assert ev.swing_height_err_cm(gt + [0, 0, 0.03], gt, contacts, h) == pytest.approx(3.0)
    flat = gt.copy()
    flat[:, list(ev.ANKLES), 2] = h
    swing = gt[:, list(ev.ANKLES), 2][~contacts] - h
    assert ev.swing_height_err_cm(flat, gt, contacts, h) == pytest.approx(swing.mean() * 100)
    assert ev.locks_mid_swing_pct(contacts, gt) == pytest.approx(0.0)
    high = gt[:, list(ev.ANKLES), 2] - h > ev.IN_AIR_HEIGHT_M
    assert 0 < high.mean() < 0.5
    assert ev.locks_mid_swing_pct(np.ones_like(contacts), gt) == pytest.approx(100 * high.mean())
    m = ev.score(gt, gt, FPS, contacts, floor_frame=True, locks=contacts)
    assert m["lock_precision_pct"] == pytest.approx(100.0) and m["lock_recall_pct"] == pytest.approx(100.0)
    assert m["locks_mid_swing_pct"] == 0.0 and m["swing_height_err_cm"] == pytest.approx(0.0, abs=1e-9)
    m = ev.score(gt, gt, FPS, contacts)  # no lock, no floor frame: not applicable
    assert all(np.isnan(m[k]) for k in ev.FLOOR_METRICS + ev.LOCK_METRICS)


# ------------------------------------------------------------------------------ variants, report

def test_default_variants_follow_the_lifter_list(monkeypatch):
    names = [v.name for v in variants.default_variants()]
    assert names[0] == variants.RAW
    assert "mediapipe" in names  # MediaPipe through the pipeline runs without weights
    for lifter in options.NETWORK_LIFTERS:
        if variants._runs(lifter):
            assert f"{lifter}_corr" in names and f"{lifter}_nocorr" in names
    defaults = [v for v in variants.default_variants() if v.is_default]
    assert len(defaults) == (1 if variants._runs(options.DEFAULT_LIFTER) else 0)
    if defaults:  # the row convert's defaults run: its lifter, its landmark correction
        corr = "_corr" if options.ConvertOptions().landmark_correction else "_nocorr"
        assert defaults[0].name == options.DEFAULT_LIFTER + corr
    # a lifter added to the project's list (another network) becomes rows without edits here
    monkeypatch.setattr(options, "LIFTERS", options.LIFTERS + ("fused",))
    monkeypatch.setattr(options, "NETWORK_LIFTERS", options.NETWORK_LIFTERS + ("fused",))
    monkeypatch.setattr(variants, "_runs", lambda lifter: True)
    names = [v.name for v in variants.default_variants()]
    assert {"fused_corr", "fused_nocorr"} <= set(names)
    assert names[-1] == "mean:entangled_nocorr+mediapipe"
    assert [v.name for v in variants.default_variants(landmark_correction=False)
            if v.kind == "pipeline"] == [f"{n}_nocorr" if n in options.NETWORK_LIFTERS else n
                                         for n in options.LIFTERS]
    # whatever the defaults are, the rows' options say what their names say
    for v in variants.catalogue().values():
        if v.name.endswith("_corr") or v.name.endswith("_nocorr"):
            assert v.options.landmark_correction == v.name.endswith("_corr")


def test_parse_variants(monkeypatch):
    monkeypatch.setattr(variants, "_runs", lambda lifter: True)
    got = variants.parse_variants("mean:entangled_nocorr+mediapipe")
    assert [v.name for v in got] == ["mediapipe_raw", "entangled_nocorr", "mediapipe",
                                     "mean:entangled_nocorr+mediapipe"]
    got = variants.parse_variants(options.DEFAULT_LIFTER)  # a bare lifter: convert's defaults
    assert len(got) == 2 and got[1].is_default
    got = variants.parse_variants("mine=posemoe,weights=x.pt,nocorr,nolock;mediapipe")
    mine = next(v for v in got if v.name == "mine")
    assert mine.options.weights == "x.pt" and not mine.options.landmark_correction and not mine.options.foot_lock
    assert not mine.is_default and [v.name for v in got] == ["mediapipe_raw", "mine", "mediapipe"]
    with pytest.raises(Exception):
        variants.parse_variants("no_such_variant")


def test_summary_ratios_targets_and_actors():
    keys = ev.all_keys()
    base = dict.fromkeys(keys, 10.0)

    def row(actor, pa, slide):
        return {"actor": actor, "view": "v", "frames": 10, "truth_slide_cm_s": 0.1,
                "methods": {"mediapipe_raw": dict(base, **{"limbs/pa_mpjpe_frame_mm": 100.0}),
                            "posemoe": dict(base, **{"limbs/pa_mpjpe_frame_mm": pa, "foot_slide_cm_s": slide,
                                                     "limbs/pa_mpjpe_seq_mm": 7.0, "limbs/mpjpe_mm": 8.5,
                                                     "limbs/accel_error_mm_f2": 4.0})}}
    rows = [row("mm", 60.0, 1.0), row("tr", 80.0, 3.0)]
    chosen = [variants.catalogue()[variants.RAW], variants.Variant("posemoe", "x", "pipeline", options.ConvertOptions())]
    assert chosen[1].is_default
    s = report.summarize(rows, chosen)
    assert s["default"] == "posemoe"
    assert s["ratios"]["posemoe"]["limbs/pa_mpjpe_frame_mm"] == pytest.approx(0.7)
    met = {t["metric"]: t["met"] for t in s["targets"]}
    assert met == {"limbs/pa_mpjpe_frame_mm": True, "limbs/pa_mpjpe_seq_mm": True, "limbs/mpjpe_mm": False,
                   "limbs/accel_error_mm_f2": True, "foot_slide_cm_s": False}  # 2.0 cm/s is not < 2
    assert s["by_actor"]["mm"]["ratios"]["posemoe"]["limbs/pa_mpjpe_frame_mm"] == pytest.approx(0.6)
    assert s["by_actor"]["tr"]["targets"][0]["met"] is False


# ------------------------------------------------------------------------------ four views

def test_views_that_see_the_same_motion_agree(walk):
    gt, _ = walk
    ok = np.ones(len(gt), bool)
    views = []
    for k, (angles, s, t) in enumerate((([0, 0, 0], 1.0, 0.0), ([10, 80, 0], 0.8, 2.0),
                                        ([0, -120, 30], 1.3, -1.0), ([90, 0, 0], 1.0, 5.0))):
        R = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
        views.append((s * gt @ R.T + t, ok))
    d = multiview.disagreement(views)
    assert len(d["pairs_mm"]) == 6 and d["disagreement_mm"] == pytest.approx(0.0, abs=1e-6)
    rng = np.random.default_rng(0)
    noisy = views[:3] + [(views[3][0] + rng.normal(0, 0.02, gt.shape), ok)]
    d = multiview.disagreement(noisy)
    assert 10 < d["disagreement_mm"] < 40 and d["pairs_mm"]["1-2"] == pytest.approx(0.0, abs=1e-6)
    # the normalised disagreement does not reward shrinking a view's people
    small = [(0.5 * v[0], ok) for v in noisy]
    assert multiview.disagreement(small)["disagreement_pct"] == pytest.approx(d["disagreement_pct"], rel=1e-6)


VIDEOS = sorted((Path(multiview.DATA) / "videos").glob("single_person_cam0[1-4].mp4"))


@pytest.mark.skipif(len(VIDEOS) < 4, reason="../shared/data/videos/single_person_cam01..04.mp4 absent")
def test_four_real_views_agree_better_in_sync_than_out_of_sync():
    """The first 30 frames of the four synchronised cameras: MediaPipe's world landmarks and
    MediaPipe through the pipeline; views agree better frame by frame than with one view's
    frames reversed (the score sees synchronisation)."""
    chosen = variants.parse_variants("mediapipe")
    result = multiview.evaluate_views([str(v) for v in VIDEOS], chosen, frames=30)
    raw = result["mediapipe_raw"]
    assert raw["ratio_mm"] == pytest.approx(1.0) and len(raw["pairs_mm"]) == 6
    assert 10 < raw["disagreement_mm"] < 400 and np.isfinite(result["mediapipe"]["disagreement_mm"])
    per_view = [multiview.view_joints(str(v), chosen[:1], 30) for v in VIDEOS]
    views = [(pv[0]["mediapipe_raw"], pv[1]) for pv in per_view]
    shuffled = views[:3] + [(views[3][0][::-1], views[3][1][::-1])]
    assert multiview.disagreement(shuffled)["disagreement_mm"] > raw["disagreement_mm"] + 5


# ------------------------------------------------------------------------------ end to end

def test_alignment_similarity_recovers_a_known_transform(walk):
    gt, _ = walk
    R = Rotation.from_euler("xyz", [5, 50, -20], degrees=True).as_matrix()
    src = 0.7 * gt @ R.T + [1.0, 2.0, 3.0]
    R2, t, s = alignment.similarity(src, gt)
    assert s == pytest.approx(1 / 0.7, rel=1e-9)
    assert np.abs(alignment.align_similarity(src, gt) - gt).max() < 1e-9


@pytest.mark.skipif(not (TINY / "manifest.json").is_file(), reason="tiny render set missing")
def test_evaluate_render_smoke(tmp_path):
    out = tmp_path / "quality.md"
    proc = subprocess.run([sys.executable, "-m", "posemoe_lab", "evaluate-render", str(TINY), "--json",
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = json.loads(proc.stdout)
    s = rep["summary"]
    names = [v["name"] for v in rep["variants"]]
    assert names[0] == "mediapipe_raw" and "mediapipe" in names
    for name, m in s["means"].items():
        assert 10 < m["limbs/pa_mpjpe_frame_mm"] < 200, (name, m)
        assert m["limbs/pa_mpjpe_seq_mm"] >= m["limbs/pa_mpjpe_frame_mm"] - 1e-6  # less help per sequence
        assert np.isfinite(m["all/accel_error_mm_f2"])
    assert s["ratios"]["mediapipe_raw"]["limbs/mpjpe_mm"] == pytest.approx(1.0)
    assert s["means"]["mediapipe"]["bone_std_mm"] < 0.01  # the solved rig keeps its bone lengths
    assert s["means"]["mediapipe_raw"]["bone_std_mm"] > 1.0
    # smoothing: much less acceleration error than the raw landmarks
    assert s["means"]["mediapipe"]["all/accel_error_mm_f2"] < s["means"]["mediapipe_raw"]["all/accel_error_mm_f2"]
    assert 0.0 <= s["means"]["mediapipe"]["lock_precision_pct"] <= 100.0
    assert s["means"]["mediapipe_raw"]["lock_precision_pct"] is None
    if s["default"]:
        assert [t["metric"] for t in s["targets"]] == [t[0] for t in report.TARGETS]
    video = rep["videos"][0]
    assert video["actor"] == "" and set(video["methods"]) == set(names)
    text = out.read_text()
    assert "## The 12 limb joints" in text and "| mediapipe_raw |" in text and "lock precision (%)" in text
    pngs = sorted((tmp_path / "img").glob("*.png"))
    assert len(pngs) >= 1 and all(p.stat().st_size > 10_000 for p in pngs)
    assert not list(TINY.glob("*.det.npz"))  # tracked folders get no cache files


@pytest.mark.skipif(not (TINY / "manifest.json").is_file(), reason="tiny render set missing")
def test_evaluate_with_other_weights_and_chosen_variants(tmp_path):
    """``--weights`` reaches the default lifter's rows; ``--variants`` picks rows (here with
    untrained PoseMoE weights: numbers meaningless, the path runs end to end)."""
    from posemoe_blender.lifting.networks.posemoe import PoseMoEConfig
    from posemoe_blender.lifting.weights import build_model, save_weights
    import torch
    torch.manual_seed(0)
    cfg = PoseMoEConfig().to_dict()
    weights = tmp_path / "random.pt"
    save_weights(weights, build_model(cfg), cfg)
    proc = subprocess.run([sys.executable, "-m", "posemoe_lab.evaluation", str(TINY), "--json",
                           "--weights", str(weights), "--variants", "posemoe_nocorr,posemoe_lifted",
                           "--variants", f"other=posemoe,weights={weights},nocorr"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = json.loads(proc.stdout)
    assert [v["name"] for v in rep["variants"]] == ["mediapipe_raw", "posemoe_nocorr", "posemoe_lifted", "other"]
    assert rep["videos"][0]["lifters"]["posemoe_nocorr"]["lifter"] == "posemoe"
    weighted = {v["name"]: v["options"]["weights"] for v in rep["variants"][1:]}
    if options.DEFAULT_LIFTER == "posemoe":  # --weights is the default lifter's
        assert weighted["posemoe_nocorr"] == str(weights)
    assert weighted["other"] == str(weights)
