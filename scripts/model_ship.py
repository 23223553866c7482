"""Copy a trained run's weights to weights/posemoe_default.pt and write its JSON sidecar.

``python scripts/model_ship.py .cache/runs/posemoe_ship``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from posemoe_blender.model.weights import DEFAULT_WEIGHTS, load_model, read_weights, save_weights  # noqa: E402


def main(run: str) -> None:
    src = Path(run)
    src = src / "model.pt" if src.is_dir() else src
    payload = read_weights(src)
    model, cfg = load_model(src)
    meta = dict(payload.get("meta", {}))
    meta["source"] = str(src)
    sha = save_weights(DEFAULT_WEIGHTS, model, cfg, meta)
    load_model(DEFAULT_WEIGHTS)  # round trip check
    side = DEFAULT_WEIGHTS.with_suffix(".json")
    side.write_text(json.dumps({"file": DEFAULT_WEIGHTS.name, "sha256": sha,
                                "bytes": DEFAULT_WEIGHTS.stat().st_size, "config": cfg, "meta": meta},
                               indent=2) + "\n")
    print(f"{DEFAULT_WEIGHTS} sha256 {sha} ({DEFAULT_WEIGHTS.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
