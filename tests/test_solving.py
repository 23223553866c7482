"""Tests for posemoe_blender.solving (body, root, rest, kinematics) with synthetic skeletons (known answers)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posemoe_blender.solving.skeleton import BONE_HEAD_JOINT, BONE_NAMES, BONE_TAIL_JOINT, NUM_RIG_BONES, POINT_INDEX, RIG_BONE_NAMES, RIG_TAIL_POINT, Animation
from posemoe_blender.solving.body import solve_animation
from posemoe_blender.solving.kinematics import forward_kinematics, rig_points_world
from posemoe_blender.solving.rest import ANKLE_HEIGHT, DEFAULT_BONE_LENGTHS
from posemoe_blender.solving.root import CAMERA_TO_BLENDER, default_focal_px, estimate_root
from posemoe_blender.errors import PoseMoEError
from posemoe_blender.joints import JOINT_INDEX as J

LENGTHS = np.array([DEFAULT_BONE_LENGTHS[n] for n in BONE_NAMES])
FPS = 30.0


def _rest_world():
    """A T-pose in Blender axes (Z up, facing -Y), pelvis at the origin."""
    anim = solve_animation(_to_camera(_tpose_blender()[None]), None, FPS)
    return anim


def _tpose_blender():
    dirs = {"Hips": (0, 0, 1), "Spine": (0, 0, 1), "Neck": (0, 0, 1), "Head": (0, 0, 1),
            "LeftShoulder": (1, 0, 0), "LeftUpperArm": (1, 0, 0), "LeftLowerArm": (1, 0, 0),
            "RightShoulder": (-1, 0, 0), "RightUpperArm": (-1, 0, 0), "RightLowerArm": (-1, 0, 0),
            "RightHipJoint": (-1, 0, 0), "LeftHipJoint": (1, 0, 0)}
    pts = np.zeros((17, 3))
    for b, name in enumerate(BONE_NAMES):
        d = np.array(dirs.get(name, (0, 0, -1)), float)
        pts[BONE_TAIL_JOINT[b]] = pts[BONE_HEAD_JOINT[b]] + LENGTHS[b] * d
    return pts


def _to_camera(blender_pts):
    """Blender axes -> camera axes (inverse of CAMERA_TO_BLENDER)."""
    return blender_pts @ CAMERA_TO_BLENDER


def _random_animation(T, seed=0, max_angle=0.6):
    """Random but smooth-in-time local rotations on the default rig -> FK joints."""
    rest = solve_animation(_to_camera(_tpose_blender()[None]), None, FPS)
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, T)[:, None, None]
    B = NUM_RIG_BONES
    a, b = rng.normal(size=(2, 1, B, 3)) * max_angle
    rotvec = a * np.cos(2 * np.pi * t) + b * np.sin(2 * np.pi * t)
    rotvec[:, RIG_BONE_NAMES.index("Chest")] = 0.0  # the joints' model: one straight Spine -> Thorax
    quat = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_quat().reshape(T, B, 4)[..., [3, 0, 1, 2]]
    loc = np.cumsum(rng.normal(scale=0.02, size=(T, 3)), axis=0)
    anim = Animation(fps=FPS, rest_heads=rest.rest_heads, rest_tails=rest.rest_tails,
                     rest_matrices=rest.rest_matrices, rotations=quat, root_location=loc,
                     joints_world=np.zeros((T, 17, 3)))
    return forward_kinematics(anim)


def _walk_blender(T, fps=FPS):
    """A walking-like motion in Blender axes: bent knees/elbows, forward travel, Z up."""
    t = np.arange(T) / fps
    ph = 2 * np.pi * 1.0 * t
    out = np.zeros((T, 17, 3))
    for i in range(T):
        p = np.zeros((17, 3))
        p[J["Pelvis"]] = (0, -0.8 * t[i], 0.95 + 0.02 * np.sin(2 * ph[i]))
        yaw = Rotation.from_euler("z", 0.15 * np.sin(ph[i]))
        lean = Rotation.from_euler("x", -0.1)
        def put(child, parent, d, L):
            p[J[child]] = p[J[parent]] + L * np.asarray(d) / np.linalg.norm(d)
        up = (yaw * lean).apply([0, 0, 1])
        put("Spine", "Pelvis", up, LENGTHS[0])
        put("Thorax", "Spine", up, LENGTHS[1])
        put("Neck", "Thorax", up + [0, -0.3, 0], LENGTHS[2])
        put("Head", "Neck", up, LENGTHS[3])
        for s, sign in (("L", 1), ("R", -1)):
            phase = ph[i] if s == "L" else ph[i] + np.pi
            put(s + "Hip", "Pelvis", yaw.apply([sign, 0, 0]), 0.13)
            swing = 0.4 * np.sin(phase)
            bend = 0.6 * (1 + np.sin(phase + 1.0)) / 2 + 0.05
            thigh = Rotation.from_euler("x", swing).apply([0, 0, -1])
            shin = Rotation.from_euler("x", swing - bend).apply([0, 0, -1])
            put(s + "Knee", s + "Hip", thigh, 0.45)
            put(s + "Ankle", s + "Knee", shin, 0.45)
            put(s + "Shoulder", "Thorax", yaw.apply([sign, 0, 0]), 0.15)
            arm = Rotation.from_euler("x", -0.5 * np.sin(phase)).apply([0.2 * sign, 0, -1])
            fore = Rotation.from_euler("x", -0.5 * np.sin(phase) - 0.8).apply([0.2 * sign, 0, -1])
            put(s + "Elbow", s + "Shoulder", arm, 0.28)
            put(s + "Wrist", s + "Elbow", fore, 0.25)
        out[i] = p
    return out


def _stand_blender(T, fps=FPS):
    """Balancing on the left leg (like the sample clips): straight support leg, upright trunk
    swaying a few degrees, right knee lifted and bent, arms out and bent."""
    t = np.arange(T) / fps
    out = np.zeros((T, 17, 3))
    for i in range(T):
        p = np.zeros((17, 3))
        sway = Rotation.from_rotvec([0.05 * np.sin(2 * np.pi * 0.7 * t[i]),
                                     0.04 * np.cos(2 * np.pi * 0.5 * t[i]), 0])
        def put(child, parent, d, L):
            d = sway.apply(np.asarray(d, float))
            p[J[child]] = p[J[parent]] + L * d / np.linalg.norm(d)
        put("LHip", "Pelvis", [1, 0, 0], 0.13)
        put("RHip", "Pelvis", [-1, 0, 0], 0.13)
        put("LKnee", "LHip", [0, 0, -1], 0.45)
        put("LAnkle", "LKnee", [0, 0, -1], 0.45)
        put("RKnee", "RHip", [0, -1, -0.3], 0.45)
        put("RAnkle", "RKnee", [0, 0.3, -1], 0.45)
        put("Spine", "Pelvis", [0, 0, 1], LENGTHS[0])
        put("Thorax", "Spine", [0, 0, 1], LENGTHS[1])
        put("Neck", "Thorax", [0, -0.2, 1], LENGTHS[2])
        put("Head", "Neck", [0, 0, 1], LENGTHS[3])
        for s, sign in (("L", 1), ("R", -1)):
            put(s + "Shoulder", "Thorax", [sign, 0, 0], 0.15)
            put(s + "Elbow", s + "Shoulder", [sign, 0, -0.5], 0.28)
            put(s + "Wrist", s + "Elbow", [sign * 0.3, -1, -0.3], 0.25)
        p += sway.apply([0, 0, 0.98]) - [0, 0, 0] + [0.1 * t[i], 0, 0]
        p = p - p[J["LAnkle"]] + [0.05 * t[i], 0, ANKLE_HEIGHT]  # the support foot stays put
        out[i] = p
    return out


def _expected_armature(anim, cam_world):
    R = np.asarray(anim.camera.camera_to_armature)
    off = np.asarray(anim.camera.armature_offset)
    return cam_world @ R.T + off + np.asarray(anim.root_shift)[:, None, :]


def _split_root(cam_world):
    root = cam_world[:, 0].copy()
    return cam_world - root[:, None], root


def _bone_lengths(joints):
    return np.linalg.norm(joints[:, list(BONE_TAIL_JOINT)] - joints[:, list(BONE_HEAD_JOINT)], axis=-1)


def _check_animation(anim, T):
    assert anim.rotations.shape == (T, NUM_RIG_BONES, 4)
    assert anim.root_location.shape == (T, 3)
    assert anim.joints_world.shape == (T, 17, 3)
    assert np.all(np.isfinite(anim.rotations)) and np.all(np.isfinite(anim.joints_world))
    np.testing.assert_allclose(np.linalg.norm(anim.rotations, axis=-1), 1.0, atol=1e-9)
    if T > 1:
        dots = np.sum(anim.rotations[1:] * anim.rotations[:-1], axis=-1)
        assert np.all(dots > 0)
    # rest matrices: orthonormal, right-handed, Y along the bone
    M = anim.rest_matrices
    np.testing.assert_allclose(M @ np.swapaxes(M, 1, 2), np.broadcast_to(np.eye(3), M.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(M), 1.0, atol=1e-12)
    dirs = anim.rest_tails - anim.rest_heads
    np.testing.assert_allclose(M[:, :, 1], dirs / np.linalg.norm(dirs, axis=1)[:, None], atol=1e-12)


def test_rest_pose_layout():
    anim = _rest_world()
    heads, tails = anim.rest_heads, anim.rest_tails
    i = {n: k for k, n in enumerate(RIG_BONE_NAMES)}
    assert anim.bone_names == RIG_BONE_NAMES
    # facing -Y: the character's left arm is at +X
    assert tails[i["LeftLowerArm"], 0] > 0.5 and tails[i["RightLowerArm"], 0] < -0.5
    assert tails[i["LeftHand"], 0] > tails[i["LeftLowerArm"], 0] + 0.05
    # standing on the floor: ankles at ANKLE_HEIGHT, head above
    np.testing.assert_allclose(tails[i["LeftLowerLeg"], 2], ANKLE_HEIGHT, atol=1e-12)
    np.testing.assert_allclose(heads[i["Hips"]], [0, 0, 0.45 + 0.45 + ANKLE_HEIGHT], atol=1e-12)
    # roll: Z forward (-Y) for spine/legs, up for arms
    np.testing.assert_allclose(anim.rest_matrices[i["Spine"]][:, 2], [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(anim.rest_matrices[i["LeftUpperLeg"]][:, 2], [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(anim.rest_matrices[i["LeftUpperArm"]][:, 2], [0, 0, 1], atol=1e-12)
    # the feet: flat on the floor, toes ahead (-Y); the chest halves the spine segment
    for side in ("Left", "Right"):
        foot, toes = i[side + "Foot"], i[side + "Toes"]
        assert heads[foot][2] == pytest.approx(ANKLE_HEIGHT) and tails[foot][1] < heads[foot][1] - 0.1
        assert 0.0 < tails[toes][2] < 0.03 and tails[toes][1] < tails[foot][1]
        np.testing.assert_allclose(anim.rest_matrices[foot][:, 0], [-1, 0, 0], atol=0.01)  # as the legs: flexion about X
    np.testing.assert_allclose(tails[i["Spine"]], heads[i["Chest"]], atol=1e-12)
    np.testing.assert_allclose(tails[i["Chest"]] - heads[i["Spine"]], [0, 0, DEFAULT_BONE_LENGTHS["Spine"]], atol=1e-12)
    # a T-pose input gives identity rotations of the body; the fingers rest relaxed (no hands seen)
    body = len(RIG_BONE_NAMES) - 30
    np.testing.assert_allclose(np.abs(anim.rotations[..., :body, 0]), 1.0, atol=1e-9)
    assert np.all(np.abs(anim.rotations[..., body:, 0]) < np.cos(np.radians(4.9)))


@pytest.mark.parametrize("case", ["tpose_moving", "walk", "random"])
def test_fk_reproduces_joints(case):
    T = 40
    if case == "tpose_moving":
        yaw = Rotation.from_euler("z", np.linspace(0, 2.5, T)[:, None])
        world = np.einsum("tij,kj->tki", yaw.as_matrix(), _tpose_blender())
        world = world + np.linspace([0, 3, 1], [1, 4, 1.2], T)[:, None]
        cam = _to_camera(world)
    elif case == "walk":
        cam = _to_camera(_walk_blender(T) + [0.2, 4.0, 0.0])
    else:
        cam = _to_camera(_random_animation(T) + [0, 3, 0])
    rel, root = _split_root(cam)
    anim = solve_animation(rel, root, FPS)
    _check_animation(anim, T)
    expected = _expected_armature(anim, cam)
    err = np.abs(anim.joints_world - expected).max()
    assert err < 1e-3, err
    assert np.all(_bone_lengths(anim.joints_world).std(axis=0) < 1e-6)
    # joints_world is what forward_kinematics gives
    np.testing.assert_allclose(forward_kinematics(anim), anim.joints_world, atol=1e-12)


def test_bone_lengths_normalised():
    T = 30
    cam = _to_camera(_walk_blender(T) + [0, 4, 0])
    rng = np.random.default_rng(1)
    noisy = cam + rng.normal(scale=0.01, size=cam.shape)
    rel, root = _split_root(noisy)
    anim = solve_animation(rel, root, FPS)
    _check_animation(anim, T)
    lengths = _bone_lengths(anim.joints_world)
    assert np.all(lengths.std(axis=0) < 1e-6)
    # symmetric rig, close to the true lengths
    np.testing.assert_allclose(lengths[0], LENGTHS, atol=0.02)
    names = list(BONE_NAMES)
    assert lengths[0, names.index("LeftUpperLeg")] == pytest.approx(lengths[0, names.index("RightUpperLeg")])


@pytest.mark.parametrize("tilt_deg", [15.0, -12.0, 0.0])
def test_tilted_camera_upright_and_grounded(tilt_deg):
    T = 60
    world = _stand_blender(T) + [0, 4, 0]
    # a camera pitched by tilt_deg: rotate the world about the camera's X axis
    tilt = Rotation.from_euler("x", np.radians(tilt_deg))
    cam = _to_camera(tilt.apply(world.reshape(-1, 3)).reshape(world.shape))
    rel, root = _split_root(cam)
    anim = solve_animation(rel, root, FPS)
    _check_animation(anim, T)
    assert anim.report.tilt_corrected
    # the true world up, seen by the tilted camera, becomes +Z again
    up_cam = _to_camera(tilt.apply([0.0, 0.0, 1.0])[None])[0]
    up = np.asarray(anim.camera.camera_to_armature) @ up_cam
    assert np.degrees(np.arccos(up[2])) < 2.0
    jw = anim.joints_world
    assert np.all(jw[:, J["Head"], 2] > jw[:, J["Pelvis"], 2] + 0.4)
    # feet on the floor: the support ankle sits ANKLE_HEIGHT above Z=0
    np.testing.assert_allclose(jw[:, J["LAnkle"], 2], ANKLE_HEIGHT, atol=0.01)
    assert np.all(jw[:, J["RAnkle"], 2] > ANKLE_HEIGHT + 0.1)
    # starts above the origin
    np.testing.assert_allclose(jw[0, J["Pelvis"], :2], 0, atol=1e-9)


def test_walk_upright_and_moving():
    T = 60
    world = _walk_blender(T) + [0, 4, 0]
    tilt = Rotation.from_euler("x", np.radians(15.0))
    cam = _to_camera(tilt.apply(world.reshape(-1, 3)).reshape(world.shape))
    rel, root = _split_root(cam)
    anim = solve_animation(rel, root, FPS)
    jw = anim.joints_world
    assert np.all(jw[:, J["Head"], 2] > jw[:, J["Pelvis"], 2] + 0.4)
    low = np.minimum(jw[:, J["LAnkle"], 2], jw[:, J["RAnkle"], 2])
    assert abs(np.percentile(low, 5) - ANKLE_HEIGHT) < 1e-6
    # the walker comes towards the camera (-Y in the world): -Y in armature space too
    assert jw[-1, J["Pelvis"], 1] < -1.0


def test_root_motion_off_keeps_height_only():
    T = 30
    cam = _to_camera(_walk_blender(T) + [0, 4, 0])
    rel, root = _split_root(cam)
    on = solve_animation(rel, root, FPS, root_motion=True)
    off = solve_animation(rel, root, FPS, root_motion=False)
    np.testing.assert_allclose(off.joints_world[:, J["Pelvis"], :2], 0, atol=1e-9)
    np.testing.assert_allclose(off.joints_world[:, J["Pelvis"], 2], on.joints_world[:, J["Pelvis"], 2], atol=1e-9)
    np.testing.assert_allclose(off.rotations, on.rotations, atol=1e-9)


def test_degenerate_input_no_nan():
    T = 10
    world = np.tile(_tpose_blender(), (T, 1, 1))  # straight limbs everywhere
    world[:, J["LWrist"]] = world[:, J["LElbow"]]  # a zero-length bone
    world[:, J["RHip"]] = world[:, J["Pelvis"]]  # another one, on the hip line
    cam = _to_camera(world)
    anim = solve_animation(cam - cam[:, :1], None, FPS)
    _check_animation(anim, T)
    lengths = _bone_lengths(anim.joints_world)
    assert np.all(lengths > 0.05)
    # single frame and all-zero input
    anim1 = solve_animation(np.zeros((1, 17, 3)), None, FPS)
    _check_animation(anim1, 1)


def test_bad_input_raises():
    with pytest.raises(PoseMoEError):
        solve_animation(np.zeros((5, 16, 3)), None, FPS)
    bad = np.zeros((5, 17, 3))
    bad[2, 3, 1] = np.nan
    with pytest.raises(PoseMoEError):
        solve_animation(bad, None, FPS)


def _project(cam_world, f, w, h):
    u = f * cam_world[..., 0] / cam_world[..., 2] + w / 2
    v = f * cam_world[..., 1] / cam_world[..., 2] + h / 2
    return np.stack([u, v, np.ones_like(u)], axis=-1)


def test_estimate_root_recovers_translation():
    T = 20
    w, h = 1080, 1920
    rel = _to_camera(_walk_blender(T))
    rel = rel - rel[:, :1]
    true_root = np.stack([np.linspace(-0.5, 0.7, T), np.linspace(0.2, 0.4, T), np.linspace(2.5, 6.0, T)], axis=1)
    kp = _project(rel + true_root[:, None], default_focal_px(w, h), w, h)
    kp[3, [2, 5], 2] = 0.0  # ignored joints
    kp[3, [2, 5], :2] = 0.0
    root = estimate_root(rel, kp, w, h)
    assert np.abs(root - true_root).max() < 0.01
    # explicit focal length
    f = 2000.0
    root2 = estimate_root(rel, _project(rel + true_root[:, None], f, w, h), w, h, focal_px=f)
    assert np.abs(root2 - true_root).max() < 0.01
    # frames with no confident joint are interpolated
    kp0 = kp.copy()
    kp0[7, :, 2] = 0
    root3 = estimate_root(rel, kp0, w, h)
    assert np.abs(root3[7] - true_root[7]).max() < 0.02


def test_default_focal_px():
    # 27 mm equivalent on a 1920x1080 frame: ~70 degrees across the long side
    f = default_focal_px(1080, 1920)
    fov = np.degrees(2 * np.arctan(960 / f))
    assert 65 < fov < 75


def test_forward_kinematics_matches_blender():
    """The rotations/locations keyed on a real Blender armature give the same joints."""
    bpy = pytest.importorskip("bpy")
    from mathutils import Matrix, Quaternion, Vector

    T = 4
    cam = _to_camera(_random_animation(T, seed=3) + [0, 3, 0])
    rel, root = _split_root(cam)
    anim = solve_animation(rel, root, FPS)
    arm = bpy.data.armatures.new("posemoe_test_fk")
    obj = bpy.data.objects.new("posemoe_test_fk", arm)
    bpy.context.scene.collection.objects.link(obj)
    try:
        bpy.context.view_layer.objects.active = obj
        bpy.ops.object.mode_set(mode="EDIT")
        edit = []
        for b, name in enumerate(anim.bone_names):
            eb = arm.edit_bones.new(name)
            eb.head, eb.tail = anim.rest_heads[b], anim.rest_tails[b]
            m = Matrix(anim.rest_matrices[b].tolist()).to_4x4()
            m.translation = Vector(anim.rest_heads[b])
            eb.matrix = m
            edit.append(eb)
        for b, p in enumerate(anim.bone_parents):
            if p >= 0:
                edit[b].parent = edit[p]
        bpy.ops.object.mode_set(mode="OBJECT")
        for b, name in enumerate(anim.bone_names):  # the roll survives Blender's edit bones
            np.testing.assert_allclose(np.array(arm.bones[name].matrix_local.to_3x3()),
                                       anim.rest_matrices[b], atol=1e-5)
        for t in range(T):
            for b, name in enumerate(anim.bone_names):
                pb = obj.pose.bones[name]
                pb.rotation_mode = "QUATERNION"
                pb.rotation_quaternion = Quaternion(anim.rotations[t, b].tolist())
                if b == 0:
                    pb.location = Vector(anim.root_location[t])
            bpy.context.view_layer.update()
            got = np.zeros((17, 3))
            got[0] = obj.pose.bones["Hips"].head
            for b, name in enumerate(anim.bone_names):
                if RIG_TAIL_POINT[b] < 17:
                    got[RIG_TAIL_POINT[b]] = obj.pose.bones[name].tail
            feet = np.array([obj.pose.bones[n].tail for n in ("LeftFoot", "LeftToes")])
            np.testing.assert_allclose(
                feet, rig_points_world(anim)[t, [POINT_INDEX["LBall"], POINT_INDEX["LToeEnd"]]], atol=1e-5)
            np.testing.assert_allclose(got, anim.joints_world[t], atol=1e-5)
    finally:
        bpy.data.objects.remove(obj)
        bpy.data.armatures.remove(arm)


@pytest.mark.parametrize("bend_deg", [15.0, 90.0])
def test_twist_continuous_when_elbow_plane_turns(bend_deg):
    """The forearm circles around a fixed, horizontal upper arm: the upper-arm twist follows
    the bend plane smoothly (no flip when it passes behind the fallback orientation)."""
    T = 73
    world = np.tile(_tpose_blender(), (T, 1, 1))
    spin = np.linspace(0, 2 * np.pi, T)
    b = np.radians(bend_deg)
    for s, sign in (("L", 1.0), ("R", -1.0)):
        fore = np.stack([sign * np.cos(b) * np.ones(T), -np.sin(b) * np.cos(spin), np.sin(b) * np.sin(spin)], axis=1)
        world[:, J[s + "Wrist"]] = world[:, J[s + "Elbow"]] + 0.25 * fore
    cam = _to_camera(world + [0, 3, 0])
    rel, root = _split_root(cam)
    anim = solve_animation(rel, root, FPS)
    _check_animation(anim, T)
    np.testing.assert_allclose(anim.joints_world, _expected_armature(anim, cam), atol=1e-6)
    q = anim.rotations
    step = 2 * np.degrees(np.arccos(np.clip(np.abs(np.sum(q[1:] * q[:-1], axis=-1)), 0, 1)))
    assert step.max() < 12.0, step.max(axis=0)  # 5 degrees of spin per frame


def test_stature_is_kept_within_a_human_range():
    """A lifter's scale is ambiguous: a child-sized or giant solve is scaled to the range."""
    from posemoe_blender.solving.body import STATURE_RANGE
    T = 4
    joints = np.repeat(_to_camera(_tpose_blender())[None], T, axis=0)
    root = np.tile([0.0, 0.0, 4.0], (T, 1))
    normal = solve_animation(joints, root, 30.0)
    stature = normal.joints_world[0, 10, 2]
    assert STATURE_RANGE[0] <= stature + 1e-6 and normal.camera.scale == 1.0
    small = solve_animation(joints * 0.6, root * 0.6, 30.0)
    assert small.joints_world[0, 10, 2] == pytest.approx(STATURE_RANGE[0], abs=1e-4)
    ankle = 0.08  # solving.ANKLE_HEIGHT: sole to ankle, not scaled
    assert small.camera.scale == pytest.approx((STATURE_RANGE[0] - ankle) / (0.6 * (stature - ankle)), rel=1e-3)
    off = solve_animation(joints * 0.6, root * 0.6, 30.0, stature_range=None)
    assert off.joints_world[0, 10, 2] == pytest.approx(0.6 * (stature - ankle) + ankle, rel=1e-3)


def test_camera_joints_return_the_solved_pose_in_the_lifters_frame():
    """--save-joints writes the rig's joints mapped back to root-relative camera axes."""
    from posemoe_blender.solving.kinematics import camera_joints
    cam = _to_camera(_walk_blender(20))
    rel, root = _split_root(cam)
    anim = solve_animation(rel, root, FPS)
    back = camera_joints(anim)
    assert back.shape == (20, 17, 3) and back.dtype == np.float32
    np.testing.assert_allclose(back[:, 0], 0.0, atol=1e-6)
    # the walk has constant bone lengths, so the solved pose is the input pose
    np.testing.assert_allclose(back, rel, atol=1e-3)
