"""What a user can choose for one conversion, in one place (standard library only).

The command line (:mod:`posemoe_blender.cli`), the add-on's panel
(:mod:`posemoe_blender.addon.properties`), the pipeline (:mod:`posemoe_blender.pipeline`)
and the lifting networks (:mod:`posemoe_blender.model`) all take their choices, names and
defaults from here. This module imports nothing but the standard library, so the add-on can
build its panel before the pipeline's packages (torch, MediaPipe, SciPy, OpenCV) are installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .errors import PoseMoEError

#: ``--lifter`` / the panel's *Lifter*: the three shipped networks, then MediaPipe's own 3D
#: world landmarks (no network). Each network reads BlazePose's 2D and MediaPipe's 3D
#: landmarks together; the default is the one that is most accurate on footage and motion from
#: sources the project never trained on (docs/benchmarks-quality.md).
LIFTERS = ("tcn", "posemoe", "entangled", "mediapipe")
#: The lifters that are networks (``lift`` takes only these; ``--weights`` applies to them).
NETWORK_LIFTERS = ("tcn", "posemoe", "entangled")
DEFAULT_LIFTER = "tcn"
#: How messages name each lifter.
LIFTER_NAMES = {"tcn": "temporal convolution network", "posemoe": "PoseMoE",
                "entangled": "entangled transformer", "mediapipe": "MediaPipe 3D"}
#: One line per lifter for the panel's tooltip and ``--help``.
LIFTER_HELP = {
    "tcn": "the temporal convolution network (default)",
    "posemoe": "the PoseMoE mixture-of-experts network",
    "entangled": "the entangled spatial-temporal transformer network",
    "mediapipe": "MediaPipe's own 3D world landmarks (no network)",
}
#: The network lifters and how messages name them (``core.pipeline.NETWORK_NAMES``).
NETWORK_NAMES = {k: LIFTER_NAMES[k] for k in NETWORK_LIFTERS}

#: ``--device``: where the lifting network runs.
DEVICES = ("auto", "cpu", "cuda")
#: FBX axis/unit settings (``blender.export.PRESETS``).
FBX_PRESETS = ("unity", "unreal", "blender")
DEFAULT_FBX_PRESET = "unity"


@dataclass
class ConvertOptions:
    """What a user can choose for one conversion (CLI flags and panel settings)."""

    device: str = "auto"            # auto | cpu | cuda
    start: int = 0                  # first frame (inclusive)
    end: Optional[int] = None       # last frame (exclusive); None = to the end
    fps_out: Optional[float] = None  # resample the animation to this frame rate
    smoothing: float = 0.5          # 0 = off, 1 = strongest
    root_motion: bool = True
    max_gap_s: float = 0.5          # longer detection gaps are held and reported
    weights: Optional[str] = None   # network weights file (default: the lifter's shipped file)
    lifter: str = DEFAULT_LIFTER    # one of LIFTERS
    foot_lock: bool = True          # pin feet in contact, floor under them (solving/footlock.py)
    flip: bool = True               # test-time mirroring of the network lifters (twice the lifting work)
    landmark_correction: bool = False  # move BlazePose's 2D onto the mocap joint convention first (detection/landmarks.py)
    hands: bool = True              # find the followed person's hands and key the fingers (detection/hands.py); off: relaxed fingers
    hand_rotation: bool = True      # turn the hand bones with the palms (solving/body.py _hand_rotation); off: the hands continue the forearms


def check_lifter(name: str) -> str:
    """``name`` when it is one of :data:`LIFTERS`, else PoseMoEError listing the choices."""
    if name not in LIFTERS:
        raise PoseMoEError(f"unknown lifter {name!r} (choose {', '.join(LIFTERS[:-1])} or {LIFTERS[-1]})")
    return name


def options_from_values(**values) -> tuple[ConvertOptions, list]:
    """A :class:`ConvertOptions` from loose values (the panel, the external worker's JSON);
    returns it and the sorted names it does not know (dropped)."""
    from dataclasses import fields
    known = {f.name for f in fields(ConvertOptions)}
    options = ConvertOptions(**{k: v for k, v in values.items() if k in known})
    return options, sorted(k for k in values if k not in known)


__all__ = ["ConvertOptions", "LIFTERS", "NETWORK_LIFTERS", "DEFAULT_LIFTER", "LIFTER_NAMES",
           "LIFTER_HELP", "NETWORK_NAMES", "DEVICES", "FBX_PRESETS", "DEFAULT_FBX_PRESET",
           "check_lifter", "options_from_values"]
