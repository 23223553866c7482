"""The trainer's schedule is a function of the step; a resumed run continues it exactly.

Tiny networks, a synthetic prepared folder, CPU, one thread, ``--loader-workers 0``: a few
seconds in all.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from posemoe_blender.errors import PoseMoEError
from posemoe_lab.training import train
from posemoe_lab.training.dataset import Mocap

CONFIGS = {"posemoe": '{"dim": 16, "depth": 1, "expert_hidden": 16, "prior_hidden": 32, "heads": 2}',
           "tcn": '{"channels": 16, "dropout": 0.1}'}   # dropout: the torch RNG must be restored too
STEPS = 8


def _folder(tmp_path):
    """A prepared folder (``mocap.npz``) of three short synthetic clips, all in the train split."""
    rng = np.random.default_rng(0)
    rest = np.array([[0, .93, 0], [-.1, .9, 0], [-.1, .5, 0], [-.1, .1, 0], [.1, .9, 0], [.1, .5, 0],
                     [.1, .1, 0], [0, 1.13, 0], [0, 1.35, 0], [0, 1.5, .03], [0, 1.6, 0], [.18, 1.32, 0],
                     [.2, 1.05, 0], [.22, .82, 0], [-.18, 1.32, 0], [-.2, 1.05, 0], [-.22, .82, 0]])
    frames, clips = 60, 3
    joints = rest[None] + 0.05 * np.cumsum(rng.normal(size=(clips * frames, 17, 3)), axis=0) / frames
    folder = tmp_path / "mocap"
    folder.mkdir()
    np.savez(folder / "mocap.npz", joints=joints.astype(np.float32), clip_start=np.arange(clips) * frames,
             clip_len=np.full(clips, frames), clip_name=np.array([f"c{i}" for i in range(clips)]),
             style=np.array(["s"] * clips), dataset=np.array(["d"] * clips), split=np.array(["train"] * clips))
    return folder


def _argv(folder, out, model="posemoe", steps=STEPS):
    return ["--model", model, "--config", CONFIGS[model], "--steps", str(steps), "--batch", "4",
            "--data", str(folder), "--out", str(out), "--seed", "3", "--loader-workers", "0",
            "--threads", "1", "--log-every", "1", "--ckpt-seconds", "-1"]


@pytest.fixture
def snapshots(monkeypatch):
    """Every checkpoint the trainer writes (with ``--ckpt-seconds -1``: one after every step),
    deep-copied when written: ``{out folder: {step: checkpoint}}``."""
    seen: dict = {}
    save = train._atomic_save

    def recording_save(obj, path):
        seen.setdefault(str(path.parent), {})[obj["step"]] = copy.deepcopy(obj)
        save(obj, path)

    monkeypatch.setattr(train, "_atomic_save", recording_save)
    return seen


def _same(a, b, where: str) -> None:
    """``a`` and ``b`` (nested dicts/lists of tensors, arrays and numbers) are bit-identical."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_schedule_is_a_function_of_the_step():
    """LambdaLR with WarmupCosine: warm-up from 2 % to the peak, cosine to 2 % at the total;
    the same step gives the same rate whatever happened before, and the total is in its state."""
    total = 200
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched = train.make_schedule(opt, total)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    lrs.append(opt.param_groups[0]["lr"])
    warm = sched.lr_lambdas[0].warmup
    assert warm == 6
    assert math.isclose(lrs[0], 2e-5) and math.isclose(lrs[warm], 1e-3) and math.isclose(lrs[total], 2e-5)
    assert all(a < b for a, b in zip(lrs[:warm], lrs[1:warm + 1]))                  # rising warm-up
    assert all(a > b for a, b in zip(lrs[warm:total], lrs[warm + 1:total + 1]))     # falling cosine
    mid = warm + (total - warm) // 2
    assert math.isclose(lrs[mid], 1e-3 * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (mid - warm) / (total - warm)))))
    assert sched.state_dict()["lr_lambdas"][0]["total"] == total
    # a schedule restored from its state at step 100 gives the same rates as the one that ran
    opt2 = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched2 = train.make_schedule(opt2, total)
    state = copy.deepcopy(sched.state_dict())
    state["last_epoch"] = 100
    sched2.load_state_dict(state)
    assert sched2.get_last_lr() == sched.get_last_lr()  # the state carries the last rate
    assert sched2.lr_lambdas[0](100) * 1e-3 == lrs[100]


