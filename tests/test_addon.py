"""The Blender add-on, installed from the built extension zip into headless bpy as a user would.

Blender's user folders point at a temporary directory for this module
(``BLENDER_USER_RESOURCES``), so nothing is written to ``~/.config/blender``. The conversion
tests use the first 30 frames of ``samples/demo.mp4``; workers are polled from the test (the
same ``start``/``step`` calls the modal operators make from their timer).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402  (bpy's module)
import mathutils  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "demo.mp4"
ADDON = "bl_ext.user_default.posemoe_blender"
PKG = ADDON + ".posemoe_blender"
FRAMES = 30


def _load_build_script():
    from posemoe_lab import extension
    return extension


def _snapshot():
    """Everything a conversion could create or change."""
    scene = bpy.context.scene
    out = {k: sorted(x.name for x in getattr(bpy.data, k))
           for k in ("objects", "actions", "armatures", "meshes", "collections", "scenes")}
    out["scene"] = (scene.frame_start, scene.frame_end, scene.frame_current, scene.render.fps,
                    scene.render.fps_base)
    out["nla"] = sorted((o.name, t.name) for o in bpy.data.objects if o.animation_data
                        for t in o.animation_data.nla_tracks)
    return out


def _point_user_repo_at(user):
    """Make the "user_default" repository (already set up when bpy was imported) follow the
    user folder: toggling its custom directory makes Blender re-point ``bl_ext.user_default``."""
    repo = next(r for r in bpy.context.preferences.extensions.repos if r.module == "user_default")
    if user is not None:
        repo.custom_directory = str(Path(user) / "extensions" / "user_default")
        repo.use_custom_directory = True
    else:
        repo.use_custom_directory = True
        repo.use_custom_directory = False


def _fresh():
    bpy.ops.wm.read_homefile(use_empty=True)


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def ext(tmp_path_factory):
    """Build the zip, install it from disk into a temporary user folder, enable it."""
    if not SAMPLE.is_file():
        pytest.skip("samples/demo.mp4 is missing")
    user = tmp_path_factory.mktemp("blender_user")
    old = os.environ.get("BLENDER_USER_RESOURCES")
    os.environ["BLENDER_USER_RESOURCES"] = str(user)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    _point_user_repo_at(user)
    build = _load_build_script()
    zip_path = build.build(tmp_path_factory.mktemp("dist"))
    validation = build.validate(zip_path)
    result = bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                       enable_on_install=True)
    assert result == {'FINISHED'}
    ns = SimpleNamespace(
        user=user, zip=zip_path, validation=validation,
        pkg=importlib.import_module(PKG),
        controller=importlib.import_module(PKG + ".addon.controller"),
        apply=importlib.import_module(PKG + ".retargeting.rig"),
        deps=importlib.import_module(PKG + ".addon.deps"),
        remote=importlib.import_module(PKG + ".addon.remote"),
        worker=importlib.import_module(PKG + ".addon.worker"),
        presets=importlib.import_module(PKG + ".retargeting.presets"),
        errors=importlib.import_module(PKG + ".errors"),
        armature=importlib.import_module(PKG + ".output.armature"),
    )
    yield ns
    addon_utils.disable(ADDON, default_set=True)
    if old is None:
        os.environ.pop("BLENDER_USER_RESOURCES", None)
    else:
        os.environ["BLENDER_USER_RESOURCES"] = old
    bpy.ops.wm.read_factory_settings(use_empty=True)
    _point_user_repo_at(None)


def _settings(video=SAMPLE, frames=FRAMES):
    s = bpy.context.scene.posemoe
    s.video = str(video)
    s.use_range, s.clip_start, s.clip_end = True, 0, frames
    return s


@pytest.fixture(scope="module")
def converted(ext):
    """One in-process conversion of the sample's first 30 frames (a new armature)."""
    _fresh()
    _settings()
    ctrl = ext.controller.ConvertController.from_context(bpy.context)
    assert ctrl.backend == "thread"
    t0 = time.perf_counter()
    state = ctrl.run_blocking(bpy.context, timeout=120)
    return SimpleNamespace(ctrl=ctrl, state=state, seconds=time.perf_counter() - t0,
                           animation=ctrl.job.result.animation, snapshot=_snapshot(),
                           message=ctrl.message)


# --------------------------------------------------------------------------- packaging

