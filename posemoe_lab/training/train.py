"""Train a lifting network on virtual-camera views of the prepared mocap.

``python -m posemoe_lab train --model posemoe|entangled|tcn [--ablation A ...]
--steps N [--minutes M] [--stop-after K] --out .cache/runs/NAME [--resume]``

* seeded and reproducible: ``torch.manual_seed`` + a numpy ``Generator`` draw every window,
  camera and noise in a fixed order; the generator and torch RNG states are checkpointed;
* AdamW, gradient clipping, and a learning-rate schedule that is a function of the step alone:
  ``torch.optim.lr_scheduler.LambdaLR`` with :class:`WarmupCosine` over ``--steps N``, the run's
  total, fixed when it starts and kept in the checkpoint. ``--minutes M`` (the run's time over
  all its parts) and ``--stop-after K`` end a run early without reshaping the schedule;
  ``--resume`` then continues it exactly (model, optimiser, schedule and both RNG states
  restored: the same weights, bit for bit, as a run that never stopped). A resume that asks for
  another total, config or data stream is refused;
* loss = MPJPE + 0.2 x velocity error + 0.01 x load balance (PoseMoE)
  + 0.05 x depth-prior Gaussian NLL (PoseMoE with depth initialisation);
* ``--loader-workers N`` (for a GPU, whose steps outrun one CPU core's window sampling): N
  processes draw the batches ahead of the trainer; batch ``k`` then comes from its own
  generator seeded with ``(seed, k)``, so the stream does not depend on N (but differs from the
  one-generator stream of ``--loader-workers 0``, the default);
* progress lines: step, loss, MPJPE (mm, running mean), it/s, ETA; a checkpoint every
  ``--ckpt-seconds`` (``<out>/checkpoint.pt``) and, at the end, ``<out>/model.pt`` (the
  weights format of :mod:`~posemoe_blender.lifting.weights`) + ``<out>/summary.json``.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from posemoe_blender.cli import _Parser
from posemoe_blender.errors import PoseMoEError, run_main
from posemoe_blender.fileio import atomic_output
from posemoe_blender.lifting.registry import build_model
from posemoe_lab.training.dataset import AugmentConfig, Mocap, RealPairs, sample_windows
from posemoe_lab.training.mpnoise import MPNoiseModel
from posemoe_blender.lifting.weights import load_model, save_weights

ABLATIONS = {"no-depth-init": {"depth_init": False}, "no-router": {"router": False},
             "no-cross": {"cross": False}}
#: Default network sizes (see docs/model.md for the throughput/params trade-off).
DEFAULT_CONFIGS = {
    "posemoe": {"model": "posemoe", "dim": 48, "depth": 2, "heads": 4, "experts": 4, "top_k": 2,
                "expert_hidden": 48, "prior_hidden": 128},
    "entangled": {"model": "entangled", "dim": 64, "depth": 3, "heads": 4, "mlp_hidden": 192},
    "tcn": {"model": "tcn", "channels": 256, "dropout": 0.1},
}


def make_config(model: str, frames: int, ablations: list[str], overrides: dict | None = None) -> dict:
    cfg = dict(DEFAULT_CONFIGS[model])
    cfg["frames"] = frames
    for a in ablations:
        if model != "posemoe":
            raise PoseMoEError(f"--ablation {a} only applies to --model posemoe")
        cfg.update(ABLATIONS[a])
    cfg.update(overrides or {})
    return cfg


def mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).norm(dim=-1).mean()


def compute_loss(model, pred, target, weights=(0.2, 0.01, 0.05)):
    w_vel, w_aux, w_nll = weights
    loss_pos = mpjpe(pred, target)
    loss = loss_pos
    if pred.shape[1] > 1 and w_vel:
        loss = loss + w_vel * ((pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])).norm(dim=-1).mean()
    aux = model.aux_loss() if hasattr(model, "aux_loss") else torch.zeros(())
    loss = loss + w_aux * aux
    prior = getattr(model, "last_prior", None)
    if prior is not None and w_nll:
        mu, logvar = prior
        z = target[..., 2]
        nll = 0.5 * (logvar + (z - mu) ** 2 / logvar.exp())
        loss = loss + w_nll * nll.mean()
    return loss, loss_pos, aux


class WarmupCosine:
    """The learning-rate factor of step ``k`` (0-based) for ``torch.optim.lr_scheduler.LambdaLR``.

    A linear warm-up from ``floor`` to 1 over the first ``warmup`` steps (``warmup_frac`` of
    ``total``, at least one), then a cosine from 1 down to ``floor`` at step ``total``. A
    callable object, not a function, so that ``LambdaLR.state_dict`` saves ``total`` with the
    scheduler's state.
    """

    def __init__(self, total: int, warmup_frac: float = 0.03, floor: float = 0.02):
        self.total = int(total)
        self.warmup = max(1, int(round(warmup_frac * self.total)))
        self.floor = float(floor)

    def __call__(self, k: int) -> float:
        if k < self.warmup:
            return self.floor + (1.0 - self.floor) * k / self.warmup
        p = min((k - self.warmup) / max(self.total - self.warmup, 1), 1.0)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * p))


def make_schedule(opt: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The run's schedule over ``total`` steps: each parameter group's ``lr`` times
    :class:`WarmupCosine` of the step (``scheduler.step()`` once after each optimiser step)."""
    return torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(total))


