"""Evaluate lifting networks on the held-out split and write a Markdown benchmark.

``python -m posemoe_lab.evaluation.mocap --runs posemoe=.cache/runs/posemoe ...
--out benchmarks/model/evaluation.md``

Protocol (fixed seed, identical for every row): ``--segments`` segments of ``--length``
frames at 30 fps are cut from the held-out clips (dataset-1 style ``happy``, dataset-2 style
``youthful``; never trained on), each seen by one static virtual phone camera with the same
body augmentation and detector-like 2D noise as training
(:func:`~posemoe_lab.training.dataset.sample_windows`). Every network runs through the
pipeline's sliding-window inference (:func:`~posemoe_blender.lifting.inference.predict_sequences`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from posemoe_blender.errors import PoseMoEError, run_main
from posemoe_lab.training.dataset import Mocap, sample_windows
from posemoe_blender.lifting.inference import predict_sequences
from posemoe_lab.evaluation.pose_metrics import reprojection_error_fitted, accel_error, depth_error, mpjpe, p_mpjpe, reprojection_error
from posemoe_blender.lifting.weights import load_model, read_weights, sha256_file


def make_test_set(data_dir: str, segments: int, length: int, seed: int, hint=None) -> dict:
    """Held-out windows; with ``hint`` (a :class:`~.mpnoise.MPNoiseModel`) the inputs also
    carry simulated MediaPipe 3D landmarks (channels 3-5, drawn after the 2D, so the 2D is the
    same with or without them)."""
    data = Mocap.load(data_dir, "test")
    rng = np.random.default_rng(seed)
    return sample_windows(data, rng, segments, length, fixed_fps=30.0, hint=hint)


def cpu_throughput(model, threads: int = 2, batch: int = 256, seconds: float = 4.0) -> float:
    """Frames/s of batched sequence-to-sequence windows on the CPU with ``threads`` threads."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        W = model.cfg.frames
        x = torch.randn(batch, W, 17, 6 if getattr(model.cfg, "hint3d", False) else 3)
        with torch.inference_mode():
            model(x)
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < seconds:
                model(x)
                n += 1
            dt = time.perf_counter() - t0
        return n * batch * W / dt
    finally:
        torch.set_num_threads(old)


def evaluate_model(model, test: dict, batch_size: int = 256) -> dict:
    channels = 6 if getattr(model.cfg, "hint3d", False) else 3
    if test["inputs"].shape[-1] < channels:
        raise PoseMoEError(f"{model.cfg.model} fuses MediaPipe's 3D: evaluate it with --hint-model")
    pred = predict_sequences(model, test["inputs"][..., :channels], batch_size=batch_size, device=torch.device("cpu"))
    pred = pred - pred[:, :, :1]
    gt = test["target"].astype(np.float64)
    pred = pred.astype(np.float64)
    return {
        "mpjpe": mpjpe(pred, gt), "p_mpjpe": p_mpjpe(pred, gt), "depth": depth_error(pred, gt),
        "accel": accel_error(pred, gt),
        "reproj_px": reprojection_error(pred, test["root_cam"], test["f"], test["cx"], test["cy"],
                                        test["clean_px"]),
        "reproj_fit_px": reprojection_error_fitted(pred, test["keypoints_px"].astype(np.float64),
                                                   test["f"], test["cx"], test["cy"], test["clean_px"]),
    }


