"""lifting/stage.py: shapes, determinism, sliding windows, devices, weights errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posemoe_blender.lifting import stage as lifting
from posemoe_blender.lifting import inference, windows
from posemoe_blender.errors import PoseMoEError
from posemoe_blender.lifting.registry import build_model
from posemoe_blender.camera import normalize_keypoints
from posemoe_blender.lifting.weights import save_weights

TINY = {"model": "posemoe", "frames": 27, "dim": 16, "depth": 1, "heads": 2, "experts": 4,
        "top_k": 2, "expert_hidden": 16, "prior_hidden": 32}


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(TINY)
    # non-trivial heads so the outputs depend on the input
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    save_weights(path, model, TINY)
    return path


def _keypoints(T, seed=0, w=1080, h=1920):
    rng = np.random.default_rng(seed)
    base = np.stack([rng.uniform(0.3 * w, 0.7 * w, 17), rng.uniform(0.2 * h, 0.8 * h, 17)], -1)
    drift = np.cumsum(rng.normal(0, 2.0, size=(T, 17, 2)), axis=0)
    conf = rng.uniform(0.5, 1.0, size=(T, 17, 1))
    return np.concatenate([base[None] + drift, conf], -1).astype(np.float32)


@pytest.mark.parametrize("T", [1, 5, 27, 100])
def test_output_shapes(tiny_weights, T):
    out = lifting.lift_keypoints(_keypoints(T), 1080, 1920, device="cpu", weights=tiny_weights)
    assert out.shape == (T, 17, 3) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[:, 0], 0.0, atol=1e-6)  # root-relative


def test_deterministic(tiny_weights):
    kp = _keypoints(64, seed=3)
    a = lifting.lift_keypoints(kp, 1920, 1080, device="cpu", weights=tiny_weights, batch_size=3)
    b = lifting.lift_keypoints(kp, 1920, 1080, device="cpu", weights=tiny_weights, batch_size=64)
    assert np.array_equal(a, b) or np.allclose(a, b, atol=1e-6)
    c = lifting.lift_keypoints(kp, 1920, 1080, device="cpu", weights=tiny_weights, batch_size=3)
    assert np.array_equal(a, c)


def test_cpu_workers_give_the_same_result(tiny_weights, monkeypatch):
    """Windows shared by worker threads: same numbers as one thread, torch threads restored."""
    kp = _keypoints(200, seed=4)
    monkeypatch.setattr(inference, "CPU_WORKERS", 1)
    one = lifting.lift_keypoints(kp, 1920, 1080, device="cpu", weights=tiny_weights, batch_size=2)
    before = torch.get_num_threads()
    monkeypatch.setattr(inference, "CPU_WORKERS", 3)
    three = lifting.lift_keypoints(kp, 1920, 1080, device="cpu", weights=tiny_weights, batch_size=2)
    assert np.array_equal(one, three)
    assert torch.get_num_threads() == before
    model, _ = lifting.MODELS.get(tiny_weights, torch.device("cpu"))
    x = normalize_keypoints(kp, 1920, 1080)[None]
    direct = inference.predict_sequences(model, x, batch_size=1, workers=4)
    assert np.array_equal(direct, inference.predict_sequences(model, x, batch_size=1, workers=1))
    assert torch.get_num_threads() == before


def test_window_equals_direct_forward(tiny_weights):
    from posemoe_blender.lifting.weights import load_model

    kp = _keypoints(27, seed=5)
    out = lifting.lift_keypoints(kp, 720, 1280, device="cpu", weights=tiny_weights)
    model, _ = load_model(tiny_weights)
    with torch.inference_mode():
        direct = model(torch.from_numpy(normalize_keypoints(kp, 720, 1280))[None])[0].numpy()
    np.testing.assert_allclose(out, direct - direct[:, :1], atol=1e-6)


def test_sliding_window_overlap_is_smooth(tiny_weights):
    """Windows overlap and are blended: no frame is left uncovered and values are finite."""
    starts = windows.window_starts(100, 27)
    assert starts[0] == 0 and starts[-1] == 73
    covered = np.zeros(100, bool)
    for s in starts:
        covered[s:s + 27] = True
    assert covered.all()


def test_cuda_without_gpu_raises():
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is available")
    with pytest.raises(PoseMoEError, match="--device cuda was requested but no CUDA GPU is available"):
        inference.resolve_device("cuda")
    assert inference.resolve_device("auto").type == "cpu"
    assert inference.resolve_device("cpu").type == "cpu"


def test_bad_inputs(tiny_weights):
    with pytest.raises(PoseMoEError):
        lifting.lift_keypoints(np.zeros((10, 16, 3)), 100, 100, device="cpu", weights=tiny_weights)
    with pytest.raises(PoseMoEError):
        lifting.lift_keypoints(np.zeros((0, 17, 3)), 100, 100, device="cpu", weights=tiny_weights)
    bad = _keypoints(5)
    bad[2, 3, 0] = np.nan
    with pytest.raises(PoseMoEError):
        lifting.lift_keypoints(bad, 100, 100, device="cpu", weights=tiny_weights)
    with pytest.raises(PoseMoEError):
        lifting.lift_keypoints(_keypoints(5), 0, 100, device="cpu", weights=tiny_weights)


def test_missing_and_corrupt_weights(tmp_path, tiny_weights):
    missing = tmp_path / "nope.pt"
    assert not lifting.weights_available(missing)
    with pytest.raises(PoseMoEError, match="nope.pt"):
        lifting.lift_keypoints(_keypoints(5), 100, 100, device="cpu", weights=missing)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(tiny_weights.read_bytes()[:500])
    assert lifting.weights_available(broken)
    with pytest.raises(PoseMoEError, match="broken.pt"):
        lifting.lift_keypoints(_keypoints(5), 100, 100, device="cpu", weights=broken)


def test_default_weights_path():
    p = lifting.default_weights_path()
    assert p.name == "posemoe_default.pt" and p.parent.name == "weights"
    if lifting.weights_available():
        # a standing person ~1.7 m tall seen from the front, 4 m away, f = 1300 px
        rest = np.array([[0, .93, 0], [-.1, .9, 0], [-.1, .5, 0], [-.1, .1, 0], [.1, .9, 0], [.1, .5, 0],
                         [.1, .1, 0], [0, 1.13, 0], [0, 1.35, 0], [0, 1.5, .03], [0, 1.6, 0], [.18, 1.32, 0],
                         [.2, 1.05, 0], [.22, .82, 0], [-.18, 1.32, 0], [-.2, 1.05, 0], [-.22, .82, 0]])
        px = np.stack([540 - 1300 * rest[:, 0] / 4.0, 960 - 1300 * (rest[:, 1] - 0.9) / 4.0, np.ones(17)], -1)
        kp = np.repeat(px[None], 40, 0).astype(np.float32)
        kp[..., :2] += np.random.default_rng(0).normal(0, 1.0, size=(40, 17, 2))
        out = lifting.lift_keypoints(kp, 1080, 1920, device="cpu")
        assert out.shape == (40, 17, 3)
        # a plausible human: bone lengths between 3 cm and 70 cm
        from posemoe_blender.joints import BONES

        lengths = np.array([np.linalg.norm(out[:, c] - out[:, p], axis=-1).mean() for p, c in BONES])
        assert np.all(lengths > 0.03) and np.all(lengths < 0.7)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_lifting_matches_cpu(tiny_weights):
    """The CUDA path (pinned memory, float32) gives the CPU's answer (bf16 autocast did not: up to 59 mm off)."""
    rng = np.random.default_rng(3)
    kp = np.concatenate([rng.uniform(300, 700, (200, 17, 2)), rng.uniform(0.5, 1, (200, 17, 1))], -1)
    cpu = lifting.lift_keypoints(kp.astype(np.float32), 1080, 1920, device="cpu", weights=tiny_weights)
    gpu = lifting.lift_keypoints(kp.astype(np.float32), 1080, 1920, device="cuda", weights=tiny_weights)
    assert gpu.shape == cpu.shape == (200, 17, 3) and gpu.dtype == np.float32
    assert np.abs(gpu - cpu).max() < 0.001           # metres: float32 on both, summation order aside
    again = lifting.lift_keypoints(kp.astype(np.float32), 1080, 1920, device="cuda", weights=tiny_weights)
    assert np.array_equal(gpu, again)


