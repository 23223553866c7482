"""model/*: BVH/FK, data sampler, networks, MoE routing, weights I/O, metrics, overfitting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posemoe_blender.errors import PoseMoEError
from posemoe_blender.joints import JOINT_NAMES, MIRROR, PARENTS
from posemoe_blender.lifting.registry import build_model
from posemoe_lab.training.bvh import forward_kinematics, parse_bvh_text
from posemoe_blender.camera import normalize_keypoints
from posemoe_lab.training.dataset import Mocap, sample_windows
from posemoe_lab.evaluation.pose_metrics import p_mpjpe, procrustes_align, reprojection_error, reprojection_error_fitted
from posemoe_lab.training.train import compute_loss, make_config
from posemoe_blender.lifting.weights import load_model, save_weights

TINY = {"model": "posemoe", "frames": 27, "dim": 16, "depth": 1, "heads": 2, "experts": 4,
        "top_k": 2, "expert_hidden": 16, "prior_hidden": 32}

BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 10 0 0
    CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 5 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
0 90 0 0 0 0 10 0 0 0 0 0
1 90 0 90 0 0 10 0 0 0 0 0
"""


def test_bvh_fk():
    skel, motion, ft = parse_bvh_text(BVH)
    assert skel.names == ["Hips", "Spine"] and skel.parents == [-1, 0]
    assert motion.shape == (2, 12) and abs(ft - 1 / 30) < 1e-6
    pos, rot = forward_kinematics(skel, motion)
    np.testing.assert_allclose(pos[0, 1], [10, 90, 0], atol=1e-9)
    # 90 deg about Z turns the +x bone to +y
    np.testing.assert_allclose(pos[1, 1], [1, 100, 0], atol=1e-9)


def test_bvh_truncated():
    with pytest.raises(PoseMoEError):
        parse_bvh_text(BVH.rsplit("\n", 2)[0])


def _synthetic_mocap(clips=3, frames=90, seed=0) -> Mocap:
    """A standing skeleton with swinging limbs, in world metres (Y up)."""
    rng = np.random.default_rng(seed)
    rest = np.array([[0, .93, 0], [-.1, .9, 0], [-.1, .5, 0], [-.1, .1, 0], [.1, .9, 0], [.1, .5, 0],
                     [.1, .1, 0], [0, 1.13, 0], [0, 1.35, 0], [0, 1.5, .03], [0, 1.6, 0], [.18, 1.32, 0],
                     [.2, 1.05, 0], [.22, .82, 0], [-.18, 1.32, 0], [-.2, 1.05, 0], [-.22, .82, 0]])
    out = []
    for c in range(clips):
        t = np.arange(frames) / 30.0
        j = np.repeat(rest[None], frames, 0).copy()
        ph = rng.uniform(0, 6)
        for k, sign in ((12, 1), (13, 1), (15, -1), (16, -1), (2, -1), (3, -1), (5, 1), (6, 1)):
            j[:, k, 2] += sign * 0.15 * (1 + (k % 3)) * np.sin(2 * np.pi * (1 + c * 0.3) * t + ph)
        j[:, :, 0] += 0.3 * t[:, None] * (c + 1)
        out.append(j.astype(np.float32))
    lens = np.array([frames] * clips)
    return Mocap(np.concatenate(out), np.arange(clips) * frames, lens, np.array([f"c{i}" for i in range(clips)]),
                 np.array(["s"] * clips), np.array(["d"] * clips), np.array(["train"] * clips))


def test_sampler_deterministic_and_geometry():
    data = _synthetic_mocap()
    a = sample_windows(data, np.random.default_rng(7), 8, 27)
    b = sample_windows(data, np.random.default_rng(7), 8, 27)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["inputs"].shape == (8, 27, 17, 3) and a["target"].shape == (8, 27, 17, 3)
    np.testing.assert_allclose(a["target"][:, :, 0], 0, atol=1e-6)
    # camera y points down: the head is above (smaller y than) the pelvis
    assert (a["target"][:, :, JOINT_NAMES.index("Head"), 1] < 0).mean() > 0.95
    # clean 2D is the projection of root + target
    P = a["target"] + a["root_cam"][:, :, None]
    u = a["f"][:, None, None] * P[..., 0] / P[..., 2] + a["cx"][:, None, None]
    np.testing.assert_allclose(u, a["clean_px"][..., 0], rtol=1e-4, atol=1e-2)
    assert 0 <= a["inputs"][..., 2].min() and a["inputs"][..., 2].max() <= 1
    heights = np.ptp(a["target"][:, 0, :, 1], axis=-1) + 0.1
    assert np.all((heights > 1.3) & (heights < 2.1))


