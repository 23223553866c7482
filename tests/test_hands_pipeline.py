"""Hands in the conversion (issue #15): smoothing and easing of the fingers, the pipeline with
and without hands (cached detections have none), ``--save-joints``' hands arrays, ``--no-hands``
and the finger bones of the generated rig."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posemoe_blender.detection import hands
from posemoe_blender.solving import fingers as finger_solve
from posemoe_blender.solving.skeleton import FINGER_BONE_NAMES, RIG_BONE_NAMES
from posemoe_blender.joints import JOINT_INDEX as J
from test_hands import _hand  # a synthetic right hand with known flexion

REPO = Path(__file__).resolve().parents[1]
FIST = np.tile([80.0, 95.0, 60.0], (5, 1))


def _tracks(T: int, seen: slice, pose_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2, 21, 3) hands2d/hands3d: both hands in ``pose_deg`` over the frames ``seen``."""
    right = _hand(pose_deg)
    h3 = np.zeros((T, 2, 21, 3))
    h2 = np.zeros((T, 2, 21, 3))
    h3[seen, 1] = right
    h3[seen, 0] = right * [-1.0, 1.0, 1.0]
    h2[seen, :, :, :2] = 500 + 1000 * h3[seen, :, :, :2]
    h2[seen, :, :, 2] = 0.95
    return h2, h3


def test_solve_hands_eases_in_and_out_without_snapping():
    fps, T = 30.0, 90
    h2, h3 = _tracks(T, slice(30, 60), FIST)
    out = finger_solve.solve_hands(h2, h3, fps, cutoff_hz=6.0)
    deg = np.degrees(out.fingers)
    relaxed = np.degrees(finger_solve.relaxed_flexion())
    np.testing.assert_allclose(deg[:10], np.broadcast_to(relaxed, (10, 2, 5, 3)), atol=0.5)
    np.testing.assert_allclose(deg[-10:], np.broadcast_to(relaxed, (10, 2, 5, 3)), atol=0.5)
    mid = deg[45]
    assert np.all(np.abs(mid[:, 1:, 1] - 95.0) < 5.0), mid  # the fist, both hands
    # no snapping: at most ~12 degrees a frame at 30 fps while easing over ~0.3 s
    assert np.abs(np.diff(deg, axis=0)).max() < 15.0
    assert out.weight[45].min() > 0.99 and out.weight[:10].max() < 0.01
    # the detections come back smoothed where seen, zero (confidence included) where not
    assert np.all(out.hands2d[:30] == 0) and np.all(out.hands3d[60:] == 0)
    assert np.all(out.hands2d[30:60, :, :, 2] > 0.9)
    np.testing.assert_allclose(out.hands3d[45, 1], h3[45, 1], atol=2e-3)


def test_no_hands_is_a_relaxed_hand():
    out = finger_solve.solve_hands(None, None, 30.0, frames=7)
    assert out.fingers.shape == (7, 2, 5, 3) and out.hands2d.shape == (7, 2, 21, 3)
    np.testing.assert_allclose(out.fingers, np.broadcast_to(finger_solve.relaxed_flexion(), (7, 2, 5, 3)))
    assert np.all(out.weight == 0)


def test_finger_bones_named_and_fist_vs_open_rotations():
    from posemoe_blender.solving.body import solve_pose
    from posemoe_blender.solving.rest import rest_pose
    from posemoe_blender.solving.skeleton import NUM_BONES
    assert len(FINGER_BONE_NAMES) == 30 and FINGER_BONE_NAMES[:4] == (
        "LeftThumbProximal", "LeftThumbIntermediate", "LeftThumbDistal", "LeftIndexProximal")
    assert set(FINGER_BONE_NAMES) <= set(RIG_BONE_NAMES) and "RightLittleDistal" in RIG_BONE_NAMES
    lengths = np.full(NUM_BONES, 0.3)
    P = np.repeat(rest_pose(lengths)[0][None], 2, axis=0)
    fingers = np.zeros((2, 2, 5, 3))
    fingers[1] = np.radians(FIST)
    anim = solve_pose(P, lengths, 30.0, fingers=np.clip(fingers, *[np.radians(np.array(
        [finger_solve.FLEX_LIMITS_DEG["Thumb"]] + [finger_solve.FLEX_LIMITS_DEG["other"]] * 4))[..., i] for i in (0, 1)]))
    b = [RIG_BONE_NAMES.index(n) for n in FINGER_BONE_NAMES]
    angle = 2 * np.degrees(np.arccos(np.clip(np.abs(anim.rotations[:, b, 0]), 0, 1)))  # (2, 30)
    assert angle[0].max() < 1e-6  # open: straight, as at rest
    assert angle[1].min() > 50.0  # fist: every finger bone turned
    # the fist curls towards the palm (down, -Z, in the T-pose) on both hands
    from posemoe_blender.solving.kinematics import rig_points_world
    pts = rig_points_world(anim)
    from posemoe_blender.solving.skeleton import POINT_INDEX
    for s in "LR":
        tip, base = POINT_INDEX[s + "Index4"], POINT_INDEX[s + "Index1"]
        assert pts[0, tip, 2] == pytest.approx(pts[0, base, 2], abs=1e-6)
        assert pts[1, tip, 2] < pts[1, base, 2] - 0.02


