"""The ONNX Runtime lifting backend (lifting/onnx_backend.py) and the committed exports
(weights/*.onnx, posemoe_lab/export_onnx.py): the same joints as torch, a lifting stage that
works without torch, and one-line errors for a missing, stale or broken export."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from posemoe_blender.errors import PoseMoEError  # noqa: E402
from posemoe_blender.lifting import stage as lifting  # noqa: E402
from posemoe_blender.lifting.onnx_backend import SOURCE_KEY, onnx_file  # noqa: E402
from posemoe_blender.lifting.registry import NETWORKS  # noqa: E402
from posemoe_blender.lifting.weights import load_model, sha256_file  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: The largest joint difference allowed between the backends, metres (issue #24).
JOINTS_TOL = 1e-4
SHIPPED = [p for net in NETWORKS.values() for p in (net.weights, net.weights_2d)]


def _keypoints(T, seed=0, w=1080, h=1920):
    rng = np.random.default_rng(seed)
    base = np.stack([rng.uniform(0.3 * w, 0.7 * w, 17), rng.uniform(0.2 * h, 0.8 * h, 17)], -1)
    drift = np.cumsum(rng.normal(0, 2.0, size=(T, 17, 2)), axis=0)
    conf = rng.uniform(0.5, 1.0, size=(T, 17, 1))
    world = rng.normal(0, 0.3, size=(T, 17, 3)) + np.cumsum(rng.normal(0, 0.01, size=(T, 17, 3)), axis=0)
    return np.concatenate([base[None] + drift, conf], -1).astype(np.float32), world.astype(np.float32)


@pytest.mark.parametrize("weights", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_committed_export_is_this_weights_file(weights):
    """Every shipped ``.pt`` has its ``.onnx``, exported from these very bytes, recorded (file,
    sha256, bytes) in the ``.json`` sidecar, and it computes what torch computes."""
    import onnx
    import torch
    from posemoe_lab.export_onnx import largest_difference

    target = onnx_file(weights)
    assert target.is_file(), f"{target.name} missing: python -m posemoe_lab.export_onnx"
    meta = {p.key: p.value for p in onnx.load(str(target)).metadata_props}
    assert meta[SOURCE_KEY] == sha256_file(weights)
    record = json.loads(weights.with_suffix(".json").read_text())["onnx"]
    assert (record["file"], record["sha256"], record["bytes"]) == (
        target.name, sha256_file(target), target.stat().st_size)
    model, config = load_model(weights)
    assert json.loads(meta["posemoe.config"]) == config
    torch.manual_seed(0)
    assert largest_difference(target, model, config) < 1e-5


def test_committed_default_export_matches_a_fresh_export():
    """The committed export of the default network equals a fresh export's outputs
    (``python -m posemoe_lab.export_onnx --check`` does it for every file)."""
    from posemoe_lab.export_onnx import check

    assert check(NETWORKS["tcn"].weights) == []


@pytest.mark.parametrize("name", list(NETWORKS))
@pytest.mark.parametrize("fused", [True, False])
def test_onnx_lifting_equals_torch(name, fused):
    """``lift_keypoints`` through either backend: the same joints within 1e-4 m, short and long
    sequences, with and without the mirrored pass."""
    weights = NETWORKS[name].shipped(fused)
    for T, flip in ((5, True), (130, True), (61, False)):
        kp, world = _keypoints(T, seed=T)
        a = lifting.lift_keypoints(kp, 1080, 1920, device="cpu", weights=weights, flip=flip, world3d=world,
                                   backend="torch")
        b = lifting.lift_keypoints(kp, 1080, 1920, device="cpu", weights=weights, flip=flip, world3d=world,
                                   backend="onnx")
        assert a.shape == b.shape == (T, 17, 3) and b.dtype == np.float32
        assert np.abs(a - b).max() < JOINTS_TOL, (name, fused, T, flip)
        assert not np.array_equal(b, np.zeros_like(b))


def test_backend_choice(monkeypatch):
    """``auto``: torch here; ``POSEMOE_LIFT_BACKEND`` picks one; an ``.onnx`` file lifts with ONNX
    Runtime; ``--device cuda`` keeps torch; a wrong name is a one-line error."""
    from posemoe_blender.lifting.backend import CpuDevice, lift_backend
    from posemoe_blender.options import ConvertOptions

    monkeypatch.delenv("POSEMOE_LIFT_BACKEND", raising=False)
    assert lift_backend("cpu") == "torch" and lift_backend("cpu", "x.onnx") == "onnx"
    monkeypatch.setenv("POSEMOE_LIFT_BACKEND", "onnx")
    assert lift_backend("auto") == "onnx" and lift_backend("cuda") == "torch"
    lifter = lifting.resolve_lifter(ConvertOptions(device="auto"))
    assert (lifter.backend, lifter.device, lifter.label) == ("onnx", CpuDevice(), "tcn")
    assert str(lifter.device) == "cpu"
    with pytest.raises(PoseMoEError, match="ONNX file lifts on the CPU only"):
        lift_backend("cuda", "weights/tcn_fused.onnx")
    monkeypatch.setenv("POSEMOE_LIFT_BACKEND", "tensorflow")
    with pytest.raises(PoseMoEError, match="POSEMOE_LIFT_BACKEND=tensorflow: unknown lifting backend"):
        lift_backend("cpu")


def test_onnx_file_errors(tmp_path):
    """A ``.pt`` without its export, an export older than its ``.pt``, a truncated export: one
    line naming the file and what to do."""
    src = NETWORKS["tcn"].weights
    kp, world = _keypoints(30)
    alone = tmp_path / "alone.pt"
    shutil.copy(src, alone)
    with pytest.raises(PoseMoEError, match=r"alone.pt: lifting without torch needs its ONNX export alone.onnx "
                                           r"\(python -m posemoe_lab.export_onnx"):
        lifting.lift_keypoints(kp, 1080, 1920, device="cpu", weights=alone, world3d=world, backend="onnx")

    stale = tmp_path / "stale.pt"
    stale.write_bytes(NETWORKS["tcn"].weights_2d.read_bytes())  # another network's weights
    shutil.copy(onnx_file(src), tmp_path / "stale.onnx")
    with pytest.raises(PoseMoEError, match="stale.onnx: exported from another stale.pt"):
        lifting.lift_keypoints(kp, 1080, 1920, device="cpu", weights=stale, world3d=world, backend="onnx")

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(onnx_file(src).read_bytes()[:4000])
    with pytest.raises(PoseMoEError, match="broken.onnx: corrupted or truncated ONNX file") as info:
        lifting.lift_keypoints(kp, 1080, 1920, device="cpu", weights=broken, world3d=world)
    assert "\n" not in str(info.value)

    only = tmp_path / "only.onnx"  # a build that ships the export alone lifts with it
    shutil.copy(onnx_file(src), only)
    assert lifting.weights_available(tmp_path / "only.pt", "onnx")
    assert not lifting.weights_available(tmp_path / "only.pt", "torch")
    assert lifting.weights_available(tmp_path / "only.pt") and not lifting.weights_available(tmp_path / "none.pt")
    out = lifting.lift_keypoints(kp, 1080, 1920, device="cpu", weights=tmp_path / "only.pt", world3d=world,
                                 backend="onnx")
    ref = lifting.lift_keypoints(kp, 1080, 1920, device="cpu", weights=src, world3d=world, backend="torch")
    assert np.abs(out - ref).max() < JOINTS_TOL


NO_TORCH = r'''
import importlib.abc, json, sys


class NoTorch(importlib.abc.MetaPathFinder):
    """"import torch" raises ModuleNotFoundError, as in the bundled add-on's Python."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoTorch())