def test_mirror_table_is_involution():
    assert all(MIRROR[MIRROR[j]] == j for j in range(17))
    assert all(PARENTS[j] < j for j in range(1, 17))


def test_normalize_numpy_torch_agree():
    kp = np.random.default_rng(0).uniform(0, 1000, size=(4, 17, 3)).astype(np.float32)
    kp[..., 2] = np.linspace(-0.2, 1.2, 17)
    a = normalize_keypoints(kp, 720, 1280)
    b = normalize_keypoints(torch.from_numpy(kp), 720, 1280).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert a[..., 2].min() == 0 and a[..., 2].max() == 1
    # x and y share one scale: image centre -> 0, long side half -> 1
    c = normalize_keypoints(np.array([[[360, 640, 1], [360, 1280, 1]]], np.float32), 720, 1280)
    np.testing.assert_allclose(c[0, :, :2], [[0, 0], [0, 1]], atol=1e-6)


@pytest.mark.parametrize("name", ["posemoe", "entangled", "tcn"])
@pytest.mark.parametrize("frames", [27, 81])
def test_networks_shapes(name, frames):
    cfg = make_config(name, frames, [])
    model = build_model(cfg).eval()
    with torch.inference_mode():
        y = model(torch.rand(2, frames, 17, 3))
    assert y.shape == (2, frames, 17, 3)
    assert torch.allclose(y[:, :, 0], torch.zeros(()), atol=1e-6)


@pytest.mark.parametrize("ablation", ["no-depth-init", "no-router", "no-cross"])
def test_ablations_build(ablation):
    cfg = make_config("posemoe", 27, [ablation])
    model = build_model(cfg)
    y = model(torch.rand(2, 27, 17, 3))
    assert y.shape == (2, 27, 17, 3)
    if ablation == "no-router":
        assert not model.moe_layers()


def test_depth_sees_2d_variant_uses_the_2d_positions():
    """The experiment switch: depth tokens embed (mu, logvar, conf, x, y); without it they do
    not see their joint's x, y except through the prior."""
    torch.manual_seed(0)
    model = build_model(make_config("posemoe", 27, [], {"depth_sees_2d": True})).eval()
    assert model.embed_d.in_features == 5
    x = torch.rand(1, 27, 17, 3)
    with torch.no_grad():
        d_in = []
        hook = model.embed_d.register_forward_hook(lambda m, i, o: d_in.append(i[0]))
        model(x)
        hook.remove()
    assert torch.equal(d_in[0][..., 3:], x[..., :2])
    assert build_model(make_config("posemoe", 27, [])).embed_d.in_features == 3


def test_cross_gate_starts_closed_and_learns():
    """cross_gate: the cross-expert terms are multiplied by gates that start at zero (the
    aggregation is the identity at initialisation) and receive gradients."""
    from posemoe_blender.lifting.networks.posemoe import CrossAggregation, PoseMoEConfig

    torch.manual_seed(0)
    agg = CrossAggregation(PoseMoEConfig(dim=16, heads=2, cross_gate=True))
    a, d = torch.randn(2, 5, 17, 16), torch.randn(2, 5, 17, 16)
    a2, d2 = agg(a, d)
    assert torch.equal(a2, a) and torch.equal(d2, d)
    (a2.sum() + d2.sum()).backward()
    assert agg.gate.grad is not None and agg.gate.grad.abs().sum() > 0
    assert build_model(make_config("posemoe", 27, [], {"cross_gate": True}))(torch.rand(1, 27, 17, 3)).shape == (1, 27, 17, 3)