def _atomic_save(obj, path: Path):
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def make_augment(overrides: dict | None) -> AugmentConfig:
    """The default :class:`~.dataset.AugmentConfig` with ``overrides`` (``--aug`` JSON) applied;
    an unknown field is a PoseMoEError. Lists become tuples (the ranges)."""
    fields = AugmentConfig.__dataclass_fields__
    bad = sorted(set(overrides or {}) - set(fields))
    if bad:
        raise PoseMoEError(f"--aug: unknown field(s) {', '.join(bad)} (known: {', '.join(fields)})")
    return AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in (overrides or {}).items()})


#: Per-process state of a loader worker (set once by :func:`_loader_init`, read by :func:`_loader_batch`).
_WORKER: dict = {}


def _loader_init(data_dir: str, clips: int, frames: int, augment: bool, aug: dict | None = None,
                 source_weights: dict | None = None, hint_model: str = "") -> None:
    import torch as _torch
    _torch.set_num_threads(1)
    data = load_training_data(data_dir, clips, source_weights)
    _WORKER.update(data=data, frames=frames, augment=augment, aug=make_augment(aug),
                   hint=MPNoiseModel.load(hint_model) if hint_model else None)


def _loader_batch(job: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    seed, step, batch = job
    rng = np.random.default_rng([seed, step])
    b = sample_windows(_WORKER["data"], rng, batch, _WORKER["frames"], aug=_WORKER["aug"],
                       augment_body=_WORKER["augment"], noise=_WORKER["augment"], hint=_WORKER["hint"])
    return b["inputs"], b["target"]


class BatchStream:
    """Training batches ``(inputs (B, T, 17, 3), target (B, T, 17, 3))`` as numpy float32.

    ``workers == 0``: drawn here from ``rng`` in order (the CPU default). ``workers > 0``: drawn
    by a process pool, ``prefetch`` batches ahead, batch ``k`` seeded with ``(seed, k)``.
    """

    def __init__(self, args, data: Mocap, rng: np.random.Generator, first_step: int):
        self.args, self.data, self.rng = args, data, rng
        self.aug = make_augment(args.aug_overrides)
        self.hint = MPNoiseModel.load(args.hint_model) if args.hint_model else None
        self.real = RealPairs.load(args.real_pairs) if args.real_pairs else None
        self.next_step = first_step
        self.pool = None
        self.pending: collections.deque = collections.deque()
        if args.loader_workers > 0:
            ctx = multiprocessing.get_context("spawn")  # never fork a process that holds CUDA
            self.pool = ctx.Pool(args.loader_workers, initializer=_loader_init,
                                 initargs=(args.data, args.clips, args.frames, not args.no_augment,
                                           args.aug_overrides, args.source_weight_map, args.hint_model))
            for _ in range(2 * args.loader_workers):
                self._submit()

    def _submit(self) -> None:
        job = (self.args.seed, self.next_step, self.args.batch)
        self.pending.append(self.pool.apply_async(_loader_batch, (job,)))
        self.next_step += 1

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        if self.pool is None:
            n_real = int(round(self.args.real_frac * self.args.batch)) if self.real is not None else 0
            b = sample_windows(self.data, self.rng, self.args.batch - n_real, self.args.frames,
                               aug=self.aug, hint=self.hint,
                               augment_body=not self.args.no_augment, noise=not self.args.no_augment)
            if not n_real:
                return b["inputs"], b["target"]
            x, y = self.real.sample(self.rng, n_real, self.args.frames)
            return np.concatenate([b["inputs"], x]), np.concatenate([b["target"], y])
        result = self.pending.popleft().get()
        self._submit()
        return result

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


#: Config switches a fine-tune may turn on over its ``--init`` file: each adds an input whose
#: weights start at zero, so the network starts as its ``--init`` network. A switch that changes
#: the head (``scale_from_depth``) or any size is not here: such a network trains from scratch.
WARM_START_SWITCHES = {"hint3d": "adds MediaPipe's 3D landmarks as an input whose weights start at zero"}


def check_init_config(init_cfg: dict, cfg: dict, path: str) -> list[str]:
    """The config keys in which the run's ``cfg`` differs from its ``--init`` file's ``init_cfg``.

    Only switches of :data:`WARM_START_SWITCHES` turned on by the run may differ; anything else
    (a size, the head, a switch turned off) is a PoseMoEError naming each differing key.
    """
    diff = sorted(k for k in set(init_cfg) | set(cfg) if init_cfg.get(k) != cfg.get(k))
    refused = [k for k in diff if not (k in WARM_START_SWITCHES and cfg.get(k) and not init_cfg.get(k))]
    if refused:
        said = ", ".join(f"{k} {json.dumps(init_cfg.get(k))} -> {json.dumps(cfg.get(k))}" for k in refused)
        raise PoseMoEError(f"--init {path}: its config differs from the run's in {said}; only turning on "
                           f"{', '.join(WARM_START_SWITCHES)} may differ (any other change trains from scratch)")
    return diff


def warm_start(model: torch.nn.Module, state: dict) -> list[str]:
    """Load ``state`` into ``model``: every tensor of ``state`` must exist with the same shape;
    the model's other tensors (new inputs) keep their initialisation. Returns their names."""
    own = model.state_dict()
    bad = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise PoseMoEError(f"--init: tensors that do not fit this network: {', '.join(bad[:5])}")
    model.load_state_dict(state, strict=False)
    return sorted(set(own) - set(state))


def load_training_data(folder: str, clips: int = 0, source_weights: dict | None = None) -> Mocap:
    """The training split of ``folder`` (``model.prepare``), with clip sampling weights that
    give each source its share of the windows (``source_weights``; default: by frames).

    A folder without ``mocap.npz``, an unreadable one, or one without training clips of at
    least two frames is a PoseMoEError.
    """
    everything = Mocap.load(folder)
    data = everything.subset(everything.split == "train")
    if not len(data):
        splits = sorted(set(everything.split.tolist()))
        raise PoseMoEError(f"{Path(folder) / 'mocap.npz'}: no training clips (split 'train'; it holds "
                           f"{', '.join(repr(x) for x in splits) or 'no clips'})")
    if clips:
        data = data.subset(np.arange(len(data)) < clips)
    if not (data.clip_len >= 2).any():
        raise PoseMoEError(f"{Path(folder) / 'mocap.npz'}: no training clip has two frames or more")
    if source_weights:
        data = data.with_source_weights(source_weights)
    return data


def _bounded(kind, strict: bool):
    """An argparse type: a number of ``kind`` above 0 (``strict``) or at least 0."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (v > 0 if strict else v >= 0):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} 0, got {text}")
        return v
    return parse


def _positive(kind):
    return _bounded(kind, strict=True)


def _non_negative(kind):
    return _bounded(kind, strict=False)


def _json_option(name: str, text: str) -> dict | None:
    """``--name`` JSON (an object) -> dict; empty -> None; anything else is a PoseMoEError."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PoseMoEError(f"--{name}: not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, dict):
        raise PoseMoEError(f"--{name}: expected a JSON object, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m posemoe_lab train",
                 description="Train a 2D-to-3D lifting network (PoseMoE or a baseline).")
    ap.add_argument("--model", choices=sorted(DEFAULT_CONFIGS), default="posemoe")
    ap.add_argument("--ablation", action="append", default=[], choices=sorted(ABLATIONS),
                    help="PoseMoE ablation switch (repeatable)")
    ap.add_argument("--frames", type=_positive(int), default=27, help="window length T (27, 81 or 243)")
    ap.add_argument("--steps", type=_positive(int), default=None,
                    help="the run's total number of steps: the learning-rate schedule's length, fixed "
                         "when the run starts (required; a resume must give the same N)")
    ap.add_argument("--minutes", type=_non_negative(float), default=0.0,
                    help="stop early once the run (all its parts) has trained this long (see --clock); "
                         "the schedule stays the one over --steps, and --resume continues it")
    ap.add_argument("--stop-after", type=_non_negative(int), default=0,
                    help="stop early after step K of --steps (0: run to the end); --resume continues it")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="what --minutes counts: wall-clock time, or this process's CPU time (fair "
                         "budgets on a machine shared with other jobs; with --threads 1, CPU time = compute)")
    ap.add_argument("--batch", type=_positive(int), default=32, help="windows per step")
    ap.add_argument("--lr", type=_positive(float), default=1e-3, help="peak learning rate")
    ap.add_argument("--weight-decay", type=_non_negative(float), default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=_positive(int), default=1, help="torch CPU threads")
    ap.add_argument("--data", default=".cache/mocap", help="folder written by `python -m posemoe_lab prepare`")
    ap.add_argument("--out", required=True, help="run folder (checkpoint, model.pt, log)")
    ap.add_argument("--resume", action="store_true",
                    help="continue <out>/checkpoint.pt exactly (a fresh run when there is none)")
    ap.add_argument("--config", default="", help="JSON overrides of the model config")
    ap.add_argument("--aug", default="", help='JSON overrides of the augmentation (model/dataset.AugmentConfig), '
                                              'e.g. \'{"bias_rel": 0.02}\'')
    ap.add_argument("--init", default="", help="start from this weights file (fresh optimiser and schedule): "
                                               "fine-tuning. Its config must be the run's, except that the run "
                                               "may turn on " + ", ".join(WARM_START_SWITCHES) + " (a new input "
                                               "that starts silent); a changed head or size trains from scratch")
    ap.add_argument("--new-lr-mult", type=_positive(float), default=1.0,
                    help="with --init: learning-rate factor for the parameters the init file lacks (a new input)")
    ap.add_argument("--hint-model", default="", help="MediaPipe noise model (JSON, posemoe_lab/training/mpnoise.py): "
                                                     "train a network that fuses MediaPipe's 3D (config hint3d)")
    ap.add_argument("--real-pairs", default="", help="BlazePose's real outputs on rendered training motion "
                                                     "(posemoe_lab/experiments/make_real_pairs.py): mixed into every batch")
    ap.add_argument("--real-frac", type=float, default=0.5, help="share of each batch from --real-pairs")
    ap.add_argument("--source-weights", default="", help='JSON share of the training windows per source '
                                                         '(prepare\'s "source" names), e.g. '
                                                         '\'{"bandai-1": 1, "bandai-2": 1, "hdm05": 1, "reactidle": 0.5}\'; '
                                                         'default: in proportion to frames')
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--loader-workers", type=_non_negative(int), default=0,
                    help="processes drawing batches ahead (for a GPU; 0 = draw them in this process)")
    ap.add_argument("--ckpt-seconds", type=float, default=60.0)
    ap.add_argument("--log-every", type=_positive(int), default=20)
    ap.add_argument("--clips", type=_non_negative(int), default=0,
                    help="debug/overfit: use only the first N training clips")
    ap.add_argument("--no-augment", action="store_true", help="debug/overfit: no body augmentation, no noise")
    return ap


