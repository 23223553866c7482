"""Foot contacts, foot locking and ground placement (posemoe_blender.solving.contacts and .footlock) on
synthetic walks with known contacts."""

from __future__ import annotations

import numpy as np
import pytest

from posemoe_blender.solving.contacts import LEGS, FootLockConfig, detect_contacts, true_runs
from posemoe_blender.solving.footlock import ANKLE_HEIGHT, lock_feet, two_bone_ik
from posemoe_blender.solving.body import solve_animation
from posemoe_blender.solving.root import CAMERA_TO_BLENDER
from posemoe_blender.errors import PoseMoEError
from posemoe_blender.joints import JOINT_INDEX as J

FPS = 30.0
THIGH, SHIN = 0.44, 0.43


def synthetic_walk(T=150, fps=FPS, speed=1.1, cycle=1.1, stance=0.62, slide=0.0, noise=0.0,
                   seed=0, hip_height=0.83):
    """A walk along -Y (facing -Y, left = +X, Z up, ankles ``ANKLE_HEIGHT`` above the floor
    in stance). Returns joints (T, 17, 3) and the true contacts (T, 2) (left, right).

    ``slide`` (m/s): the stance foot drifts forward at this speed (knees re-solved, so bone
    lengths stay exact); ``noise``: Gaussian noise (m) on every joint.
    """
    t = np.arange(T) / fps
    rng = np.random.default_rng(seed)
    pelvis = np.stack([np.zeros(T), -speed * t,
                       hip_height + 0.015 * np.cos(4 * np.pi * t / cycle)], axis=1)
    P = np.zeros((T, 17, 3))
    P[:, J["Pelvis"]] = pelvis
    contacts = np.zeros((T, 2), bool)
    stride = speed * cycle
    for k, (side, sx, ph0) in enumerate((("L", 1.0, 0.0), ("R", -1.0, 0.5))):
        hip = pelvis + [sx * 0.1, 0.0, 0.0]
        phase = (t / cycle + ph0) % 1.0
        n = np.floor(t / cycle + ph0)
        st = phase < stance
        contacts[:, k] = st
        plant_y = -(n - ph0) * stride - 0.5 * stance * stride
        s_sw = np.clip((phase - stance) / (1 - stance), 0, 1)
        ankle = np.zeros((T, 3))
        ankle[:, 0] = sx * 0.1
        ankle[:, 1] = np.where(st, plant_y, plant_y - stride * (0.5 - 0.5 * np.cos(np.pi * s_sw)))
        ankle[:, 2] = ANKLE_HEIGHT + np.where(st, 0.0, 0.12 * np.sin(np.pi * s_sw))
        if slide:
            ankle[:, 1] += np.where(st, -slide * (phase * cycle - stance * cycle / 2), 0.0)
        to = ankle - hip
        d = np.linalg.norm(to, axis=1)
        u = to / d[:, None]
        fwd = np.array([0.0, -1.0, 0.0])
        v = fwd - (u @ fwd)[:, None] * u
        v /= np.linalg.norm(v, axis=1)[:, None]
        ca = (THIGH ** 2 + d ** 2 - SHIN ** 2) / (2 * THIGH * d)
        assert np.all(ca <= 1)
        P[:, J[side + "Hip"]] = hip
        P[:, J[side + "Knee"]] = hip + THIGH * (ca[:, None] * u + np.sqrt(1 - ca ** 2)[:, None] * v)
        P[:, J[side + "Ankle"]] = ankle
    up = np.array([0.0, 0.0, 1.0])
    for name, h in (("Spine", 0.23), ("Thorax", 0.49), ("Neck", 0.61), ("Head", 0.73)):
        P[:, J[name]] = pelvis + h * up
    for side, sx in (("L", 1.0), ("R", -1.0)):
        P[:, J[side + "Shoulder"]] = P[:, J["Thorax"]] + [sx * 0.15, 0, 0]
        P[:, J[side + "Elbow"]] = P[:, J[side + "Shoulder"]] + [0, 0, -0.28]
        P[:, J[side + "Wrist"]] = P[:, J[side + "Elbow"]] + [0, 0, -0.25]
    if noise:
        P = P + rng.normal(scale=noise, size=P.shape)
    return P, contacts