def test_zip_layout_and_manifest(ext):
    with zipfile.ZipFile(ext.zip) as zf:
        names = set(zf.namelist())
        init = zf.read("__init__.py").decode()
        import tomllib
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
    assert {"blender_manifest.toml", "__init__.py", "LICENSE", "posemoe_blender/__init__.py",
            "posemoe_blender/addon/__init__.py", "posemoe_blender/pipeline.py"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    from test_layering import extension_zip_problems  # tests/ is on the import path
    assert extension_zip_problems(ext.zip) == []  # no lab, training, evaluation or Ray module
    assert "posemoe_blender/batch/ray_cluster.py" not in names
    assert "from .posemoe_blender import register, unregister" in init
    from posemoe_blender import __version__
    assert ext.zip.name == f"posemoe_blender-{__version__}.zip"
    assert manifest["version"] == __version__ and manifest["id"] == "posemoe_blender"
    assert manifest["schema_version"] == "1.0.0" and manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert "files" in manifest["permissions"]
    assert len(manifest["tagline"]) <= 64 and manifest["tagline"][-1] not in ".!?"
    assert ext.validation is None or "Success" in ext.validation


def test_installed_as_an_extension_in_the_temporary_user_folder(ext):
    assert ADDON in bpy.context.preferences.addons
    installed = Path(ext.pkg.__file__).resolve()
    assert str(installed).startswith(str(Path(ext.user).resolve()))
    assert ext.controller.ADDON_ID == ADDON
    site = ext.controller.site_packages_dir()
    assert site.startswith(str(ext.user)) and site.endswith("site-packages")
    assert ext.controller.get_prefs(bpy.context) is not None
    assert hasattr(bpy.types.Scene, "posemoe") and hasattr(bpy.types.WindowManager, "posemoe_job")


def test_register_unregister_twice(ext):
    for _ in range(2):
        addon_utils.disable(ADDON, default_set=True)
        assert not hasattr(bpy.types.Scene, "posemoe")
        assert not hasattr(bpy.types, "POSEMOE_PT_main") and not hasattr(bpy.types, "POSEMOE_OT_convert")
        addon_utils.enable(ADDON, default_set=True)
        assert hasattr(bpy.types.Scene, "posemoe")
        assert hasattr(bpy.types, "POSEMOE_PT_main")
        assert bpy.ops.posemoe.convert.poll()
    handlers = [h for h in bpy.app.handlers.load_post if h.__name__ == "reset_job_state"]
    assert len(handlers) == 1
    bpy.context.window_manager.posemoe_job.running = True  # e.g. a file saved mid-conversion
    _fresh()
    assert not bpy.context.window_manager.posemoe_job.running
    assert ADDON in bpy.context.preferences.addons
    # the repository's package registers the same way (legacy add-on layout), twice in a row
    import posemoe_blender
    addon_utils.disable(ADDON, default_set=True)
    try:
        for _ in range(2):
            posemoe_blender.register()
            assert hasattr(bpy.types.Scene, "posemoe") and hasattr(bpy.types, "POSEMOE_PT_main")
            posemoe_blender.unregister()
            assert not hasattr(bpy.types.Scene, "posemoe") and not hasattr(bpy.types, "POSEMOE_PT_main")
    finally:
        addon_utils.enable(ADDON, default_set=True)
    assert hasattr(bpy.types.Scene, "posemoe")


# --------------------------------------------------------------------------- conversion

def test_conversion_on_the_sample_clip(ext, converted):
    assert converted.state == "FINISHED", converted.message
    snap = converted.snapshot
    # the rig, and the camera that shows the footage behind it ("Show footage behind the rig")
    assert snap["objects"] == ["PoseMoE_Footage_PoseMoE_demo", "PoseMoE_demo"] and snap["actions"] == ["demo"]
    obj = bpy.data.objects.get("PoseMoE_demo")
    assert obj is not None and obj.animation_data.action.name == "demo"
    action = obj.animation_data.action
    assert action["posemoe_source"] == str(SAMPLE.resolve())
    cam = bpy.context.scene.camera
    assert cam.name == "PoseMoE_Footage_PoseMoE_demo" and cam.data.background_images[0].clip.frame_start == 1
    assert converted.animation.num_frames == FRAMES
    assert snap["scene"][:2] == (1, FRAMES)
    state = bpy.context.window_manager.posemoe_job
    assert not state.running and "30 frames" in state.last_message


def test_convert_operator(ext, converted):
    """The operator (blocking ``execute``, as scripts call it) on 10 frames; a second run makes
    a new Action instead of overwriting the existing one."""
    before = {a.name for a in bpy.data.actions}
    s = _settings(frames=10)
    s.start_frame = 5
    assert bpy.ops.posemoe.convert() == {'FINISHED'}
    new = {a.name for a in bpy.data.actions} - before
    assert new == {"demo.001"}
    act = bpy.data.actions["demo.001"]
    assert act.frame_range[:] == pytest.approx((5, 14))
    assert len(bpy.data.actions["demo"].layers[0].strips[0].channelbags[0].fcurves) > 0
    s.start_frame = 1


def test_footage_option_and_operator(ext, converted):
    """Video frames 5..14 keyed from scene frame 3: the footage camera's clip starts so that
    frame 3 shows video frame 5; the operator removes it and adds it again from the Action's
    record; a missing video is one error line and changes nothing; the switch off adds none."""
    _fresh()
    s = _settings(frames=15)
    s.clip_start, s.start_frame = 5, 3
    assert bpy.ops.posemoe.convert() == {'FINISHED'}
    obj = bpy.data.objects["PoseMoE_demo"]
    cam = bpy.context.scene.camera
    assert cam["posemoe_footage_rig"] == obj.name
    assert cam.data.background_images[0].clip.frame_start == 3 - 5
    record = json.loads(obj.animation_data.action["posemoe_footage"])
    assert (record["video_start"], record["frame_start"], record["video_fps"]) == (5, 3, 30.0)
    assert (record["width"], record["height"]) == (480, 640) and record["camera_to_armature"]
    bpy.context.view_layer.objects.active = obj
    assert bpy.ops.posemoe.footage(action='REMOVE') == {'FINISHED'}
    assert bpy.context.scene.camera is None and not bpy.data.cameras and not bpy.data.movieclips
    assert bpy.ops.posemoe.footage(action='ADD') == {'FINISHED'}
    assert bpy.context.scene.camera.data.background_images[0].clip.frame_start == -2
    # a video that moved away: one line, nothing changed
    record["video"] = str(Path(ext.user) / "moved.mp4")
    obj.animation_data.action["posemoe_footage"] = json.dumps(record)
    before = (_snapshot(), sorted(c.name for c in bpy.data.cameras), bpy.context.scene.camera.name)
    with pytest.raises(RuntimeError, match="moved.mp4: no such video") as exc:
        bpy.ops.posemoe.footage(action='ADD')
    assert len(str(exc.value).strip().splitlines()) == 1
    assert (_snapshot(), sorted(c.name for c in bpy.data.cameras), bpy.context.scene.camera.name) == before
    # the panel's switch off: no camera
    _fresh()
    s = _settings(frames=10)
    s.show_footage = False
    assert bpy.ops.posemoe.convert() == {'FINISHED'}
    assert not bpy.data.cameras and bpy.context.scene.camera is None
    s.show_footage, s.start_frame = True, 1


def _modal_operator(ext):
    """The convert operator's invoke/modal code on a plain instance (background bpy has no
    event loop to deliver timer events, so the test delivers them)."""
    ops = importlib.import_module(PKG + ".addon.operators")

    class Op(ops._JobOperator):
        controller_class = ext.controller.ConvertController
        reports = []

        def report(self, level, message):
            self.reports.append((set(level), message))

    op = Op()
    wm = bpy.context.window_manager
    op._ctrl = op.controller_class.from_context(bpy.context)
    op._ctrl.start(bpy.context)
    op._timer = wm.event_timer_add(0.1, window=bpy.context.window)
    return op, SimpleNamespace(type='TIMER', value='NOTHING', timer=op._timer)


def test_modal_operator_timer_and_esc(ext):
    _fresh()
    _settings(frames=10)
    before = _snapshot()
    op, tick = _modal_operator(ext)
    assert op.modal(bpy.context, SimpleNamespace(type='MOUSEMOVE', value='NOTHING', timer=None)) == {'PASS_THROUGH'}
    assert op.modal(bpy.context, SimpleNamespace(type='ESC', value='PRESS', timer=None)) == {'RUNNING_MODAL'}
    result = {'PASS_THROUGH'}
    t0 = time.perf_counter()
    while result == {'PASS_THROUGH'}:
        time.sleep(0.05)
        result = op.modal(bpy.context, tick)
        assert time.perf_counter() - t0 < 60
    assert result == {'CANCELLED'} and _snapshot() == before
    assert op.reports[-1][0] == {'WARNING'} and "cancelled" in op.reports[-1][1]
    # and to the end: timer ticks update the progress shown by the panel, then apply
    op, tick = _modal_operator(ext)
    seen = []
    result = {'PASS_THROUGH'}
    while result == {'PASS_THROUGH'}:
        time.sleep(0.05)
        result = op.modal(bpy.context, tick)
        seen.append(bpy.context.window_manager.posemoe_job.progress)
    assert result == {'FINISHED'}, op.reports
    assert max(seen) > 0 and "demo" in bpy.data.actions
    assert not bpy.context.window_manager.posemoe_job.running


def test_convert_operator_timer_path(ext):
    """``posemoe.convert(wait=False)``: returns at once; a ``bpy.app.timers`` callback polls
    the job and applies it (the test calls it as Blender's event loop would)."""
    _fresh()
    _settings(frames=10)
    ops = importlib.import_module(PKG + ".addon.operators")
    assert bpy.ops.posemoe.convert(wait=False) == {'FINISHED'}
    poller = ops.POLLERS[-1]
    assert bpy.app.timers.is_registered(poller)
    assert bpy.context.window_manager.posemoe_job.running and not bpy.ops.posemoe.convert.poll()
    interval, t0 = poller.interval, time.perf_counter()
    while interval is not None:
        time.sleep(interval)
        interval = poller()
        assert time.perf_counter() - t0 < 60
    assert poller.result == "FINISHED" and poller not in ops.POLLERS
    assert bpy.data.objects["PoseMoE_demo"].animation_data.action.name == "demo"
    assert not bpy.context.window_manager.posemoe_job.running


def test_cancel_in_the_middle_leaves_no_trace(ext):
    _fresh()
    s = _settings(frames=90)
    s.use_range = False
    before = _snapshot()
    ctrl = ext.controller.ConvertController.from_context(bpy.context)
    ctrl.start(bpy.context)
    t0 = time.perf_counter()
    state = "RUNNING"
    while state == "RUNNING":
        time.sleep(0.02)
        if ctrl.job.done >= 5:
            bpy.context.window_manager.posemoe_job.cancel_requested = True  # the Cancel button
        state = ctrl.step(bpy.context)
        assert time.perf_counter() - t0 < 60
    assert state == "CANCELLED", ctrl.message
    assert ctrl.job.done < 90
    assert _snapshot() == before
    job = bpy.context.window_manager.posemoe_job
    assert not job.running and not job.cancel_requested and "cancelled" in job.last_message


def test_failure_leaves_no_trace(ext, converted, monkeypatch):
    _fresh()
    before = _snapshot()
    # a file that is not a video: the worker fails, nothing is created
    bad = Path(ext.user) / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    _settings(video=bad)
    assert bpy.ops.posemoe.convert.poll()
    with pytest.raises(RuntimeError):
        bpy.ops.posemoe.convert()
    assert _snapshot() == before
    # a failure while applying (after the armature was built) is rolled back
    def boom(*args, **kwargs):
        raise ext.errors.PoseMoEError("simulated failure while keying")
    monkeypatch.setattr(ext.apply, "write_action", boom)
    req = ext.apply.ApplyRequest(video=str(SAMPLE))
    with pytest.raises(ext.errors.PoseMoEError, match="simulated"):
        ext.apply.apply_result(bpy.context, req, converted.animation)
    assert _snapshot() == before


# --------------------------------------------------------------------------- retargeting

def _preset_rig(ext, anim, preset_id):
    """An armature with ``anim``'s rest layout named after the preset (unmapped bones get
    other names), an extra unmapped leaf bone, and the preset's root bone when it is separate."""
    mapping = ext.presets.PRESETS[preset_id]
    names = tuple(mapping.bones.get(n, f"unmapped_{n}") for n in anim.bone_names)
    layout = SimpleNamespace(rest_heads=anim.rest_heads, rest_tails=anim.rest_tails,
                             rest_matrices=anim.rest_matrices, bone_names=names,
                             bone_parents=anim.bone_parents)
    obj = ext.armature.build_armature(layout, f"Rig_{preset_id}")
    bpy.ops.object.mode_set(mode='EDIT')
    eb = obj.data.edit_bones
    hips = eb[names[0]]
    if mapping.root and mapping.root not in names:
        root = eb.new(mapping.root)
        root.head, root.tail = (0, 0, 0), (0, 0, 0.3)
        hips.parent = root
    prop = eb.new("prop_unmapped")
    prop.head, prop.tail = (0.3, 0, 1.0), (0.3, 0.2, 1.0)
    prop.parent = eb[names[3]]
    mch = []
    if preset_id == "RIGIFY_FK":  # like Rigify's FK limbs: a parent that ignores the chest/hips
        for side in "LR":
            for limb in ("upper_arm_fk", "thigh_fk"):
                b = eb[f"{limb}.{side}"]
                m = eb.new(f"MCH-{limb}_parent.{side}")
                m.head, m.tail = b.head, b.head + mathutils.Vector((0, 0, 0.3))
                m.parent, b.use_connect, b.parent = b.parent, False, m
                mch.append(m.name)
    bpy.ops.object.mode_set(mode='OBJECT')
    for name in mch:
        c = obj.pose.bones[name].constraints.new('COPY_ROTATION')
        c.target, c.subtarget = obj, mapping.root
    pb = obj.pose.bones["prop_unmapped"]
    pb.rotation_mode = 'QUATERNION'
    pb.rotation_quaternion = (0.9, 0.3, 0.2, 0.1)
    return obj, mapping


def _keyed_bones(action):
    bag = action.layers[0].strips[0].channelbags[0]
    out = {}
    for fc in bag.fcurves:
        bone = fc.data_path.split('"')[1]
        out.setdefault(bone, set()).add(fc.data_path.rsplit(".", 1)[1])
    return out


@pytest.mark.parametrize("preset_id", ["POSEMOE", "RIGIFY_METARIG", "RIGIFY_FK", "RIGIFY_DEF",
                                       "MIXAMO", "UE4", "UE5"])
def test_retarget_preset(ext, converted, preset_id):
    _fresh()
    anim = converted.animation
    obj, mapping = _preset_rig(ext, anim, preset_id)
    euler_bone = mapping.bones["LeftLowerArm"]
    obj.pose.bones[euler_bone].rotation_mode = 'XZY'  # keys follow the bone's rotation mode
    old = bpy.data.actions.new("demo")  # an existing Action with the clip's name stays untouched
    s = _settings()
    s.target, s.armature, s.preset = 'EXISTING', obj, preset_id
    req = ext.controller.request_from_settings(s, str(SAMPLE))
    out = ext.apply.apply_result(bpy.context, req, anim)
    assert out["action"] == "demo.001" and len(old.layers) == 0
    assert bool(out["constrained"]) == (preset_id == "RIGIFY_FK") and not out["warnings"]
    action = bpy.data.actions[out["action"]]
    assert obj.animation_data.action == action
    keyed = _keyed_bones(action)
    mapped = set(mapping.bones.values())
    root = mapping.root_bone
    assert set(keyed) == mapped | {root}
    assert keyed[root] >= {"location"}
    for bone, props in keyed.items():
        if bone != root:
            assert "location" not in props
    assert keyed[euler_bone] == {"rotation_euler"}
    assert not any(b.startswith("unmapped_") or b == "prop_unmapped" for b in keyed)

    # every mapped bone points where ours points; the unmapped prop keeps its pose
    jw = anim.joints_world
    from posemoe_blender.solving.skeleton import RIG_HEAD_POINT, RIG_TAIL_POINT
    from posemoe_blender.solving.kinematics import rig_points_world
    pts = rig_points_world(anim)  # the joints and the rig's other points (feet, toes, ...)
    assert {"LeftFoot", "RightToes"} <= set(mapping.bones)
    for frame in (1, 15, FRAMES):
        bpy.context.scene.frame_set(frame)
        for b, ours in enumerate(anim.bone_names):
            if ours not in mapping.bones:
                continue
            pb = obj.pose.bones[mapping.bones[ours]]
            d = np.array(pb.tail - pb.head)
            e = pts[frame - 1, RIG_TAIL_POINT[b]] - pts[frame - 1, RIG_HEAD_POINT[b]]
            np.testing.assert_allclose(d / np.linalg.norm(d), e / np.linalg.norm(e), atol=2e-4,
                                       err_msg=f"{preset_id} {ours} frame {frame}")
        hips = obj.pose.bones[mapping.bones["Hips"]]
        np.testing.assert_allclose(np.array(hips.head)[:2], jw[frame - 1, 0, :2], atol=2e-4)
        # height: the lower ankle where ours is (rigs without our hip bones hang the thighs
        # differently, so the pelvis height may differ: the feet stay on the floor)
        ankles = [obj.pose.bones[mapping.bones[s + "LowerLeg"]].tail[2] for s in ("Left", "Right")]
        assert min(ankles) == pytest.approx(jw[frame - 1, [3, 6], 2].min(), abs=2e-4)
        assert tuple(obj.pose.bones["prop_unmapped"].rotation_quaternion) == pytest.approx((0.9, 0.3, 0.2, 0.1))


def test_rig_with_the_old_bone_names(ext, converted):
    """A rig generated before the Humanoid rename (16 bones: ``Hips``, ``Spine``, ``LClavicle``,
    ``LThigh``, ``RShin``, ...): choosing it as the Armature picks the "PoseMoE rig (old bone
    names)" preset, and the sample's animation is keyed on its 16 bones, each pointing where
    ours points."""
    from posemoe_blender.solving.skeleton import BONE_HEAD_JOINT, BONE_NAMES, BONE_PARENTS, BONE_TAIL_JOINT, RIG_BONE_INDEX, SEGMENT_NAMES
    _fresh()
    anim = converted.animation
    idx = [RIG_BONE_INDEX[n] for n in BONE_NAMES]
    tails = np.array(anim.rest_tails)[idx]
    tails[BONE_NAMES.index("Spine")] = anim.rest_tails[RIG_BONE_INDEX["Chest"]]  # the old Spine spans Spine + Chest
    layout = SimpleNamespace(rest_heads=np.array(anim.rest_heads)[idx], rest_tails=tails,
                             rest_matrices=np.array(anim.rest_matrices)[idx], bone_names=SEGMENT_NAMES,
                             bone_parents=BONE_PARENTS)
    obj = ext.armature.build_armature(layout, "OldRig")
    s = _settings()
    s.target, s.preset = 'EXISTING', 'MIXAMO'
    s.armature = obj
    assert s.preset == 'POSEMOE_LEGACY'
    req = ext.controller.request_from_settings(s, str(SAMPLE))
    out = ext.apply.apply_result(bpy.context, req, anim)
    assert not out["missing"] and not out["warnings"]
    keyed = _keyed_bones(bpy.data.actions[out["action"]])
    assert set(keyed) == set(SEGMENT_NAMES) and keyed["Hips"] >= {"location"}
    jw = anim.joints_world
    for frame in (1, FRAMES):
        bpy.context.scene.frame_set(frame)
        for b, name in enumerate(SEGMENT_NAMES):
            pb = obj.pose.bones[name]
            d = np.array(pb.tail - pb.head)
            e = jw[frame - 1, BONE_TAIL_JOINT[b]] - jw[frame - 1, BONE_HEAD_JOINT[b]]
            np.testing.assert_allclose(d / np.linalg.norm(d), e / np.linalg.norm(e), atol=2e-3,
                                       err_msg=f"{name} frame {frame}")
    s.preset = 'CUSTOM'  # a custom mapping being edited is kept when another armature is chosen
    s.armature = None
    s.armature = obj
    assert s.preset == 'CUSTOM'


def test_push_to_nla_and_custom_mapping_json(ext, converted, tmp_path):
    _fresh()
    anim = converted.animation
    obj, mapping = _preset_rig(ext, anim, "UE5")
    s = _settings()
    s.target, s.armature = 'EXISTING', obj
    # custom mapping: start from the UE5 preset, drop the head, save and load it as JSON
    assert bpy.ops.posemoe.mapping_from_preset(preset="UE5") == {'FINISHED'}
    from posemoe_blender.solving.skeleton import RIG_BONE_NAMES
    assert s.preset == 'CUSTOM' and len(s.custom_mapping) == len(RIG_BONE_NAMES) == 53  # every bone of the generated rig, fingers included
    next(r for r in s.custom_mapping if r.source == "Head").target = ""
    path = tmp_path / "ue5_nohead.json"
    assert bpy.ops.posemoe.mapping_save(filepath=str(path)) == {'FINISHED'}
    data = json.loads(path.read_text())
    assert "Head" not in data["bones"] and data["bones"]["LeftUpperLeg"] == "thigh_l"
    assert data["bones"]["LeftFoot"] == "foot_l" and data["bones"]["RightToes"] == "ball_r"
    s.custom_mapping.clear()
    assert bpy.ops.posemoe.mapping_load(filepath=str(path)) == {'FINISHED'}
    assert next(r for r in s.custom_mapping if r.source == "LeftUpperLeg").target == "thigh_l"
    s.push_to_nla = True
    before_action = obj.animation_data.action if obj.animation_data else None
    req = ext.controller.request_from_settings(s, str(SAMPLE))
    out = ext.apply.apply_result(bpy.context, req, anim)
    s.push_to_nla = False
    ad = obj.animation_data
    assert ad.action == before_action
    tracks = list(ad.nla_tracks)
    assert [t.name for t in tracks] == [out["action"]]
    strip = tracks[0].strips[0]
    assert strip.action.name == out["action"] and strip.frame_start == 1
    assert "head" not in _keyed_bones(strip.action)


def test_export_fbx_operator(ext, converted, tmp_path):
    _fresh()
    s = _settings()
    s.target = 'NEW'
    obj = ext.armature.build_armature(converted.animation, "Rig")
    ext.pkg.output.keyframes.write_action(obj, converted.animation, "clip")
    bpy.context.view_layer.objects.active = obj
    s.export_preset, s.export_path = "unreal", str(tmp_path / "clip")
    assert bpy.ops.posemoe.export_fbx() == {'FINISHED'}
    assert (tmp_path / "clip.fbx").stat().st_size > 1000


# --------------------------------------------------------------------------- dependencies

def test_either_lifting_runtime_completes_the_dependencies(ext, monkeypatch):
    """The extension's bundled set (ONNX Runtime, no torch) is complete; torch alone is too;
    with neither, torch (what Install Dependencies installs) is reported missing."""
    deps = ext.deps
    real = deps._found
    for absent, missing, runtime in ((("torch",), [], "onnxruntime"), (("onnxruntime",), [], "torch"),
                                     (("torch", "onnxruntime"), ["torch"], None)):
        monkeypatch.setattr(deps, "_found", lambda name, absent=absent: name not in absent and real(name))
        assert deps.missing_modules() == missing
        assert deps.lifting_runtime() == runtime
        assert deps.missing_modules(["torch"]) == (["torch"] if "torch" in absent else [])
    assert deps.runtime_summary().startswith("no lifting runtime")
    monkeypatch.setattr(deps, "_found", lambda name: name != "torch" and real(name))
    assert deps.runtime_summary() == "ONNX Runtime, CPU, Blender's Python"
    assert deps.device_summary().startswith("ONNX Runtime ") and deps.device_summary().endswith(": CPU")


def test_dependency_check_reports_missing_packages(ext, monkeypatch):
    deps = ext.deps
    assert deps.missing_modules(["numpy", "posemoe_no_such_package_xyz"]) == ["posemoe_no_such_package_xyz"]
    assert deps.missing_modules() == []  # the test environment has everything
    monkeypatch.setitem(deps.DEPENDENCIES, "posemoe_no_such_package_xyz", "posemoe-no-such==1.0")
    assert deps.missing_modules() == ["posemoe_no_such_package_xyz"]
    assert deps.requirements_for(["posemoe_no_such_package_xyz", "mediapipe"]) == [
        "posemoe-no-such==1.0", "mediapipe==0.10.21"]
    prefs = ext.controller.get_prefs(bpy.context)
    prefs.backend, prefs.python_path = 'BLENDER', ""
    with pytest.raises(ext.errors.PoseMoEError, match="lacks posemoe_no_such_package_xyz"):
        ext.controller.choose_backend(prefs)
    prefs.backend, prefs.python_path = 'AUTO', sys.executable
    assert ext.controller.choose_backend(prefs) == ("remote", sys.executable)
    prefs.backend, prefs.python_path = 'AUTO', ""
    cmds = deps.pip_commands("/py", "/target", ["torch"])
    assert cmds[-1][:5] == ["/py", "-m", "pip", "install", "--upgrade"] and "--target" in cmds[-1]
    assert "--no-index" not in cmds[-1]
    cmds = deps.pip_commands("/py", "/target", ["torch"], find_links="/wheels")
    assert cmds[-1][-4:] == ["--no-index", "--find-links", "/wheels", "torch"]


def test_install_refuses_without_online_access(ext, tmp_path):
    assert bpy.app.online_access is False  # bpy's default; Blender's --offline-mode
    with pytest.raises(RuntimeError, match="Online access is disabled"):
        bpy.ops.posemoe.install_dependencies()
    assert not bpy.context.window_manager.posemoe_job.deps_running
    prefs = ext.controller.get_prefs(bpy.context)
    prefs.wheel_folder = str(tmp_path / "no_such_folder")
    try:
        with pytest.raises(RuntimeError, match="wheel folder set in the preferences does not exist"):
            bpy.ops.posemoe.install_dependencies()
        prefs.wheel_folder = str(tmp_path)  # offline, but a wheel folder: nothing is missing here
        assert bpy.ops.posemoe.install_dependencies() == {'FINISHED'}
    finally:
        prefs.wheel_folder = ""


def test_pip_installer_reports_errors(ext, tmp_path):
    fail = [sys.executable, "-c", "import sys; print('Collecting x'); print('ERROR: No matching distribution found for x'); sys.exit(1)"]
    inst = ext.deps.PipInstaller([[sys.executable, "-c", "print('ok')"], fail]).start()
    assert inst.wait(30)
    assert inst.returncode == 1 and not inst.ok
    assert inst.error == "ERROR: No matching distribution found for x"
    inst = ext.deps.PipInstaller([[sys.executable, "-c", "print('done')"]]).start()
    assert inst.wait(30) and inst.ok and "done" in inst.status
    site = tmp_path / "site"
    site.mkdir()
    assert ext.deps.add_site_dir(str(site)) and str(site) in sys.path
    ext.deps.remove_site_dir(str(site))
    assert str(site) not in sys.path


# --------------------------------------------------------------------------- external Python

def test_external_python_runs_the_sample_clip(ext, converted):
    info = ext.remote.check_python(sys.executable)
    assert info["ok"] and info["missing"] == [] and info["version"].startswith("3.")
    assert "not an executable" in ext.remote.check_python("/nonexistent/python")["error"]
    _fresh()
    _settings()
    prefs = ext.controller.get_prefs(bpy.context)
    prefs.backend, prefs.python_path = 'EXTERNAL', sys.executable
    try:
        ctrl = ext.controller.ConvertController.from_context(bpy.context)
        assert ctrl.backend == "remote"
        state = ctrl.run_blocking(bpy.context, timeout=120)
    finally:
        prefs.backend, prefs.python_path = 'AUTO', ""
    assert state == "FINISHED", ctrl.message
    assert isinstance(ctrl.job, ext.remote.RemoteJob)
    remote_anim = ctrl.job.result.animation
    assert remote_anim.num_frames == FRAMES
    np.testing.assert_allclose(remote_anim.joints_world, converted.animation.joints_world, atol=1e-3)
    assert bpy.data.objects["PoseMoE_demo"].animation_data.action.name == "demo"


# --------------------------------------------------------------------------- batch

def _short_clip(path: Path, frames: int = 20):
    import cv2
    cap = cv2.VideoCapture(str(SAMPLE))
    fps = cap.get(cv2.CAP_PROP_FPS)
    ok, frame = cap.read()
    h, w = frame.shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for _ in range(frames):
        out.write(frame)
        ok, frame = cap.read()
        if not ok:
            break
    out.release()
    cap.release()


def test_batch_fbx_and_actions(ext, tmp_path):
    _fresh()
    clips = tmp_path / "clips"
    clips.mkdir()
    _short_clip(clips / "walk.mp4")
    (clips / "broken.mp4").write_bytes(b"\x00" * 100)
    s = bpy.context.scene.posemoe
    s.target, s.batch_folder, s.batch_mode, s.batch_output = 'NEW', str(clips), 'FBX', str(tmp_path / "fbx")
    before = _snapshot()
    ctrl = ext.controller.BatchController.from_context(bpy.context)
    assert ctrl.run_blocking(bpy.context) == "FINISHED"
    rows = {Path(r["video"]).name: r for r in ctrl.rows}
    assert rows["walk.mp4"]["status"] == "ok" and rows["walk.mp4"]["frames"] == 20
    assert rows["broken.mp4"]["status"] == "failed" and rows["broken.mp4"]["error"]
    assert (tmp_path / "fbx" / "walk.fbx").is_file()
    assert _snapshot() == before  # the temporary export rig is gone
    assert [r.status for r in s.batch_rows] == ["failed", "ok"]
    assert "1 converted, 0 skipped, 1 failed" in ctrl.report()
    report = json.loads((tmp_path / "fbx" / "report.json").read_text())  # as `batch` writes it
    assert report["finished"] and report["totals"] == {"clips": 2, "ok": 1, "skipped": 0, "failed": 1, "pending": 0}
    assert [(Path(r["video"]).name, r["status"], r["fbx"]) for r in report["rows"]] == \
        [("broken.mp4", "failed", None), ("walk.mp4", "ok", str(tmp_path / "fbx" / "walk.fbx"))]
    # again: the converted clip is skipped
    ctrl = ext.controller.BatchController.from_context(bpy.context)
    ctrl.run_blocking(bpy.context)
    assert [r["status"] for r in ctrl.rows] == ["failed", "skipped"]
    # one Action per clip on a new rig
    s.batch_mode = 'ACTIONS'
    ctrl = ext.controller.BatchController.from_context(bpy.context)
    assert ctrl.run_blocking(bpy.context) == "FINISHED"
    act = bpy.data.actions["walk"]
    assert act.use_fake_user and act["posemoe_source"] == str(clips / "walk.mp4")
    assert [o.name for o in bpy.data.objects] == ["PoseMoE_walk"]
    ctrl = ext.controller.BatchController.from_context(bpy.context)
    ctrl.run_blocking(bpy.context)
    assert [r["status"] for r in ctrl.rows] == ["failed", "skipped"]


def test_batch_cancel(ext, tmp_path):
    _fresh()
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4"):
        _short_clip(clips / name, frames=40)
    s = bpy.context.scene.posemoe
    s.target, s.batch_folder, s.batch_mode = 'NEW', str(clips), 'ACTIONS'
    before = _snapshot()
    ctrl = ext.controller.BatchController.from_context(bpy.context)
    ctrl.start(bpy.context)
    state = "RUNNING"
    while state == "RUNNING":
        time.sleep(0.02)
        if ctrl.job is not None and ctrl.job.done >= 3:
            bpy.context.window_manager.posemoe_job.cancel_requested = True
        state = ctrl.step(bpy.context)
    assert state == "CANCELLED"
    assert [r["status"] for r in ctrl.rows] == ["cancelled"]
    assert _snapshot() == before and "batch cancelled" in ctrl.message


# --------------------------------------------------------------------------- lifter choice

def test_lifter_property_reaches_the_options(ext, monkeypatch):
    """The panel's Lifter (PoseMoE default / Entangled transformer / MediaPipe 3D) becomes
    ``ConvertOptions.lifter`` for convert and batch, in-process and for the external Python."""
    _fresh()
    pipeline = importlib.import_module(PKG + ".pipeline")
    props = importlib.import_module(PKG + ".addon.properties")
    assert tuple(item[0] for item in props.LIFTER_ITEMS) == pipeline.LIFTERS
    s = _settings()
    default = importlib.import_module(PKG + ".options").DEFAULT_LIFTER
    assert s.lifter == default
    for lifter in pipeline.LIFTERS:
        s.lifter = lifter
        for clip_range in (True, False):  # convert, batch
            options, ignored = ext.controller.options_from_settings(s, clip_range=clip_range)
            assert options.lifter == lifter and ignored == []
        remote, _ = ext.worker.make_options(**json.loads(json.dumps(ext.worker.options_dict(options))))
        assert remote.lifter == lifter
    s.lifter = 'entangled'
    ctrl = ext.controller.ConvertController.from_context(bpy.context)
    assert ctrl.options.lifter == 'entangled' and ctrl.options.weights is None
    # the entangled network is the one loaded (a tiny one here: weights/ may lack entangled.pt)
    import torch
    from dataclasses import replace
    from posemoe_blender.lifting.registry import build_model
    from posemoe_blender.lifting.weights import save_weights
    cfg = {"model": "entangled", "frames": 27, "dim": 16, "depth": 1, "heads": 2, "mlp_hidden": 32}
    torch.manual_seed(0)
    tiny = Path(ext.user) / "tiny_entangled.pt"
    save_weights(tiny, build_model(cfg), cfg)
    registry = importlib.import_module(PKG + ".lifting.registry")
    monkeypatch.setitem(registry.NETWORKS, "entangled", replace(registry.NETWORKS["entangled"], weights=tiny))
    _settings(frames=10)
    ctrl = ext.controller.ConvertController.from_context(bpy.context)
    assert ctrl.run_blocking(bpy.context, timeout=120) == "FINISHED", ctrl.message
    assert ctrl.job.result.info["lifter"] == "entangled"
    assert "lifter: entangled" in bpy.context.window_manager.posemoe_job.last_message
    layout = _Layout()
    panel = importlib.import_module(PKG + ".addon.panel")
    panel.POSEMOE_PT_main.draw(SimpleNamespace(layout=layout), bpy.context)
    assert any(c[0] == "prop" and c[1][1] == "lifter" for c in layout.calls)
    s.lifter = default


def test_hands_switch_reaches_the_options(ext):
    """The panel's *Hands and fingers* switch defaults from ``ConvertOptions.hands`` (on) and
    becomes ``ConvertOptions.hands`` for convert and batch, in-process and for the external Python."""
    _fresh()
    s = _settings()
    assert s.hands is True and importlib.import_module(PKG + ".options").ConvertOptions.hands is True
    for value in (False, True):
        s.hands = value
        for clip_range in (True, False):
            options, ignored = ext.controller.options_from_settings(s, clip_range=clip_range)
            assert options.hands is value and ignored == []
        remote, _ = ext.worker.make_options(**json.loads(json.dumps(ext.worker.options_dict(options))))
        assert remote.hands is value
    layout = _Layout()
    importlib.import_module(PKG + ".addon.panel").POSEMOE_PT_main.draw(SimpleNamespace(layout=layout), bpy.context)
    assert any(c[0] == "prop" and c[1][1] == "hands" for c in layout.calls)


def test_hand_rotation_switch_reaches_the_options(ext):
    """The panel's *Turn hands with palms* checkbox (next to *Hands and fingers*) defaults from
    ``ConvertOptions.hand_rotation`` (on) and becomes it for convert and batch, in-process and
    for the external Python."""
    _fresh()
    s = _settings()
    assert s.hand_rotation is True and importlib.import_module(PKG + ".options").ConvertOptions.hand_rotation is True
    for value in (False, True):
        s.hand_rotation = value
        for clip_range in (True, False):
            options, ignored = ext.controller.options_from_settings(s, clip_range=clip_range)
            assert options.hand_rotation is value and options.hands is True and ignored == []
        remote, _ = ext.worker.make_options(**json.loads(json.dumps(ext.worker.options_dict(options))))
        assert remote.hand_rotation is value
    layout = _Layout()
    importlib.import_module(PKG + ".addon.panel").POSEMOE_PT_main.draw(SimpleNamespace(layout=layout), bpy.context)
    props = [c[1][1] for c in layout.calls if c[0] == "prop"]
    assert props.index("hand_rotation") == props.index("hands") + 1


# --------------------------------------------------------------------------- drawing

class _Layout:
    """Accepts any UILayout call and returns itself (draw code smoke test)."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return self
        return call

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)


def test_panels_and_preferences_draw(ext):
    _fresh()
    panel = importlib.import_module(PKG + ".addon.panel")
    prefs_mod = importlib.import_module(PKG + ".addon.preferences")
    s = bpy.context.scene.posemoe
    state = bpy.context.window_manager.posemoe_job
    for target, running in (('NEW', False), ('EXISTING', True)):
        s.target = target
        state.running, state.kind, state.progress, state.status = running, "convert", 0.4, "frame 4/10"
        for cls in panel.CLASSES:
            layout = _Layout()
            cls.draw(SimpleNamespace(layout=layout), bpy.context)
        state.running = False
    layout = _Layout()
    panel.POSEMOE_PT_main.draw(SimpleNamespace(layout=layout), bpy.context)
    assert any(c[0] == "operator" and c[1][0] == "posemoe.convert" for c in layout.calls)
    state.running = True
    layout = _Layout()
    panel.POSEMOE_PT_main.draw(SimpleNamespace(layout=layout), bpy.context)
    assert any(c[0] == "progress" and c[2]["factor"] == pytest.approx(0.4) for c in layout.calls)
    state.running = False
    prefs = ext.controller.get_prefs(bpy.context)
    proxy = SimpleNamespace(layout=_Layout(), backend=prefs.backend, python_path=prefs.python_path,
                            wheel_folder=prefs.wheel_folder)
    prefs_mod.PoseMoEPreferences.draw(proxy, bpy.context)
    assert any(c[0] == "operator" and c[1][0] == "posemoe.install_dependencies" for c in proxy.layout.calls)
