"""``python -m posemoe_blender``: convert, batch, lift (the lab's commands: ``python -m posemoe_lab``).

User-facing problems end with one line ``error: ...`` on stderr and a non-zero exit status;
Ctrl-C ends with ``interrupted`` and status 130, leaving no half-written output.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .errors import PoseMoEError
from .options import (ConvertOptions, DEFAULT_FBX_PRESET, FBX_PRESETS, Option,
                      option_default, option_fields, option_type)
from .quiet import native_output_silenced


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _strength(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


#: The argparse ``type`` of a number flag with these bounds: ``(type, minimum, maximum,
#: above)`` of its :class:`~posemoe_blender.options.Option` -> the check.
_NUMBER_CHECKS = {(int, 0, None, None): _non_negative_int, (int, 1, None, None): _positive_int,
                  (float, None, None, 0): _positive_float, (float, 0, 1, None): _strength}

#: The fields of the lifting flags (``--lifter``, ``--weights``, ``--flip``, ``--landmark-correction``).
LIFTER_FIELDS = ("weights", "lifter", "flip", "landmark_correction")


def _number_type(name: str, option: Option):
    """The argparse ``type`` of field ``name``'s flag: its bounds checked (:data:`_NUMBER_CHECKS`)."""
    kind = option_type(name)
    key = (kind, option.minimum, option.maximum, option.above)
    if key[1:] == (None, None, None):
        return kind
    if key not in _NUMBER_CHECKS:
        raise ValueError(f"ConvertOptions.{name}: no command-line check for bounds {key[1:]} (cli._NUMBER_CHECKS)")
    return _NUMBER_CHECKS[key]


def _add_option_flags(p: argparse.ArgumentParser, command: str, names: Optional[Sequence[str]] = None) -> None:
    """Add the flags of the :class:`ConvertOptions` fields that ``command`` has (as their
    :class:`~posemoe_blender.options.Option` declares them), in the fields' order; ``names``:
    only these fields."""
    for name, option in option_fields():
        if command not in option.commands or (names is not None and name not in names):
            continue
        default = option_default(name)
        if option_type(name) is bool:
            if option.flag and option.no_flag and not option.no_help:
                p.add_argument(option.flag, dest=name, action=argparse.BooleanOptionalAction,
                               default=default, help=option.help)
                continue
            if option.flag:
                p.add_argument(option.flag, dest=name, action="store_true", default=default, help=option.help)
            if option.no_flag:
                p.add_argument(option.no_flag, dest=name, action="store_false", help=option.no_help,
                               **({} if option.flag else {"default": default}))
            continue
        choices = (option.command_choices or {}).get(command, option.choices) or None
        text = option.help
        if option.choice_help and choices:
            text += ": " + "; ".join(f"{c}: {option.choice_help[c]}" for c in choices)
        metavar = (f"{option.minimum:g}..{option.maximum:g}"
                   if option.minimum is not None and option.maximum is not None else None)
        kind = option_type(name)
        p.add_argument(option.flag, dest=name, default=default, type=None if kind is str else _number_type(name, option),
                       choices=choices, metavar=metavar, help=text)


def _add_lifter_options(p: argparse.ArgumentParser, command: str = "bench") -> None:
    """The lifting flags (:data:`LIFTER_FIELDS`) as ``command`` has them."""
    _add_option_flags(p, command, LIFTER_FIELDS)


def _add_hands_option(p: argparse.ArgumentParser, command: str = "bench") -> None:
    """The hands flag (``--no-hands``) as ``command`` has it."""
    _add_option_flags(p, command, ("hands",))


def _add_pipeline_options(p: argparse.ArgumentParser, command: str, target_rig: bool = False) -> None:
    _add_option_flags(p, command)
    if target_rig:
        p.add_argument("--target-rig", metavar="RIG.blend|RIG.fbx",
                       help="retarget onto this rig instead of building the generated one (a .blend "
                            "is opened, an .fbx imported); the FBX and .blend then hold that rig")
        p.add_argument("--armature", help="with --target-rig: the armature object to animate "
                                          "(default: the only one, or the one the bone map fits best)")
        p.add_argument("--preset", metavar="NAME",
                       help="with --target-rig: the bone map (" + ", ".join(_bone_map_names())
                            + ", or a mapping .json file; default: the map that fits the rig's "
                              "bone names). Without --target-rig: the FBX preset (older spelling of "
                              "--fbx-preset)")
        p.add_argument("--no-match-rest", dest="match_rest", action="store_false",
                       help="with --target-rig: do not turn the rig's bones to the T-pose first")
    else:
        p.add_argument("--preset", choices=FBX_PRESETS, help="older spelling of --fbx-preset")
    p.add_argument("--fbx-preset", choices=FBX_PRESETS,
                   help=f"FBX axis/scale settings for the target application (default {DEFAULT_FBX_PRESET})")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def _bone_map_names() -> list:
    from .retargeting.presets import preset_names  # standard library + JSON files only
    return preset_names()


