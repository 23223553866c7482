"""The command line: one-line errors, non-zero exits, nothing written on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posemoe_blender.cli import main
from posemoe_blender.errors import PoseMoEError

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "posemoe_blender", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or REPO, timeout=300)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    for frag in fragments:
        assert frag in lines[0], lines[0]


@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "text", "image"])
def test_convert_rejects_non_videos(tmp_path, kind):
    path = tmp_path / f"in put é.{'png' if kind == 'image' else 'mp4'}"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("hello, this is not a video\n")
    elif kind == "image":
        import cv2
        cv2.imwrite(str(path), np.zeros((32, 32, 3), np.uint8))
    out = tmp_path / "out.fbx"
    proc = run_cli("convert", path, "-o", out)
    assert_one_line_error(proc, path.name)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ([path.name] if kind != "missing" else [])


def test_convert_refuses_existing_output_without_overwrite(tmp_path, capsys):
    out = tmp_path / "clip.fbx"
    out.write_bytes(b"keep me")
    assert main(["convert", str(tmp_path / "whatever.mp4"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"keep me"


def test_convert_rejects_unwritable_output_folder(tmp_path, capsys):
    if os.geteuid() == 0:
        target = "/proc/posemoe/out.fbx"  # root can write anywhere else
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "out.fbx")
    assert main(["convert", str(tmp_path / "x.mp4"), "-o", target]) == 2
    assert "error:" in capsys.readouterr().err


def test_convert_needs_an_output(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "x.mp4")]) == 2
    assert "nothing to write" in capsys.readouterr().err


def test_bad_flags_are_one_line_errors():
    proc = run_cli("convert", "x.mp4", "-o", "x.fbx", "--start", "-3")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error:" in proc.stderr and "--start" in proc.stderr


def test_lift_rejects_bad_npz(tmp_path, capsys):
    bad = tmp_path / "kp.npz"
    np.savez(bad, keypoints2d=np.zeros((5, 12, 3)), fps=30.0, width=640, height=480)
    assert main(["lift", str(bad), "-o", str(tmp_path / "j.npz")]) == 2
    err = capsys.readouterr().err
    assert "keypoints2d has shape" in err
    assert not (tmp_path / "j.npz").exists()


def test_batch_with_no_matching_clips(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "*.mp4"), "-o", str(tmp_path / "out")]) == 2
    assert "no video files match" in capsys.readouterr().err


def test_outputs_get_normal_file_permissions(tmp_path):
    """Staged outputs are renamed into place with the umask's mode, not mkstemp's 0600."""
    from posemoe_blender.joints import save_npz
    out = tmp_path / "j.npz"
    old = os.umask(0o022)
    try:
        save_npz(out, joints3d=np.zeros((1, 17, 3), np.float32))
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == 0o644


def test_bpy_import_never_overlaps_library_loading_on_the_worker(tmp_path):
    """convert imports bpy on the main thread while the worker detects; loading a shared library
    on the worker during that import deadlocks (bpy's USD initialisers retake the GIL under the
    loader lock). The contract: the lifter's weights are loaded before the worker starts, the
    import starts only after the worker's first detected frame, and lifting waits for its end."""
    script = r'''
import sys, time, threading
import posemoe_blender.convert as cv
from posemoe_blender.lifting import stage as lifting
from posemoe_blender.errors import PoseMoEError
log = []
def fake_process_clip(video, options, progress, lift_gate=None):
    log.append(("weights loaded", bool(lifting.MODELS)))
    time.sleep(0.3)
    log.append(("bpy before first frame", "bpy" in sys.modules))
    progress(1, 10)
    assert lift_gate is not None and lift_gate.wait(60)
    log.append(("bpy before lifting", "bpy" in sys.modules))
    raise PoseMoEError(repr(log))
cv.process_clip = fake_process_clip
try:
    cv.convert_clip("clip.mp4", cv.Outputs(fbx=sys.argv[1]), cv.ConvertOptions())
except PoseMoEError as e:
    print(e)
'''
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "o.fbx")], capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    out = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    assert out == ("[('weights loaded', True), ('bpy before first frame', False), "
                   "('bpy before lifting', True)]"), out


# --------------------------------------------------------------------------- lifter choice

TINY_NETS = {
    "tcn": {"model": "tcn", "frames": 27, "channels": 16},
    "posemoe": {"model": "posemoe", "frames": 27, "dim": 16, "depth": 1, "heads": 2, "experts": 4,
                "top_k": 2, "expert_hidden": 16, "prior_hidden": 32},
    "entangled": {"model": "entangled", "frames": 27, "dim": 16, "depth": 1, "heads": 2, "mlp_hidden": 32},
}