def _strip_hands(detect_video):
    def plain(reader, start=0, end=None, *args, **kwargs):  # a detector that knows nothing of hands
        kwargs.pop("hands", None)
        return dataclasses.replace(detect_video(reader, start, end, *args, **kwargs), hands2d=None, hands3d=None)
    return plain


def test_pipeline_without_hand_detections_keeps_working(sample_clip, monkeypatch):
    """Detections without hands (e.g. the evaluation's cache): relaxed fingers, no error."""
    from posemoe_blender.detection import body as detection
    from posemoe_blender.pipeline import process_clip
    from posemoe_blender.options import ConvertOptions
    monkeypatch.setattr(detection, "detect_video", _strip_hands(detection.detect_video))
    res = process_clip(str(sample_clip), ConvertOptions(end=12, device="cpu", lifter="mediapipe"))
    b = [RIG_BONE_NAMES.index(n) for n in FINGER_BONE_NAMES]
    assert res.hands is not None and not res.hands.hands2d.any()
    relaxed = process_clip(str(sample_clip), ConvertOptions(end=12, device="cpu", lifter="mediapipe", hands=False))
    assert relaxed.hands is None
    np.testing.assert_allclose(res.animation.rotations[:, b], relaxed.animation.rotations[:, b], atol=1e-9)


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posemoe_blender", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def test_save_joints_hands_and_no_hands(real_video, tmp_path):
    """A few frames of real footage: hands2d/hands3d in the joints file; --no-hands: zeros."""
    on, off = tmp_path / "on.npz", tmp_path / "off.npz"
    r = _cli("convert", str(real_video), "--end", "15", "--lifter", "mediapipe", "--save-joints", str(on), "-q")
    assert r.returncode == 0, r.stderr
    r = _cli("convert", str(real_video), "--end", "15", "--lifter", "mediapipe", "--save-joints", str(off),
             "--no-hands", "-q")
    assert r.returncode == 0, r.stderr
    d, z = np.load(on), np.load(off)
    for key in ("hands2d", "hands3d"):
        assert d[key].shape == (15, 2, 21, 3) and d[key].dtype == np.float32
        assert not z[key].any()
    assert d["finger_flexion"].shape == (15, 2, 5, 3) and d["finger_spread"].shape == (15, 2, 5)
    assert d["finger_base_flexion"].shape == (15, 2, 5)
    relaxed = finger_solve.relaxed_rig_angles((15, 2))
    np.testing.assert_allclose(z["finger_flexion"], relaxed[..., :3], atol=1e-6)
    np.testing.assert_allclose(z["finger_spread"], relaxed[..., 4], atol=1e-6)
    lo, hi = np.radians(np.array(finger_solve.SPREAD_LIMITS_DEG)).T
    assert np.all(d["finger_spread"] >= lo - 1e-6) and np.all(d["finger_spread"] <= hi + 1e-6)
    seen = d["hands2d"][..., 0, 2] > 0
    assert seen.mean() > 0.3, seen.mean(0)
    np.testing.assert_allclose(d["hands3d"][seen][:, 0], 0.0, atol=1e-4)  # wrist-relative
    assert np.all(d["hands2d"][~seen] == 0)
    for s, side in enumerate("LR"):  # at this person's wrist
        k = d["keypoints2d"][seen[:, s]]
        dist = np.linalg.norm(d["hands2d"][seen[:, s], s, 0, :2] - k[:, J[side + "Wrist"], :2], axis=-1)
        fore = np.linalg.norm(k[:, J[side + "Wrist"], :2] - k[:, J[side + "Elbow"], :2], axis=-1)
        assert np.all(dist <= 1.2 * fore), (side, dist, fore)
    # a bad flag is one line, no traceback
    r = _cli("convert", str(real_video), "--no-hands=1", "--save-joints", str(tmp_path / "x.npz"))
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_fbx_round_trip_has_the_finger_bones_and_the_fist(tmp_path):
    """The generated rig exported to FBX and read back by Blender's importer: 15 finger bones
    per hand, and frames keyed open vs fist differ clearly at every finger joint."""
    bpy = pytest.importorskip("bpy")
    from posemoe_blender.output import blend as scene
    from posemoe_blender.solving.skeleton import NUM_BONES
    from posemoe_blender.solving.body import solve_animation
    from posemoe_blender.solving.rest import rest_pose
    lengths = np.array([0.23, 0.26, 0.12, 0.12, 0.15, 0.28, 0.25, 0.15, 0.28, 0.25, 0.13, 0.45, 0.45,
                        0.13, 0.45, 0.45])
    assert len(lengths) == NUM_BONES
    rest = rest_pose(lengths)[0]                           # Blender axes, Z up
    cam = np.stack([rest[:, 0], -rest[:, 2], rest[:, 1]], axis=-1)  # camera axes: x right, y down, z forward
    joints3d = np.repeat((cam - cam[0])[None], 4, axis=0)
    fingers = np.zeros((4, 2, 5, 3))
    fingers[2:] = np.radians(np.minimum(FIST, [[55, 65, 80]] + [[85, 100, 85]] * 4))
    anim = solve_animation(joints3d, None, 30.0, fingers=fingers)
    fbx = tmp_path / "fist.fbx"
    scene.write_outputs(anim, "fist", fbx_path=fbx)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(fbx), anim_offset=0.0)
    obj = next(o for o in bpy.context.scene.objects if o.type == 'ARMATURE')
    names = {b.name for b in obj.data.bones}
    assert set(FINGER_BONE_NAMES) <= names, sorted(set(FINGER_BONE_NAMES) - names)
    first, last = (int(round(f)) for f in obj.animation_data.action.frame_range)

    def local(frame):
        bpy.context.scene.frame_set(frame)
        out = {}
        for n in FINGER_BONE_NAMES:
            pb = obj.pose.bones[n]
            m = pb.parent.matrix.inverted() @ pb.matrix
            out[n] = np.array(m.to_3x3())
        return out

    open_, fist = local(first), local(last)
    for n in FINGER_BONE_NAMES:
        cos = (np.trace(open_[n].T @ fist[n]) - 1) / 2
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))) > 40.0, n
    # the fist's fingertips come back towards the wrist
    bpy.context.scene.frame_set(first)
    tip_open = (obj.pose.bones["LeftIndexDistal"].tail - obj.pose.bones["LeftHand"].head).length
    bpy.context.scene.frame_set(last)
    tip_fist = (obj.pose.bones["LeftIndexDistal"].tail - obj.pose.bones["LeftHand"].head).length
    assert tip_fist < 0.75 * tip_open, (tip_open, tip_fist)