class _Parser(argparse.ArgumentParser):
    """argparse with the project's one-line error format."""

    def error(self, message: str):  # pragma: no cover - exercised through main()
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m posemoe_blender",
                     description="Video of a person -> PoseMoE 3D pose -> animated armature -> FBX.")
    parser.add_argument("--version", action="version", version=f"posemoe-blender {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("convert", help="convert one video into an animated armature (FBX / .blend)")
    c.add_argument("video", help="input video file")
    c.add_argument("-o", "--output", help="FBX file to write")
    c.add_argument("--blend", help="also save a .blend file")
    c.add_argument("--save-joints", help="also save the 3D joints (.npz, see the joint contract)")
    c.add_argument("--preview", metavar="OUT.mp4",
                   help="also write a preview video: the footage with the detected 2D skeleton, the "
                        "solved rig reprojected, a side view and planted feet")
    c.add_argument("--no-footage", dest="footage", action="store_false",
                   help="--blend: do not show the video behind the rig (by default a camera with the "
                        "footage as its background, in step with the Action)")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_pipeline_options(c, "convert", target_rig=True)

    b = sub.add_parser("batch", help="convert many clips, one FBX each")
    b.add_argument("pattern", help='a glob such as "clips/*.mp4" (quote it) or a folder')
    b.add_argument("-o", "--output", required=True, help="output folder")
    b.add_argument("--workers", type=_positive_int,
                   help="clips converted in parallel (default: 1 here; with --ray one per CPU of the cluster)")
    b.add_argument("--ray", metavar="auto|ADDRESS",
                   help="convert on Ray: auto starts a local Ray instance for the run, HOST:PORT joins a "
                        "cluster (`ray start --head`); the videos must be at the same path on every node, "
                        "the outputs are written here")
    b.add_argument("--save-joints", action="store_true",
                   help="also write OUT/<clip>.npz with the 3D joints (see the joint contract)")
    b.add_argument("--no-contact-sheets", dest="sheets", action="store_false",
                   help="do not write OUT/<clip>.png (a few frames of footage beside the rig from the "
                        "front and the side)")
    _add_pipeline_options(b, "batch")

    lf = sub.add_parser("lift", help="lift 2D keypoints (.npz) to 3D joints (.npz)")
    lf.add_argument("keypoints", help="npz with keypoints2d, fps, width, height; optionally world3d "
                                      "(MediaPipe's world landmarks) and detector (\"blazepose\": the "
                                      "landmark correction applies), as convert --save-joints writes")
    lf.add_argument("-o", "--output", required=True, help="npz to write (joints3d, joint_names)")
    _add_option_flags(lf, "lift")
    lf.add_argument("--overwrite", action="store_true")

    return parser


def _options(args) -> ConvertOptions:
    """The :class:`ConvertOptions` of a parsed ``convert`` or ``batch`` command line: each
    field its command has a flag for from ``args``, the others their defaults."""
    return ConvertOptions(**{name: getattr(args, name) for name, option in option_fields()
                             if args.command in option.commands})


def _fbx_preset(args) -> str:
    """``--fbx-preset``, or ``--preset`` when it names an FBX preset (its older meaning)."""
    if args.fbx_preset:
        return args.fbx_preset
    if args.preset and not getattr(args, "target_rig", None):
        if args.preset not in FBX_PRESETS:
            raise PoseMoEError(f"--preset {args.preset!r}: without --target-rig it names the FBX preset "
                               f"({', '.join(FBX_PRESETS)})")
        return args.preset
    return DEFAULT_FBX_PRESET


def _rig_target(args):
    """``--target-rig`` / ``--preset`` / ``--armature`` checked before any work starts."""
    from .convert import RigTarget
    if not args.target_rig:
        if args.armature or not args.match_rest:
            raise PoseMoEError("--armature and --no-match-rest need --target-rig")
        return None
    from .retargeting.presets import resolve_mapping
    mapping = resolve_mapping(args.preset) if args.preset else None
    return RigTarget(path=args.target_rig, mapping=mapping, armature=args.armature,
                     match_rest=args.match_rest)


def _cmd_convert(args) -> int:
    from .convert import Outputs, convert_clip, summary_line
    from .progress import ProgressBar
    outputs = Outputs(fbx=args.output, blend=args.blend, joints=args.save_joints,
                      overwrite=args.overwrite, preset=_fbx_preset(args), rig=_rig_target(args),
                      preview=args.preview, footage=args.footage)
    bar = ProgressBar(os.path.basename(args.video), quiet=args.quiet)
    try:
        info = convert_clip(args.video, outputs, _options(args), progress=bar)
    finally:
        bar.finish()
    print(summary_line(info), file=sys.stderr)
    return 0


def _cmd_batch(args) -> int:
    from .batch.core import run_batch
    from .batch.plan import REPORT_NAME, expand_clips, format_table
    clips = expand_clips(args.pattern)
    if args.overwrite:
        raise PoseMoEError("batch never overwrites: delete the FBX files you want converted again")
    if args.ray is not None and not args.ray.strip():
        raise PoseMoEError("--ray: give auto or a cluster's HOST:PORT")
    if args.ray is not None:  # looked for, not imported: the local batch never imports Ray
        from importlib.util import find_spec
        if find_spec(".batch.ray_cluster", __package__) is None:  # the Blender extension's copy
            raise PoseMoEError("--ray: Ray batches run from the project's install, "
                               "not from the Blender extension's copy")
        if find_spec("ray") is None:
            from .batch import RAY_VERSION
            raise PoseMoEError(f"--ray needs Ray: .venv/bin/pip install 'ray=={RAY_VERSION}'")
    total = len(clips)
    done = []

    def report(row):
        done.append(row)
        print(f"[{len(done)}/{total}] {os.path.basename(row['video'])}: {row['status']}"
              + (f" ({row['error']})" if row["error"] else ""), file=sys.stderr)

    rows = run_batch(clips, args.output, _options(args), workers=args.workers, preset=_fbx_preset(args),
                     save_joints=args.save_joints, sheets=args.sheets, ray=args.ray.strip() if args.ray else None,
                     on_result=report, on_start=lambda line: print(line, file=sys.stderr))
    print(format_table(rows))
    print(f"report: {os.path.join(os.path.abspath(os.path.expanduser(args.output)), REPORT_NAME)}",
          file=sys.stderr)
    return 1 if any(r["status"] == "failed" for r in rows) else 0


def _cmd_lift(args) -> int:
    import numpy as np
    from .convert import check_output
    from .detection import landmarks
    from .lifting import stage as lifting
    from .joints import load_npz, save_npz
    from .lifting.registry import NETWORKS
    out = check_output(args.output, ".npz", args.overwrite)
    data = load_npz(args.keypoints, required=("keypoints2d", "fps", "width", "height"))
    kp = data["keypoints2d"].astype(np.float32)
    world3d = data.get("world3d")  # load_npz checked it: (T', 17, 3), finite
    if world3d is not None and world3d.shape != kp.shape:
        raise PoseMoEError(f"{args.keypoints}: world3d has shape {world3d.shape}, keypoints2d {kp.shape}")
    # 2D + MediaPipe's 3D (convert --save-joints) lifts with the file convert uses; 2D alone
    # with the 2D network
    network = NETWORKS[args.lifter]
    weights = Path(args.weights) if args.weights else network.shipped(world3d is not None)
    if not lifting.weights_available(weights):
        raise PoseMoEError(f"{weights}: no {network.title} weights file")
    device = lifting.resolve_device(args.device)  # a missing GPU fails before the network loads
    # the landmark correction belongs to BlazePose: only 2D that says it comes from BlazePose
    detector = str(data["detector"]) if "detector" in data else ""
    corrected = bool(args.landmark_correction) and detector == "blazepose"
    if corrected:
        kp = landmarks.to_training_convention(kp)
    joints3d = lifting.lift_keypoints(kp, int(data["width"]), int(data["height"]), device=str(device),
                                      weights=weights, flip=args.flip, world3d=world3d)
    save_npz(out, joints3d=joints3d.astype(np.float32), keypoints2d=data["keypoints2d"],
             fps=data["fps"], width=data["width"], height=data["height"],
             landmark_correction=np.bool_(corrected), weights=np.array(str(weights)))
    note = "landmark correction on" if corrected else (
        "no landmark correction (the input does not say detector=blazepose)" if args.landmark_correction
        else "no landmark correction")
    print(f"{args.keypoints}: lifted {joints3d.shape[0]} frames ({note}) -> {out}", file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"convert": _cmd_convert, "batch": _cmd_batch, "lift": _cmd_lift}
    try:
        with native_output_silenced():
            return handlers[args.command](args)
    except PoseMoEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if args.command == "batch":  # clips finished earlier are complete and kept
            print("interrupted: stopped cleanly; the clips already converted are kept, the current "
                  "one was not written", file=sys.stderr)
        else:
            print("interrupted: stopped cleanly, no output was written", file=sys.stderr)
        if argv is None:  # a real command line: outputs are cleaned up; do not risk a hang in
            # the teardown of native libraries a Ctrl-C may have caught half-way (MediaPipe, torch)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130
    finally:
        if argv is None:  # a real command line: the outcome is decided (and printed); a Ctrl-C
            # while the interpreter and Blender shut down must not turn it into a crash
            signal.signal(signal.SIGINT, signal.SIG_IGN)