def horizontal_speed(track):
    """(T-1,) horizontal speed (m/s) between consecutive frames."""
    return np.linalg.norm(np.diff(track[:, :2], axis=0), axis=-1) * FPS


def contact_speed(P, contacts):
    """Mean horizontal ankle speed (m/s) over frame pairs where the truth says contact."""
    speeds = []
    for k, (_, _, _, ankle) in enumerate(LEGS):
        both = contacts[1:, k] & contacts[:-1, k]
        speeds.append(horizontal_speed(P[:, ankle])[both])
    return float(np.concatenate(speeds).mean())


def leg_lengths(P):
    return np.stack([np.linalg.norm(P[:, c] - P[:, p], axis=-1)
                     for _, h, kn, a in LEGS for p, c in ((h, kn), (kn, a))], axis=1)


@pytest.mark.parametrize("noise", [0.0, 0.003])
def test_contact_detection_precision_recall(noise):
    P, truth = synthetic_walk(slide=0.15, noise=noise)
    strict = detect_contacts(P, FPS, config=FootLockConfig(grow_s=0.0))
    tp = (strict & truth).sum()
    precision, recall = tp / strict.sum(), tp / truth.sum()
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    # the default starts contacts a frame early (the speed window lags a landing foot) but
    # does not end them later: a foot that starts to move is released at once
    found = detect_contacts(P, FPS)
    both_ends = detect_contacts(P, FPS, config=FootLockConfig(grow_end_s=None))
    for k in range(2):
        for (s0, e0), (s1, e1), (s2, e2) in zip(true_runs(strict[:, k]), true_runs(found[:, k]),
                                                true_runs(both_ends[:, k])):
            assert (s1, e1) == (max(s0 - 1, 0), e0) and (s2, e2) == (max(s0 - 1, 0), min(e0 + 1, len(P)))
    tp = (found & truth).sum()
    precision, recall = tp / found.sum(), tp / truth.sum()
    assert precision >= 0.85 and recall >= 0.95, (precision, recall)
    # both feet, every step (a contact cut by the clip's end shorter than 0.1 s excepted)
    for k in range(2):
        assert len(true_runs(found[:, k])) == len([r for r in true_runs(truth[:, k]) if r[1] - r[0] >= 3])


def test_standing_still_is_all_contact_and_jumping_is_not():
    P, _ = synthetic_walk(speed=0.0, T=60)
    P[:, [J["LAnkle"], J["RAnkle"]], 2] = ANKLE_HEIGHT  # both feet down (no swing arcs)
    P[:, [J["LAnkle"], J["RAnkle"]], 1] = 0.0
    assert detect_contacts(P, FPS).all()
    air = P.copy()
    air[20:40] += [0.0, 0.0, 0.4]  # a 0.66 s jump: feet 40 cm up
    found = detect_contacts(air, FPS)
    assert not found[22:38].any()


def test_contacts_follow_a_drifting_floor():
    """A monocular estimate drifts up or down over a clip (depth error through the camera's
    pitch): heights are measured above a running floor, so late steps are still found; the
    clip-wide level (floor_window_s=None, the earlier rule) loses them."""
    P, truth = synthetic_walk(T=150)
    P = P + np.linspace(0.0, 0.25, len(P))[:, None, None] * [0.0, 0.0, 1.0]  # 25 cm in 5 s
    late = slice(100, 150)
    found = detect_contacts(P, FPS)
    recall = (found & truth)[late].sum() / truth[late].sum()
    precision = (found & truth).sum() / found.sum()
    assert recall >= 0.9 and precision >= 0.85, (recall, precision)
    old = detect_contacts(P, FPS, config=FootLockConfig(floor_window_s=None))
    assert (old & truth)[late].sum() / truth[late].sum() < 0.5


