"""The add-on as a user meets it: the built zip installed into a Python that has only what
Blender bundles (:mod:`blender_like`: the venv's bpy with SciPy, torch, MediaPipe, OpenCV and
matplotlib unimportable), through Blender's own Install-from-Disk operator.

* the zip installs and enables, the preferences draw and list what is missing, the add-on
  disables and enables twice, and a conversion asked for without the dependencies fails with
  one clear line;
* the dependency installer (Preferences > Install Dependencies) fills the add-on's own
  ``site-packages`` from a local wheel folder (``pip --no-index --find-links``; the folder is
  packed from this venv's installed packages by :mod:`wheelhouse`); a fresh process then finds
  them and converts the sample clip onto Rigify's meta-rig through the panel's operator, on
  its ``bpy.app.timers`` path (background Blender has no window events for the modal path;
  the timer callback is called the way Blender's event loop calls it);
* the "existing Python" path: the preferences point at this venv's Python and the conversion
  runs in that subprocess, while Blender's side needs nothing but numpy; the footage is shown
  behind the new rig, and the add-on's footage operator removes and adds it again.

Time (2 cores): packing the wheels ~15 s the first time (kept in ``.cache/wheelhouse``), the
installation ~40 s (all of torch, MediaPipe with jax, SciPy and OpenCV: the installer installs
everything the pipeline imports, and pip installs their dependencies, so nothing smaller
would test what a user gets), each conversion ~20 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("bpy")

import blender_like  # noqa: E402  (tests/blender_like.py)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "demo.mp4"
TESTS = Path(__file__).resolve().parent
REQUIREMENTS = ("torch", "mediapipe==0.10.21", "scipy", "opencv-contrib-python", "numpy<2")


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory):
    if not SAMPLE.is_file():
        pytest.skip("samples/demo.mp4 is missing")
    return blender_like.build_zip(tmp_path_factory.mktemp("dist"))


def test_registration_imports_no_heavy_module(tmp_path):
    """The import rule, in this venv (where the packages exist, so a stray import would
    succeed silently): registering the add-on, drawing its UI and loading the rig layer the
    main thread uses to apply a result import none of SciPy, torch, MediaPipe or OpenCV."""
    res = blender_like.run(f'''
        import sys
        import bpy, posemoe_blender
        posemoe_blender.register()
        from posemoe_blender.addon import controller, deps, operators, panel, preferences, properties, remote, worker
        import posemoe_blender.options, posemoe_blender.retargeting.presets
        registration = sorted(m for m in sys.modules if m.split(".")[0] in {list(blender_like.REFUSED)!r})
        import posemoe_blender.retargeting.rig, posemoe_blender.output.blend, posemoe_blender.retargeting.solve
        applying = sorted(m for m in sys.modules if m.split(".")[0] in {list(blender_like.REFUSED)!r})
        posemoe_blender.unregister()
        report(registration=registration, applying=applying)
    ''', tmp_path / "user", tmp_path / "work", python=sys.executable, refuse=False,
        env={"PYTHONPATH": str(REPO)})
    data = res.check()
    assert data == {"registration": [], "applying": []}


def test_install_enable_report_disable_enable(zip_path, tmp_path):
    res = blender_like.run('''
        import importlib, importlib.util, sys
        import bpy
        import addon_utils
        from types import SimpleNamespace

        def found(name):
            try:
                return importlib.util.find_spec(name) is not None
            except ImportError:
                return False

        before = {n: found(n) for n in ("numpy", "scipy", "torch", "mediapipe", "cv2", "matplotlib", "posemoe_blender")}
        result = install_extension(sys.argv[1])
        ADDON = "bl_ext.user_default.posemoe_blender"
        PKG = ADDON + ".posemoe_blender"
        enabled = ADDON in bpy.context.preferences.addons

        class Layout:
            def __init__(self): self.calls = []
            def __getattr__(self, name):
                def call(*args, **kwargs):
                    self.calls.append((name, args, kwargs)); return self
                return call
        def labels(layout):
            return [c[2].get("text", "") for c in layout.calls if c[0] == "label"]

        prefs_mod = importlib.import_module(PKG + ".addon.preferences")
        panel = importlib.import_module(PKG + ".addon.panel")
        controller = importlib.import_module(PKG + ".addon.controller")
        prefs = controller.get_prefs(bpy.context)
        proxy = SimpleNamespace(layout=Layout(), backend=prefs.backend, python_path=prefs.python_path,
                                wheel_folder=prefs.wheel_folder)
        prefs_mod.PoseMoEPreferences.draw(proxy, bpy.context)
        prefs_labels = labels(proxy.layout)
        layouts = []
        for cls in panel.CLASSES:
            layouts.append(Layout())
            cls.draw(SimpleNamespace(layout=layouts[-1]), bpy.context)
        panel_labels = labels(layouts[0])
        assert bpy.ops.posemoe.check_dependencies() == {'FINISHED'}
        deps_missing = bpy.context.window_manager.posemoe_job.deps_missing

        cycles = []
        for _ in range(2):
            addon_utils.disable(ADDON, default_set=True)
            off = (hasattr(bpy.types.Scene, "posemoe"), hasattr(bpy.types, "POSEMOE_PT_main"))
            addon_utils.enable(ADDON, default_set=True)
            on = (hasattr(bpy.types.Scene, "posemoe"), hasattr(bpy.types, "POSEMOE_PT_main"),
                  bpy.ops.posemoe.convert.poll())
            cycles.append([off, on])

        # converting without the dependencies: one clear line, nothing changed
        s = bpy.context.scene.posemoe
        s.video = sys.argv[2]
        objects = len(bpy.data.objects)
        try:
            bpy.ops.posemoe.convert()
            error = None
        except RuntimeError as exc:
            error = str(exc).strip().splitlines()
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("scipy", "torch", "mediapipe", "cv2", "matplotlib"))
        report(before=before, result=result, enabled=enabled, prefs_labels=prefs_labels,
               panel_labels=panel_labels, deps_missing=deps_missing, cycles=cycles, error=error,
               objects_changed=len(bpy.data.objects) - objects, heavy=heavy,
               site=controller.site_packages_dir())
    ''', tmp_path / "user", tmp_path / "work", args=[zip_path, SAMPLE])
    data = res.check()
    assert data["before"] == {"numpy": True, "scipy": False, "torch": False, "mediapipe": False,
                              "cv2": False, "matplotlib": False, "posemoe_blender": False}
    assert data["result"] == ["FINISHED"] and data["enabled"]
    assert "Missing: torch, mediapipe, scipy, cv2" in data["prefs_labels"]
    assert any(t.startswith("Installed into: ") and t.endswith("site-packages") for t in data["prefs_labels"])
    assert "Blender's Python lacks torch, mediapipe, scipy, cv2" in data["panel_labels"]
    assert data["deps_missing"] == "torch, mediapipe, scipy, cv2"
    assert data["cycles"] == [[[False, False], [True, True, True]]] * 2
    assert data["error"] and data["error"][-1].startswith("Error: Blender's Python lacks torch, mediapipe, scipy, cv2")
    assert len(data["error"]) == 1 and data["objects_changed"] == 0
    assert data["heavy"] == []
    assert data["site"].startswith(str(tmp_path / "user"))


@pytest.fixture(scope="module")
def installed(zip_path, tmp_path_factory):
    """A user folder where the add-on was installed and its dependency installer filled the
    add-on's site-packages from a local wheel folder (the preferences are saved, as Blender
    saves them on quit)."""
    import wheelhouse
    wheels = wheelhouse.fill(wheelhouse.CACHE, REQUIREMENTS)
    user = tmp_path_factory.mktemp("user_installed")
    res = blender_like.run('''
        import importlib, os, sys, time
        import bpy
        install_extension(sys.argv[1])
        controller = importlib.import_module("bl_ext.user_default.posemoe_blender.posemoe_blender.addon.controller")
        deps = importlib.import_module("bl_ext.user_default.posemoe_blender.posemoe_blender.addon.deps")
        prefs = controller.get_prefs(bpy.context)
        missing_before = deps.missing_modules()
        prefs.wheel_folder = sys.argv[2]
        t0 = time.perf_counter()
        result = sorted(bpy.ops.posemoe.install_dependencies())
        seconds = time.perf_counter() - t0
        state = bpy.context.window_manager.posemoe_job
        site = controller.site_packages_dir()
        bpy.ops.wm.save_userpref()
        report(result=result, seconds=seconds, status=state.deps_status, missing_before=missing_before,
               missing_after=deps.missing_modules(refresh=True), site=site,
               listing=sorted(os.listdir(site)), online=bpy.app.online_access)
    ''', user, tmp_path_factory.mktemp("work"), args=[zip_path, wheels[0].parent], timeout=900)
    data = res.check()
    print(f"dependency installation: {data['seconds']:.1f} s")
    return user, data


def test_dependency_installer_from_a_wheel_folder(installed, tmp_path):
    user, data = installed
    assert data["online"] is False  # the wheel folder needs no online access
    assert data["missing_before"] == ["torch", "mediapipe", "scipy", "cv2"]
    assert data["result"] == ["FINISHED"], data["status"]
    assert data["missing_after"] == [] and data["status"].startswith("installed")
    site = Path(data["site"])
    assert site == user / "extensions" / ".user" / "user_default" / "posemoe_blender" / "site-packages"
    assert {"torch", "mediapipe", "scipy", "cv2"} <= set(data["listing"])


def test_fresh_process_converts_through_the_panel_operator(installed, tmp_path):
    """A new session of the same user: the add-on (enabled from the saved preferences, as
    Blender does at start-up) puts its site-packages on sys.path, finds the dependencies and converts the
    sample's first 30 frames onto Rigify's meta-rig through ``posemoe.convert`` on its timer
    path; the rig is then checked against the solved joints."""
    user, _ = installed
    res = blender_like.run('''
        import importlib, importlib.util, sys, time
        import bpy
        import addon_utils
        import rigs  # tests/ is on PYTHONPATH
        PKG = "bl_ext.user_default.posemoe_blender.posemoe_blender"
        # Blender reads the saved preferences at start-up (the bpy module starts from factory
        # settings, so it is done here): the add-on is enabled from them
        bpy.ops.wm.read_userpref()
        enabled = "bl_ext.user_default.posemoe_blender" in bpy.context.preferences.addons
        deps = importlib.import_module(PKG + ".addon.deps")
        operators = importlib.import_module(PKG + ".addon.operators")
        controller = importlib.import_module(PKG + ".addon.controller")
        missing = deps.missing_modules()
        site = controller.site_packages_dir()
        heavy_at_start = sorted(m for m in sys.modules if m.split(".")[0] in ("scipy", "torch", "mediapipe", "cv2"))

        meta = rigs.rigify_metarig()
        s = bpy.context.scene.posemoe
        s.video = sys.argv[1]
        s.use_range, s.clip_start, s.clip_end = True, 0, 30
        s.target, s.armature, s.preset = 'EXISTING', meta, 'RIGIFY_METARIG'
        t0 = time.perf_counter()
        started = sorted(bpy.ops.posemoe.convert(wait=False))
        poller = operators.POLLERS[-1]
        registered = bpy.app.timers.is_registered(poller)
        ticks, progress = 0, []
        interval = poller.interval
        while interval is not None:  # Blender's event loop: call the timer when it is due
            time.sleep(interval)
            interval = poller()
            ticks += 1
            progress.append(bpy.context.window_manager.posemoe_job.progress)
            assert time.perf_counter() - t0 < 300
        seconds = time.perf_counter() - t0
        state = bpy.context.window_manager.posemoe_job
        action = meta.animation_data.action
        anim = poller.ctrl.job.result.animation
        check = rigs.check_posed_rig(meta, poller.ctrl.request.mapping, anim, poller.ctrl.result["scale"])
        import torch, scipy, mediapipe, cv2
        report(enabled=enabled, missing=missing, heavy_at_start=heavy_at_start, started=started,
               registered=registered, result=poller.result, ticks=ticks, max_progress=max(progress),
               message=state.last_message, running=state.running, action=action.name if action else None,
               frame_range=list(action.frame_range) if action else None, check=check, seconds=seconds,
               pollers=len(operators.POLLERS),
               origins={m.__name__: m.__file__.startswith(site) for m in (torch, scipy, mediapipe, cv2)})
    ''', user, tmp_path / "work", args=[SAMPLE, TESTS], env={"PYTHONPATH": str(TESTS)}, timeout=600)
    data = res.check()
    print(f"conversion through the operator's timer: {data['seconds']:.1f} s, {data['ticks']} ticks")
    assert data["enabled"] and data["missing"] == [] and data["heavy_at_start"] == []
    assert data["started"] == ["FINISHED"] and data["registered"]
    assert data["result"] == "FINISHED", data["message"]
    assert data["ticks"] > 2 and 0 < data["max_progress"] <= 1 and not data["running"] and data["pollers"] == 0
    assert data["action"] == "demo" and data["frame_range"] == [1.0, 30.0]
    assert "demo on metarig: 30 frames" in data["message"]
    assert all(data["origins"].values()), data["origins"]  # from the add-on's site-packages
    check = data["check"]
    assert max(check["chain_cm"].values()) < 1.0 and check["facing_deg"] < 2.0, check
    assert -1.0 < check["floor_cm"][0] and check["floor_cm"][1] < 1.0, check


def test_existing_python_converts_through_the_subprocess_worker(zip_path, tmp_path):
    """No dependencies in Blender's Python: the preferences point at this venv's Python and the
    conversion runs there (``python -m posemoe_blender.addon.worker`` from the installed
    extension); Blender's side applies the result with numpy only."""
    res = blender_like.run('''
        import importlib, sys, time
        import bpy
        install_extension(sys.argv[1])
        PKG = "bl_ext.user_default.posemoe_blender.posemoe_blender"
        controller = importlib.import_module(PKG + ".addon.controller")
        operators = importlib.import_module(PKG + ".addon.operators")
        prefs = controller.get_prefs(bpy.context)
        prefs.python_path = sys.argv[3]
        checked = sorted(bpy.ops.posemoe.check_python())
        info = bpy.context.window_manager.posemoe_job.device_info
        s = bpy.context.scene.posemoe
        s.video = sys.argv[2]
        s.use_range, s.clip_start, s.clip_end = True, 4, 34
        t0 = time.perf_counter()
        bpy.ops.posemoe.convert(wait=False)
        poller = operators.POLLERS[-1]
        interval = poller.interval
        while interval is not None:
            time.sleep(interval)
            interval = poller()
        job = poller.ctrl.job
        obj = bpy.data.objects.get("PoseMoE_demo")
        scene = bpy.context.scene
        # the footage behind the rig (video frame 4 at the first key), then the add-on's
        # footage operator: remove it, and add it again from the Action's record
        def clip_start():
            cam = scene.camera
            assert cam.name.startswith("PoseMoE_Footage_"), cam.name
            return cam.data.background_images[0].clip.frame_start
        footage = [clip_start()]
        bpy.context.view_layer.objects.active = obj
        footage.append(sorted(bpy.ops.posemoe.footage(action='REMOVE')))
        footage.append([scene.camera.name if scene.camera else None, len(bpy.data.movieclips),
                        scene.render.resolution_x, scene.render.resolution_y])
        footage.append(sorted(bpy.ops.posemoe.footage(action='ADD')))
        footage.append([clip_start(), scene.camera.name, scene.render.resolution_x, scene.render.resolution_y])
        report(checked=checked, info=info, backend=poller.ctrl.backend, job=type(job).__name__,
               result=poller.result, message=bpy.context.window_manager.posemoe_job.last_message,
               action=obj.animation_data.action.name if obj else None, seconds=time.perf_counter() - t0,
               frames=job.result.animation.num_frames if job.result else 0, footage=footage,
               heavy=sorted(m for m in sys.modules if m.split(".")[0] in ("scipy", "torch", "mediapipe", "cv2", "matplotlib")))
    ''', tmp_path / "user", tmp_path / "work", args=[zip_path, SAMPLE, sys.executable], timeout=600)
    data = res.check()
    print(f"conversion in the external Python: {data['seconds']:.1f} s")
    assert data["checked"] == ["FINISHED"] and "all packages found" in data["info"]
    assert data["backend"] == "remote" and data["job"] == "RemoteJob"
    assert data["result"] == "FINISHED", data["message"]
    assert data["action"] == "demo" and data["frames"] == 30
    # removed: the startup file's own camera and resolution come back
    assert data["footage"] == [1 - 4, ["FINISHED"], ["Camera", 0, 1920, 1080], ["FINISHED"],
                               [1 - 4, "PoseMoE_Footage_PoseMoE_demo", 480, 640]]
    assert data["heavy"] == []