@pytest.mark.parametrize("model", sorted(CONFIGS))
def test_resume_continues_exactly(tmp_path, snapshots, model):
    """N steps straight == N/2 steps, stop, --resume N/2: the same weights, optimiser state,
    schedule state, RNG states, learning rate and loss after every step, bit for bit."""
    folder = _folder(tmp_path)
    straight, parts = tmp_path / "straight", tmp_path / "parts"
    assert train.main(_argv(folder, straight, model)) == 0
    assert train.main(_argv(folder, parts, model) + ["--stop-after", str(STEPS // 2)]) == 0
    first = snapshots.pop(str(parts))
    assert max(first) == STEPS // 2
    summary = json.loads((parts / "summary.json").read_text())
    assert summary["steps"] == STEPS // 2 and summary["total_steps"] == STEPS and not summary["finished"]
    assert train.main(_argv(folder, parts, model) + ["--resume"]) == 0
    second = snapshots[str(parts)]
    assert min(second) == STEPS // 2 + 1 and max(second) == STEPS
    a = snapshots[str(straight)]
    b = {**first, **second}
    assert sorted(a) == sorted(b) == list(range(1, STEPS + 1))
    for step in a:
        for key in ("model", "optim", "schedule", "rng", "torch_rng", "step", "config"):
            _same(a[step][key], b[step][key], f"step {step} {key}")
    ha, hb = a[STEPS]["history"], b[STEPS]["history"]
    assert [h["step"] for h in ha] == [h["step"] for h in hb] == list(range(1, STEPS + 1))
    assert [h["lr"] for h in ha] == [h["lr"] for h in hb]
    assert [h["loss"] for h in ha] == [h["loss"] for h in hb]
    # the rate each step trained with is the schedule's, by step
    shape = train.WarmupCosine(STEPS)
    np.testing.assert_allclose([h["lr"] for h in ha], [1e-3 * shape(k) for k in range(STEPS)], rtol=1e-12)
    _same(torch.load(straight / "model.pt")["state_dict"], torch.load(parts / "model.pt")["state_dict"], "model.pt")


def test_minutes_stops_early_without_reshaping_the_schedule(tmp_path, snapshots):
    """A wall-clock budget ends the run after its first step; the rate it used is the step's
    rate of the whole schedule, and --resume goes on to the end as if nothing had stopped it."""
    folder = _folder(tmp_path)
    straight, short = tmp_path / "straight", tmp_path / "short"
    assert train.main(_argv(folder, straight)) == 0
    assert train.main(_argv(folder, short) + ["--minutes", "1e-9"]) == 0
    ck = torch.load(short / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 1 and ck["schedule"]["lr_lambdas"][0]["total"] == STEPS
    assert ck["history"][0]["lr"] == snapshots[str(straight)][STEPS]["history"][0]["lr"]
    assert ck["schedule"]["_last_lr"] == snapshots[str(straight)][1]["schedule"]["_last_lr"]
    assert train.main(_argv(folder, short) + ["--resume"]) == 0
    _same(snapshots[str(straight)][STEPS]["model"], snapshots[str(short)][STEPS]["model"], "model")


def test_resume_refuses_another_total_config_or_stream(tmp_path):
    folder = _folder(tmp_path)
    out = tmp_path / "run"
    assert train.main(_argv(folder, out, steps=4) + ["--stop-after", "2"]) == 0
    with pytest.raises(PoseMoEError, match=r"--steps 4 -> 6.*its schedule is 4 steps"):
        train.main(_argv(folder, out, steps=6) + ["--resume"])
    other = _argv(folder, out, steps=4)
    other[other.index("--config") + 1] = CONFIGS["posemoe"].replace('"dim": 16', '"dim": 24')
    with pytest.raises(PoseMoEError, match=r"other settings \(dim 16 -> 24\)"):
        train.main(other + ["--resume"])
    with pytest.raises(PoseMoEError, match=r"--batch 4 -> 8"):
        train.main(_argv(folder, out, steps=4)[:-2] + ["--batch", "8", "--resume"])
    # a checkpoint of the old trainer (no schedule state) is not continued inexactly
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    del ck["schedule"]
    torch.save(ck, out / "checkpoint.pt")
    with pytest.raises(PoseMoEError, match="without its schedule"):
        train.main(_argv(folder, out, steps=4) + ["--resume"])
    no_total = _argv(folder, tmp_path / "x")
    del no_total[no_total.index("--steps"):no_total.index("--steps") + 2]
    with pytest.raises(PoseMoEError, match="give --steps N"):
        train.main(no_total + ["--minutes", "1"])
    with pytest.raises(PoseMoEError, match="past the run's end"):
        train.main(_argv(folder, tmp_path / "x", steps=4) + ["--stop-after", "5"])
    assert not (tmp_path / "x").exists()


def test_init_refuses_a_changed_head_or_size(tmp_path):
    """--init: only turning on hint3d (a new input that starts silent) may differ; a changed
    head (scale_from_depth), a size or a switch turned off is refused, naming each key."""
    base = train.make_config("posemoe", 27, [], {"dim": 16})
    assert train.check_init_config(base, {**base, "hint3d": True}, "w.pt") == ["hint3d"]
    assert train.check_init_config(base, dict(base), "w.pt") == []
    with pytest.raises(PoseMoEError, match=r"w.pt: .* in scale_from_depth null -> true; only turning on hint3d"):
        train.check_init_config(base, {**base, "scale_from_depth": True}, "w.pt")
    with pytest.raises(PoseMoEError, match=r"in dim 16 -> 24, hint3d true -> false"):
        train.check_init_config({**base, "hint3d": True}, {**base, "dim": 24, "hint3d": False}, "w.pt")
    folder = _folder(tmp_path)
    assert train.main(_argv(folder, tmp_path / "a", steps=1)) == 0
    other = _argv(folder, tmp_path / "b", steps=1)
    other[other.index("--config") + 1] = CONFIGS["posemoe"].replace('"depth": 1', '"depth": 2')
    with pytest.raises(PoseMoEError, match=r"in depth 1 -> 2;"):
        train.main(other + ["--init", str(tmp_path / "a" / "model.pt")])
    assert not (tmp_path / "b").exists()


def test_training_data_needs_a_train_split(tmp_path):
    folder = _folder(tmp_path)
    d = dict(np.load(folder / "mocap.npz"))
    d["split"] = np.array(["test"] * len(d["split"]))
    np.savez(folder / "mocap.npz", **d)
    with pytest.raises(PoseMoEError, match=r"no training clips \(split 'train'; it holds 'test'\)"):
        train.load_training_data(str(folder))
    assert len(Mocap.load(folder, "test")) == 3