def test_lock_removes_sliding_keeps_lengths_and_swing():
    P, truth = synthetic_walk(slide=0.15)
    assert contact_speed(P, truth) > 0.14  # the injected sliding is there
    cfg = FootLockConfig(blend_s=0.1)  # short blends leave swing frames far from any contact
    info = lock_feet(P, FPS, config=cfg)
    out = info.joints
    assert np.all(np.isfinite(out))
    assert contact_speed(out, truth) < 0.01  # < 1 cm/s during contacts
    np.testing.assert_allclose(leg_lengths(out), leg_lengths(P), atol=1e-6)
    # the floor was already right: no shift; contact ankles exactly at the ankle height
    assert abs(info.floor_shift) < 1e-3
    found = detect_contacts(P, FPS, config=cfg)
    for k, (_, _, _, ankle) in enumerate(LEGS):
        np.testing.assert_allclose(out[found[:, k], ankle, 2], ANKLE_HEIGHT, atol=1e-9)
    # the body moves rigidly with the planted feet (root_shift per frame) and the floor shift;
    # swing frames farther than the blend from any contact are otherwise untouched
    shift = np.array(info.root_shift)[:, None] - [0, 0, info.floor_shift]
    blend = info.blend_frames
    for k, (_, hip, knee, ankle) in enumerate(LEGS):
        near = np.convolve(found[:, k].astype(float), np.ones(2 * blend + 1), "same") > 0
        far = ~near
        assert far.sum() > 10
        np.testing.assert_allclose(out[far][:, [knee, ankle]], (P[:, [knee, ankle]] + shift)[far], atol=1e-12)
    # non-leg joints only move with the shifts
    others = [j for j in range(17) if j not in (J["LKnee"], J["LAnkle"], J["RKnee"], J["RAnkle"])]
    np.testing.assert_allclose(out[:, others], P[:, others] + shift, atol=1e-12)
    # the injected slide (stance feet drifting forward at 0.15 m/s) moved the body back
    # instead: its mean speed is the walk's 1.1 m/s minus about the stance drift
    pelvis_speed = np.linalg.norm(np.diff(out[:, 0, :2], axis=0), axis=-1).mean() * FPS
    assert 0.9 < pelvis_speed < 1.06  # 1.1 when the feet slide instead


def test_lock_blends_without_pops():
    P, _ = synthetic_walk(slide=0.3)
    out = lock_feet(P, FPS).joints
    for _, _, knee, ankle in LEGS:
        for j in (knee, ankle):
            step_in = np.linalg.norm(np.diff(P[:, j], axis=0), axis=-1).max()
            step_out = np.linalg.norm(np.diff(out[:, j], axis=0), axis=-1).max()
            # no frame-to-frame jump larger than the original motion's largest step
            assert step_out < 1.1 * step_in, (j, step_in, step_out)
            acc_in = np.linalg.norm(np.diff(P[:, j], 2, axis=0), axis=-1).max()
            acc_out = np.linalg.norm(np.diff(out[:, j], 2, axis=0), axis=-1).max()
            assert acc_out < 1.5 * acc_in + 0.005, (j, acc_in, acc_out)


def test_floor_under_contacts_no_float_no_sink():
    P, truth = synthetic_walk(slide=0.1)
    for dz in (0.07, -0.04):  # floating 7 cm / sunk 4 cm
        info = lock_feet(P + [0.0, 0.0, dz], FPS)
        out = info.joints
        assert info.floor_shift == pytest.approx(dz, abs=0.01)
        for k, (_, _, _, ankle) in enumerate(LEGS):
            inner = truth[:, k] & np.roll(truth[:, k], 3) & np.roll(truth[:, k], -3)
            np.testing.assert_allclose(out[inner, ankle, 2], ANKLE_HEIGHT, atol=1e-6)