def test_flip_makes_lifting_mirror_equivariant(tiny_weights):
    """With test-time mirroring, lifting the mirrored video gives exactly the mirrored motion."""
    from posemoe_blender.joints import MIRROR

    kp = _keypoints(60, seed=5)
    mirrored = kp[:, list(MIRROR)].copy()
    mirrored[..., 0] = 1080 - mirrored[..., 0]
    a = lifting.lift_keypoints(kp, 1080, 1920, device="cpu", weights=tiny_weights, flip=True)
    b = lifting.lift_keypoints(mirrored, 1080, 1920, device="cpu", weights=tiny_weights, flip=True)
    np.testing.assert_allclose(windows.mirror(b), a, atol=1e-5)
    plain = lifting.lift_keypoints(kp, 1080, 1920, device="cpu", weights=tiny_weights)
    plain_m = lifting.lift_keypoints(mirrored, 1080, 1920, device="cpu", weights=tiny_weights)
    assert np.abs(windows.mirror(plain_m) - plain).max() > 1e-3   # not so without it
    assert a.shape == (60, 17, 3) and np.allclose(a[:, 0], 0.0)


# --------------------------------------------------------------------------- the stage's entry point

def _detections(T=60, seed=7):
    """Detection-stage-like arrays: 2D with a long whole-person gap and one unsure joint."""
    from types import SimpleNamespace
    rng = np.random.default_rng(seed)
    kp = _keypoints(T, seed=seed)
    kp[20:40] = 0.0                        # nobody detected for 20 frames (> max_gap_s at 30 fps)
    kp[5:8, 3, 2] = 0.1                    # one joint unsure for a few frames
    detected = np.ones(T, bool)
    detected[20:40] = False
    world = rng.normal(0, 0.3, (T, 17, 3)).astype(np.float32)
    world[~detected] = 0.0
    return SimpleNamespace(keypoints2d=kp, world3d=world, detected=detected, width=1080, height=1920)


