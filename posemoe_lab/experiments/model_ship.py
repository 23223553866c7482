"""Copy a trained run's weights into weights/ and write its JSON sidecar.

``python -m posemoe_lab.experiments.model_ship .cache/runs/gpu_posemoe_eq`` -> weights/posemoe_default.pt (+ .json)
``python -m posemoe_lab.experiments.model_ship .cache/runs/gpu_entangled --as entangled.pt``
"""

from __future__ import annotations

from posemoe_lab import REPO_ROOT

import argparse
import json
import sys
from pathlib import Path

REPO = REPO_ROOT

from posemoe_blender.lifting.registry import DEFAULT_WEIGHTS  # noqa: E402
from posemoe_blender.lifting.weights import load_model, read_weights, save_weights  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="run folder (with model.pt) or a weights file")
    ap.add_argument("--as", dest="name", default=DEFAULT_WEIGHTS.name, help="file name under weights/")
    args = ap.parse_args()
    src = Path(args.run)
    src = src / "model.pt" if src.is_dir() else src
    dst = DEFAULT_WEIGHTS.with_name(args.name)
    payload = read_weights(src)
    model, cfg = load_model(src)
    meta = dict(payload.get("meta", {}))
    meta["source"] = str(src)
    sha = save_weights(dst, model, cfg, meta)
    load_model(dst)  # round trip check
    side = dst.with_suffix(".json")
    side.write_text(json.dumps({"file": dst.name, "sha256": sha, "bytes": dst.stat().st_size,
                                "config": cfg, "meta": meta}, indent=2) + "\n")
    print(f"{dst} sha256 {sha} ({dst.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