def test_hand_stride_and_interpolated_frames():
    assert [hands.hand_stride(f) for f in (24, 25, 30, 50, 60, 120, 0)] == [1, 1, 2, 3, 4, 8, 1]
    h2, h3 = _tracks(7, slice(0, 7), FIST)
    h2[:, 0, :, :2] += np.arange(7)[:, None, None]          # the left hand moves 1 px a frame
    looked = np.array([1, 0, 1, 0, 1, 0, 1], bool)
    h2[~looked] = 0
    h3[~looked] = 0
    h2[4, 1] = 0                                            # the right hand lost at frame 4
    f2, f3 = hands.fill_skipped(h2, h3, looked, hold=False)
    np.testing.assert_allclose(f2[1, 0, :, 0], h2[0, 0, :, 0] + 1, atol=1e-4)
    np.testing.assert_allclose(f3[3, 0], h3[2, 0], atol=1e-6)
    assert f2[3, 1, 0, 2] == 0 and f2[5, 1, 0, 2] == 0 and f2[1, 1, 0, 2] > 0
    # held (the default): a skipped frame as near a look that found the hand as one that did not
    # takes the nearer finding look's hand
    g2, g3 = hands.fill_skipped(h2, h3, looked)
    np.testing.assert_allclose(g2[3, 1], h2[2, 1], atol=1e-4)
    np.testing.assert_allclose(g2[5, 1], h2[6, 1], atol=1e-4)
    np.testing.assert_allclose(g3[5, 1], h3[6, 1], atol=1e-6)
    np.testing.assert_array_equal(g2[:, 0], f2[:, 0])       # interpolation unchanged


def test_fill_holds_at_most_half_the_gap():
    h2, h3 = _tracks(5, slice(0, 5), FIST)
    looked = np.array([1, 0, 0, 0, 1], bool)
    h2[1:] = 0
    h3[1:] = 0                                              # found at look 0, not at look 4
    g2, _ = hands.fill_skipped(h2, h3, looked)
    assert list(g2[:, 1, 0, 2] > 0) == [True, True, True, False, False]


