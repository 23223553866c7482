"""Where each lifter's error is: per-axis mean |error| on the held-out split (docs/model.md, "Why").

``python -m posemoe_lab.evaluation.axis_errors [NAME=WEIGHTS ...] [--segments 200]``

x, y (image plane) and z (depth) mean absolute error in mm, root-relative, as predicted and after
a per-frame least-squares scale (which removes the monocular scale guess). For a PoseMoE with
depth initialisation, also the z error of its depth prior alone (the per-frame MLP's mean ``mu``,
before the depth stream): how much the depth stream and the cross-expert aggregation add.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

from posemoe_blender.lifting.inference import predict_sequences  # noqa: E402
from posemoe_lab.evaluation.mocap import make_test_set  # noqa: E402
from posemoe_blender.lifting.weights import load_model  # noqa: E402

DEFAULT = ["posemoe=weights/posemoe_default.pt", "entangled=weights/entangled.pt", "tcn=weights/tcn_alt.pt"]


def prior_and_final_depth(model, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, 17, 3) inputs -> root-relative z of the depth prior and of the output, (N, T', 17),
    over the whole windows that fit in T (T' = a multiple of the model's window)."""
    W = int(model.cfg.frames)
    n = inputs.shape[1] // W
    x = torch.from_numpy(inputs[:, : n * W].reshape(-1, W, *inputs.shape[2:]).astype(np.float32))
    priors, finals = [], []
    model.eval()
    with torch.no_grad():
        for chunk in torch.split(x, 256):
            out = model(chunk)
            mu = model.last_prior[0]
            priors.append((mu - mu[:, :, :1]).numpy())
            finals.append(out[..., 2].numpy())
    shape = (inputs.shape[0], n * W, inputs.shape[2])
    return (np.concatenate(priors).reshape(shape).astype(np.float64),
            np.concatenate(finals).reshape(shape).astype(np.float64))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights", nargs="*", default=DEFAULT, help="NAME=WEIGHTS")
    ap.add_argument("--segments", type=int, default=200)
    ap.add_argument("--data", default=".cache/mocap")
    args = ap.parse_args()
    torch.set_num_threads(1)
    test = make_test_set(args.data, args.segments, 81, 1234)
    gt = test["target"].astype(np.float64)
    for spec in args.weights:
        name, path = spec.split("=", 1)
        model, _ = load_model(path)
        p = predict_sequences(model, test["inputs"], device=torch.device("cpu"), workers=2).astype(np.float64)
        p = p - p[:, :, :1]
        err = np.abs(p - gt).mean(axis=(0, 1, 2)) * 1000
        s = (p * gt).sum(axis=(2, 3), keepdims=True) / (p * p).sum(axis=(2, 3), keepdims=True)
        err_s = np.abs(s * p - gt).mean(axis=(0, 1, 2)) * 1000
        print(f"{name:10s} mean |error| x {err[0]:.1f}  y {err[1]:.1f}  z {err[2]:.1f} mm | "
              f"after a per-frame scale: x {err_s[0]:.1f}  y {err_s[1]:.1f}  z {err_s[2]:.1f} mm")
        if getattr(model, "cfg", None) is not None and getattr(model.cfg, "depth_init", False):
            z_prior, z_final = prior_and_final_depth(model, test["inputs"])
            g = gt[:, : z_prior.shape[1], :, 2]
            print(f"{'':10s} depth prior alone: z {np.abs(z_prior - g).mean() * 1000:.1f} mm; the whole "
                  f"network on the same windows: z {np.abs(z_final - g).mean() * 1000:.1f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
