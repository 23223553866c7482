"""Foot-lock settings swept on a rendered set with truth (decide on one actor, report the other).

    .venv/bin/python -m posemoe_lab.experiments.footlock_sweep .cache/render_cross --actor mm \
        --configs '{"base": {}, "w2d_0.5": {"weight_2d": 0.5}}'

Runs ``convert``'s default pipeline once per named :class:`~posemoe_blender.solving.contacts.FootLockConfig` override
(cached BlazePose detections, ``make render-cross``) and prints, per config, the foot metrics
of ``posemoe_lab.evaluation`` over the 12 limb joints: foot sliding over the truth's
contacts (cm/s), lock precision / recall against the truth's contacts (%), locks in the
truth's swing (%), swing height error (cm), limbs PA-MPJPE per frame and MPJPE (mm).
"""

from __future__ import annotations

from posemoe_lab import REPO_ROOT

import argparse
import functools
import json
import os
import sys

import numpy as np

REPO = str(REPO_ROOT)

from posemoe_blender.solving import footlock  # noqa: E402
from posemoe_blender.solving.contacts import FootLockConfig  # noqa: E402
from posemoe_lab.evaluation import runner, variants  # noqa: E402

KEYS = ("foot_slide_cm_s", "lock_precision_pct", "lock_recall_pct", "locks_mid_swing_pct",
        "swing_height_err_cm", "limbs/pa_mpjpe_frame_mm", "limbs/mpjpe_mm")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("set_dir")
    ap.add_argument("--actor", default="")
    ap.add_argument("--configs", required=True, help="JSON {name: {FootLockConfig field: value}}")
    args = ap.parse_args(argv)
    configs = json.loads(args.configs)
    default = [v for v in variants.default_variants() if v.is_default]
    original = footlock.lock_feet
    print("| config | " + " | ".join(KEYS) + " |")
    print("|---|" + "---:|" * len(KEYS))
    try:
        for name, over in configs.items():
            cfg = FootLockConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in over.items()})
            footlock.lock_feet = functools.partial(original, config=cfg)
            _, rows = runner.evaluate_set(args.set_dir, default, actor=args.actor)
            m = [r["methods"][default[0].name] for r in rows]
            vals = [np.nanmean([x[k] for x in m if x.get(k) is not None]) for k in KEYS]
            print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in vals) + " |", flush=True)
    finally:
        footlock.lock_feet = original
    return 0


if __name__ == "__main__":
    sys.exit(main())