def test_stream_widths_and_mapping_variant():
    """dim_d gives the depth stream its own width (cross-attention maps between the widths);
    mix_2d's depth -> 2D map starts closed, so at initialisation the 2D stream is exactly what
    it is without the depth stream's features, and the gate receives gradients."""
    from posemoe_blender.lifting.networks.posemoe import StreamMapping, PoseMoEConfig

    cfg = make_config("posemoe", 27, [], {"mix_2d": True, "dim": 32, "dim_d": 64, "expert_hidden": 32,
                                           "expert_hidden_d": 64, "cross_gate": True})
    model = build_model(cfg)
    assert model.norm_d.normalized_shape == (64,) and model.norm_2d.normalized_shape == (32,)
    y = model(torch.rand(2, 27, 17, 3))
    assert y.shape == (2, 27, 17, 3)
    y.square().sum().backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if "gate" not in n)
    torch.manual_seed(0)
    mix = StreamMapping(PoseMoEConfig(dim=16, dim_d=24, heads=2, mix_2d=True))
    a, d = torch.randn(2, 5, 17, 16), torch.randn(2, 5, 17, 24)
    a2, d2 = mix(a, d)
    assert torch.equal(a2, a) and not torch.allclose(d2, d)
    a2.sum().backward()
    assert mix.gate_2d.grad.abs().sum() > 0
    # the first shipped layout is unchanged: the shipped file still loads key for key (strict)
    from pathlib import Path
    from posemoe_blender.lifting.weights import load_model
    shipped = Path(__file__).resolve().parents[1] / "weights" / "posemoe_default.pt"
    if shipped.is_file():
        net, net_cfg = load_model(shipped)
        assert not net_cfg.get("mix_2d") and isinstance(net, torch.nn.Module)


def test_scale_from_depth_reads_the_depth_stream():
    """scale_from_depth: the head's metric scale comes from the depth stream's features; the
    shipped layout keeps reading it from the 2D stream."""
    torch.manual_seed(0)
    model = build_model(make_config("posemoe", 27, [], {"scale_from_depth": True, "dim": 32, "dim_d": 48,
                                                         "expert_hidden": 32})).eval()
    assert model.head_scale.in_features == 48
    seen = []
    hook = model.head_scale.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[-1]))
    with torch.no_grad():
        assert model(torch.rand(1, 27, 17, 3)).shape == (1, 27, 17, 3)
    hook.remove()
    assert seen == [48]
    off = build_model(make_config("posemoe", 27, [], {"dim": 32, "dim_d": 48, "expert_hidden": 32}))
    assert off.head_scale.in_features == 32  # the 2D stream's width: the first shipped layout


def test_default_sizes():
    n = sum(p.numel() for p in build_model(make_config("posemoe", 27, [])).parameters())
    m = sum(p.numel() for p in build_model(make_config("entangled", 27, [])).parameters())
    assert 0.2e6 < n < 1e6 and 0.8 < m / n < 1.2


def test_load_balance_loss_and_routing():
    torch.manual_seed(0)
    model = build_model(TINY)
    x = torch.rand(4, 27, 17, 3)
    model(x)
    aux = model.aux_loss()
    assert aux.item() > 0
    for moe in model.moe_layers():
        assert int((moe.last_usage > 0).sum()) > 1
    # the router receives gradient from the balance loss
    aux.backward()
    assert any(m.router.weight.grad is not None and m.router.weight.grad.abs().sum() > 0
               for m in model.moe_layers())


def test_moe_equals_sparse_topk():
    """The stacked implementation computes exactly sum_{top-k} g_e * expert_e(x)."""
    torch.manual_seed(1)
    from posemoe_blender.lifting.networks.posemoe import MoE

    moe = MoE(8, 5, experts=4, top_k=2)
    x = torch.randn(30, 8)
    y = moe(x)
    probs = moe.router(x).softmax(-1)
    g, idx = probs.topk(2, -1)
    g = g / g.sum(-1, keepdim=True)
    W1 = moe.fc1.weight.view(4, 5, 8)
    b1 = moe.fc1.bias.view(4, 5)
    W2 = moe.fc2.weight.view(8, 4, 5)
    ref = torch.zeros_like(x)
    for n in range(30):
        for k in range(2):
            e = idx[n, k]
            h = torch.nn.functional.gelu(W1[e] @ x[n] + b1[e])
            ref[n] += g[n, k] * (W2[:, e] @ h + moe.b2[e])
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)