@pytest.fixture(scope="module")
def tiny_nets(tmp_path_factory):
    """A tiny (random) weights file per network lifter: {"posemoe": path, "entangled": path}."""
    import torch
    from posemoe_blender.lifting.registry import build_model
    from posemoe_blender.lifting.weights import save_weights
    folder = tmp_path_factory.mktemp("nets")
    out = {}
    for name, cfg in TINY_NETS.items():
        torch.manual_seed(1)
        model = build_model(cfg)
        with torch.no_grad():  # non-trivial outputs, different per network
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        out[name] = folder / f"{name}.pt"
        save_weights(out[name], model, cfg)
    return out


@pytest.fixture
def shipped(monkeypatch, tmp_path, tiny_nets):
    """The registry's shipped weights pointed at the tiny files (never at weights/, which may
    lack entangled.pt); ``shipped(posemoe=None)`` makes that lifter's shipped file missing."""
    from dataclasses import replace
    from posemoe_blender.lifting import registry

    def point(**missing):
        table = {name: (tmp_path / f"missing_{name}.pt" if name in missing else path)
                 for name, path in tiny_nets.items()}
        for name, path in table.items():
            monkeypatch.setitem(registry.NETWORKS, name, replace(registry.NETWORKS[name], weights=path,
                                                                 weights_2d=path))
        return table
    return point


def _resolved(options):
    """``(weights file or None, label)`` of the lifter that ``options`` resolve to (loaded)."""
    from posemoe_blender.lifting.stage import resolve_lifter
    lifter = resolve_lifter(options)
    return lifter.weights, lifter.label


def test_lifter_choices_agree_everywhere():
    from posemoe_blender import cli, options
    from posemoe_blender import pipeline
    assert options.LIFTERS == pipeline.LIFTERS == ("tcn", "posemoe", "entangled", "mediapipe")
    assert set(options.NETWORK_LIFTERS) == set(pipeline.NETWORK_NAMES) == {"tcn", "posemoe", "entangled"}
    from posemoe_lab.__main__ import build_parser as lab_parser
    for command in ("convert x.mp4 -o x.fbx", "batch clips -o out", "bench x.mp4", "lift kp.npz -o j.npz"):
        parser = lab_parser() if command.startswith("bench") else cli.build_parser()
        args = parser.parse_args(command.split())
        assert args.lifter == "tcn" and args.weights is None, command
        args = parser.parse_args(command.split() + ["--lifter", "entangled", "--weights", "w.pt"])
        assert (args.lifter, args.weights) == ("entangled", "w.pt"), command
        if command.split()[0] in ("convert", "batch"):
            options = cli._options(args)
            assert (options.lifter, options.weights) == ("entangled", "w.pt")


def test_unknown_lifter_is_a_one_line_error(capsys):
    from posemoe_blender.pipeline import ConvertOptions
    from posemoe_blender.lifting.stage import prepare_lifter
    from posemoe_blender.errors import PoseMoEError
    with pytest.raises(PoseMoEError) as exc:
        prepare_lifter(ConvertOptions(lifter="transformer", device="cpu"))
    assert str(exc.value) == "unknown lifter 'transformer' (choose tcn, posemoe, entangled or mediapipe)"
    from posemoe_lab.__main__ import main as lab_main
    for command in (["convert", "x.mp4", "-o", "x.fbx"], ["bench", "x.mp4"], ["lift", "kp.npz", "-o", "j.npz"]):
        with pytest.raises(SystemExit) as stop:
            (lab_main if command[0] == "bench" else main)(command + ["--lifter", "transformer"])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        lines = [l for l in err.splitlines() if l.startswith("error:")]
        assert len(lines) == 1 and "--lifter" in lines[0] and "'posemoe', 'entangled'" in lines[0], err
        assert "Traceback" not in err
    # lift takes only the networks
    with pytest.raises(SystemExit):
        main(["lift", "kp.npz", "-o", "j.npz", "--lifter", "mediapipe"])
    assert "invalid choice: 'mediapipe'" in capsys.readouterr().err