def test_two_bone_ik_exact_lengths_and_reach():
    rng = np.random.default_rng(3)
    N = 200
    hip = rng.normal(size=(N, 3))
    knee = hip + THIGH * _unit(rng.normal(size=(N, 3)))
    ankle = knee + SHIN * _unit(rng.normal(size=(N, 3)))
    target = hip + rng.normal(size=(N, 3)) * 0.6
    fwd = np.tile([0.0, -1.0, 0.0], (N, 1))
    k2, a2, reached = two_bone_ik(hip, knee, ankle, target, fwd)
    np.testing.assert_allclose(np.linalg.norm(k2 - hip, axis=-1), THIGH, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(a2 - k2, axis=-1), SHIN, atol=1e-9)
    np.testing.assert_allclose(a2[reached], target[reached], atol=1e-9)
    assert (~reached).any() and reached.any()
    far = np.linalg.norm(target - hip, axis=-1) > THIGH + SHIN
    assert not reached[far].any()


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_two_bone_ik_knee_side_is_continuous():
    """The knee's side varies continuously with the input: a target at the ankle gives a bent
    knee back unchanged, a knee a hair behind the hip-ankle line (hyperextended) bends forward
    like one a hair in front of it, and a 1e-7 m nudge moves a knee by far less than a
    millimetre (the knee of a straight leg used to flip sides with it, millimetres away)."""
    fwd = np.array([[0.0, -1.0, 0.0]])
    hip = np.array([[0.0, 0.0, 1.0]])
    ankle = np.array([[0.0, 0.0, 1.0 - 0.999 * (THIGH + SHIN)]])
    line = _unit(ankle - hip)
    knees = {}
    for offset in (-0.05 * THIGH, -0.004, -1e-9, 1e-9, 0.004, 0.08):  # metres towards the front (-Y) of the line
        knee = hip + np.sqrt(THIGH ** 2 - offset ** 2) * line + offset * fwd  # THIGH from the hip
        a = ankle + 0.0  # the shin's length follows the knee's
        lengths = (np.linalg.norm(knee - hip, axis=-1), np.linalg.norm(a - knee, axis=-1))
        k2, a2, _ = two_bone_ik(hip, knee, a, a, fwd, lengths)
        nudged, _, _ = two_bone_ik(hip, knee + 1e-7, a, a + 1e-7, fwd, lengths)
        assert np.abs(nudged - k2).max() < 1e-4, offset
        assert np.dot((k2 - hip)[0] - np.dot((k2 - hip)[0], line[0]) * line[0], fwd[0]) > 0, offset  # bends forward
        knees[offset] = k2
        if offset == 0.08:  # clearly bent: the target at the ankle gives the knee back
            np.testing.assert_allclose(k2, knee, atol=1e-9)
    assert np.abs(knees[-1e-9] - knees[1e-9]).max() < 1e-4  # no flip across the line


def test_solve_animation_hook():
    P, truth = synthetic_walk(slide=0.15)
    cam = P @ CAMERA_TO_BLENDER  # Blender axes -> camera axes
    rel, root = cam - cam[:, :1], cam[:, 0]
    off = solve_animation(rel, root, FPS, stature_range=None)
    on = solve_animation(rel, root, FPS, stature_range=None, foot_lock=True)
    assert off.report.foot_lock is None and off.contacts is None
    assert on.report.foot_lock["contacts"] >= 8
    assert on.contacts.shape == (on.num_frames, 2) and on.contacts.dtype == bool
    assert contact_speed(off.joints_world, truth) > 0.1
    assert contact_speed(on.joints_world, truth) < 0.01
    assert np.all(np.isfinite(on.rotations))
    # the animation still reproduces its joints (FK) and the rest pose is the same
    np.testing.assert_allclose(on.rest_heads, off.rest_heads, atol=1e-9)
    # armature = camera_to_armature @ camera + offset still holds for the (unchanged) pelvis
    A = np.array(on.camera.camera_to_armature)
    drop = on.report.foot_lock["pelvis_drop_max_m"]
    shift = on.root_shift
    np.testing.assert_allclose(root @ A.T + on.camera.armature_offset + shift, on.joints_world[:, 0],
                               atol=1e-6 + drop)