def test_weights_roundtrip_and_errors(tmp_path):
    model = build_model(TINY)
    path = tmp_path / "m.pt"
    sha = save_weights(path, model, TINY, {"steps": 1})
    assert len(sha) == 64
    loaded, cfg = load_model(path)
    assert cfg == TINY
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    # truncated
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(PoseMoEError, match="trunc.pt") as e:
        load_model(trunc)
    assert "\n" not in str(e.value)
    # garbage
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(PoseMoEError, match="junk.pt"):
        load_model(junk)
    # config not matching the state dict
    bad = tmp_path / "bad.pt"
    save_weights(bad, model, {**TINY, "dim": 24})
    with pytest.raises(PoseMoEError, match="does not match") as e:
        load_model(bad)
    assert "\n" not in str(e.value)
    with pytest.raises(PoseMoEError, match="not found"):
        load_model(tmp_path / "missing.pt")


def test_procrustes():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(5, 17, 3))
    th = 0.7
    R = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
    pred = 1.3 * gt @ R.T + 0.5
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-9)
    assert p_mpjpe(pred, gt) < 1e-6


def test_reprojection_with_fitted_root():
    """Truth placed by its own clean 2D reprojects exactly; a scaled pose too once the root is
    fitted (scale and depth trade off), but not at the true root; a bent pose does not."""
    rng = np.random.default_rng(1)
    S, T = 2, 4
    rel = rng.normal(0, 0.3, size=(S, T, 17, 3))
    rel -= rel[:, :, :1]
    root = np.stack([rng.uniform(-0.5, 0.5, (S, T)), rng.uniform(-0.3, 0.3, (S, T)),
                     rng.uniform(3, 6, (S, T))], -1)
    f, cx, cy = np.array([1000.0, 1400.0]), np.array([540.0, 960.0]), np.array([960.0, 530.0])
    P = rel + root[:, :, None]
    uv = np.stack([f[:, None, None] * P[..., 0] / P[..., 2] + cx[:, None, None],
                   f[:, None, None] * P[..., 1] / P[..., 2] + cy[:, None, None]], -1)
    kp = np.concatenate([uv, np.ones((S, T, 17, 1))], -1)
    assert reprojection_error(rel, root, f, cx, cy, uv) < 1e-6
    assert reprojection_error_fitted(rel, kp, f, cx, cy, uv) < 1e-3
    big = rel * 1.2
    assert reprojection_error(big, root, f, cx, cy, uv) > 5.0
    assert reprojection_error_fitted(big, kp, f, cx, cy, uv) < 0.5  # only perspective differs
    bent = rel.copy()
    bent[..., 5:, 0] += 0.1
    assert reprojection_error_fitted(bent, kp, f, cx, cy, uv) > 5.0