def test_each_lifter_selects_its_weights(shipped, tiny_nets, tmp_path):
    from posemoe_blender.pipeline import ConvertOptions
    from posemoe_blender.lifting.registry import NETWORKS
    from posemoe_blender.lifting.stage import lifter_weights, prepare_lifter, resolve_lifter
    table = shipped()
    assert lifter_weights(ConvertOptions()) == table["tcn"]  # the default: the cross-source leader
    assert lifter_weights(ConvertOptions(lifter="entangled")) == table["entangled"]
    assert lifter_weights(ConvertOptions(lifter="mediapipe", weights=str(tiny_nets["posemoe"]))) is None
    for lifter in ("tcn", "posemoe", "entangled"):  # an explicit --weights wins for any network
        assert lifter_weights(ConvertOptions(lifter=lifter, weights="mine.pt")) == Path("mine.pt")
    # the label names the network actually loaded (its file's config), not the flag
    assert _resolved(ConvertOptions(lifter="entangled", device="cpu")) == (table["entangled"], "entangled")
    assert _resolved(ConvertOptions(device="cpu")) == (table["tcn"], "tcn")
    assert _resolved(ConvertOptions(lifter="posemoe", device="cpu")) == (table["posemoe"], "posemoe")
    assert _resolved(ConvertOptions(lifter="posemoe", device="cpu", weights=str(tiny_nets["entangled"])))[1] == "entangled"
    assert _resolved(ConvertOptions(lifter="mediapipe", device="cpu")) == (None, "mediapipe-world")
    assert prepare_lifter(ConvertOptions(lifter="entangled", device="cpu"))[1] is True
    # the network entry is the one the file's config names
    assert resolve_lifter(ConvertOptions(lifter="posemoe", device="cpu",
                                         weights=str(tiny_nets["entangled"]))).network is NETWORKS["entangled"]
    assert resolve_lifter(ConvertOptions(lifter="tcn", device="cpu")).network is NETWORKS["tcn"]
    assert resolve_lifter(ConvertOptions(lifter="mediapipe", device="cpu")).network is None


def test_missing_network_weights_fall_back_to_mediapipe(shipped):
    """As for PoseMoE before: no weights file -> MediaPipe's world landmarks, and the label says why."""
    from posemoe_blender.pipeline import ConvertOptions
    from posemoe_blender.lifting.stage import prepare_lifter
    shipped(tcn=None, posemoe=None, entangled=None)
    assert _resolved(ConvertOptions(device="cpu")) == (
        None, "mediapipe-world (no trained temporal convolution network weights found)")
    assert _resolved(ConvertOptions(lifter="posemoe", device="cpu")) == (
        None, "mediapipe-world (no trained PoseMoE weights found)")
    assert _resolved(ConvertOptions(lifter="entangled", device="cpu")) == (
        None, "mediapipe-world (no trained entangled transformer weights found)")
    assert prepare_lifter(ConvertOptions(lifter="entangled", device="cpu"))[1] is False


def test_explicit_weights_that_do_not_exist_are_an_error(tmp_path, capsys):
    """A mistyped --weights must not silently fall back to MediaPipe's landmarks."""
    from posemoe_blender.pipeline import ConvertOptions
    from posemoe_blender.lifting.stage import prepare_lifter
    with pytest.raises(PoseMoEError, match="typo.pt: no such weights file"):
        prepare_lifter(ConvertOptions(device="cpu", weights=str(tmp_path / "typo.pt")))
    video = tmp_path / "never_opened.mp4"
    assert main(["convert", str(video), "--save-joints", str(tmp_path / "j.npz"),
                 "--weights", str(tmp_path / "typo.pt")]) != 0
    err = capsys.readouterr().err
    assert "typo.pt: no such weights file" in err and "Traceback" not in err
    assert not (tmp_path / "j.npz").exists()