# --- the platform zip with its own wheels (posemoe_lab/extension.py) -------------------------

PLATFORM = "linux-x64"
DROPPED_AND_ABSENT = ("torch", "jax", "jaxlib", "sounddevice", "sentencepiece")


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """A user folder where the linux-x64 zip was installed through Install from Disk: Blender
    installs the bundled wheels itself (no button, no network, no external Python); the
    preferences are saved, as Blender saves them on quit."""
    if not SAMPLE.is_file():
        pytest.skip("samples/demo.mp4 is missing")
    zip_path = blender_like.build_zip(tmp_path_factory.mktemp("dist_platform"), PLATFORM)
    user = tmp_path_factory.mktemp("user_bundled")
    res = blender_like.run('''
        import importlib, os, sys, time
        from types import SimpleNamespace
        import bpy
        t0 = time.perf_counter()
        result = install_extension(sys.argv[1])
        seconds = time.perf_counter() - t0
        PKG = "bl_ext.user_default.posemoe_blender.posemoe_blender"
        deps = importlib.import_module(PKG + ".addon.deps")
        controller = importlib.import_module(PKG + ".addon.controller")
        prefs_mod = importlib.import_module(PKG + ".addon.preferences")
        panel = importlib.import_module(PKG + ".addon.panel")

        class Layout:
            def __init__(self): self.calls = []
            def __getattr__(self, name):
                def call(*args, **kwargs):
                    self.calls.append((name, args, kwargs)); return self
                return call
        def labels(layout):
            return [c[2].get("text", "") for c in layout.calls if c[0] == "label"]
        prefs = controller.get_prefs(bpy.context)
        proxy = SimpleNamespace(layout=Layout(), backend=prefs.backend, python_path=prefs.python_path,
                                wheel_folder=prefs.wheel_folder)
        prefs_mod.PoseMoEPreferences.draw(proxy, bpy.context)
        layout = Layout()
        panel.POSEMOE_PT_main.draw(SimpleNamespace(layout=layout), bpy.context)
        backend = controller.choose_backend(prefs)
        assert bpy.ops.posemoe.detect_device() == {'FINISHED'}
        device = bpy.context.window_manager.posemoe_job.device_info
        origins = {n: deps.module_origin(n, controller.site_packages_dir())
                   for n in ("numpy", "scipy", "mediapipe", "cv2", "onnxruntime", "matplotlib")}
        bpy.ops.wm.save_userpref()
        report(result=result, seconds=seconds, missing=deps.missing_modules(), runtime=deps.lifting_runtime(),
               prefs_labels=labels(proxy.layout), panel_labels=labels(layout), backend=list(backend),
               device=device, origins=origins, online=bpy.app.online_access,
               absent=[n for n in sys.argv[2:] if deps.missing_modules([n]) != [n]])
    ''', user, tmp_path_factory.mktemp("work"), args=[zip_path, *DROPPED_AND_ABSENT], timeout=900)
    data = res.check()
    print(f"{zip_path.name}: {zip_path.stat().st_size / 1e6:.1f} MB, installed in {data['seconds']:.1f} s")
    return user, zip_path, data