def test_overfit_small_batch():
    """The network can drive MPJPE on a few fixed clips close to zero (< 20 mm)."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = _synthetic_mocap(clips=2)
    batch = sample_windows(data, np.random.default_rng(0), 4, 27, augment_body=False, noise=False)
    x, y = torch.from_numpy(batch["inputs"]), torch.from_numpy(batch["target"])
    model = build_model({**TINY, "dim": 32, "expert_hidden": 32})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=200, pct_start=0.15)
    for _ in range(200):
        pred = model(x)
        loss = (pred - y).norm(dim=-1).mean() + 0.01 * model.aux_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        err = (model(x) - y).norm(dim=-1).mean().item() * 1000
    assert err < 20.0, err


def test_training_loss_terms():
    torch.manual_seed(0)
    model = build_model(TINY)
    x, y = torch.rand(2, 27, 17, 3), 0.3 * torch.randn(2, 27, 17, 3)
    y = y - y[:, :, :1]
    pred = model(x)
    loss, pos, aux = compute_loss(model, pred, y)
    assert torch.isfinite(loss) and loss.item() > pos.item() > 0 and aux.item() > 0
    assert model.last_prior is not None and model.last_prior[0].shape == (2, 27, 17)


def test_train_cli_smoke(tmp_path):
    """Two of three steps end to end on a synthetic prepared folder, then resume to the end."""
    from posemoe_lab.training import train

    data = _synthetic_mocap()
    folder = tmp_path / "mocap"
    folder.mkdir()
    np.savez(folder / "mocap.npz", joints=data.joints, clip_start=data.clip_start, clip_len=data.clip_len,
             clip_name=data.clip_name, style=data.style, dataset=data.dataset, split=data.split)
    out = tmp_path / "run"
    cfg = '{"dim": 16, "depth": 1, "expert_hidden": 16, "prior_hidden": 32, "heads": 2}'
    argv = ["--model", "posemoe", "--steps", "3", "--batch", "2", "--data", str(folder), "--out", str(out),
            "--config", cfg]
    assert train.main(argv + ["--stop-after", "2"]) == 0
    model, conf = load_model(out / "model.pt")
    assert conf["dim"] == 16
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 2
    assert train.main(argv + ["--resume"]) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 3


def _prepared_folder(tmp_path, data: Mocap):
    folder = tmp_path / "mocap"
    folder.mkdir()
    np.savez(folder / "mocap.npz", joints=data.joints, clip_start=data.clip_start, clip_len=data.clip_len,
             clip_name=data.clip_name, style=data.style, dataset=data.dataset, split=data.split)
    return folder


def test_loader_workers_stream_does_not_depend_on_their_number(tmp_path):
    """--loader-workers N draws batch k from seed (seed, k): 1 and 2 workers train the same weights."""
    from posemoe_lab.training import train

    folder = _prepared_folder(tmp_path, _synthetic_mocap())
    cfg = '{"dim": 16, "depth": 1, "expert_hidden": 16, "prior_hidden": 32, "heads": 2}'
    states = []
    for n in (1, 2):
        out = tmp_path / f"run{n}"
        argv = ["--model", "posemoe", "--steps", "3", "--batch", "4", "--data", str(folder), "--out", str(out),
                "--config", cfg, "--loader-workers", str(n)]
        assert train.main(argv) == 0
        states.append(torch.load(out / "checkpoint.pt", weights_only=False))
    a, b = (s["model"] for s in states)
    assert states[0]["step"] == states[1]["step"] == 3
    assert all(torch.equal(a[k], b[k]) for k in a)
    # and the stream differs from the single-generator one (it is a different, documented stream)
    out0 = tmp_path / "run0"
    assert train.main(["--model", "posemoe", "--steps", "3", "--batch", "4", "--data", str(folder), "--out", str(out0),
                       "--config", cfg]) == 0
    c = torch.load(out0 / "checkpoint.pt", weights_only=False)["model"]
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_datapack_roundtrip_and_errors(tmp_path):
    from posemoe_lab.training import datapack

    data = _synthetic_mocap()
    folder = _prepared_folder(tmp_path, data)
    rep = datapack.pack(folder, tmp_path / "pack.npz")
    assert rep["frames"] == len(data.joints) and rep["bytes"] < (folder / "mocap.npz").stat().st_size
    out = datapack.unpack(tmp_path / "pack.npz", tmp_path / "back")
    back = Mocap.load(out.parent)
    assert np.abs(back.joints - data.joints).max() <= 0.0005 + 1e-6          # 1 mm quantisation
    assert np.array_equal(back.clip_len, data.clip_len) and np.array_equal(back.split, data.split)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(PoseMoEError, match="not a mocap pack"):
        datapack.unpack(tmp_path / "junk.npz", tmp_path / "x")
    with pytest.raises(PoseMoEError, match="no such file"):
        datapack.pack(tmp_path / "nothing", tmp_path / "p.npz")


def test_train_init_and_aug_overrides(tmp_path):
    """--init starts from a weights file (config must match); --aug overrides the augmentation."""
    from posemoe_lab.training import train

    folder = _prepared_folder(tmp_path, _synthetic_mocap())
    cfg = '{"dim": 16, "depth": 1, "expert_hidden": 16, "prior_hidden": 32, "heads": 2}'
    base = ["--model", "posemoe", "--steps", "2", "--batch", "4", "--data", str(folder), "--config", cfg]
    assert train.main(base + ["--out", str(tmp_path / "a")]) == 0
    assert train.main(base + ["--out", str(tmp_path / "b"), "--init", str(tmp_path / "a" / "model.pt"),
                              "--aug", '{"bias_rel": 0.03, "fps_range": [30, 30]}']) == 0
    ck = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert ck["args"]["aug_overrides"] == {"bias_rel": 0.03, "fps_range": [30, 30]}
    with pytest.raises(PoseMoEError, match="unknown field"):
        train.main(base + ["--out", str(tmp_path / "c"), "--aug", '{"bias": 1}'])
    with pytest.raises(PoseMoEError, match="differs from the run's"):
        train.main(["--model", "entangled", "--steps", "1", "--batch", "2", "--data", str(folder),
                    "--out", str(tmp_path / "d"), "--init", str(tmp_path / "a" / "model.pt")])
    assert train.make_augment({"bias_rel": 0.03}).bias_rel == 0.03


def test_lifting_stands_below_the_other_stages():
    """Layering: ``posemoe_blender.lifting`` (the networks, their weights and inference) stands
    below the pipeline: no module of it imports another stage (detection, smoothing, solving,
    retargeting, output) or the pipeline, at module level or inside a function, and importing
    the networks, the registry, the weights and inference loads none of them. The stage module
    (``lifting/stage.py``) alone applies the gap filling (smoothing) and the landmark
    correction (detection) around the network, never the later stages."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    others = ("detection", "smoothing", "solving", "retargeting", "output", "pipeline", "convert", "batch")
    folder = Path(__file__).resolve().parents[1] / "posemoe_blender" / "lifting"
    offenders = []
    around = {"detection.landmarks", "smoothing.filters"}  # what the stage module applies around the network
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                parts = mod.split(".")
                if path.name == "stage.py" and node.level == 2 and mod in around:
                    continue
                if node.level >= 2 and parts[0] in others or mod.startswith(tuple(f"posemoe_blender.{o}" for o in others)):
                    offenders.append(f"{path.name}:{node.lineno} from {'.' * node.level}{mod}")
    assert not offenders, offenders
    code = ("import pkgutil, importlib, sys, posemoe_blender.lifting as m\n"
            "for i in pkgutil.walk_packages(m.__path__, 'posemoe_blender.lifting.'):\n"
            "    i.name.endswith('.stage') or importlib.import_module(i.name)\n"
            f"print(sorted(k for k in sys.modules if k.split('.')[1:2] and k.split('.')[1] in {others!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout



def test_registry_names_the_options_networks():
    """One entry per network lifter of ``options`` (names, order, messages' names), each
    building its own class from its own config dataclass."""
    from dataclasses import fields
    from posemoe_blender import options
    from posemoe_blender.lifting.registry import DEFAULT_WEIGHTS, NETWORKS, WEIGHTS_DIR, network_for

    assert tuple(NETWORKS) == options.NETWORK_LIFTERS
    for name, net in NETWORKS.items():
        assert net.name == name and net.title == options.NETWORK_NAMES[name]
        model = build_model({"model": name, "frames": 27})
        assert type(model) is net.module and model.cfg == net.config()
        assert network_for(net.config().to_dict()) is net and net.config().model == name
        assert {f.name for f in fields(net.config)} >= {"model", "frames", "joints", "hint3d"}
        assert net.weights.parent == net.weights_2d.parent == WEIGHTS_DIR
        assert (net.shipped(True), net.shipped(False)) == (net.weights, net.weights_2d)
    assert network_for({}) is NETWORKS["posemoe"] and DEFAULT_WEIGHTS == NETWORKS["posemoe"].weights_2d
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build_model({"model": "nope"})
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['colour'\] for tcn"):
        build_model({"model": "tcn", "colour": "red"})


def test_one_network_per_module():
    """``lifting/networks``: each network module imports the shared layers, never another network."""
    import ast
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "posemoe_blender" / "lifting" / "networks"
    assert sorted(p.stem for p in folder.glob("*.py")) == ["__init__", "entangled", "layers", "posemoe", "tcn"]
    for path in folder.glob("*.py"):
        own = {node.module for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.ImportFrom) and node.level == 1}
        assert own <= ({None} if path.stem == "layers" else {"layers"}), (path.name, own)