def resolve_run(spec: str) -> tuple[str, Path]:
    name, _, path = spec.partition("=")
    if not path:
        name, path = Path(spec).name, spec
    p = Path(path)
    if p.is_dir():
        p = p / "model.pt"
    return name, p


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="posemoe_lab.evaluation.mocap", description=__doc__.split("\n")[0])
    ap.add_argument("--runs", nargs="+", required=True, help="NAME=RUN_DIR_or_model.pt (repeat)")
    ap.add_argument("--data", default=".cache/mocap")
    ap.add_argument("--out", default="benchmarks/model/evaluation.md")
    ap.add_argument("--json", default="", help="also write the raw numbers here")
    ap.add_argument("--segments", type=int, default=400)
    ap.add_argument("--length", type=int, default=81)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for the evaluation/throughput")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--hint-model", default="", help="MediaPipe noise model (JSON): the test windows also carry "
                                                     "simulated MediaPipe 3D for networks that fuse it")
    ap.add_argument("--notes", default="", help="Markdown file appended after the table")
    ap.add_argument("--gpu-fps", default="",
                    help="JSON written by posemoe_lab/evaluation/gpu_throughput.py on a GPU machine: fills the GPU column "
                         "for the runs it names (same NAME), '-' for the others")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    gpu = json.loads(Path(args.gpu_fps).read_text()) if args.gpu_fps else None
    from posemoe_lab.training.mpnoise import MPNoiseModel
    hint = MPNoiseModel.load(args.hint_model) if args.hint_model else None
    test = make_test_set(args.data, args.segments, args.length, args.seed, hint)
    noisy = test["keypoints_px"][..., :2]
    input_reproj = float(np.linalg.norm(noisy - test["clean_px"], axis=-1).mean())
    rows = []
    for spec in args.runs:
        name, path = resolve_run(spec)
        model, cfg = load_model(path)
        meta = read_weights(path).get("meta", {})
        t0 = time.time()
        m = evaluate_model(model, test)
        m.update(name=name, model=cfg["model"], params=sum(p.numel() for p in model.parameters()),
                 cfg=cfg, meta=meta, path=str(path), sha256=sha256_file(path),
                 eval_seconds=round(time.time() - t0, 1))
        m["cpu_fps"] = None if args.no_speed else cpu_throughput(model, args.threads)
        rows.append(m)
        print(f"{name:22s} MPJPE {m['mpjpe']:6.1f}  P-MPJPE {m['p_mpjpe']:6.1f}  depth {m['depth']:6.1f}  "
              f"reproj {m['reproj_px']:5.2f}px / fitted root {m['reproj_fit_px']:5.2f}px (input {input_reproj:5.2f})  accel {m['accel']:5.2f}  "
              f"params {m['params']}  fps {m['cpu_fps'] or 0:.0f}", flush=True)
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        "# Lifting benchmark (held-out split)", "",
        f"Generated {when} by `python -m posemoe_lab.evaluation.mocap "
        + " ".join(argv if argv is not None else sys.argv[1:]) + "`", "",
        f"Machine: {platform.machine()} CPU, {torch.get_num_threads()} torch threads; torch {torch.__version__}. "
        + (f"GPU fps: measured on an {gpu['device']} (torch {gpu['torch']}) by `posemoe_lab/evaluation/gpu_throughput.py` "
           f"(batches of {next(iter(gpu['network'].values()))['batch']} windows, bf16 autocast), read from "
           f"`{args.gpu_fps}`." if gpu else "No GPU measured."), "",
        f"Test set: {args.segments} segments x {args.length} frames (30 fps) from the held-out styles "
        "(dataset-1 `happy`, dataset-2 `youthful`), virtual phone cameras + detector-like noise, "
        f"seed {args.seed}. Detected (noisy) 2D input error vs true 2D: **{input_reproj:.2f} px**.", "",
        "Reprojection (px, against the true 2D): *true root* = the root-relative prediction placed at the "
        "true root; *fitted root* = placed where the detected 2D puts it (per-frame root translation "
        "fitted to the confidence-weighted detections with the known camera, as the pipeline places "
        "the rig), which absorbs a pure scale error. The detected 2D input itself scores "
        f"{input_reproj:.2f} px.", "",
        "| Model | Params | Train budget (steps) | MPJPE mm | P-MPJPE mm | Depth mm | Reproj px true root | "
        f"Reproj px fitted root (input {input_reproj:.2f}) | Accel mm/f² | CPU fps (2 thr) | GPU fps |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        meta = r["meta"]
        if meta.get("clock") == "cpu":
            budget = f"{meta.get('cpu_minutes', '?')} CPU-min ({meta.get('steps', '?')})"
        elif str(meta.get("device", "cpu")) != "cpu":
            budget = f"{meta.get('train_minutes', '?')} min on {meta['device']} ({meta.get('steps', '?')} x {meta.get('batch', '?')})"
        else:
            budget = f"{meta.get('train_minutes', '?')} min ({meta.get('steps', '?')})"
        fps = f"{r['cpu_fps']:.0f}" if r["cpu_fps"] else "-"
        net = (gpu or {}).get("network", {})
        g = net.get(r["name"]) or net.get(r["name"].split(" ")[0])  # "NAME (note)" rows
        gfps = f"{g['fps']:,.0f}" if g else "-"
        lines.append(f"| {r['name']} | {r['params'] / 1e3:.0f}k | {budget} | {r['mpjpe']:.1f} | "
                     f"{r['p_mpjpe']:.1f} | {r['depth']:.1f} | {r['reproj_px']:.2f} | {r['reproj_fit_px']:.2f} | "
                     f"{r['accel']:.2f} | "
                     f"{fps} | {gfps} |")
    lines += ["", "Reproduce each row (train, then this evaluation):", ""]
    for r in rows:
        lines.append(f"- {r['name']}: `{r['meta'].get('command', '?')}` (weights sha256 `{r['sha256'][:16]}...`)")
    if args.notes:
        lines += ["", Path(args.notes).read_text().rstrip()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"input_reproj_px": input_reproj, "rows": rows}, indent=2, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    run_main(main)
