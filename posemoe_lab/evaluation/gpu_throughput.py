"""Lifting throughput on a CUDA GPU: network frames/s per weights file, and the pipeline's lifting.

``python -m posemoe_lab.evaluation.gpu_throughput --weights NAME=PATH ... --json OUT.json``

* network: batched windows (``--batch`` windows of T frames, bf16 autocast as the pipeline
  runs them), frames/s = windows x T / s over ``--seconds`` after a warm-up, synchronised;
* pipeline: ``core.lifting.lift_keypoints`` on an 18,000-frame clip with ``device='cuda'``
  (host->device copies, sliding windows and tapering included), the same call the
  CPU rows of docs/benchmarks.md time, plus its mean difference from the CPU result (mm).
"""

from __future__ import annotations

import argparse
import os
import sys
import json
import time

import numpy as np
import torch

from posemoe_blender.lifting import stage as lifting
from posemoe_blender.lifting.weights import load_model


def network_fps(model, batch: int, seconds: float) -> float:
    W = int(model.cfg.frames)
    x = torch.randn(batch, W, 17, 3, device="cuda")
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(3):
            model(x)
        torch.cuda.synchronize()
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            model(x)
            n += 1
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    return n * batch * W / dt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", nargs="+", required=True, help="NAME=PATH")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--frames", type=int, default=18000)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    res = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "network": {}}
    for spec in args.weights:
        name, path = spec.split("=", 1)
        model, _ = load_model(path, device="cuda")
        res["network"][name] = {"fps": network_fps(model, args.batch, args.seconds), "batch": args.batch}
        print(name, f"{res['network'][name]['fps']:.0f} frames/s (network, batch {args.batch}, bf16)", flush=True)
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(300, 700, (args.frames, 17, 2)), np.ones((args.frames, 17, 1))], -1).astype(np.float32)
    lifting.lift_keypoints(kp[:100], 1080, 1920, device="cuda")
    torch.cuda.synchronize()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = lifting.lift_keypoints(kp, 1080, 1920, device="cuda")
        times.append(time.perf_counter() - t0)
    ref = lifting.lift_keypoints(kp, 1080, 1920, device="cpu")
    res["pipeline"] = {"frames": args.frames, "seconds": times, "fps": args.frames / min(times),
                       "mean_abs_diff_vs_cpu_mm": float(np.abs(out - ref).mean() * 1000),
                       "max_abs_diff_vs_cpu_mm": float(np.abs(out - ref).max() * 1000)}
    print(f"pipeline lift_keypoints cuda: {res['pipeline']['fps']:.0f} frames/s ({args.frames} frames), "
          f"vs CPU mean |diff| {res['pipeline']['mean_abs_diff_vs_cpu_mm']:.2f} mm", flush=True)
    with open(args.json, "w") as fh:
        json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