def test_platform_zip_installs_and_is_complete(bundled):
    """Installed means working: after Install from Disk, nothing is missing, the conversion runs
    in Blender's Python with ONNX Runtime on the CPU, from the wheels Blender installed; the
    preferences and Detect GPU say so."""
    _, _, data = bundled
    assert data["online"] is False  # no network was used or allowed
    assert data["result"] == ["FINISHED"]
    assert data["missing"] == [] and data["runtime"] == "onnxruntime"
    assert data["backend"] == ["thread", None]
    assert data["absent"] == []  # neither torch nor MediaPipe's dropped requirements
    origins = dict(data["origins"])
    assert origins.pop("numpy") == "Blender's Python"  # Blender's own numpy, loaded first, stays
    assert set(origins.values()) == {"bundled with the extension"}, origins
    assert "In use: Blender's Python, ONNX Runtime, CPU, bundled with the extension" in data["prefs_labels"]
    assert not any("lacks" in t for t in data["panel_labels"]), data["panel_labels"]
    assert data["device"].startswith("ONNX Runtime 1.32.0: CPU"), data["device"]


def test_bundled_wheels_detect_pose_and_hands_like_the_venv(bundled, tmp_path):
    """MediaPipe's pose and hands solutions run on the bundled wheels alone (jax, sounddevice,
    sentencepiece and torch unimportable), in a fresh session of the same user, and give the
    venv's 2D keypoints and hands on the sample's first 30 frames."""
    user, _, _ = bundled
    script = '''
        import importlib, sys, time
        import numpy as np
        if sys.argv[1] == "bundled":
            import bpy
            bpy.ops.wm.read_userpref()  # Blender's start-up: the add-on and its wheels
            PKG = "bl_ext.user_default.posemoe_blender.posemoe_blender"
        else:
            PKG = "posemoe_blender"
        clip = importlib.import_module(PKG + ".detection.clip")
        options = importlib.import_module(PKG + ".options")
        t0 = time.perf_counter()
        det = clip.detect_clip(sys.argv[2], options.ConvertOptions(start=0, end=30, hands=True)).detections
        seconds = time.perf_counter() - t0
        import mediapipe, cv2
        report(seconds=seconds, keypoints=np.asarray(det.keypoints2d).tolist(),
               hands=np.nan_to_num(np.asarray(det.hands2d), nan=-1.0).tolist(),
               files=[mediapipe.__file__, cv2.__file__],
               loaded=sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[3:])))
    '''
    got = blender_like.run(script, user, tmp_path / "work", args=["bundled", SAMPLE, *DROPPED_AND_ABSENT],
                           timeout=600).check()
    ref = blender_like.run(script, tmp_path / "user_venv", tmp_path / "work_venv", refuse=False,
                           args=["venv", SAMPLE, *DROPPED_AND_ABSENT], env={"PYTHONPATH": str(REPO)},
                           timeout=600).check()
    print(f"detection of 30 frames with hands: bundled {got['seconds']:.1f} s, venv {ref['seconds']:.1f} s")
    import numpy as np
    assert all("/extensions/.local/" in f for f in got["files"]), got["files"]
    assert got["loaded"] == []
    kp, kp_ref = np.array(got["keypoints"]), np.array(ref["keypoints"])
    assert kp.shape == (30, 17, 3) and (kp[..., 2] > 0.5).mean() > 0.9
    assert np.abs(kp - kp_ref).max() < 1e-3
    hands, hands_ref = np.array(got["hands"]), np.array(ref["hands"])
    assert (hands >= 0).any()  # some hands were found
    assert np.abs(hands - hands_ref).max() < 1e-3


