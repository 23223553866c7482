"""core/retarget + core/retarget_presets: bpy-free retargeting math and the preset mappings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posemoe_blender.retargeting import presets as rp
from posemoe_blender.retargeting.solve import TargetRig, quaternions_to_euler, retarget, world_deltas
from posemoe_blender.solving.skeleton import BONE_NAMES, RIG_BONE_NAMES, RIG_BONE_PARENTS, Animation
from posemoe_blender.solving.kinematics import forward_kinematics
from posemoe_blender.solving.rest import DEFAULT_BONE_LENGTHS, rig_rest_pose
from posemoe_blender.errors import PoseMoEError

T = 12


def _anim(seed=0) -> Animation:
    """A random, smooth animation of the generated rig."""
    rng = np.random.default_rng(seed)
    lengths = np.array([DEFAULT_BONE_LENGTHS[n] for n in BONE_NAMES])
    _, heads, tails, mats = rig_rest_pose(lengths)
    axes = rng.normal(size=(len(RIG_BONE_NAMES), 3))
    t = np.linspace(0, 1, T)[:, None, None]
    rotvec = 0.8 * np.sin(2.5 * t + rng.uniform(0, 3, (1, len(RIG_BONE_NAMES), 1))) * axes / np.linalg.norm(axes, axis=1, keepdims=True)
    q = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_quat().reshape(T, -1, 4)[..., [3, 0, 1, 2]]
    loc = np.stack([np.linspace(0, 0.5, T), 0.1 * np.sin(np.linspace(0, 3, T)), np.linspace(0, 1.0, T)], 1)
    anim = Animation(fps=30.0, rest_heads=heads, rest_tails=tails, rest_matrices=mats, rotations=q,
                     root_location=loc, joints_world=np.zeros((T, 17, 3)))
    anim.joints_world = forward_kinematics(anim)
    return anim


def _rig_from_anim(anim, names=None, matrix_world=np.eye(4)) -> TargetRig:
    return TargetRig(names=list(names or anim.bone_names), parents=list(anim.bone_parents),
                     rest_matrices=np.array(anim.rest_matrices), rest_heads=np.array(anim.rest_heads),
                     rest_tails=np.array(anim.rest_tails), matrix_world=np.array(matrix_world, float))


def _target_fk(rig: TargetRig, result) -> np.ndarray:
    """(T, N, 3) world positions of every target bone head, Blender's pose math; unkeyed bones
    stay at rest."""
    n = len(rig.names)
    T = result.rotations.shape[0]
    idx = {name: i for i, name in enumerate(rig.names)}
    local = np.tile(np.eye(4), (T, n, 1, 1))
    for k, name in enumerate(result.bone_names):
        q = result.rotations[:, k]
        local[:, idx[name], :3, :3] = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()
    if result.root_bone is not None:
        local[:, idx[result.root_bone], :3, 3] = result.root_location
    rest = np.tile(np.eye(4), (n, 1, 1))
    rest[:, :3, :3] = rig.rest_matrices
    rest[:, :3, 3] = rig.rest_heads
    pose = np.zeros((T, n, 4, 4))
    order = sorted(range(n), key=lambda i: _depth(rig.parents, i))
    for i in order:
        p = rig.parents[i]
        pose[:, i] = rest[i] @ local[:, i] if p < 0 else pose[:, p] @ np.linalg.inv(rest[p]) @ rest[i] @ local[:, i]
    world = np.asarray(rig.matrix_world) @ pose
    return world[..., :3, 3], world[..., :3, :3]


def _depth(parents, i):
    d = 0
    while parents[i] >= 0:
        i, d = parents[i], d + 1
    return d


def _our_heads(anim):
    """(T, B, 3) posed bone heads of the generated rig in world space."""
    rig = _rig_from_anim(anim)
    fake = type("R", (), {"bone_names": list(RIG_BONE_NAMES), "rotations": anim.rotations,
                          "root_bone": "Hips", "root_location": anim.root_location})
    heads, _ = _target_fk(rig, fake)
    return heads


def test_identity_mapping_reproduces_the_animation():
    anim = _anim()
    res = retarget(anim, _rig_from_anim(anim), rp.POSEMOE)
    assert res.bone_names == list(RIG_BONE_NAMES)
    dots = np.abs(np.sum(res.rotations * anim.rotations, axis=-1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-9)
    np.testing.assert_allclose(res.root_location, anim.root_location, atol=1e-9)
    assert res.scale == pytest.approx(1.0)
    np.testing.assert_allclose(res.facing, np.eye(3), atol=1e-9)


def test_fk_helper_matches_solving_forward_kinematics():
    anim = _anim(1)
    heads = _our_heads(anim)
    # joint i's position = tail of its bone; the tail of bone b is the head of the child along it
    np.testing.assert_allclose(heads[:, 0], anim.joints_world[:, 0], atol=1e-9)
    np.testing.assert_allclose(heads[:, RIG_BONE_NAMES.index("LeftLowerArm")], anim.joints_world[:, 12], atol=1e-9)


def test_rotated_scaled_object_and_other_rolls_follow_the_same_motion():
    """A rig imported with a rotated (facing +Y), scaled armature object and different bone
    rolls: the character moves the same way in its own frame, root motion scaled by size."""
    anim = _anim(2)
    rng = np.random.default_rng(5)
    rolls = Rotation.from_rotvec(np.array([[0, a, 0] for a in rng.uniform(-3, 3, len(RIG_BONE_NAMES))])).as_matrix()
    size = 1.7
    rig = _rig_from_anim(anim)
    rig.rest_matrices = np.einsum("nij,njk->nik", rig.rest_matrices, rolls)
    # armature object: rotated 90 deg about X then 180 about Z, scale 0.01; data in centimetres
    obj_rot = Rotation.from_euler("xz", [90, 180], degrees=True).as_matrix()
    world = np.eye(4)
    world[:3, :3] = obj_rot * 0.01
    # data such that the world rest = our rest turned 180 deg about Z and scaled by `size`
    turn = Rotation.from_euler("z", 180, degrees=True).as_matrix()
    back = obj_rot.T @ turn  # armature-space rotation
    rig.rest_matrices = np.einsum("ij,njk->nik", back, rig.rest_matrices)
    rig.rest_heads = (anim.rest_heads @ back.T) * size / 0.01
    rig.rest_tails = (anim.rest_tails @ back.T) * size / 0.01
    rig.matrix_world = world
    res = retarget(anim, rig, rp.POSEMOE)
    np.testing.assert_allclose(res.facing, turn, atol=1e-9)
    assert res.scale == pytest.approx(size)
    heads, _ = _target_fk(rig, res)
    ours = _our_heads(anim)
    expected = (ours * size) @ turn.T
    np.testing.assert_allclose(heads, expected, atol=1e-6)


def test_a_pose_target_with_other_names_matches_bone_directions():
    """UE-style names, an extra root and leaf bone, an A-pose rest: with rest alignment each
    mapped bone points where ours points; unmapped bones are not keyed."""
    anim = _anim(3)
    mapping = rp.UE4
    names = [mapping.bones.get(n, n + "_extra") for n in RIG_BONE_NAMES]
    B = len(RIG_BONE_NAMES)
    # A-pose: freeze a pose of our rig (both arms 40 degrees down) as the target's rest
    pose = np.tile([1.0, 0, 0, 0], (1, B, 1)).astype(float)
    for side, sign in (("Left", 1), ("Right", -1)):
        b = RIG_BONE_NAMES.index(side + "UpperArm")
        down = Rotation.from_euler("y", sign * 40, degrees=True).as_matrix()
        M = anim.rest_matrices[b]
        pose[0, b] = Rotation.from_matrix(M.T @ down @ M).as_quat()[[3, 0, 1, 2]]
    G = world_deltas(pose, anim.rest_matrices, RIG_BONE_PARENTS)[0]
    fake = type("R", (), {"bone_names": list(RIG_BONE_NAMES), "rotations": pose,
                          "root_bone": None, "root_location": None})
    heads, _ = _target_fk(_rig_from_anim(anim), fake)
    rest_m = np.einsum("nij,njk->nik", G, anim.rest_matrices)
    lengths = np.linalg.norm(anim.rest_tails - anim.rest_heads, axis=1)
    # bones 0..B-1 as ours (renamed), B = "root" (parent of the pelvis), B+1 = an unmapped leaf
    rig = TargetRig(
        names=names + ["root", "ik_foot_l"],
        parents=[(p if p >= 0 else B) for p in RIG_BONE_PARENTS] + [-1, B],
        rest_matrices=np.concatenate([rest_m, [np.eye(3), np.eye(3)]]),
        rest_heads=np.concatenate([heads[0], [[0, 0, 0], [0.1, 0, 0]]]),
        rest_tails=np.concatenate([heads[0] + rest_m[:, :, 1] * lengths[:, None],
                                   [[0, 0.1, 0], [0.1, 0.1, 0]]]))
    res = retarget(anim, rig, mapping)
    assert set(res.bone_names) == set(mapping.bones.values())
    assert "root" not in res.bone_names and "ik_foot_l" not in res.bone_names
    assert res.root_bone == "pelvis"
    heads_t, _ = _target_fk(rig, res)
    ours = _our_heads(anim)
    idx = {n: i for i, n in enumerate(rig.names)}
    for our_bone in ("LeftUpperArm", "RightUpperArm", "LeftUpperLeg", "RightLowerLeg", "LeftShoulder",
                     "LeftFoot"):
        b = RIG_BONE_NAMES.index(our_bone)
        child = next(c for c in range(B) if RIG_BONE_PARENTS[c] == b)
        d_t = heads_t[:, idx[mapping.bones[RIG_BONE_NAMES[child]]]] - heads_t[:, idx[mapping.bones[our_bone]]]
        d_o = ours[:, child] - ours[:, b]
        cos = np.sum(d_t * d_o, -1) / np.linalg.norm(d_t, axis=-1) / np.linalg.norm(d_o, axis=-1)
        np.testing.assert_allclose(cos, 1.0, atol=1e-9, err_msg=our_bone)
    # without rest alignment the arms stay 40 degrees lower than ours
    res2 = retarget(anim, rig, mapping, match_rest=False)
    heads2, _ = _target_fk(rig, res2)
    b, c = RIG_BONE_NAMES.index("LeftUpperArm"), RIG_BONE_NAMES.index("LeftLowerArm")
    d_t = heads2[:, idx["lowerarm_l"]] - heads2[:, idx["upperarm_l"]]
    d_o = ours[:, c] - ours[:, b]
    ang = np.degrees(np.arccos(np.clip(np.sum(d_t * d_o, -1) / np.linalg.norm(d_t, axis=-1) / np.linalg.norm(d_o, axis=-1), -1, 1)))
    np.testing.assert_allclose(ang, 40.0, atol=1e-6)


def test_missing_bones_are_reported_and_no_bones_is_an_error():
    anim = _anim()
    names = list(RIG_BONE_NAMES)
    names[RIG_BONE_NAMES.index("LeftLowerLeg")] = "something_else"
    res = retarget(anim, _rig_from_anim(anim, names), rp.POSEMOE)
    assert res.missing == ["LeftLowerLeg"] and "LeftLowerLeg" not in res.bone_names
    with pytest.raises(PoseMoEError, match="none of the bones"):
        retarget(anim, _rig_from_anim(anim), rp.MIXAMO)


def test_root_motion_off_keeps_only_height():
    anim = _anim()
    res = retarget(anim, _rig_from_anim(anim), rp.POSEMOE, root_motion=False)
    world = res.root_location @ np.asarray(anim.rest_matrices[0]).T
    np.testing.assert_allclose(world[:, :2], 0.0, atol=1e-12)
    np.testing.assert_allclose(world[:, 2], (anim.root_location @ anim.rest_matrices[0].T)[:, 2], atol=1e-9)


@pytest.mark.parametrize("preset_id", sorted(rp.PRESETS))
def test_presets_are_consistent(preset_id):
    m = rp.get_preset(preset_id)
    assert set(m.bones) <= set(RIG_BONE_NAMES)
    assert len(set(m.bones.values())) == len(m.bones)
    assert m.root_bone
    legacy = preset_id == "POSEMOE_LEGACY"  # the generated rig before the rename: 16 bones, no feet
    for side in ("Left", "Right"):
        for part in ("UpperArm", "UpperLeg", "LowerLeg") + (() if legacy else ("Foot", "Toes")):  # feet and toes keyed everywhere else
            assert side + part in m.bones, (side + part, preset_id)
    if preset_id == "POSEMOE":
        assert set(m.bones) == set(RIG_BONE_NAMES)
    elif legacy:
        assert m.bones["LeftHipJoint"] == "LHip"  # the old rig had these pelvis -> hip bones too
    else:
        assert "LeftHipJoint" not in m.bones  # no counterpart in these rigs
    assert m.bones["RightUpperArm"] != m.bones["LeftUpperArm"]


def test_preset_names():
    assert rp.MIXAMO.bones["RightLowerArm"] == "mixamorig:RightForeArm"
    assert rp.MIXAMO.bones["LeftToes"] == "mixamorig:LeftToeBase"
    assert rp.UE5.bones["RightLowerLeg"] == "calf_r" and rp.UE4.bones["LeftShoulder"] == "clavicle_l"
    assert rp.UE5.bones["LeftFoot"] == "foot_l" and rp.UE5.bones["RightToes"] == "ball_r"
    assert rp.RIGIFY_METARIG.bones["RightUpperLeg"] == "thigh.R"
    assert rp.RIGIFY_FK.bones["LeftToes"] == "toe_fk.L" and rp.RIGIFY_DEF.bones["RightFoot"] == "DEF-foot.R"
    assert rp.RIGIFY_FK.root_bone == "torso" and rp.RIGIFY_DEF.bones["Hips"] == "DEF-spine"
    with pytest.raises(PoseMoEError, match="unknown retarget preset"):
        rp.get_preset("nope")


def test_mapping_json_round_trip_and_validation(tmp_path):
    path = tmp_path / "rig.json"
    rp.save_mapping(path, rp.UE5)
    loaded = rp.load_mapping(path)
    assert loaded.bones == rp.UE5.bones and loaded.tips == rp.UE5.tips
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"bones": {"Elbow": "x"}}))
    with pytest.raises(PoseMoEError, match="unknown bone 'Elbow'"):
        rp.load_mapping(bad)
    bad.write_text(json.dumps({"bones": {"LThigh": "x", "RThigh": "x"}}))
    with pytest.raises(PoseMoEError, match="mapped twice"):
        rp.load_mapping(bad)
    # a map written with the names used before the rig had feet still loads, translated
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"bones": {"LThigh": "thigh_l", "RShin": "calf_r"}, "tips": {"LForearm": "hand_l"}}))
    loaded = rp.load_mapping(old)
    assert loaded.bones == {"LeftUpperLeg": "thigh_l", "RightLowerLeg": "calf_r"}
    assert loaded.tips == {"LeftLowerArm": "hand_l"}
    bad.write_text("{not json")
    with pytest.raises(PoseMoEError, match="not valid JSON"):
        rp.load_mapping(bad)
    with pytest.raises(PoseMoEError, match="cannot read"):
        rp.load_mapping(tmp_path / "missing.json")


@pytest.mark.parametrize("order", ["XYZ", "ZXY", "YZX"])
def test_euler_conversion_matches_blender_order(order):
    q = _anim().rotations[:, 5]
    e = quaternions_to_euler(q, order)
    # Blender: 'XYZ' = X applied first -> matrix Rz @ Ry @ Rx
    mats = []
    for row in e:
        m = np.eye(3)
        for axis in order:
            m = Rotation.from_euler(axis.lower(), row["XYZ".index(axis)]).as_matrix() @ m
        mats.append(m)
    expected = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()
    np.testing.assert_allclose(np.array(mats), expected, atol=1e-9)
