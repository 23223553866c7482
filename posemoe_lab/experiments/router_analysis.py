"""What the PoseMoE routers do, measured on the held-out split (docs/benchmarks.md, "Why").

``python -m posemoe_lab.experiments.router_analysis WEIGHTS [--segments 200]``

For every MoE layer: how peaked the router is (mean top-1 probability; 1/E = no preference),
expert usage, and how much routing depends on the joint (mutual information between the
chosen expert and the joint index, in bits). Then the held-out MPJPE when the learned routing
is replaced at inference by (a) a random top-k choice per token, (b) every expert averaged:
if routing carried knowledge, these hurt.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

from posemoe_lab.evaluation.mocap import evaluate_model, make_test_set
from posemoe_blender.lifting.networks.posemoe import MoE
from posemoe_blender.lifting.weights import load_model


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("--segments", type=int, default=200)
    ap.add_argument("--data", default=".cache/mocap")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, cfg = load_model(args.weights)
    test = make_test_set(args.data, args.segments, 81, 1234)
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, MoE)]
    records: dict[str, list[torch.Tensor]] = {n: [] for n, _ in layers}
    for name, m in layers:
        def hook(mod, inp, out, name=name):
            records[name].append(out.detach().softmax(-1).reshape(-1, 17, out.shape[-1]))
        m.router.register_forward_hook(hook)
    base = evaluate_model(model, test)
    E = cfg["experts"]
    print(f"weights {args.weights}: held-out MPJPE {base['mpjpe']:.1f} mm ({args.segments} segments)")
    for name, _ in layers:
        p = torch.cat(records[name]).reshape(-1, 17, E)          # (tokens/17, 17, E)
        top1 = p.max(-1).values.mean().item()
        choice = p.argmax(-1)                                     # (n, 17)
        usage = torch.bincount(choice.reshape(-1), minlength=E).float() / choice.numel()
        joint_hist = torch.stack([torch.bincount(choice[:, j], minlength=E) for j in range(17)]).float()
        pj = joint_hist / joint_hist.sum()
        pe, pjm = pj.sum(0, keepdim=True), pj.sum(1, keepdim=True)
        mi = (pj * (pj / (pe * pjm)).clamp_min(1e-12).log2()).nansum().item()
        print(f"  {name:28s} mean top-1 prob {top1:.2f} (uniform {1 / E:.2f}) | top-1 usage "
              + " ".join(f"{u:.2f}" for u in usage.tolist())
              + f" | MI(expert; joint) {mi:.2f} bits (max {np.log2(E):.1f})")
    gen = torch.Generator().manual_seed(0)
    for mode in ("random", "uniform"):
        for name, m in layers:
            def fwd(x, m=m, mode=mode):
                shape = x.shape[:-1] + (m.n_experts,)
                if mode == "random":
                    return torch.rand(shape, generator=gen) * 10  # a random top-k per token
                return torch.zeros(shape, dtype=x.dtype)  # equal probabilities; top_k = E averages all
            m.router.forward = fwd
            if mode == "uniform":
                m.top_k = m.n_experts
        r = evaluate_model(model, test)
        print(f"routing replaced by {mode:7s}: MPJPE {r['mpjpe']:.1f} mm (learned {base['mpjpe']:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
