"""Retargeting onto rigs nobody here hand-built: Rigify's human meta-rig and the rig Rigify
generates from it (Rigify ships inside bpy), and a Mixamo-style character read back from a
centimetre FBX by Blender's importer (0.01 armature scale, 90-degree axis rotation).

The animation is the solved sample clip (first 30 frames). After retargeting, Blender
evaluates each rig frame by frame (constraints included) and :func:`rigs.check_posed_rig`
compares it with the solved joints: feet, hands and the top of the head where the solved
bone directions put them along the rig's own limbs, the pelvis travel, the lower foot's height
above the floor and the facing direction. The thresholds are in centimetres of a 1.75 m person
(the rig's height scales them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import rigs  # noqa: E402  (tests/rigs.py)
from posemoe_blender.retargeting.rig import RigRequest, build_rig_action  # noqa: E402
from posemoe_blender.retargeting.presets import detect_mapping, get_preset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "demo.mp4"
FRAMES = 30
#: Worst allowed distances (cm of a 1.75 m person) and angle (degrees).
CHAIN_CM, ROOT_CM, FLOOR_CM, FACING_DEG = 1.0, 1.0, 1.0, 2.0


@pytest.fixture(scope="module")
def solved():
    if not SAMPLE.is_file():
        pytest.skip("samples/demo.mp4 is missing")
    from posemoe_blender.pipeline import process_clip
    from posemoe_blender.options import ConvertOptions
    return process_clip(str(SAMPLE), ConvertOptions(end=FRAMES, device="cpu")).animation


def _retarget(obj, mapping, anim) -> dict:
    req = RigRequest(video=str(SAMPLE), target='EXISTING', armature=obj.name, mapping=mapping)
    out = build_rig_action(bpy.context, req, anim)
    assert out["missing"] == [] and out["warnings"] == [], out
    assert obj.animation_data.action.name == out["action"]
    return out


def _check(obj, mapping, anim, out) -> dict:
    got = rigs.check_posed_rig(obj, mapping, anim, out["scale"])
    print(obj.name, json.dumps(got))
    for joint, cm in got["chain_cm"].items():
        assert cm < CHAIN_CM, (joint, got)
    assert got["root_cm"] < ROOT_CM, got
    assert -FLOOR_CM < got["floor_cm"][0] and got["floor_cm"][1] < FLOOR_CM, got  # feet on the floor
    assert got["facing_deg"] < FACING_DEG, got
    assert got["foot_deg"] < FACING_DEG, got  # feet keyed: they point where ours point
    J = rigs.J
    ours = rigs.facing(anim.joints_world[0, J["LHip"]], anim.joints_world[0, J["RHip"]])
    assert ours[1] < -0.9 and np.dot(got["facing"], ours) > 0.99  # towards the camera (-Y), as ours
    return got


def test_rigify_metarig(solved):
    obj = rigs.rigify_metarig()
    mapping = get_preset("rigify_metarig")
    assert detect_mapping(obj.data.bones.keys()) is mapping
    _check(obj, mapping, solved, _retarget(obj, mapping, solved))


def test_rigify_generated_rig(solved):
    """The generated rig's FK controls: the Action keys the limbs' IK/FK switches to FK (the rig
    is generated in IK), and the rig's constraints move the bones, so the keys are corrected
    against Blender's own evaluation."""
    obj = rigs.rigify_rig()
    assert obj.pose.bones["upper_arm_parent.L"]["IK_FK"] == 0.0  # IK, as generated
    mapping = get_preset("rigify")  # the alias of the FK-control map
    assert mapping is get_preset("RIGIFY_FK") and detect_mapping(obj.data.bones.keys()) is mapping
    out = _retarget(obj, mapping, solved)
    assert "torso" in out["constrained"]
    got = _check(obj, mapping, solved, out)
    bag = obj.animation_data.action.layers[0].strips[0].channelbags[0]
    switches = {fc.data_path: fc.evaluate(5) for fc in bag.fcurves if fc.data_path.endswith('["IK_FK"]')}
    assert switches == {f'pose.bones["{b}_parent.{s}"]["IK_FK"]': 1.0 for b in ("upper_arm", "thigh") for s in "LR"}
    # the deform bones (what a game export carries) follow: DEF- feet where the controls put them
    bpy.context.scene.frame_set(10)
    for side in "LR":
        np.testing.assert_allclose(rigs.world_point(obj, f"DEF-foot.{side}"),
                                   rigs.world_point(obj, f"foot_fk.{side}"), atol=1e-3)
    assert got["height_m"] > 1.8