def test_bad_input():
    with pytest.raises(PoseMoEError):
        lock_feet(np.zeros((5, 16, 3)), FPS)
    with pytest.raises(PoseMoEError):
        lock_feet(np.full((5, 17, 3), np.nan), FPS)
    P, _ = synthetic_walk(T=3)
    info = lock_feet(P, FPS, config=FootLockConfig())
    out = info.joints
    assert np.all(np.isfinite(out))


def test_tilted_ground_is_levelled_then_locked():
    """A walk whose whole trajectory is tilted 10 degrees (a biased up estimate) is levelled
    by the ground-plane fit, then locked as usual."""
    P, truth = synthetic_walk(slide=0.15)
    a = np.radians(10.0)
    Rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    tilted = P @ Rx.T
    info = lock_feet(tilted, FPS)
    out = info.joints
    assert info.ground_tilt_deg == pytest.approx(10.0, abs=1.0)
    assert contact_speed(out, truth) < 0.01
    np.testing.assert_allclose(leg_lengths(out), leg_lengths(P), atol=1e-6)
    R = np.array(info.ground_rotation)
    moved = tilted[:, 0] @ R.T + info.ground_translation
    moved = moved + np.array(info.root_shift)
    np.testing.assert_allclose(out[:, 0, :2], moved[:, :2], atol=1e-9)
    drop = moved[:, 2] - out[:, 0, 2]  # the pelvis is only ever lowered, and little
    assert drop.min() > -1e-9 and drop.max() <= info.pelvis_drop_max_m + 1e-9 < 0.05
    # after levelling the pelvis height stays within its bob (no residual slope)
    assert np.ptp(out[:, 0, 2]) < 0.03 + 0.03  # bob 3 cm + under 0.5 degrees over 5.5 m


def test_motion_in_place_keeps_its_tilt():
    P, _ = synthetic_walk(speed=0.0, T=60)
    a = np.radians(8.0)
    Rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    info = lock_feet(P @ Rx.T, FPS)
    assert info.ground_tilt_deg < 2.0


def _side_camera_keypoints(P, f=500.0, cam=(5.0, -2.75, 1.0)):
    """(T, 17, 3) pixels + confidence of Z-up joints seen by a static camera at ``cam``
    looking along -X (image right = +Y, image down = -Z)."""
    depth = cam[0] - P[..., 0]
    u = 320.0 + f * (P[..., 1] - cam[1]) / depth
    v = 240.0 - f * (P[..., 2] - cam[2]) / depth
    return np.stack([u, v, np.ones_like(u)], axis=-1)


@pytest.mark.parametrize("given_contacts", [True, False])
def test_root_follows_the_planted_feet_when_the_root_estimate_wobbles(given_contacts):
    """A monocular root error (the whole body swaying 30 cm along the walk at 0.7 Hz and
    floating 4-10 cm, legs and pose exact) is removed: the planted feet do not move, the
    pelvis moves as in the clean walk, bone lengths are exact."""
    clean, truth = synthetic_walk()
    T = len(clean)
    t = np.arange(T) / FPS
    err = np.stack([0.05 * np.sin(2 * np.pi * 0.4 * t), 0.3 * np.sin(2 * np.pi * 0.7 * t),
                    0.07 + 0.03 * np.sin(2 * np.pi * 0.5 * t)], axis=1)
    P = clean + err[:, None]
    assert contact_speed(P, truth) > 0.5  # the feet "slide" with the root's error
    kp = _side_camera_keypoints(clean)  # the image sees the real, still feet
    info = lock_feet(P, FPS, keypoints2d=kp, contacts=truth if given_contacts else None)
    out = info.joints
    assert contact_speed(out, truth) < 1e-3
    mask = np.array(info.contacts, bool)  # the locked frames, as used
    assert mask.shape == truth.shape and mask.sum() == sum(info.contact_frames.values())
    if given_contacts:
        np.testing.assert_array_equal(mask, truth)
    for k, (_, _, _, ankle) in enumerate(LEGS):  # on the floor, neither floating nor sunk
        np.testing.assert_allclose(out[truth[:, k], ankle, 2], ANKLE_HEIGHT, atol=1e-3)
    np.testing.assert_allclose(leg_lengths(out), leg_lengths(P), atol=1e-6)
    # the pelvis track is the clean one up to one constant offset (a few mm of the sway
    # remain in the flight-free walk's double-support frames, where both feet drive it)
    d = out[:, 0] - clean[:, 0]
    assert np.abs(d - d.mean(axis=0)).max() < 0.02


