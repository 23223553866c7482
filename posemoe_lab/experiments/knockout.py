"""What a trained PoseMoE relies on: switch one path off at inference and measure the damage.

``python -m posemoe_lab.experiments.knockout [weights/posemoe_default.pt] [--segments 200]``

On the held-out split (the evaluation's test windows), mean |error| per axis (mm, root-relative)
of the unchanged network and of the same weights with one path removed at inference:

* ``no 2D -> depth cross``: the depth stream's cross-attention to the 2D stream (spatial and
  temporal) returns nothing, so depth sees the 2D pose only through the prior;
* ``no depth -> 2D cross``: the reverse direction off;
* ``no cross at all``: both off;
* ``prior mean``: the depth prior's ``mu`` replaced by its average over the test windows (per
  joint), so the depth stream starts from no per-frame estimate.

A knock-out is not an ablation (the network was not trained without the path): it shows how
much of the answer flows through that path, not what a network trained without it would do.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

import numpy as np
import torch

from posemoe_blender.lifting.inference import predict_sequences  # noqa: E402
from posemoe_blender.lifting.networks import posemoe as pm  # noqa: E402
from posemoe_lab.evaluation.mocap import make_test_set  # noqa: E402
from posemoe_blender.lifting.weights import load_model  # noqa: E402


@contextlib.contextmanager
def cross_off(to_depth: bool, to_2d: bool):
    """Zero the cross-expert terms into the depth stream and/or into the 2D stream."""
    original = pm.CrossAggregation.forward

    def forward(self, a, d):
        a2, d2 = original(self, a, d)
        return (a if to_2d else a2), (d if to_depth else d2)

    pm.CrossAggregation.forward = forward
    try:
        yield
    finally:
        pm.CrossAggregation.forward = original


@contextlib.contextmanager
def prior_mean(model, mean_mu: torch.Tensor):  # mean_mu (17,)
    """Replace the prior's per-frame mu by a fixed per-joint mean (log-variance kept)."""
    def replace(module, inputs, out):  # out (B, T, 17 * 2) = (mu, logvar) per joint
        o = out.view(*out.shape[:-1], -1, 2).clone()
        o[..., 0] = mean_mu
        return o.view(out.shape)

    hook = model.prior.register_forward_hook(replace)
    try:
        yield
    finally:
        hook.remove()


def axis_error(model, inputs: np.ndarray, gt: np.ndarray) -> np.ndarray:
    p = predict_sequences(model, inputs, device=torch.device("cpu"), workers=2).astype(np.float64)
    return np.abs((p - p[:, :, :1]) - gt).mean(axis=(0, 1, 2)) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights", nargs="?", default="weights/posemoe_default.pt")
    ap.add_argument("--segments", type=int, default=200)
    ap.add_argument("--data", default=".cache/mocap")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, cfg = load_model(args.weights)
    if cfg.get("model") != "posemoe":
        raise SystemExit(f"{args.weights}: not a PoseMoE")
    test = make_test_set(args.data, args.segments, 81, 1234)
    gt = test["target"].astype(np.float64)
    W = int(model.cfg.frames)
    x = torch.from_numpy(test["inputs"][:, :W].astype(np.float32))
    with torch.no_grad():  # the prior's average mu (per joint) over the test windows
        mu = model.prior(x.reshape(x.shape[0], W, -1)).view(x.shape[0], W, -1, 2)[..., 0]
        mean_mu = mu.mean(dim=(0, 1))  # (17,)
    runs = {"unchanged": contextlib.nullcontext(),
            "no 2D -> depth cross": cross_off(to_depth=True, to_2d=False),
            "no depth -> 2D cross": cross_off(to_depth=False, to_2d=True),
            "no cross at all": cross_off(to_depth=True, to_2d=True),
            "prior mean": prior_mean(model, mean_mu)}
    print("| inference | x mm | y mm | z mm |\n|---|---:|---:|---:|")
    for name, ctx in runs.items():
        with ctx:
            e = axis_error(model, test["inputs"], gt)
        print(f"| {name} | {e[0]:.1f} | {e[1]:.1f} | {e[2]:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