import numpy as np
from posemoe_blender.errors import PoseMoEError
from posemoe_blender.lifting import stage
from posemoe_blender.options import ConvertOptions
import posemoe_blender.pipeline       # the whole bpy-free pipeline imports without torch
lifter = stage.resolve_lifter(ConvertOptions())
d = np.load(sys.argv[1])
out = stage.lift_keypoints(d["kp"], 1080, 1920, weights=lifter.weights, flip=True, world3d=d["world"])
np.save(sys.argv[2], out)
try:
    stage.resolve_lifter(ConvertOptions(device="cuda"))
    cuda = ""
except PoseMoEError as exc:
    cuda = str(exc)
print(json.dumps({"backend": lifter.backend, "device": str(lifter.device), "label": lifter.label,
                  "torch": [m for m in sys.modules if m.split(".")[0] == "torch"],
                  "cuda": cuda}))
'''


def test_lifting_stage_works_without_torch(tmp_path):
    """In a process where torch cannot be imported the stage resolves the default lifter to ONNX
    Runtime and lifts the same joints as torch (within 1e-4 m); ``--device cuda`` is a one-line
    error there."""
    kp, world = _keypoints(90, seed=7)
    np.savez(tmp_path / "in.npz", kp=kp, world=world)
    env = {k: v for k, v in os.environ.items() if k != "POSEMOE_LIFT_BACKEND"}
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, str(tmp_path / "in.npz"), str(tmp_path / "out.npy")],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["backend"] == "onnx" and report["device"] == "cpu" and report["label"] == "tcn"
    assert report["torch"] == []
    assert report["cuda"] == "--device cuda needs torch, which cannot be imported here"
    ref = lifting.lift_keypoints(kp, 1080, 1920, device="cpu", weights=NETWORKS["tcn"].weights, flip=True,
                                 world3d=world, backend="torch")
    assert np.abs(np.load(tmp_path / "out.npy") - ref).max() < JOINTS_TOL


def test_convert_runs_without_torch(sample_clip, tmp_path):
    """``python -m posemoe_blender convert`` of the sample clip in a process where torch cannot be
    imported: it lifts with ONNX Runtime, writes the FBX, and its joints and root path are
    within 1e-4 m of a conversion with torch."""
    code = NO_TORCH.split("import numpy")[0] + (
        "from posemoe_blender.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "print(json.dumps({'torch': [m for m in sys.modules if m.split('.')[0] == 'torch']}))\n"
        "sys.exit(rc)\n")
    env = {k: v for k, v in os.environ.items() if k != "POSEMOE_LIFT_BACKEND"}
    out = tmp_path / "onnx"
    proc = subprocess.run([sys.executable, "-c", code, "convert", str(sample_clip), "-o", str(out / "demo.fbx"),
                           "--save-joints", str(out / "demo.npz")], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"torch": []}
    assert "lifter: tcn" in proc.stderr and (out / "demo.fbx").stat().st_size > 0
    env["POSEMOE_LIFT_BACKEND"] = "torch"
    ref = tmp_path / "torch"
    subprocess.run([sys.executable, "-m", "posemoe_blender", "convert", str(sample_clip), "-o", str(ref / "demo.fbx"),
                    "--save-joints", str(ref / "demo.npz")], cwd=REPO, capture_output=True, text=True, env=env,
                   timeout=600, check=True)
    a, b = np.load(ref / "demo.npz"), np.load(out / "demo.npz")
    for name in ("joints3d", "root"):
        assert np.abs(a[name] - b[name]).max() < JOINTS_TOL, name


_DETECTED: dict = {}


def _convert_both_ways(video: Path, monkeypatch, **options):
    """``process_clip`` (convert without Blender) of ``video`` with each backend, detecting once."""
    from posemoe_blender import pipeline
    from posemoe_blender.options import ConvertOptions

    real_detect = pipeline.detect_clip

    def detect_once(path, opts, progress=None, timings=None):
        key = (str(path), tuple(sorted(options.items())))
        if key not in _DETECTED:
            _DETECTED[key] = real_detect(path, opts, progress, {} if timings is None else timings)
        return copy.deepcopy(_DETECTED[key])

    monkeypatch.setattr(pipeline, "detect_clip", detect_once)
    results = {}
    for backend in ("torch", "onnx"):
        monkeypatch.setenv("POSEMOE_LIFT_BACKEND", backend)
        results[backend] = pipeline.process_clip(str(video), ConvertOptions(device="cpu", **options))
    return results["torch"], results["onnx"]


def _assert_same_motion(a, b):
    """The lifted, smoothed joints, the root path and the solved rig's joints (foot lock and leg
    IK included: what ``--save-joints`` writes and what is keyed) within 1e-4 m."""
    assert a.lifter == b.lifter == "tcn"
    for name in ("joints3d", "root"):
        assert np.abs(getattr(a, name) - getattr(b, name)).max() < JOINTS_TOL, name
    assert np.array_equal(a.animation.contacts, b.animation.contacts)
    assert np.abs(a.animation.joints_world - b.animation.joints_world).max() < JOINTS_TOL


def test_sample_clip_converts_the_same_with_onnx(sample_clip, monkeypatch):
    """The sample clip with convert's defaults: joints and root path within 1e-4 m of torch's."""
    _assert_same_motion(*_convert_both_ways(sample_clip, monkeypatch))


@pytest.mark.parametrize("clip", ["single_person_cam01", "single_person_cam02", "single_person_cam03",
                                  "single_person_cam04", "two_people_cam01", "two_people_cam02"])
def test_real_clips_convert_the_same_with_onnx(shared_data, clip, monkeypatch):
    """The real test clips (body only: the hands do not reach the lifter): within 1e-4 m."""
    video = shared_data / "videos" / f"{clip}.mp4"
    if not video.is_file():
        pytest.skip(f"{video} is missing")
    _assert_same_motion(*_convert_both_ways(video, monkeypatch, hands=False))