def test_shipped_weights_load_unchanged():
    """Every shipped weights file builds its registry entry's network and loads its state dict
    strictly (the networks' attribute names, hence the state-dict keys, are unchanged)."""
    from posemoe_blender.lifting.registry import NETWORKS

    found = 0
    for name, net in NETWORKS.items():
        for path in (net.weights, net.weights_2d):
            if not path.is_file():
                continue
            model, config = load_model(path)
            assert type(model) is net.module and config.get("model", "posemoe") == name, path
            found += 1
    if not found:
        pytest.skip("no shipped weights in weights/")


# --------------------------------------------------------------------------- MediaPipe fusion

def _walk(T=120, seed=0):
    """A plausible root-relative walking skeleton (T, 17, 3) in camera axes (metres)."""
    from posemoe_blender.joints import PARENTS
    rng = np.random.default_rng(seed)
    rest = np.array([[0, 0, 0], [-.1, 0, 0], [-.1, .45, 0], [-.1, .88, 0], [.1, 0, 0], [.1, .45, 0],
                     [.1, .88, 0], [0, -.25, 0], [0, -.5, 0], [0, -.6, 0], [0, -.75, 0], [.18, -.5, 0],
                     [.45, -.5, 0], [.7, -.5, 0], [-.18, -.5, 0], [-.45, -.5, 0], [-.7, -.5, 0]], float)
    t = np.arange(T)[:, None]
    out = np.repeat(rest[None], T, axis=0)
    out[:, [2, 3], 2] += 0.2 * np.sin(t / 5.0)
    out[:, [5, 6], 2] -= 0.2 * np.sin(t / 5.0)
    out += rng.normal(0, 0.002, out.shape)
    assert len(PARENTS) == 17
    return out - out[:, :1]