def test_bad_entangled_weights_fail_before_detection(shipped, tmp_path, capsys):
    shipped()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not torch")
    video = tmp_path / "never_opened.mp4"  # the weights are checked first: no video needed
    assert main(["convert", str(video), "--save-joints", str(tmp_path / "j.npz"),
                 "--lifter", "entangled", "--weights", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "broken.pt: corrupted or truncated weights file" in err
    assert not (tmp_path / "j.npz").exists()


def _keypoints_npz(path, T=40, **extra):
    """2D keypoints as BlazePose's (``detector="blazepose"``, as convert --save-joints writes)."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(200, 800, size=(1, 17, 2)) + np.cumsum(rng.normal(0, 2, size=(T, 17, 2)), axis=0)
    kp = np.concatenate([xy, np.full((T, 17, 1), 0.9)], -1).astype(np.float32)
    np.savez(path, keypoints2d=kp, fps=30.0, width=1080, height=1920, **({"detector": "blazepose"} | extra))
    return kp


def test_lift_uses_the_chosen_network(shipped, tiny_nets, tmp_path, capsys):
    from posemoe_blender.detection import landmarks
    from posemoe_blender.lifting import stage as lifting
    table = shipped()
    kp_raw = _keypoints_npz(tmp_path / "kp.npz")
    kp = landmarks.to_training_convention(kp_raw)  # with --landmark-correction
    assert not np.allclose(kp, kp_raw)
    expected = {name: lifting.lift_keypoints(kp_raw, 1080, 1920, device="cpu", weights=path, flip=True)
                for name, path in tiny_nets.items()}   # the defaults: 2D as detected, mirrored pass
    assert not np.allclose(expected["tcn"], expected["entangled"])
    runs = {"default": ([], "tcn"), "entangled": (["--lifter", "entangled"], "entangled"),
            "weights win": (["--lifter", "entangled", "--weights", str(tiny_nets["posemoe"])], "posemoe")}
    for name, (flags, network) in runs.items():
        out = tmp_path / f"{name}.npz"
        assert main(["lift", str(tmp_path / "kp.npz"), "-o", str(out), "--device", "cpu", *flags]) == 0
        with np.load(out) as data:
            np.testing.assert_allclose(data["joints3d"], expected[network], atol=1e-6, err_msg=name)
    corrected = lifting.lift_keypoints(kp, 1080, 1920, device="cpu", weights=tiny_nets["tcn"], flip=True)
    assert main(["lift", str(tmp_path / "kp.npz"), "-o", str(tmp_path / "corr.npz"), "--device", "cpu",
                 "--landmark-correction"]) == 0
    with np.load(tmp_path / "corr.npz") as data:
        np.testing.assert_allclose(data["joints3d"], corrected, atol=1e-6)
        assert bool(data["landmark_correction"])
        assert not np.allclose(data["joints3d"], expected["tcn"], atol=1e-4)
    unflipped = lifting.lift_keypoints(kp_raw, 1080, 1920, device="cpu", weights=tiny_nets["tcn"], flip=False)
    assert main(["lift", str(tmp_path / "kp.npz"), "-o", str(tmp_path / "noflip.npz"), "--device", "cpu",
                 "--no-flip"]) == 0
    with np.load(tmp_path / "noflip.npz") as data:
        np.testing.assert_allclose(data["joints3d"], unflipped, atol=1e-6)
        assert not np.allclose(data["joints3d"], expected["tcn"], atol=1e-4)
    from posemoe_blender.cli import build_parser
    from posemoe_blender.options import ConvertOptions
    assert ConvertOptions().flip and build_parser().parse_args(["convert", "x.mp4", "-o", "x.fbx"]).flip
    assert not build_parser().parse_args(["convert", "x.mp4", "-o", "x.fbx", "--no-flip"]).flip
    assert not build_parser().parse_args(["batch", "*.mp4", "-o", "out", "--no-flip"]).flip
    # 2D from another detector (no detector="blazepose"): BlazePose's correction never applies
    np.savez(tmp_path / "other.npz", keypoints2d=kp_raw, fps=30.0, width=1080, height=1920)
    assert main(["lift", str(tmp_path / "other.npz"), "-o", str(tmp_path / "other_out.npz"), "--device", "cpu",
                 "--landmark-correction"]) == 0
    with np.load(tmp_path / "other_out.npz") as data:
        np.testing.assert_allclose(data["joints3d"], expected["tcn"], atol=1e-6)
        assert not bool(data["landmark_correction"])
    shipped(entangled=None)
    assert main(["lift", str(tmp_path / "kp.npz"), "-o", str(tmp_path / "none.npz"), "--lifter", "entangled"]) == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'missing_entangled.pt'}: no entangled transformer weights file" in err
    assert not (tmp_path / "none.npz").exists()


def test_lift_fuses_world3d_with_the_fused_network(monkeypatch, tiny_nets, tmp_path):
    """Keypoints with MediaPipe's world landmarks (convert --save-joints) lift with the network
    convert uses (here a fusing one), 2D alone with the 2D network."""
    import torch
    from dataclasses import replace
    from posemoe_blender.lifting import registry
    from posemoe_blender.lifting import stage as lifting
    from posemoe_blender.lifting.registry import build_model
    from posemoe_blender.lifting.weights import save_weights
    cfg = dict(TINY_NETS["entangled"], hint3d=True)
    torch.manual_seed(2)
    net = build_model(cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    fused = tmp_path / "fused.pt"
    save_weights(fused, net, cfg)
    for name in ("tcn", "posemoe", "entangled"):
        monkeypatch.setitem(registry.NETWORKS, name, replace(registry.NETWORKS[name], weights=fused,
                                                             weights_2d=tiny_nets[name]))
    world = np.random.default_rng(3).normal(0, 0.3, (40, 17, 3)).astype(np.float32)
    kp = _keypoints_npz(tmp_path / "both.npz", world3d=world)
    _keypoints_npz(tmp_path / "2d.npz")
    assert main(["lift", str(tmp_path / "both.npz"), "-o", str(tmp_path / "a.npz"), "--device", "cpu"]) == 0
    assert main(["lift", str(tmp_path / "2d.npz"), "-o", str(tmp_path / "b.npz"), "--device", "cpu"]) == 0
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        np.testing.assert_allclose(a["joints3d"], lifting.lift_keypoints(kp, 1080, 1920, device="cpu",
                                                                          weights=fused, world3d=world, flip=True),
                                   atol=1e-6)
        np.testing.assert_allclose(b["joints3d"], lifting.lift_keypoints(kp, 1080, 1920, device="cpu",
                                                                          weights=tiny_nets["tcn"], flip=True),
                                   atol=1e-6)


def test_bench_passes_the_lifter_on(monkeypatch):
    from posemoe_lab.evaluation import bench
    from posemoe_blender.errors import PoseMoEError
    with pytest.raises(PoseMoEError, match="unknown lifter 'x'"):  # before the video is opened
        bench.run_bench("no_such_clip.mp4", lifter="x")
    seen = {}

    def fake_run_bench(video, **kwargs):
        seen.update(kwargs)
        raise PoseMoEError("stop here")
    monkeypatch.setattr(bench, "run_bench", fake_run_bench)
    from posemoe_lab.__main__ import main as lab_main
    assert lab_main(["bench", "x.mp4", "--lifter", "entangled", "--weights", "w.pt", "--flip"]) == 2
    assert seen["lifter"] == "entangled" and seen["weights"] == "w.pt" and seen["flip"] is True


def test_convert_with_the_entangled_lifter(shipped, sample_clip, tmp_path, capfd):
    """A real conversion (10 frames of the sample clip, joints only): the entangled file is the
    one lifted with, and the summary and the joints file name it."""
    shipped()
    out = tmp_path / "j.npz"
    assert main(["convert", str(sample_clip), "--end", "10", "--save-joints", str(out),
                 "--lifter", "entangled", "--device", "cpu"]) == 0
    assert "lifter: entangled," in capfd.readouterr().err  # printed past the fd silencing
    with np.load(out) as data:
        assert str(data["lifter"]) == "entangled"


def test_landmark_correction_switch_everywhere(monkeypatch):
    """Off by default (it hurt on the cross-source benchmark); --landmark-correction reaches
    ConvertOptions (convert, batch), bench and evaluate-render; lift applies it itself, only to
    BlazePose's 2D (test_lift_uses_the_chosen_network)."""
    from posemoe_lab.evaluation import bench
    from posemoe_blender.cli import _options, build_parser
    from posemoe_lab.__main__ import build_parser as lab_parser
    for argv in (["convert", "x.mp4", "-o", "x.fbx"], ["batch", "clips/*.mp4", "-o", "o"],
                 ["bench", "x.mp4"], ["lift", "kp.npz", "-o", "j.npz"]):
        parser = lab_parser() if argv[0] == "bench" else build_parser()
        assert parser.parse_args(argv).landmark_correction is False, argv
        assert parser.parse_args(argv + ["--landmark-correction"]).landmark_correction is True, argv
        assert parser.parse_args(argv + ["--no-landmark-correction"]).landmark_correction is False, argv
    parser = build_parser()
    assert _options(parser.parse_args(["convert", "x.mp4", "-o", "x.fbx"])).landmark_correction is False
    assert _options(parser.parse_args(["batch", "a/*.mp4", "-o", "o", "--landmark-correction"])).landmark_correction is True
    seen = {}
    monkeypatch.setattr(bench, "run_bench", lambda *a, **k: seen.update(k) or (_ for _ in ()).throw(SystemExit(0)))
    with pytest.raises(SystemExit):
        bench.main(lab_parser().parse_args(["bench", "x.mp4", "--landmark-correction"]))
    assert seen["landmark_correction"] is True
