"""``python -m posemoe_lab evaluate-render SET_DIR`` (and ``python -m posemoe_lab.evaluation
SET_DIR``, which also takes ``--variants`` and ``--actor``): score the pipeline's variants on a
rendered set with truth, each against MediaPipe's world landmarks in the same run.

Prints the headline table (12 limb joints, ratio to MediaPipe raw, the issue #16 targets);
``--json`` prints the whole report instead (every variant's numbers for every video);
``--out FILE.md`` writes the markdown report (a hand-written block between the notes markers
of an existing file is kept), with two plots of one video.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional

from posemoe_blender.errors import PoseMoEError
from posemoe_lab.evaluation import report, runner, variants as variants_mod

NOTES_BEGIN, NOTES_END = "<!-- notes: kept when the report is regenerated -->", "<!-- /notes -->"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m posemoe_lab.evaluation`` (a superset of evaluate-render's)."""
    p.add_argument("set_dir", help="rendered set folder (manifest.json, *.mp4, *_truth.npz)")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--out", help="write the markdown report to this file")
    p.add_argument("--plots", help="folder for the PNG plots (default: img/ next to --out)")
    p.add_argument("--weights", help="the default lifter's network file instead of the shipped one")
    p.add_argument("--flip", dest="flip", action="store_true", default=None,
                   help="every network row with test-time mirroring (default: as convert)")
    p.add_argument("--no-flip", dest="flip", action="store_false",
                   help="every network row without test-time mirroring")
    p.add_argument("--no-landmark-correction", dest="landmark_correction", action="store_false",
                   help="of the network lifters, only the rows without the landmark correction "
                        "(default: with and without)")
    p.add_argument("--limit", type=int, help="evaluate only the first N videos")
    p.add_argument("--variants", action="append", default=[],
                   help="variants to run (default: every lifter with and without the landmark "
                        "correction, MediaPipe raw, mean:entangled_nocorr+mediapipe); e.g. "
                        "'posemoe,mediapipe' or 'fused=posemoe,weights=FILE;mediapipe'")
    p.add_argument("--actor", default="", help="only this actor's videos (cross-source set: mm or tr)")
    p.add_argument("--check-keyed", action="store_true",
                   help="key the default pipeline's animation in Blender and compare (needs bpy)")
    p.add_argument("--plot-video", default="", help="the video to plot (default: the first)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m posemoe_lab.evaluation", description=__doc__.split("\n")[0])
    add_arguments(p)
    return p


def kept_notes(path: Optional[str]) -> str:
    """The hand-written block of an existing report (between the notes markers), if any."""
    if not path or not os.path.isfile(path):
        return ""
    text = open(path, encoding="utf-8").read()
    if NOTES_BEGIN in text and NOTES_END in text:
        return text[text.index(NOTES_BEGIN):text.index(NOTES_END) + len(NOTES_END)]
    return ""


def _command(args) -> str:
    parts = ["python -m posemoe_lab.evaluation", os.path.relpath(args.set_dir)]
    for flag, value in (("--weights", getattr(args, "weights", None)), ("--limit", getattr(args, "limit", None)),
                        ("--actor", getattr(args, "actor", "")), ("--out", getattr(args, "out", None))):
        if value:
            parts += [flag, os.path.relpath(value) if flag in ("--weights", "--out") else str(value)]
    for v in getattr(args, "variants", []) or []:
        parts += ["--variants", f"'{v}'"]
    flip = getattr(args, "flip", None)
    if flip is not None:
        parts.append("--flip" if flip else "--no-flip")
    if not getattr(args, "landmark_correction", True):
        parts.append("--no-landmark-correction")
    return " ".join(parts)


def main(args) -> int:
    """Run from a parsed namespace (``evaluate-render``'s or :func:`build_parser`'s)."""
    weights, flip = getattr(args, "weights", None), getattr(args, "flip", None)
    if weights and not os.path.isfile(weights):
        raise PoseMoEError(f"{weights}: no such weights file")
    spec = ";".join(getattr(args, "variants", []) or [])
    chosen = (variants_mod.parse_variants(spec, weights, flip) if spec else
              variants_mod.default_variants(weights, flip, None if getattr(args, "landmark_correction", True) else False))
    log = (lambda msg: print(msg, file=sys.stderr, flush=True))
    log("variants: " + ", ".join(v.name for v in chosen))
    t0 = time.time()
    manifest, rows = runner.evaluate_set(args.set_dir, chosen, limit=getattr(args, "limit", None),
                                         actor=getattr(args, "actor", ""),
                                         check_keyed=getattr(args, "check_keyed", False), log=log)
    log(f"{len(rows)} videos in {time.time() - t0:.0f} s")
    rep = report.report_dict(args.set_dir, manifest, rows, chosen, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                             _command(args))
    out = getattr(args, "out", None)
    if out:
        plots = {}
        default = rep["summary"]["default"] or next((v.name for v in chosen if v.kind == "pipeline"), chosen[0].name)
        folder = getattr(args, "plots", None) or os.path.join(os.path.dirname(os.path.abspath(out)), "img")
        want = getattr(args, "plot_video", "")
        pick = next((r for r in rows if r["video"] == want), rows[0])
        others = tuple(v.name for v in chosen if v.kind == "mean")
        from posemoe_lab.evaluation.plots import make_plots
        for title, path in make_plots(pick, folder, default, others).items():
            plots[title] = os.path.relpath(path, os.path.dirname(os.path.abspath(out)))
        intro = [f"The set: {rep['description'] or os.path.relpath(args.set_dir)}.", ""]
        text = report.markdown(rep, chosen, rows, plots, "Motion quality on rendered footage with ground truth",
                               intro, kept_notes(out))
        tmp = out + ".part"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, out)
        log(f"wrote {out}")
    if getattr(args, "json", False):
        print(json.dumps(report.jsonable(rep), indent=1))
    else:
        print(report.text_table(rep, chosen))
    return 0