def test_mixamo_character_from_fbx(solved, tmp_path):
    fbx = rigs.mixamo_fbx(tmp_path / "ybot.fbx")
    obj = rigs.import_fbx_rig(fbx)
    # what Blender's importer makes of a centimetre, Y-up file
    np.testing.assert_allclose(tuple(obj.scale), (0.01,) * 3, rtol=1e-6)
    assert obj.rotation_euler[0] == pytest.approx(np.pi / 2, abs=1e-6)
    assert obj.data.bones["mixamorig:Hips"].head_local[1] == pytest.approx(104.0, abs=0.01)
    mapping = get_preset("mixamo")
    assert detect_mapping(obj.data.bones.keys()) is mapping
    out = _retarget(obj, mapping, solved)
    _check(obj, mapping, solved, out)
    # unmapped bones (Spine, Spine2, toe ends, finger ends) are not keyed; they follow their
    # parents; the map's finger bones this rig lacks (all but the middle fingers' first) are skipped
    keyed = {fc.data_path.split('"')[1] for fc in
             obj.animation_data.action.layers[0].strips[0].channelbags[0].fcurves}
    assert keyed == {t for t in mapping.bones.values() if t in obj.data.bones}
    assert {"mixamorig:LeftHandMiddle1", "mixamorig:RightHandMiddle1"} <= keyed
    root_loc = np.array([[fc.evaluate(f) for fc in obj.animation_data.action.layers[0].strips[0]
                          .channelbags[0].fcurves if fc.data_path.endswith("location")] for f in (1, 30)])
    assert np.abs(root_loc).max() > 1.0  # bone-local centimetres, not metres


# --------------------------------------------------------------------------- convert --target-rig

def _convert(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "posemoe_blender", "convert", str(SAMPLE), "-q",
                           "--end", "20", "--device", "cpu", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_cli_target_rig_mixamo_fbx_and_rigify_blend(tmp_path):
    """``convert --target-rig``: onto the Mixamo FBX with ``--preset mixamo``, and onto a saved
    Rigify meta-rig (.blend) with the map detected from its bone names; the FBX holds the rig's
    own bones with the Action, the .blend the whole file plus the Action."""
    if not SAMPLE.is_file():
        pytest.skip("samples/demo.mp4 is missing")
    fbx_rig = rigs.mixamo_fbx(tmp_path / "ybot.fbx")
    rigs.rigify_metarig()
    blend_rig = tmp_path / "metarig.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend_rig), copy=True)

    proc = _convert("--target-rig", fbx_rig, "--preset", "mixamo", "-o", tmp_path / "ybot_demo.fbx",
                    "--fbx-preset", "unreal", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "retargeted onto Armature (Mixamo bone map, 20 bones keyed)" in proc.stderr  # 14 + feet, toes, middle fingers
    obj = rigs.import_fbx_rig(tmp_path / "ybot_demo.fbx")
    assert "mixamorig:LeftUpLeg" in obj.data.bones and obj.animation_data.action is not None

    proc = _convert("--target-rig", blend_rig, "--blend", tmp_path / "metarig_demo.blend", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Rigify meta-rig bone map" in proc.stderr
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "metarig_demo.blend"))
    meta = bpy.data.objects["metarig"]
    assert meta.animation_data.action.name == "demo"
    assert bpy.context.scene.frame_end == 20

    # bad input: one line, non-zero exit, nothing written
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, message in [
        (("--target-rig", tmp_path / "nope.fbx", "-o", tmp_path / "x.fbx"), "no such file"),
        (("--target-rig", tmp_path / "ybot_demo.fbx.txt", "-o", tmp_path / "x.fbx"), "must be a .blend or .fbx"),
        (("--target-rig", fbx_rig, "--preset", "nosuchrig", "-o", tmp_path / "x.fbx"), "unknown retarget preset"),
        (("--target-rig", fbx_rig, "--preset", "ue5", "-o", tmp_path / "x.fbx"), "none of the bones"),
        (("--target-rig", fbx_rig, "--save-joints", tmp_path / "x.npz"), "needs -o"),
        (("--armature", "Armature", "-o", tmp_path / "x.fbx"), "need --target-rig"),
    ]:
        proc = _convert(*args, cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode != 0 and lines[-1].startswith("error: ") and message in lines[-1], (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