def test_fill_holds_the_frames_after_the_last_look():
    """A 30 fps clip looked at every other frame: its last frame (odd) comes after the last
    look and takes that look's hand; frames beyond one look interval do not."""
    h2, h3 = _tracks(8, slice(0, 8), FIST)
    looked = np.array([0, 0, 1, 0, 1, 0, 0, 0], bool)      # the looks at frames 2 and 4
    h2[~looked] = 0
    h3[~looked] = 0
    g2, g3 = hands.fill_skipped(h2, h3, looked)
    assert list(g2[:, 0, 0, 2] > 0) == [False, True, True, True, True, True, False, False]
    np.testing.assert_allclose(g3[5, 1], h3[4, 1], atol=1e-6)
    f2, _ = hands.fill_skipped(h2, h3, looked, hold=False)
    assert list(f2[:, 0, 0, 2] > 0) == [False, False, True, True, True, False, False, False]


def test_palm_search_back_off(monkeypatch):
    """A side whose crop has no hand is searched at every look for BACKOFF_AFTER_S, then at
    BACKOFF_RATE_HZ until a hand is found again; the other side is not affected."""
    assert hands.backoff_looks(15.0) == (round(hands.BACKOFF_AFTER_S * 15), round(15 / hands.BACKOFF_RATE_HZ))
    assert hands.backoff_looks(None) == (0, 1)
    kp = np.zeros((17, 3))
    for side, x in (("L", 600), ("R", 300)):
        kp[J[side + "Elbow"]] = (x, 500, 0.9)
        kp[J[side + "Wrist"]] = (x, 600, 0.9)
    calls = {0: [], 1: []}
    visible = {0: lambda t: False, 1: lambda t: t >= 20}     # the right hand comes into view at look 20

    class Fake:
        def __init__(self, s):
            self.s = s

        def detect(self, crop, offset):
            calls[self.s].append(tick[0])
            if not visible[self.s](tick[0]):
                return None
            px = np.zeros((21, 3))
            px[:, :2] = kp[J["LR"[self.s] + "Wrist"], :2]
            px[:, 2] = 0.9
            return px, np.zeros((21, 3)), ""

        def close(self):
            pass

    sides = iter(range(2))
    monkeypatch.setattr(hands, "_SideDetector", lambda *a, **k: Fake(next(sides)))
    tracker = hands.HandTracker(1000, 1000, look_hz=15.0)
    after, every = hands.backoff_looks(15.0)
    tick = [0]
    found = []
    for tick[0] in range(40):
        px, _ = tracker(np.zeros((1000, 1000, 3), np.uint8), kp)
        found.append(px[:, 0, 2] > 0)
    found = np.array(found)
    expected_left = list(range(after)) + list(range(after, 40, every))
    assert calls[0] == expected_left
    assert tracker.looks == [40, 40] and tracker.searches == [len(calls[0]), len(calls[1])]
    first = np.flatnonzero(found[:, 1])[0]
    assert 20 <= first < 20 + every                          # re-acquired within one backed-off period
    assert found[first:, 1].all() and not found[:, 0].any()


def _keyed_other_rig(bpy, rig: str, fingers: np.ndarray, video: str):
    """A two-frame rest-pose animation with ``fingers`` (the solver's finger angles) keyed onto
    ``rig`` (a tests/rigs.py builder, or "ue5_like": the mannequin's names on a rig built like
    ours, no UE asset here) through its shipped bone map; ``(armature object, mapping)``."""
    import rigs
    from posemoe_blender.retargeting.rig import RigRequest, build_rig_action
    from posemoe_blender.retargeting.presets import get_preset
    from posemoe_blender.solving.body import solve_animation
    from posemoe_blender.solving.rest import rest_pose
    lengths = np.array([0.23, 0.26, 0.12, 0.12, 0.15, 0.28, 0.25, 0.15, 0.28, 0.25, 0.13, 0.45, 0.45,
                        0.13, 0.45, 0.45])
    rest = rest_pose(lengths)[0]
    cam = np.stack([rest[:, 0], -rest[:, 2], rest[:, 1]], axis=-1)
    anim = solve_animation(np.repeat((cam - cam[0])[None], 2, axis=0), None, 30.0, fingers=fingers)
    if rig == "ue5_like":
        from posemoe_blender.output.armature import build_armature
        bpy.ops.wm.read_factory_settings(use_empty=True)
        mapping = get_preset("ue5")
        renamed = type(anim)(**{**anim.__dict__, "bone_names": tuple(mapping.bones.get(n, n + "_x")
                                                                       for n in anim.bone_names)})
        obj = build_armature(renamed, "UE5ish")
    else:
        obj = getattr(rigs, rig)()
        mapping = get_preset("rigify_metarig" if rig == "rigify_metarig" else "rigify")
    out = build_rig_action(bpy.context, RigRequest(video=video, target='EXISTING', armature=obj.name,
                                                   mapping=mapping), anim)
    assert out["missing"] == [] and out["warnings"] == [], out
    return obj, mapping