def test_an_unseen_foot_that_went_nowhere_stays_planted():
    """Standing still, the lifted left foot rises 30 cm for 0.6 s while the detector's left
    ankle is unsure (confidence 0.4) and drifts up in the image before coming back: that foot
    stays planted (the hold rule). Without the rule, or when the foot lands elsewhere (a step
    the detector half-saw), it is released."""
    P, _ = synthetic_walk(speed=0.0, T=90)
    P[:, [J["LAnkle"], J["RAnkle"]], 2] = ANKLE_HEIGHT
    P[:, [J["LAnkle"], J["RAnkle"]], 1] = 0.0
    lift = np.zeros(90)
    lift[30:48] = 0.3 * np.sin(np.linspace(0, np.pi, 18))
    P_lifted = P.copy()
    P_lifted[:, J["LAnkle"], 2] += lift
    kp = _side_camera_keypoints(P_lifted)  # the 2D ankle follows the false lift
    kp[26:52, J["LAnkle"], 2] = 0.4
    held = detect_contacts(P_lifted, FPS, keypoints2d=kp)
    assert held[:, 0].all() and held[:, 1].all()
    off = detect_contacts(P_lifted, FPS, keypoints2d=kp, config=FootLockConfig(hold_confidence=0.0))
    assert not off[36:42, 0].any()
    stepped = P_lifted.copy()
    stepped[48:, J["LAnkle"], 1] -= 0.5  # lands 50 cm further on: a step, not a hold
    kp_step = _side_camera_keypoints(stepped)
    kp_step[26:52, J["LAnkle"], 2] = 0.4
    assert not detect_contacts(stepped, FPS, keypoints2d=kp_step)[36:42, 0].any()


def test_process_clip_has_a_visible_typed_foot_lock_stage(sample_clip, tmp_path):
    """Foot locking is its own stage of ``process_clip``: a typed :class:`FootLock` on the
    result (timed), its contacts on the Animation, only a summary of scalars in ``info``; the
    external-Python worker's animation file carries the contacts and the root shift."""
    import json
    from posemoe_blender.addon.worker import load_animation, save_animation
    from posemoe_blender.solving.footlock import FootLock
    from posemoe_blender.pipeline import process_clip
    from posemoe_blender.options import ConvertOptions
    res = process_clip(str(sample_clip), ConvertOptions(end=30, device="cpu"))
    assert isinstance(res.foot_lock, FootLock) and "foot_lock" in res.timings
    anim = res.animation
    np.testing.assert_array_equal(anim.contacts, res.foot_lock.contacts)
    assert anim.contacts.shape == (30, 2) and anim.root_shift.shape == (30, 3)
    assert anim.report.foot_lock == res.foot_lock.summary()

    def no_long_lists(value):
        if isinstance(value, dict):
            return all(no_long_lists(v) for v in value.values())
        if isinstance(value, list):
            return len(value) <= 3 and all(no_long_lists(v) for v in value)  # 3x3 matrices at most
        return True

    for record in (anim.camera.to_dict(), anim.report.to_dict()):
        assert no_long_lists(record) and json.dumps(record)
    save_animation(tmp_path / "a.npz", anim)
    back, _ = load_animation(tmp_path / "a.npz")
    assert back.camera.to_dict() == anim.camera.to_dict() and back.report == anim.report
    np.testing.assert_array_equal(back.contacts, anim.contacts)
    np.testing.assert_allclose(back.root_shift, anim.root_shift)
    off = process_clip(str(sample_clip), ConvertOptions(end=30, device="cpu", foot_lock=False))
    assert off.foot_lock is None and off.animation.contacts is None and off.animation.report.foot_lock is None