def test_hold_person_gaps_freezes_the_nearest_detected_pose():
    from types import SimpleNamespace
    joints = np.arange(10 * 17 * 3, dtype=np.float32).reshape(10, 17, 3)
    gaps = [SimpleNamespace(start=2, end=6, whole_person=True), SimpleNamespace(start=7, end=9, whole_person=False)]
    held = lifting.hold_person_gaps(joints, gaps)
    assert np.array_equal(held[[2, 3]], joints[[1, 1]]) and np.array_equal(held[[4, 5]], joints[[6, 6]])
    assert np.array_equal(held[6:], joints[6:]) and np.array_equal(held[:2], joints[:2])
    assert np.array_equal(lifting.hold_person_gaps(joints, [SimpleNamespace(start=0, end=10, whole_person=True)]), joints)


def test_lift_entry_point(tiny_weights, monkeypatch):
    """``lift``: the network (corrected 2D when asked) or MediaPipe's landmarks, held over the
    long whole-person gap; the 2D for the root fit and the filled world landmarks beside it."""
    from posemoe_blender.options import ConvertOptions
    from posemoe_blender.smoothing import filters as smoothing

    dets, fps = _detections(), 30.0
    kp2d, gaps = smoothing.fill_gaps(dets.keypoints2d, fps, max_gap_s=0.5)
    assert any(g.whole_person for g in gaps)
    world = lifting.detected_world(dets, fps, 0.5)
    assert world.shape == (60, 17, 3) and np.array_equal(world[:20], dets.world3d[:20])

    def shifted(kp):
        out = kp.copy()
        out[..., 0] += 5.0
        return out
    monkeypatch.setattr(lifting, "to_training_convention", shifted)  # the correction, recognisable

    for correction in (False, True):
        options = ConvertOptions(device="cpu", weights=str(tiny_weights), flip=False,
                                 landmark_correction=correction)
        lifter = lifting.resolve_lifter(options)
        assert (lifter.network.name, lifter.weights, lifter.label) == ("posemoe", tiny_weights, "posemoe")
        out = lifting.lift(kp2d, gaps, dets, fps, options, lifter)
        kp_net = shifted(kp2d) if correction else kp2d
        expected = lifting.lift_keypoints(kp_net, 1080, 1920, device="cpu", weights=tiny_weights, world3d=world)
        assert np.array_equal(out.joints3d, lifting.hold_person_gaps(expected, gaps))
        assert np.array_equal(out.keypoints2d, kp_net) and np.array_equal(out.world3d, world)
        assert out.label == "posemoe" and out.joints3d.shape == (60, 17, 3)
        assert np.array_equal(out.joints3d[20:30], np.repeat(out.joints3d[19:20], 10, axis=0))

    options = ConvertOptions(device="cpu", lifter="mediapipe", landmark_correction=True)
    lifter = lifting.resolve_lifter(options)
    assert (lifter.network, lifter.weights, lifter.label) == (None, None, "mediapipe-world")
    out = lifting.lift(kp2d, gaps, dets, fps, options, lifter)
    filled = smoothing.fill_gaps(np.concatenate([dets.world3d, dets.keypoints2d[..., 2:3]], -1), fps,
                                 max_gap_s=0.5)[0][..., :3]
    assert np.array_equal(out.joints3d, lifting.hold_person_gaps(filled, gaps))
    assert out.keypoints2d is kp2d and out.label == "mediapipe-world"