#: The options that define a run's stream of batches and updates: a resume must repeat them.
RUN_OPTIONS = ("steps", "batch", "lr", "weight_decay", "seed", "aug_overrides", "source_weight_map",
               "hint_model", "real_pairs", "real_frac", "loader_workers", "clips", "no_augment",
               "init", "new_lr_mult")


def check_resume(ck: dict, cfg: dict, run: dict, path: Path) -> None:
    """Refuse (PoseMoEError, one line) a checkpoint that this run cannot continue exactly: one
    written before step-based schedules, or one whose config or run options differ."""
    if "schedule" not in ck or "run" not in ck:
        raise PoseMoEError(f"{path}: a checkpoint without its schedule (written by an older trainer) cannot "
                           "be continued exactly; start a new run (--init from its model.pt to keep the weights)")
    diff = [f"{k} {json.dumps(ck['config'].get(k))} -> {json.dumps(cfg.get(k))}"
            for k in sorted(set(ck["config"]) | set(cfg)) if ck["config"].get(k) != cfg.get(k)]
    diff += [f"--{k.replace('_', '-')} {json.dumps(ck['run'].get(k))} -> {json.dumps(run.get(k))}"
             for k in RUN_OPTIONS if ck["run"].get(k) != run.get(k)]
    if diff:
        raise PoseMoEError(f"{path}: the run was started with other settings ({'; '.join(diff)}); resume it "
                           "with the options it started with (its schedule is "
                           f"{ck['run'].get('steps')} steps), or start a new run in another --out")