@pytest.mark.parametrize("rig", ["rigify_metarig", "rigify_rig", "ue5_like"])
def test_a_fist_curls_the_fingers_of_other_rigs(rig):
    """Retargeted through the shipped bone maps, the fist bends each mapped finger bone
    clearly (and curls the index towards the palm: its tip nearer the hand's root)."""
    bpy = pytest.importorskip("bpy")
    fingers = np.zeros((2, 2, 5, 3))
    fingers[1] = np.radians(np.minimum(FIST, [[55, 65, 80]] + [[85, 100, 85]] * 4))
    obj, mapping = _keyed_other_rig(bpy, rig, fingers, "fist")
    if rig == "ue5_like":
        hand, index = mapping.bones.get("LeftHand", "LeftHand_x"), ("index_01_l", "index_03_l")
    else:
        hand = "hand.L" if rig == "rigify_metarig" else "ORG-hand.L"
        index = ("f_index.01.L", "f_index.03.L")
    sc = bpy.context.scene

    def pose(frame):
        sc.frame_set(frame)
        pb = obj.pose.bones
        tip = obj.matrix_world @ pb[index[1]].tail
        base = obj.matrix_world @ pb[index[0]].head
        root = obj.matrix_world @ pb[hand].head
        mats = {n: np.array((obj.matrix_world @ pb[t].matrix).to_3x3().normalized())
                for n, t in mapping.bones.items() if n in FINGER_BONE_NAMES and t in pb}
        return (tip - root).length, (base - root).length, mats

    (open_tip, base, m0), (fist_tip, _, m1) = pose(1), pose(2)
    assert len(m0) == 30
    for n in m0:  # every finger bone turned (its parent turned too: the world turn adds up along the finger)
        cos = (np.trace(m0[n].T @ m1[n]) - 1) / 2
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))) > 30.0, (rig, n)
    assert fist_tip < open_tip - 0.3 * (open_tip - base), (rig, open_tip, fist_tip)


def _spread_angles(T: int) -> np.ndarray:
    """(T, 2, 5, 5) rig angles: relaxed, except frame 1 on: both index fingers spread 20 deg
    and both thumbs at CMC flexion 30 deg / palmar abduction 40 deg."""
    angles = finger_solve.relaxed_rig_angles((T, 2))
    angles[1:, :, 1, 4] = np.radians(20.0)
    angles[1:, :, 0, 3] = np.radians(30.0)
    angles[1:, :, 0, 4] = np.radians(40.0)
    return angles


def _azimuth_elevation(d: np.ndarray, side: str) -> tuple[float, float]:
    """A direction's angles (degrees) in a T-posed hand: towards the thumb (-Y) from along
    the hand (+X left, -X right), and down towards the palm (-Z)."""
    u = np.array([1.0 if side == "L" else -1.0, 0.0, 0.0])
    v = np.array([0.0, -1.0, 0.0])
    d = d / np.linalg.norm(d)
    return float(np.degrees(np.arctan2(d @ v, d @ u))), float(np.degrees(np.arcsin(-d[2])))


def test_spread_and_thumb_axes_on_the_generated_rig():
    from posemoe_blender.solving.skeleton import NUM_BONES, POINT_INDEX
    from posemoe_blender.solving.body import solve_pose
    from posemoe_blender.solving.kinematics import rig_points_world
    from posemoe_blender.solving.rest import rest_pose
    lengths = np.full(NUM_BONES, 0.3)
    P = np.repeat(rest_pose(lengths)[0][None], 2, axis=0)
    anim = solve_pose(P, lengths, 30.0, fingers=_spread_angles(2))
    pts = rig_points_world(anim)
    for s in "LR":
        idx = pts[:, POINT_INDEX[s + "Index2"]] - pts[:, POINT_INDEX[s + "Index1"]]
        az0, el0 = _azimuth_elevation(idx[0], s)
        az1, el1 = _azimuth_elevation(idx[1], s)
        assert az0 == pytest.approx(finger_solve.RELAXED_SPREAD_DEG[1], abs=1e-6)       # the rest fan
        assert az1 == pytest.approx(20.0, abs=1e-6)                               # spread towards the thumb
        assert el0 == pytest.approx(el1, abs=1e-6) == pytest.approx(finger_solve.RELAXED_BASE_FLEX_DEG[1], abs=1e-6)
        th = pts[:, POINT_INDEX[s + "Thumb2"]] - pts[:, POINT_INDEX[s + "Thumb1"]]
        az, el = _azimuth_elevation(th[1], s)
        assert az == pytest.approx(np.degrees(finger_solve.THUMB_REST[0]) - 30.0, abs=1e-6)
        assert el == pytest.approx(40.0, abs=1e-6)
        az, el = _azimuth_elevation(th[0], s)                                     # relaxed
        assert (az, el) == pytest.approx((np.degrees(finger_solve.THUMB_REST[0]) - finger_solve.RELAXED_BASE_FLEX_DEG[0],
                                          finger_solve.RELAXED_SPREAD_DEG[0]), abs=1e-6)
    # the other fingers' proximal bones are as before the spread: relaxed (5 angles) = relaxed (3)
    plain = solve_pose(P, lengths, 30.0, fingers=finger_solve.relaxed_flexion((2, 2)))
    b = [RIG_BONE_NAMES.index(f"{side}{f}{p}") for side in ("Left", "Right")
         for f in ("Index", "Middle", "Ring", "Little") for p in finger_solve.PHALANX_NAMES]
    np.testing.assert_allclose(plain.rotations[0, b], anim.rotations[0, b], atol=1e-9)