def test_mediapipe_noise_model_fit_recovers_its_parameters(tmp_path):
    from posemoe_lab.training import mpnoise
    g = _walk(180)
    true = mpnoise.MPNoiseModel(size_mean=3.3, size_std=0.01, axis_log_mean=[0.0, 0.0, -0.3],
                                axis_log_std=[0.01, 0.01, 0.02], swap_start=[0.03, 0.0],
                                swap_stop=[0.3, 1.0], drop_start=0.02, drop_stop=0.5)
    bias = np.zeros((17, 3))
    bias[3, 1] = 0.08                       # ankles higher (body frame y = up the spine)
    bias[6, 1] = 0.08
    true.bias = bias.tolist()
    true.psd = (np.asarray(true.psd) * 4).tolist()
    rng = np.random.default_rng(1)
    pairs = []
    for _ in range(12):
        sim = true.sample(g[None], rng)[0]
        assert sim.shape == g.shape and np.allclose(sim[:, 0], 0)
        pairs.append({"world3d": sim, "truth": g, "found": np.ones(len(g), bool)})
    fit = mpnoise.fit(pairs)
    depth_vs_x = np.exp(fit.axis_log_mean[2] - fit.axis_log_mean[0])
    assert abs(depth_vs_x - np.exp(-0.3)) < 0.06                                # depth compressed
    assert np.asarray(fit.bias)[3, 1] > 0.04 and abs(np.asarray(fit.bias)[12, 1]) < 0.03
    assert 0.01 < fit.swap_start[0] < 0.06 and fit.swap_start[1] < 0.005
    # the refitted model makes landmarks as wrong as the original did
    real = [mpnoise.error_stats(p["world3d"].astype(np.float64), g) for p in pairs]
    sim = [mpnoise.error_stats(fit.sample(g[None], rng)[0].astype(np.float64), g) for _ in range(12)]
    for key in ("mpjpe_mm", "accel_mm"):
        r, s_ = np.mean([x[key] for x in real]), np.mean([x[key] for x in sim])
        assert abs(s_ - r) < 0.2 * r, (key, r, s_)
    path = tmp_path / "noise.json"
    fit.save(path)
    again = mpnoise.MPNoiseModel.load(path)
    a = again.sample(g[None, :27], np.random.default_rng(5))
    b = fit.sample(g[None, :27], np.random.default_rng(5))
    assert np.array_equal(a, b)                                        # deterministic, saved exactly