def test_bundled_extension_converts_like_the_venv(bundled, tmp_path):
    """The sample converted through the panel's operator in the installed platform zip (its own
    code and wheels, ONNX Runtime lifting, nothing else) gives the venv's joints within 1e-4 m.
    Needs the ONNX exports of the shipped networks (weights/*.onnx)."""
    if not list((REPO / "weights").glob("*.onnx")):
        pytest.skip("weights/*.onnx absent: lifting without torch needs the ONNX exports")
    user, _, _ = bundled
    res = blender_like.run('''
        import importlib, sys, time
        import numpy as np
        import bpy
        bpy.ops.wm.read_userpref()
        PKG = "bl_ext.user_default.posemoe_blender.posemoe_blender"
        operators = importlib.import_module(PKG + ".addon.operators")
        s = bpy.context.scene.posemoe
        s.video = sys.argv[1]
        t0 = time.perf_counter()
        started = sorted(bpy.ops.posemoe.convert(wait=False))
        poller = operators.POLLERS[-1]
        interval = poller.interval
        while interval is not None:
            time.sleep(interval)
            interval = poller()
        seconds = time.perf_counter() - t0
        anim = poller.ctrl.job.result.animation
        np.savez(sys.argv[2], joints_world=anim.joints_world, root_location=anim.root_location)
        report(started=started, result=poller.result, seconds=seconds,
               message=bpy.context.window_manager.posemoe_job.last_message,
               torch="torch" in sys.modules)
    ''', user, tmp_path / "work", args=[SAMPLE, tmp_path / "bundled.npz"], timeout=900)
    data = res.check()
    ref = blender_like.run('''
        import sys, time
        import numpy as np
        from posemoe_blender.options import ConvertOptions
        from posemoe_blender.pipeline import process_clip
        t0 = time.perf_counter()
        result = process_clip(sys.argv[1], ConvertOptions())
        seconds = time.perf_counter() - t0
        anim = result.animation
        np.savez(sys.argv[2], joints_world=anim.joints_world, root_location=anim.root_location)
        report(seconds=seconds)
    ''', tmp_path / "user_venv", tmp_path / "work_venv", refuse=False, args=[SAMPLE, tmp_path / "venv.npz"],
        env={"PYTHONPATH": str(REPO)}, timeout=900).check()
    print(f"first conversion in the installed extension: {data['seconds']:.1f} s; venv: {ref['seconds']:.1f} s")
    assert data["started"] == ["FINISHED"] and data["result"] == "FINISHED", data["message"]
    assert data["torch"] is False
    import numpy as np
    got, want = np.load(tmp_path / "bundled.npz"), np.load(tmp_path / "venv.npz")
    for key in ("joints_world", "root_location"):
        assert got[key].shape == want[key].shape
        assert np.abs(got[key] - want[key]).max() < 1e-4, key