def test_solve_hands_spread_eases_in_and_out():
    from test_hands import _spread_hand
    fps, T = 30.0, 90
    right = _spread_hand((20, 5, 10, 25), thumb_cmc=(30.0, 40.0))
    h3 = np.zeros((T, 2, 21, 3))
    h3[30:60, 1] = right
    h3[30:60, 0] = right * [-1.0, 1.0, 1.0]
    h2 = np.zeros((T, 2, 21, 3))
    h2[30:60, :, :, :2] = 500 + 1000 * h3[30:60, :, :, :2]
    h2[30:60, :, :, 2] = 0.95
    out = finger_solve.solve_hands(h2, h3, fps, cutoff_hz=6.0)
    assert out.spread.shape == (T, 2, 5) and out.base_flexion.shape == (T, 2, 5)
    assert out.rig_angles().shape == (T, 2, 5, 5)
    sp = np.degrees(out.spread)
    np.testing.assert_allclose(sp[45], [[40.0, 20, 5, 10, 25]] * 2, atol=0.5)   # both hands alike
    assert np.degrees(out.base_flexion[45, :, 0]) == pytest.approx([30.0, 30.0], abs=0.5)
    np.testing.assert_allclose(sp[:10], np.broadcast_to(finger_solve.RELAXED_SPREAD_DEG, (10, 2, 5)), atol=0.5)
    np.testing.assert_allclose(sp[-10:], np.broadcast_to(finger_solve.RELAXED_SPREAD_DEG, (10, 2, 5)), atol=0.5)
    assert np.abs(np.diff(sp, axis=0)).max() < 8.0                               # no snapping
    none = finger_solve.solve_hands(None, None, fps, frames=4)
    np.testing.assert_allclose(none.rig_angles(), finger_solve.relaxed_rig_angles((4, 2)))


def test_spread_lands_on_the_generated_rigs_finger_bone():
    """Blender: the generated armature keyed with a spread index finger: the posed bone turns
    in the palm plane by the spread (from the rest fan), the thumb on its own axes."""
    bpy = pytest.importorskip("bpy")
    from posemoe_blender.output.armature import build_armature
    from posemoe_blender.output.keyframes import write_action
    from posemoe_blender.solving.skeleton import NUM_BONES
    from posemoe_blender.solving.body import solve_pose
    from posemoe_blender.solving.rest import rest_pose
    bpy.ops.wm.read_factory_settings(use_empty=True)
    lengths = np.array([0.23, 0.26, 0.12, 0.12, 0.15, 0.28, 0.25, 0.15, 0.28, 0.25, 0.13, 0.45, 0.45,
                        0.13, 0.45, 0.45])
    assert len(lengths) == NUM_BONES
    P = np.repeat(rest_pose(lengths)[0][None], 2, axis=0)
    anim = solve_pose(P, lengths, 30.0, fingers=_spread_angles(2))
    obj = build_armature(anim, "SpreadRig")
    write_action(obj, anim, "spread")
    for s, side in (("L", "Left"), ("R", "Right")):
        seen = []
        for frame in (1, 2):
            bpy.context.scene.frame_set(frame)
            pb = obj.pose.bones[f"{side}IndexProximal"]
            th = obj.pose.bones[f"{side}ThumbProximal"]
            seen.append((_azimuth_elevation(np.array(pb.tail - pb.head), s),
                         _azimuth_elevation(np.array(th.tail - th.head), s)))
        (idx0, th0), (idx1, th1) = seen
        assert idx0[0] == pytest.approx(finger_solve.RELAXED_SPREAD_DEG[1], abs=0.05)
        assert idx1[0] == pytest.approx(20.0, abs=0.05) and idx1[1] == pytest.approx(idx0[1], abs=0.05)
        assert th1 == pytest.approx((np.degrees(finger_solve.THUMB_REST[0]) - 30.0, 40.0), abs=0.05)