def train(args) -> dict:
    if not args.steps:
        raise PoseMoEError("give --steps N: the run's total, the schedule's length "
                           "(--minutes and --stop-after only end a run early)")
    if args.stop_after and args.stop_after > args.steps:
        raise PoseMoEError(f"--stop-after {args.stop_after} is past the run's end (--steps {args.steps})")
    overrides = _json_option("config", args.config) or {}
    if args.hint_model:
        overrides.setdefault("hint3d", True)
    cfg = make_config(args.model, args.frames, args.ablation, overrides)
    if bool(cfg.get("hint3d")) != bool(args.hint_model):
        raise PoseMoEError("a network with hint3d needs --hint-model (and --hint-model needs hint3d)")
    if args.real_pairs and (not cfg.get("hint3d") or args.loader_workers):
        raise PoseMoEError("--real-pairs: for hint3d networks, batches drawn in this process (--loader-workers 0)")
    args.source_weight_map = _json_option("source-weights", args.source_weights)
    args.aug_overrides = _json_option("aug", args.aug)
    make_augment(args.aug_overrides)  # a bad --aug fails before anything runs
    run = {k: getattr(args, k) for k in RUN_OPTIONS}
    out = Path(args.out)
    ckpt_path = out / "checkpoint.pt"
    ck = None
    if args.resume and ckpt_path.is_file():
        try:
            ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line error
            raise PoseMoEError(f"{ckpt_path}: not a readable checkpoint ({type(exc).__name__})") from None
        check_resume(ck, cfg, run, ckpt_path)
    data = load_training_data(args.data, args.clips, args.source_weight_map)  # bad data fails before any output

    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    from posemoe_blender.lifting.inference import resolve_device
    device = resolve_device(args.device)  # a missing GPU or an unknown name is a one-line error
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    try:
        model = build_model(cfg)
    except (TypeError, ValueError) as exc:
        raise PoseMoEError(f"--config: {' '.join(str(exc).split())}") from None
    new_params: list[str] = []
    if args.init:
        init_model, init_cfg = load_model(args.init)
        check_init_config(dict(init_cfg), cfg, args.init)
        new_params = warm_start(model, init_model.state_dict())
    model = model.to(device)
    fresh = set(new_params)
    groups = [{"params": [p for n, p in model.named_parameters() if n not in fresh], "lr_mult": 1.0},
              {"params": [p for n, p in model.named_parameters() if n in fresh], "lr_mult": args.new_lr_mult}]
    groups = [{**g, "lr": args.lr * g["lr_mult"]} for g in groups if g["params"]]
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=args.weight_decay)
    sched = make_schedule(opt, args.steps)
    step, elapsed, wall, cpu = 0, 0.0, 0.0, 0.0
    history: list[dict] = []
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])      # before the schedule: it holds the groups' lr
        sched.load_state_dict(ck["schedule"])
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        step, elapsed, history = ck["step"], ck["elapsed"], ck.get("history", [])
        wall, cpu = ck.get("wall", 0.0), ck.get("cpu", 0.0)
        print(f"resumed from {ckpt_path} at step {step} of {args.steps} ({elapsed / 60:.1f} min done)", flush=True)
    out.mkdir(parents=True, exist_ok=True)

    n_params = sum(p.numel() for p in model.parameters())
    budget = args.minutes * 60.0
    stop_at = args.stop_after or args.steps
    print(f"model {cfg['model']} {json.dumps(cfg)} params {n_params} | train clips {len(data)} "
          f"frames {int(data.clip_len.sum())} | steps {args.steps} (stop at {stop_at}) budget "
          f"{args.minutes or '-'} min | batch {args.batch} threads {args.threads}", flush=True)

    def done() -> bool:
        return step >= stop_at or (budget > 0 and elapsed >= budget)

    def checkpoint():
        _atomic_save({"config": cfg, "run": run, "model": model.state_dict(), "optim": opt.state_dict(),
                      "schedule": sched.state_dict(), "rng": rng.bit_generator.state,
                      "torch_rng": torch.get_rng_state(), "step": step, "elapsed": elapsed, "wall": wall,
                      "cpu": cpu, "history": history, "args": vars(args)},
                     ckpt_path)

    device_name = torch.cuda.get_device_name(device) if cuda else "cpu"
    stream = BatchStream(args, data, rng, step)
    model.train()
    run_loss, run_mpjpe, run_n = 0.0, 0.0, 0
    t_last, c_last = time.time(), time.process_time()
    t_log, step_log = time.time(), step
    last_ckpt = time.time()
    try:
        while not done():
            inputs, target = stream.next()
            x = torch.from_numpy(inputs)
            y = torch.from_numpy(target)
            if cuda:
                x = x.pin_memory().to(device, non_blocking=True)
                y = y.pin_memory().to(device, non_blocking=True)
            lr = opt.param_groups[0]["lr"] / opt.param_groups[0]["lr_mult"]   # this step's (base) rate
            pred = model(x)
            loss, loss_pos, aux = compute_loss(model, pred, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            now, cnow = time.time(), time.process_time()
            wall += now - t_last
            cpu += cnow - c_last
            elapsed = cpu if args.clock == "cpu" else wall
            t_last, c_last = now, cnow
            run_loss += loss.detach()   # summed on the device: no GPU sync per step
            run_mpjpe += loss_pos.detach() * 1000
            run_n += 1
            if step % args.log_every == 0 or done():
                its = (step - step_log) / max(now - t_log, 1e-9)
                eta = (args.steps - step) / max(its, 1e-9)
                rec = {"step": step, "loss": float(run_loss) / run_n, "mpjpe_mm": float(run_mpjpe) / run_n,
                       "lr": lr, "it_s": its, "elapsed_min": elapsed / 60, "wall_min": wall / 60,
                       "cpu_min": cpu / 60, "aux": aux.item()}
                history.append(rec)
                print(f"step {step:6d}/{args.steps} | loss {rec['loss']:.4f} | MPJPE {rec['mpjpe_mm']:6.1f} mm | "
                      f"aux {rec['aux']:.3f} | lr {lr:.2e} | {its:5.2f} it/s | "
                      f"{elapsed / 60:5.1f} min ({args.clock}) | ETA {eta / 60:5.1f} min", flush=True)
                run_loss, run_mpjpe, run_n = 0.0, 0.0, 0
                t_log, step_log = now, step
            if now - last_ckpt > args.ckpt_seconds:
                checkpoint()
                last_ckpt = time.time()
    finally:
        stream.close()
    checkpoint()
    meta = {"steps": step, "total_steps": args.steps, "finished": step >= args.steps,
            "schedule": f"LambdaLR WarmupCosine over {args.steps} steps",
            "train_minutes": round(elapsed / 60, 2), "clock": args.clock,
            "wall_minutes": round(wall / 60, 2), "cpu_minutes": round(cpu / 60, 2), "batch": args.batch,
            "seed": args.seed, "params": n_params, "lr": args.lr, "threads": args.threads,
            "device": device_name, "loader_workers": args.loader_workers,
            "final_train_mpjpe_mm": history[-1]["mpjpe_mm"] if history else None,
            "command": "python -m posemoe_lab train " + " ".join(args.argv)}
    sha = save_weights(out / "model.pt", model, cfg, meta)
    summary = {"config": cfg, **meta, "sha256": sha}
    with atomic_output(out / "summary.json") as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=2))
    state = "done" if step >= args.steps else f"stopped early (--resume continues to step {args.steps})"
    print(f"{state}: step {step} of {args.steps} in {elapsed / 60:.1f} min -> {out / 'model.pt'} "
          f"(sha256 {sha[:12]})", flush=True)
    return summary


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    train(args)
    return 0


if __name__ == "__main__":
    run_main(main)
