"""Export the shipped lifting networks to ONNX, for the product's ONNX Runtime backend.

Usage (from the repository root)::

    .venv/bin/python -m posemoe_lab.export_onnx                # every shipped weights file
    .venv/bin/python -m posemoe_lab.export_onnx weights/X.pt   # one file (X.onnx beside it)
    .venv/bin/python -m posemoe_lab.export_onnx --check        # the committed exports against fresh ones

Each ``NAME.pt`` (``posemoe_blender.lifting.registry.NETWORKS``: ``weights`` and ``weights_2d``)
becomes ``NAME.onnx`` beside it: the network in eval mode traced by ``torch.onnx.export``
(the dynamo exporter, which needs the ``onnx`` and ``onnxscript`` packages: a lab-only
requirement), opset :data:`OPSET`, input ``inputs`` ``(batch, W, 17, C)`` float32 with a free
batch axis (``W`` = the config's ``frames``, ``C`` = 6 with ``hint3d``, else 3), output
``joints3d`` ``(batch, W, 17, 3)`` float32 metres. The exporter's per-node metadata (stack traces
with this machine's paths) is dropped; the model's metadata gets the config (JSON), the
``.pt``'s SHA-256 and the format (:mod:`posemoe_blender.lifting.onnx_backend`). Every export is
checked against torch on random windows of several batch sizes (:data:`TOLERANCE` metres)
before it replaces the old file, and the ``.json`` sidecar of the ``.pt`` records the export
(``"onnx"``: file, sha256, bytes, opset, the exporting versions).

``--check`` exports each file again into a temporary folder and compares the committed
export's outputs with the fresh one's (and the recorded ``.pt`` SHA-256 with the file's);
exit status 1 when one differs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from posemoe_blender.errors import PoseMoEError
from posemoe_blender.fileio import staging_file
from posemoe_blender.joints import NUM_JOINTS
from posemoe_blender.lifting.onnx_backend import (CONFIG_KEY, FORMAT, FORMAT_KEY, SOURCE_KEY, load_network,
                                                  onnx_file)
from posemoe_blender.lifting.registry import NETWORKS
from posemoe_blender.lifting.weights import load_model, sha256_file

from posemoe_lab import REPO_ROOT

#: The ONNX opset of the exports (ONNX Runtime 1.14 and later run it).
OPSET = 18
#: Largest |ONNX Runtime - torch| allowed on the check windows, metres.
TOLERANCE = 1e-5
#: The command recorded in the sidecars.
COMMAND = "python -m posemoe_lab.export_onnx"


def shipped() -> list[Path]:
    """Every shipped weights file of the registry that exists (the fused file, then the 2D one)."""
    return [p for net in NETWORKS.values() for p in (net.weights, net.weights_2d) if p.is_file()]


def check_windows(config: dict, batch: int, seed: int = 0) -> np.ndarray:
    """Random network inputs ``(batch, W, 17, C)`` float32 like the pipeline's: x, y about the
    image centre, confidence in [0, 1], and landmarks (metres, root-relative) with ``hint3d``."""
    rng = np.random.default_rng(seed)
    W = int(config.get("frames", 27))
    xy = rng.uniform(-0.6, 0.6, (batch, 1, NUM_JOINTS, 2)) + np.cumsum(rng.normal(0, 0.01, (batch, W, NUM_JOINTS, 2)), 1)
    parts = [xy, rng.uniform(0.0, 1.0, (batch, W, NUM_JOINTS, 1))]
    if config.get("hint3d", False):
        world = rng.normal(0, 0.3, (batch, W, NUM_JOINTS, 3))
        parts.append(world - world[:, :, :1])
    return np.concatenate(parts, -1).astype(np.float32)


def _clean(model) -> None:
    """Drop the exporter's metadata (node names' origins, stack traces with local paths)."""
    def graph(g):
        for n in g.node:
            del n.metadata_props[:]
            for a in n.attribute:
                if a.g is not None and a.HasField("g"):
                    graph(a.g)
        for v in list(g.input) + list(g.output) + list(g.value_info) + list(g.initializer):
            del v.metadata_props[:]
        del g.metadata_props[:]
    graph(model.graph)
    for f in model.functions:
        for n in f.node:
            del n.metadata_props[:]
    del model.metadata_props[:]


def export_bytes(weights: Path) -> bytes:
    """The ONNX export of one weights file, as the bytes of the ``.onnx`` file."""
    import onnx
    import torch

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes
    model, config = load_model(weights)
    example = torch.from_numpy(check_windows(config, 4))
    batch = torch.export.Dim("batch", min=1)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        out = Path(tmp) / "net.onnx"
        torch.onnx.export(model, (example,), str(out), input_names=["inputs"], output_names=["joints3d"],
                          dynamo=True, dynamic_shapes=({0: batch},), opset_version=OPSET,
                          external_data=False, optimize=True)
        proto = onnx.load(str(out))
    _clean(proto)
    for key, value in ((FORMAT_KEY, FORMAT), (CONFIG_KEY, json.dumps(config, sort_keys=True)),
                       (SOURCE_KEY, sha256_file(weights))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"{weights.name} exported by {COMMAND}"
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def largest_difference(onnx_path: Path, reference, config: dict) -> float:
    """Largest |difference| (metres) between an export's outputs and ``reference``'s (a torch
    module or another export) on :func:`check_windows` of batch sizes 1, 5 and 32."""
    import torch

    net, _ = load_network(onnx_path)
    worst = 0.0
    for batch in (1, 5, 32):
        x = check_windows(config, batch, seed=batch)
        if isinstance(reference, torch.nn.Module):
            with torch.inference_mode():
                ref = reference(torch.from_numpy(x)).numpy()
        else:
            ref = reference(x)
        worst = max(worst, float(np.abs(net(x) - ref).max()))
    return worst


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _write(path: Path, data: bytes) -> None:
    fd, tmp = staging_file(str(path.parent), path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def export(weights: Path) -> dict:
    """Export ``weights`` to the ``.onnx`` beside it (checked against torch first) and record
    it in the ``.json`` sidecar when there is one; returns the record."""
    import onnxscript
    import torch

    model, config = load_model(weights)
    target = onnx_file(weights)
    data = export_bytes(weights)
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / target.name
        trial.write_bytes(data)
        worst = largest_difference(trial, model, config)
    if worst > TOLERANCE:
        raise PoseMoEError(f"{weights}: the ONNX export differs from torch by {worst:.2e} m (> {TOLERANCE:g})")
    _write(target, data)
    record = {"file": target.name, "sha256": sha256_file(target), "bytes": target.stat().st_size,
              "opset": OPSET, "max_abs_diff_vs_torch_m": float(f"{worst:.3g}"),
              "exported_with": f"torch {torch.__version__}, onnxscript {onnxscript.__version__}",
              "command": f"{COMMAND} {_shown(weights)}"}
    side = weights.with_suffix(".json")
    if side.is_file():
        info = json.loads(side.read_text())
        info["onnx"] = record
        _write(side, (json.dumps(info, indent=2) + "\n").encode())
    return record


def check(weights: Path) -> list[str]:
    """Problems of the committed export of ``weights`` (empty when its outputs equal a fresh
    export's within :data:`TOLERANCE` and it was exported from this ``.pt``)."""
    import onnx

    target = onnx_file(weights)
    if not target.is_file():
        return [f"{target}: missing"]
    problems = []
    meta = {p.key: p.value for p in onnx.load(str(target)).metadata_props}
    if meta.get(SOURCE_KEY) != sha256_file(weights):
        problems.append(f"{target}: exported from another {weights.name}")
    side = weights.with_suffix(".json")
    if side.is_file() and json.loads(side.read_text()).get("onnx", {}).get("sha256") != sha256_file(target):
        problems.append(f"{side}: its onnx sha256 is not {target.name}'s")
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / target.name
        fresh.write_bytes(export_bytes(weights))
        fresh_net, config = load_network(fresh)
        worst = largest_difference(target, fresh_net, config)
    if worst > TOLERANCE:
        problems.append(f"{target}: differs from a fresh export by {worst:.2e} m")
    return problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m posemoe_lab.export_onnx", description=__doc__.split("\n")[0])
    parser.add_argument("weights", nargs="*", type=Path, help="weights files (default: every shipped one)")
    parser.add_argument("--check", action="store_true",
                        help="compare the committed exports with fresh ones instead of writing")
    args = parser.parse_args(argv)
    try:
        files = args.weights or shipped()
        bad = 0
        for path in files:
            if args.check:
                problems = check(path)
                bad += bool(problems)
                print(f"{path.name}: " + ("; ".join(problems) if problems else "matches a fresh export"))
            else:
                rec = export(path)
                print(f"{path.name} -> {rec['file']}: {rec['bytes']:,} bytes, sha256 {rec['sha256'][:12]}..., "
                      f"max |onnx - torch| {rec['max_abs_diff_vs_torch_m']:.1e} m")
        return 1 if bad else 0
    except PoseMoEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
