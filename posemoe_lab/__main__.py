"""``python -m posemoe_lab``: the lab's commands (bench, evaluate-render, prepare, train, evaluate).

Problems end with one line ``error: ...`` on stderr and a non-zero exit status, as the
product's command line does (:mod:`posemoe_blender.cli`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from posemoe_blender.cli import (_Parser, _add_hands_option, _add_lifter_options, _non_negative_int,
                                 _positive_int)
from posemoe_blender.errors import PoseMoEError
from posemoe_blender.options import DEVICES
from posemoe_blender.quiet import native_output_silenced

from .evaluation.command import add_arguments as add_evaluation_arguments

#: ``prepare``, ``train`` and ``evaluate`` take their own arguments: the module that runs each.
PASSTHROUGH = {"prepare": ("posemoe_lab.training.prepare", "prepare motion-capture training data"),
               "train": ("posemoe_lab.training.train", "train a lifting network (see docs/model.md)"),
               "evaluate": ("posemoe_lab.evaluation.mocap",
                            "evaluate trained lifting networks on the held-out split")}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m posemoe_lab",
                     description="The lab: speed and quality benchmarks, training data, training.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    bn = sub.add_parser("bench", help="time each stage of a conversion (frames/s, share, memory)")
    bn.add_argument("video", help="input video file")
    bn.add_argument("--device", choices=DEVICES, default="auto",
                    help="where the lifting network runs (auto: CUDA when present, else CPU)")
    bn.add_argument("--start", type=_non_negative_int, default=0, help="first frame (default 0)")
    bn.add_argument("--end", type=_positive_int, help="stop before this frame (default: end of clip)")
    _add_lifter_options(bn)
    _add_hands_option(bn)
    bn.add_argument("--json", action="store_true", help="print the report as JSON")

    ev = sub.add_parser("evaluate-render",
                        help="motion-quality metrics on a rendered set with ground truth (make render-set)")
    add_evaluation_arguments(ev)  # the same options as python -m posemoe_lab.evaluation

    for name, (_module, helptext) in PASSTHROUGH.items():
        t = sub.add_parser(name, help=helptext, add_help=False)
        t.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        # ``prepare``/``train``/``evaluate`` hand every following argument to their module
        # unparsed: argparse's REMAINDER drops a leading ``--option``, so they never reach it
        if argv and argv[0] in PASSTHROUGH:
            module = importlib.import_module(PASSTHROUGH[argv[0]][0])
            return int(module.main(argv[1:]) or 0)
        args = build_parser().parse_args(argv)
        with native_output_silenced():
            if args.command == "bench":
                from .evaluation.bench import main as bench_main
                return bench_main(args)
            from .evaluation.command import main as evaluate_render_main
            return evaluate_render_main(args)
    except PoseMoEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: stopped cleanly, no output was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
