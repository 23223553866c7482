"""The Blender layer: armature, Action, FBX export, write_outputs and the FBX inspector.

Everything runs on the synthetic :class:`Animation` of :mod:`posemoe_lab.synthetic` (the bone
layout of ``solving/skeleton.py``, exact joints from a NumPy forward kinematics in Blender's
convention), so comparing it with Blender's evaluated pose checks the quaternion convention end
to end.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from posemoe_blender.solving.skeleton import BONE_HEAD_JOINT, BONE_NAMES, BONE_PARENTS, BONE_TAIL_JOINT, NUM_BONES, Animation  # noqa: E402
from posemoe_blender.errors import PoseMoEError  # noqa: E402
from posemoe_blender.joints import JOINT_NAMES  # noqa: E402
from posemoe_blender.output.armature import build_armature  # noqa: E402
from posemoe_blender.output.fbx import export_fbx  # noqa: E402
from posemoe_blender.output.inspect_fbx import summarize_fbx  # noqa: E402
from posemoe_blender.output.keyframes import fps_settings, write_action  # noqa: E402
from posemoe_blender.output.blend import write_outputs  # noqa: E402
from bpy_extras.anim_utils import animdata_get_channelbag_for_assigned_slot  # noqa: E402

from posemoe_lab.synthetic import REST_HEIGHT, make_animation  # noqa: E402


@pytest.fixture(autouse=True)
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield


@pytest.fixture(scope="module")
def animation() -> Animation:
    return make_animation()


def _posed_joints(obj) -> np.ndarray:
    """(17, 3) world joints of the evaluated pose from pose-bone heads/tails."""
    mw = np.array(obj.matrix_world)
    out = np.zeros((17, 3))
    for b, name in enumerate(BONE_NAMES):
        pb = obj.pose.bones[name]
        out[BONE_HEAD_JOINT[b]] = mw[:3, :3] @ np.array(pb.head) + mw[:3, 3]
        out[BONE_TAIL_JOINT[b]] = mw[:3, :3] @ np.array(pb.tail) + mw[:3, 3]
    return out


# ------------------------------------------------------------------------------- armature
def test_armature_rest_pose_matches_animation(animation):
    obj = build_armature(animation, "Rig")
    assert obj.type == 'ARMATURE' and obj.name == "Rig"
    bones = obj.data.bones
    assert [b.name for b in bones] == list(BONE_NAMES)
    for b, name in enumerate(BONE_NAMES):
        bone = bones[name]
        m = np.array(bone.matrix_local)
        np.testing.assert_allclose(m[:3, :3], animation.rest_matrices[b], atol=1e-5)
        np.testing.assert_allclose(bone.head_local, animation.rest_heads[b], atol=1e-5)
        np.testing.assert_allclose(bone.tail_local, animation.rest_tails[b], atol=1e-5)
        parent = BONE_PARENTS[b]
        assert (bone.parent.name if bone.parent else None) == (
            BONE_NAMES[parent] if parent >= 0 else None)
        assert bone.use_deform
        assert obj.pose.bones[name].rotation_mode == 'QUATERNION'
    assert obj.show_in_front


# ------------------------------------------------------------------------------- keyframes
def test_action_keys_every_frame_and_reproduces_joints(animation):
    obj = build_armature(animation, "Rig")
    action = write_action(obj, animation, "clip", start_frame=1)
    T = animation.num_frames
    assert obj.animation_data.action == action
    bag = animdata_get_channelbag_for_assigned_slot(obj.animation_data)
    paths = {(fc.data_path, fc.array_index) for fc in bag.fcurves}
    expected = {(f'pose.bones["{n}"].rotation_quaternion', i) for n in BONE_NAMES
                for i in range(4)} | {('pose.bones["Hips"].location', i) for i in range(3)}
    assert paths == expected
    for fc in bag.fcurves:
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        np.testing.assert_array_equal(co[0::2], np.arange(1, T + 1))
        assert all(k.interpolation == 'LINEAR' for k in fc.keyframe_points)
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end) == (1, T)
    assert scene.render.fps == 30 and scene.render.fps_base == pytest.approx(1.0)

    for f in (0, 5, T // 2, T - 1):
        scene.frame_set(f + 1)
        err = np.abs(_posed_joints(obj) - animation.joints_world[f]).max()
        assert err < 1e-3, f"frame {f + 1}: {err * 1000:.2f} mm"


def test_existing_action_name_is_not_overwritten(animation):
    old = bpy.data.actions.new("clip")
    old.use_fake_user = True
    obj = build_armature(animation, "Rig")
    action = write_action(obj, animation, "clip")
    assert action != old and action.name != "clip" and action.name.startswith("clip")
    assert bpy.data.actions["clip"] == old and len(old.layers) == 0


def test_large_action_is_complete():
    big = make_animation(frames=10_000, amplitude=0.2, seed=3)
    obj = build_armature(big, "Rig")
    write_action(obj, big, "long")
    bag = animdata_get_channelbag_for_assigned_slot(obj.animation_data)
    assert len(bag.fcurves) == 4 * NUM_BONES + 3
    fc = bag.fcurves.find('pose.bones["LeftLowerArm"].rotation_quaternion', index=2)
    assert len(fc.keyframe_points) == 10_000
    b = BONE_NAMES.index("LeftLowerArm")
    for f in (0, 4321, 9999):
        assert fc.evaluate(f + 1) == pytest.approx(big.rotations[f, b, 2], abs=1e-6)
    assert bpy.context.scene.frame_end == 10_000


@pytest.mark.parametrize("fps, expected", [(30, (30, 1.0)), (25.0, (25, 1.0)),
                                           (29.97, (30, 1.001)), (30000 / 1001, (30, 1.001)),
                                           (23.976, (24, 1.001)), (59.94, (60, 1.001))])
def test_fps_settings(fps, expected):
    base_fps, base = fps_settings(fps)
    assert base_fps == expected[0] and base == pytest.approx(expected[1])
    assert base_fps / base == pytest.approx(fps, rel=1e-4)


def test_odd_fps_is_kept_exactly():
    fps, base = fps_settings(12.5)
    assert fps / base == pytest.approx(12.5)


# ------------------------------------------------------------------------------- export
@pytest.mark.parametrize("preset", ["unity", "unreal", "blender"])
def test_fbx_roundtrip(tmp_path, animation, preset):
    out = write_outputs(animation, "clip", fbx_path=tmp_path / "anim.fbx",
                        blend_path=tmp_path / "anim.blend", preset=preset)
    assert {k: out[k] for k in ("fbx", "blend", "action", "frames", "object")} == {
        "fbx": str(tmp_path / "anim.fbx"), "blend": str(tmp_path / "anim.blend"), "action": "clip",
        "frames": animation.num_frames, "object": "PoseMoE_Rig"}
    assert sorted(os.listdir(tmp_path)) == ["anim.blend", "anim.fbx"]  # no temporary files

    info = summarize_fbx(tmp_path / "anim.fbx")
    T = animation.num_frames
    assert info["armatures"] == 1
    assert sorted(info["bone_names"]) == sorted(BONE_NAMES)
    assert info["takes"] == ["clip"]  # named after the Action (the clip), not "Scene"
    assert info["leaf_bones"] == []
    assert (info["first_frame"], info["last_frame"], info["keyed_frames"]) == (1.0, T, T)
    assert info["fps"] == pytest.approx(30.0)
    assert info["upright"] and info["moves"]
    assert info["armature_scale"] == pytest.approx([1.0, 1.0, 1.0])
    assert info["rest_height"] == pytest.approx(REST_HEIGHT, abs=0.02)
    frames = np.array(info["sampled_frames"]) - 1
    for joint in ("Head", "LAnkle", "RAnkle", "Pelvis", "LWrist"):
        got = np.array(info["positions"][joint])
        want = animation.joints_world[frames, JOINT_NAMES.index(joint)]
        assert np.abs(got - want).max() < 1e-3, joint
    world = animation.joints_world[frames]
    height = np.max(world[:, 10, 2] - np.minimum(world[:, 3, 2], world[:, 6, 2]))
    assert info["height"] == pytest.approx(height, abs=0.02)
    assert info["min_foot_height"] == pytest.approx(world[:, [3, 6], 2].min(), abs=1e-3)


def test_fbx_rest_pose_is_the_t_pose(tmp_path, animation):
    write_outputs(animation, "clip", fbx_path=tmp_path / "a.fbx")
    summarize_fbx(tmp_path / "a.fbx")  # leaves the imported scene open
    arm = next(o for o in bpy.data.objects if o.type == 'ARMATURE')
    for b, name in enumerate(BONE_NAMES):
        np.testing.assert_allclose(arm.data.bones[name].head_local, animation.rest_heads[b],
                                   atol=1e-4)


def test_blend_file_reopens_with_the_action(tmp_path, animation):
    out = write_outputs(animation, "clip", blend_path=tmp_path / "a.blend")
    assert out["fbx"] is None
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "a.blend"))
    obj = bpy.data.objects["PoseMoE_Rig"]
    assert obj.animation_data.action.name == "clip"
    assert bpy.context.scene.frame_end == animation.num_frames


def test_export_to_missing_folder_raises_and_writes_nothing(tmp_path, animation):
    obj = build_armature(animation, "Rig")
    write_action(obj, animation, "clip")
    with pytest.raises(PoseMoEError, match="cannot write"):
        export_fbx(tmp_path / "missing" / "a.fbx", obj)
    (tmp_path / "file").write_text("x")
    with pytest.raises(PoseMoEError):
        export_fbx(tmp_path / "file" / "a.fbx", obj)
    with pytest.raises(PoseMoEError, match="preset"):
        export_fbx(tmp_path / "a.fbx", obj, preset="maya")
    assert sorted(os.listdir(tmp_path)) == ["file"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores folder permissions")
def test_unwritable_folder_raises_and_leaves_no_file(tmp_path, animation):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PoseMoEError):
            write_outputs(animation, "clip", fbx_path=folder / "a.fbx", blend_path=folder / "a.blend")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


def test_existing_fbx_is_replaced_atomically(tmp_path, animation):
    target = tmp_path / "a.fbx"
    target.write_bytes(b"old")
    write_outputs(animation, "clip", fbx_path=target)
    assert target.read_bytes()[:18] == b"Kaydara FBX Binary"
    assert sorted(os.listdir(tmp_path)) == ["a.fbx"]


def test_permission_error_becomes_posemoe_error(tmp_path, animation, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    obj = build_armature(animation, "Rig")
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PoseMoEError, match="Permission denied"):
        export_fbx(tmp_path / "a.fbx", obj)
    assert os.listdir(tmp_path) == []


def test_interrupted_export_leaves_no_file(tmp_path, animation, monkeypatch):
    from types import SimpleNamespace

    import posemoe_blender.output.fbx as export_module

    def half_written(filepath, **kwargs):
        with open(filepath, "wb") as fh:
            fh.write(b"Kaydara FBX Binary  \0 half")
        raise KeyboardInterrupt

    fake_bpy = SimpleNamespace(context=bpy.context, data=bpy.data, ops=SimpleNamespace(
        object=bpy.ops.object, export_scene=SimpleNamespace(fbx=half_written)))
    obj = build_armature(animation, "Rig")
    write_action(obj, animation, "clip")
    name = bpy.context.scene.name
    monkeypatch.setattr(export_module, "bpy", fake_bpy)
    with pytest.raises(KeyboardInterrupt):
        export_fbx(tmp_path / "a.fbx", obj)
    assert os.listdir(tmp_path) == []
    assert bpy.context.scene.name == name  # the take's name was only lent to the scene


def test_export_leaves_the_action_and_frame_unchanged(tmp_path, animation):
    obj = build_armature(animation, "Rig")
    write_action(obj, animation, "clip")
    scene = bpy.context.scene
    scene.frame_set(7)
    name = scene.name
    export_fbx(tmp_path / "a.fbx", obj, preset="unreal")
    assert scene.frame_current == 7 and scene.name == name  # renamed for the take only while writing
    bag = animdata_get_channelbag_for_assigned_slot(obj.animation_data)
    for fc in bag.fcurves:
        assert len(fc.keyframe_points) == animation.num_frames
        assert fc.keyframe_points[0].co[0] == 1.0


# ------------------------------------------------------------------ rigs with the old bone names

def test_rig_with_the_old_bone_names_is_keyed(tmp_path, animation):
    """A rig generated before the Humanoid rename (16 bones ``Hips``, ``LThigh``, ``RShin``,
    ``LClavicle``, ... :data:`~posemoe_blender.solving.skeleton.SEGMENT_NAMES`) is recognised by
    ``convert --target-rig`` (the "PoseMoE rig (old bone names)" map, found by its bone names)
    and keyed so that its joints land where the animation's do."""
    from types import SimpleNamespace

    from posemoe_blender.retargeting import presets as rp
    from posemoe_blender.solving.skeleton import LEGACY_BONE_NAMES, SEGMENT_NAMES

    legacy = rp.get_preset("legacy")
    assert rp.get_preset("posemoe_legacy") is legacy and legacy is rp.PRESETS["POSEMOE_LEGACY"]
    assert legacy.bones == dict(zip(BONE_NAMES, SEGMENT_NAMES))  # built from the skeleton's names
    assert {LEGACY_BONE_NAMES.get(t, t) for t in legacy.bones.values()} == set(BONE_NAMES)
    assert rp.detect_mapping(SEGMENT_NAMES) is legacy and rp.detect_mapping(rp.POSEMOE.bones.values()) is rp.POSEMOE

    layout = SimpleNamespace(rest_heads=animation.rest_heads, rest_tails=animation.rest_tails,
                             rest_matrices=animation.rest_matrices, bone_names=SEGMENT_NAMES,
                             bone_parents=BONE_PARENTS)
    old = build_armature(layout, "OldRig")
    assert [b.name for b in old.data.bones] == list(SEGMENT_NAMES)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "old_rig.blend"))
    out = write_outputs(animation, "clip", target_rig=str(tmp_path / "old_rig.blend"))
    assert out["mapping"] == legacy.name and out["bones"] == NUM_BONES and not out["missing"]
    obj = bpy.data.objects["OldRig"]
    bag = animdata_get_channelbag_for_assigned_slot(obj.animation_data)
    keyed = {fc.data_path.split('"')[1] for fc in bag.fcurves}
    assert keyed == set(SEGMENT_NAMES)
    mw = np.array(obj.matrix_world)
    for frame in (1, 9, animation.num_frames):
        bpy.context.scene.frame_set(frame)
        got = np.zeros((17, 3))
        for b, name in enumerate(SEGMENT_NAMES):
            pb = obj.pose.bones[name]
            got[BONE_HEAD_JOINT[b]] = mw[:3, :3] @ np.array(pb.head) + mw[:3, 3]
            got[BONE_TAIL_JOINT[b]] = mw[:3, :3] @ np.array(pb.tail) + mw[:3, 3]
        np.testing.assert_allclose(got, animation.joints_world[frame - 1], atol=1e-3, err_msg=f"frame {frame}")