def test_mediapipe_noise_strength_per_window():
    """One strength per window: equal values give the scalar's landmarks exactly; a window at 0
    gets only the deterministic size and bias, a stronger window errs more."""
    from posemoe_lab.training import mpnoise
    from posemoe_lab.training.dataset import AugmentConfig
    model = mpnoise.MPNoiseModel.load("weights/mediapipe_noise.json")
    g = np.repeat(_walk(54)[None], 3, axis=0)
    a = model.sample(g, np.random.default_rng(4), strength=1.0)
    b = model.sample(g, np.random.default_rng(4), strength=np.ones(3))
    assert np.array_equal(a, b)
    c = model.sample(g, np.random.default_rng(4), strength=np.array([0.0, 1.0, 3.0]))
    clean = model.sample(g[:1], np.random.default_rng(9), strength=0.0)[0]
    np.testing.assert_allclose(c[0], clean, atol=1e-6)
    err = [np.abs(c[k] - clean).mean() for k in (1, 2)]
    assert 0 < err[0] < err[1]
    assert AugmentConfig().hint_strength == (1.0, 1.0)


def test_mediapipe_noise_model_rejects_other_files(tmp_path):
    from posemoe_lab.training import mpnoise
    bad = tmp_path / "x.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(PoseMoEError):
        mpnoise.MPNoiseModel.load(bad)


@pytest.mark.parametrize("kind,cfg", [("posemoe", {"dim": 16, "depth": 1, "heads": 2, "expert_hidden": 16,
                                                   "prior_hidden": 32}),
                                      ("entangled", {"dim": 16, "depth": 1, "heads": 2, "mlp_hidden": 32}),
                                      ("tcn", {"channels": 32})])
def test_hint3d_network_starts_as_its_2d_network(kind, cfg):
    """A fused network warm-started from a 2D network predicts exactly what the 2D network did
    (the hint's input weights start at zero), and then learns from the hint."""
    from posemoe_lab.training.train import warm_start
    torch.manual_seed(0)
    base = build_model({"model": kind, **cfg}).eval()
    fused = build_model({"model": kind, **cfg, "hint3d": True}).eval()
    new = warm_start(fused, base.state_dict())
    assert new and all("hint" in k for k in new)
    x = torch.randn(2, 27, 17, 3)
    hint = torch.randn(2, 27, 17, 3)
    with torch.no_grad():
        np.testing.assert_allclose(fused(torch.cat([x, hint], -1)).numpy(), base(x).numpy(), atol=1e-5)
        with pytest.raises(ValueError):
            fused(x)                                  # a fused network needs its six channels
    fused.train()
    opt = torch.optim.SGD(fused.parameters(), lr=0.1)
    loss = (fused(torch.cat([x, hint], -1)) - hint).pow(2).mean()
    loss.backward()
    grads = [p.grad for n, p in fused.named_parameters() if "hint" in n]
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)
    opt.step()


def test_lift_keypoints_fuses_world3d_only_for_hint3d_networks(tmp_path):
    from posemoe_blender.lifting import stage as lifting
    from posemoe_blender.lifting.weights import save_weights
    torch.manual_seed(0)
    cfg = {"model": "entangled", "dim": 16, "depth": 1, "heads": 2, "mlp_hidden": 32, "hint3d": True}
    net = build_model(cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path / "fused.pt"
    save_weights(path, net, cfg)
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(200, 800, (40, 17, 2)), np.ones((40, 17, 1))], -1).astype(np.float32)
    world = _walk(40).astype(np.float32)
    with pytest.raises(PoseMoEError, match="world3d"):
        lifting.lift_keypoints(kp, 1000, 1000, device="cpu", weights=path)
    a = lifting.lift_keypoints(kp, 1000, 1000, device="cpu", weights=path, world3d=world)
    b = lifting.lift_keypoints(kp, 1000, 1000, device="cpu", weights=path, world3d=world * 1.3)
    assert a.shape == (40, 17, 3) and np.abs(a - b).max() > 1e-4      # the hint is used
    with pytest.raises(PoseMoEError, match="frames"):
        lifting.lift_keypoints(kp, 1000, 1000, device="cpu", weights=path, world3d=world[:10])