@pytest.mark.parametrize("rig", ["rigify_metarig", "rigify_rig", "ue5_like"])
def test_spread_turns_the_index_of_other_rigs(rig):
    """Retargeted through the shipped bone maps, a spread index finger turns the mapped index
    bone by the spread (from the rest fan) towards the thumb; the middle finger stays."""
    bpy = pytest.importorskip("bpy")
    angles = finger_solve.relaxed_rig_angles((2, 2))
    angles[1, :, 1, 4] = np.radians(20.0)
    obj, mapping = _keyed_other_rig(bpy, rig, angles, "spread")
    sc = bpy.context.scene

    def bones(frame):
        sc.frame_set(frame)
        pb = obj.pose.bones
        out = {}
        for n in ("LeftIndexProximal", "LeftMiddleProximal", "LeftThumbProximal",
                  "RightIndexProximal", "RightMiddleProximal", "RightThumbProximal"):
            b = pb[mapping.bones[n]]
            head, tail = obj.matrix_world @ b.head, obj.matrix_world @ b.tail
            out[n] = (np.array(head), np.array(tail - head) / (tail - head).length)
        return out

    a, b = bones(1), bones(2)
    for side in ("Left", "Right"):
        idx0, idx1 = a[side + "IndexProximal"][1], b[side + "IndexProximal"][1]
        turn = np.degrees(np.arccos(np.clip(idx0 @ idx1, -1, 1)))
        assert turn == pytest.approx(20.0 - finger_solve.RELAXED_SPREAD_DEG[1], abs=1.5), (rig, side, turn)
        towards_thumb = a[side + "ThumbProximal"][0] - a[side + "IndexProximal"][0]
        assert (idx1 - idx0) @ towards_thumb > 0, (rig, side)
        mid = np.degrees(np.arccos(np.clip(a[side + "MiddleProximal"][1] @ b[side + "MiddleProximal"][1], -1, 1)))
        assert mid < 0.5, (rig, side, mid)


def test_a_hand_mediapipe_took_for_the_other_one_is_mirrored_back_in_depth(monkeypatch):
    """MediaPipe labels hands as in a mirrored picture: the body's left hand should read
    "Right"; read "Left", its 3D landmarks are its mirror image (the fingers bend backwards)
    and come back with z -> -z; the side stays the body's."""
    fist = _hand(FIST)                                      # a right hand's landmarks
    kp = np.zeros((17, 3))
    for side, x in (("L", 600), ("R", 300)):
        kp[J[side + "Elbow"]] = (x, 500, 0.9)
        kp[J[side + "Wrist"]] = (x, 600, 0.9)
    labels = {0: "Right", 1: "Right"}                       # left: as expected; right: mirrored

    class Fake:
        def __init__(self, s):
            self.s = s

        def detect(self, crop, offset):
            px = np.zeros((21, 3))
            px[:, :2] = kp[J["LR"[self.s] + "Wrist"], :2]
            px[:, 2] = 0.9
            world = fist * [1.0, 1.0, -1.0] if self.s == 1 else fist * [-1.0, 1.0, 1.0]
            return px, world, labels[self.s]

        def close(self):
            pass

    sides = iter(range(2))
    monkeypatch.setattr(hands, "_SideDetector", lambda *a, **k: Fake(next(sides)))
    tracker = hands.HandTracker(1000, 1000)
    _, world = tracker(np.zeros((1000, 1000, 3), np.uint8), kp)
    assert tracker.depth_flips == [0, 1]
    np.testing.assert_allclose(world[1], fist, atol=1e-6)   # mirrored back: a fist again
    for s in range(2):
        flex = np.degrees(finger_solve.finger_flexion(world[s], right=(s == 1)))
        assert np.all(flex[1:, 1] > 80), (s, flex)


def _palms_bent(angle_deg: float, weight: float = 1.0, about: str = "v") -> tuple[np.ndarray, np.ndarray]:
    """(palm (1, 2, 3, 3), weight (1, 2)): both T-posed hands' palms (camera axes) turned by
    ``angle_deg`` about their own thumb axis ``v`` (flexion: along-the-hand towards the palm) or
    their axis ``u`` (twist), as :class:`~finger_solve.HandSolve` gives them."""
    from scipy.spatial.transform import Rotation
    from posemoe_blender.solving.hand_bones import hand_frame
    from posemoe_blender.solving.root import CAMERA_TO_BLENDER
    palm = np.zeros((1, 2, 3, 3))
    for s in range(2):
        F = hand_frame(s)                                    # armature: u, v, n of the rest hand
        axis = F[:, 1] if about == "v" else F[:, 0]
        # flexion takes u towards -n (the palm): about v by +angle for a right hand (n = u x v),
        # mirrored for the left (n = -(u x v))
        sign = (1.0 if s == 1 else -1.0) if about == "v" else 1.0
        R = Rotation.from_rotvec(np.radians(sign * angle_deg) * axis).as_matrix()
        palm[0, s] = CAMERA_TO_BLENDER.T @ R @ F              # back to camera axes
    return palm, np.full((1, 2), weight)


