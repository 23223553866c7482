"""Lifting speed and agreement of the two lifting backends (torch, ONNX Runtime) on the CPU.

Usage (from the repository root)::

    .venv/bin/python -m posemoe_lab.evaluation.same_joints convert /tmp/joints   # the clips' 2D + landmarks
    .venv/bin/python -m posemoe_lab.evaluation.lift_backends /tmp/joints/demo.npz \\
        /tmp/joints/single_person_cam01.npz --random 18000 [--weights weights/tcn_fused.pt]

Each input is a joint file of ``convert --save-joints`` (``keypoints2d``, ``world3d``, ``width``,
``height``, ``detector``: the 2D is moved onto the training convention as ``convert`` does) or,
with ``--random N``, N random keypoint frames (timing only). Per input and backend: the joints
of ``lift_keypoints`` with the mirrored pass (convert's default) and without; the largest
difference between the backends' joints (metres); frames/s, the median of ``--rounds``
rounds in which the backends alternate (each round lifts the input until ``--seconds`` have
passed), both with :data:`~posemoe_blender.lifting.backend.CPU_WORKERS` worker threads of one
runtime thread. Then, per backend, the seconds a fresh Python takes to import the runtime and
load the network (median of 3), and the installed size of the runtime's package folder.
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from posemoe_blender.detection.landmarks import to_training_convention
from posemoe_blender.joints import load_npz
from posemoe_blender.lifting import stage as lifting
from posemoe_blender.lifting.backend import BACKENDS, CPU_THREADS, CPU_WORKERS
from posemoe_blender.lifting.registry import NETWORKS

from posemoe_lab import REPO_ROOT
from posemoe_lab.evaluation.bench import cpu_model

#: The Python package each backend imports.
PACKAGES = {"torch": "torch", "onnx": "onnxruntime"}


def clip_input(path: Path) -> dict:
    """A ``--save-joints`` file -> the lifter's input as ``convert`` gives it."""
    d = load_npz(path, required=("keypoints2d", "world3d", "width", "height"))
    kp = d["keypoints2d"].astype(np.float32)
    if str(d.get("detector", "")) == "blazepose":
        kp = to_training_convention(kp)
    return {"name": path.stem, "keypoints2d": kp, "world3d": d["world3d"].astype(np.float32),
            "width": int(d["width"]), "height": int(d["height"])}


def random_input(frames: int) -> dict:
    """``frames`` random keypoint frames of a 1080x1920 video with landmarks (timing only)."""
    r = np.random.default_rng(0)
    kp = np.concatenate([r.uniform(300, 700, (frames, 17, 2)), np.ones((frames, 17, 1))], -1).astype(np.float32)
    return {"name": f"random{frames}", "keypoints2d": kp,
            "world3d": r.normal(0, 0.3, (frames, 17, 3)).astype(np.float32), "width": 1080, "height": 1920}


def _lift(item: dict, weights: Path, backend: str, flip: bool) -> np.ndarray:
    return lifting.lift_keypoints(item["keypoints2d"], item["width"], item["height"], device="cpu",
                                  weights=weights, flip=flip, world3d=item["world3d"], backend=backend)


def measure(item: dict, weights: Path, flip: bool, rounds: int, seconds: float) -> dict:
    """Agreement and frames/s of both backends on one input."""
    joints = {b: _lift(item, weights, b, flip) for b in BACKENDS}  # also loads each network once
    rates: dict = {b: [] for b in BACKENDS}
    T = item["keypoints2d"].shape[0]
    for _ in range(rounds):
        for b in BACKENDS:
            n, t0 = 0, time.perf_counter()
            while True:
                _lift(item, weights, b, flip)
                n += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= seconds:
                    break
            rates[b].append(n * T / elapsed)
    fps = {b: round(statistics.median(r)) for b, r in rates.items()}
    return {"input": item["name"], "frames": T, "flip": flip,
            "max_abs_diff_m": float(np.abs(joints["torch"] - joints["onnx"]).max()),
            "fps": fps, "fps_rounds": {b: [round(x) for x in r] for b, r in rates.items()},
            "onnx_over_torch": round(fps["onnx"] / fps["torch"], 2)}


LOAD = ("import sys, time; t = time.perf_counter(); "
        "from posemoe_blender.lifting import stage; "
        "stage.MODELS.get(sys.argv[1], stage.resolve_device('cpu', sys.argv[2]), sys.argv[2]); "
        "print(time.perf_counter() - t)")


def startup(weights: Path, backend: str) -> float:
    """Seconds a fresh Python takes to import ``backend``'s runtime and load the network (median of 3)."""
    times = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", LOAD, str(weights), backend], cwd=REPO_ROOT,
                             capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return round(statistics.median(times), 2)


def installed_mb(package: str) -> float:
    """Size of an installed package's folder, MB (10^6 bytes)."""
    folder = Path(importlib.util.find_spec(package).origin).parent
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m posemoe_lab.evaluation.lift_backends",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("joints", nargs="*", type=Path, help="joint files of convert --save-joints")
    parser.add_argument("--random", type=int, default=0, help="also N random keypoint frames (timing only)")
    parser.add_argument("--weights", type=Path, default=NETWORKS["tcn"].weights, help="default: the default lifter's")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="per round and backend")
    args = parser.parse_args(argv)
    import onnxruntime
    import torch

    items = [clip_input(p) for p in args.joints] + ([random_input(args.random)] if args.random else [])
    report = {"weights": str(args.weights), "cpu": cpu_model(), "cpus": os.cpu_count(),
              "workers": CPU_WORKERS, "threads_per_worker": CPU_THREADS,
              "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
              "date": time.strftime("%Y-%m-%d %H:%M %Z"), "load_average_before": list(os.getloadavg()),
              "runs": [measure(item, args.weights, flip, args.rounds, args.seconds)
                       for item in items for flip in (True, False)]}
    report["load_average_after"] = list(os.getloadavg())
    report["startup_s"] = {b: startup(args.weights, b) for b in BACKENDS}
    report["installed_mb"] = {b: installed_mb(p) for b, p in PACKAGES.items()}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