@pytest.mark.parametrize("angle,weight,share,expected", [
    (30.0, 1.0, 1.0, 30.0), (-40.0, 1.0, 1.0, -40.0),     # flexion / extension recovered
    (95.0, 1.0, 1.0, 80.0), (-90.0, 1.0, 1.0, -70.0),     # limited (HAND_LIMITS_DEG)
    (130.0, 1.0, 1.0, 0.0),                                # implausible: the forearm's
    (30.0, 0.5, 1.0, 15.0), (30.0, 0.0, 1.0, 0.0),        # weighted (eased where unseen)
    (30.0, 1.0, None, 15.0)])                              # the default share of the swing
def test_hand_bone_turns_with_the_palm_within_limits(angle, weight, share, expected, monkeypatch):
    from posemoe_blender.solving import hand_bones
    from posemoe_blender.solving.skeleton import NUM_BONES, POINT_INDEX
    from posemoe_blender.solving.body import solve_pose
    from posemoe_blender.solving.kinematics import rig_points_world
    from posemoe_blender.solving.rest import rest_pose
    assert hand_bones.HAND_LIMITS_DEG["flexion"] == (-70.0, 80.0) and hand_bones.HAND_SWING_SHARE == 0.5
    if share is not None:
        monkeypatch.setattr(hand_bones, "HAND_SWING_SHARE", share)
    lengths = np.full(NUM_BONES, 0.3)
    P = rest_pose(lengths)[0][None]
    anim = solve_pose(P, lengths, 30.0, palms=_palms_bent(angle, weight))
    rest = rig_points_world(solve_pose(P, lengths, 30.0))
    pts = rig_points_world(anim)
    for S in "LR":                                           # both hands alike (mirror images)
        w = pts[0, POINT_INDEX[S + "Wrist"]]
        d, d0 = pts[0, POINT_INDEX[S + "HandEnd"]] - w, rest[0, POINT_INDEX[S + "HandEnd"]] - w
        bend = np.degrees(np.arctan2(-d[2], abs(d[0])))      # towards the palm (down, -Z, in the T-pose)
        assert bend == pytest.approx(expected, abs=0.5), (S, bend)
        assert np.linalg.norm(d) == pytest.approx(np.linalg.norm(d0))
        assert abs(d[1]) < 1e-6                              # no sideways turn


def test_hand_twist_and_unseen_palm():
    from posemoe_blender.solving.skeleton import NUM_BONES, RIG_BONE_NAMES as NAMES
    from posemoe_blender.solving.body import solve_pose
    from posemoe_blender.solving.rest import rest_pose
    lengths = np.full(NUM_BONES, 0.3)
    P = rest_pose(lengths)[0][None]
    b = [NAMES.index("LeftHand"), NAMES.index("RightHand")]
    for angle in (60.0, 170.0):                             # the twist is the hand's, unlimited
        anim = solve_pose(P, lengths, 30.0, palms=_palms_bent(angle, about="u"))
        turn = 2 * np.degrees(np.arccos(np.clip(np.abs(anim.rotations[0, b, 0]), 0, 1)))
        np.testing.assert_allclose(turn, angle, atol=0.5)
    # hands never seen (weight 0) stay on the forearms; a left "palm" that is no left hand's
    # frame (the identity) is ignored whatever the weight
    none = finger_solve.solve_hands(None, None, 30.0, frames=1)
    anim = solve_pose(P, lengths, 30.0, palms=(none.palm, none.palm_weight))
    np.testing.assert_allclose(np.abs(anim.rotations[0, b, 0]), 1.0, atol=1e-9)
    anim = solve_pose(P, lengths, 30.0, palms=(none.palm, none.palm_weight + 1.0))
    assert abs(anim.rotations[0, b[0], 0]) == pytest.approx(1.0, abs=1e-9)


def test_solve_hands_palm_is_the_hands_frame_eased_where_unseen():
    fps, T = 30.0, 120
    h2, h3 = _tracks(T, slice(40, 80), FIST)
    out = finger_solve.solve_hands(h2, h3, fps, cutoff_hz=6.0)
    for s in range(2):
        expect = finger_solve.palm_frame(h3[60, s], right=(s == 1))
        np.testing.assert_allclose(out.palm[60, s], expect, atol=1e-3)
        np.testing.assert_allclose(out.palm[0, s], expect, atol=1e-3)    # the nearest seen frame's
        assert np.linalg.det(out.palm[60, s]) == pytest.approx(1.0 if s == 1 else -1.0, abs=1e-6)
        pw = out.palm_weight[:, s]
        assert pw[60] > 0.99 and pw[:5].max() < 0.01 and pw[-5:].max() < 0.01
        assert np.abs(np.diff(pw)).max() < 0.2                              # eased, no snapping


def test_hand_rotation_is_an_option():
    from posemoe_blender.options import ConvertOptions
    assert ConvertOptions().hand_rotation is True
    assert ConvertOptions(hand_rotation=False).hand_rotation is False
