"""What a user can choose for one conversion, in one place (standard library only).

Each :class:`ConvertOptions` field is declared once, with its :class:`Option`: the command
line (:mod:`posemoe_blender.cli`, and the lab's ``bench``) makes its flags from it, the add-on
(:mod:`posemoe_blender.addon.properties`) its panel property, and :func:`options_from_panel`
reads the panel back; the pipeline (:mod:`posemoe_blender.pipeline`) and the lifting stage
(:mod:`posemoe_blender.lifting`) take their choices, names and defaults from here too. This
module imports nothing but the standard library, so the add-on can build its panel before the
pipeline's packages (torch, MediaPipe, SciPy, OpenCV) are installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Optional, get_args, get_type_hints

from .errors import PoseMoEError

#: ``--lifter`` / the panel's *Lifter*: the three shipped networks, then MediaPipe's own 3D
#: world landmarks (no network). Each network reads BlazePose's 2D and MediaPipe's 3D
#: landmarks together; the default is the one that is most accurate on footage and motion from
#: sources the project never trained on (docs/benchmarks.md).
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
#: ``--camera``: is the camera's turning removed from the person's motion
#: (detection/camera_motion.py)? ``auto``: only where it clearly turned.
CAMERA_MODES = ("auto", "still", "moving")
CAMERA_HELP = {
    "auto": "estimate the camera's rotation and remove it only where it clearly turned (default)",
    "still": "the camera never moved: nothing estimated (as before the camera estimate)",
    "moving": "always remove the estimated rotation (a handheld or panning camera)",
}
#: FBX axis/unit settings (``blender.export.PRESETS``).
FBX_PRESETS = ("unity", "unreal", "blender")
DEFAULT_FBX_PRESET = "unity"


#: The lifters as the panel lists them: ``(identifier, label, tooltip)``.
LIFTER_ITEMS = tuple((name, LIFTER_NAMES[name][:1].upper() + LIFTER_NAMES[name][1:],
                      LIFTER_HELP[name][:1].upper() + LIFTER_HELP[name][1:]) for name in LIFTERS)

#: The commands of the two command lines that take conversion options (``python -m
#: posemoe_blender convert|batch|lift``, ``python -m posemoe_lab bench``).
COMMANDS = ("convert", "batch", "bench", "lift")


@dataclass(frozen=True)
class Option:
    """How a user reaches one :class:`ConvertOptions` field: its command-line flags and its
    property on the add-on's panel. Declared with the field (``metadata={"option": ...}``);
    :func:`option_fields` lists them.

    Command line (:mod:`posemoe_blender.cli`): ``flag`` sets the field (for a boolean it turns
    it on), ``no_flag`` turns a boolean off; "" where there is none. ``help`` is ``flag``'s
    ``--help`` text, ``no_help`` ``no_flag``'s; a boolean with both flags and no ``no_help``
    gets one ``--flag, --no-flag`` entry. ``commands``: the commands (:data:`COMMANDS`) that
    have the flags. ``choices``: the values allowed (``choice_help``: one line per value,
    appended to ``help``; ``command_choices``: a narrower set for some commands). ``minimum`` /
    ``maximum``: inclusive bounds of a number, ``above``: an exclusive lower bound.

    Panel (:mod:`posemoe_blender.addon.properties`): ``label`` and ``description`` are the
    property's name and tooltip ("" label: not on the panel); ``prop`` its identifier where it
    is not the field's name (kept so saved .blend settings load); ``items`` an enum's
    ``(identifier, label, tooltip)`` rows; ``subtype`` the property's subtype; ``switch`` the
    panel's own switch that must be on for the property to count (off: the field keeps its
    default), and then ``panel_default`` the property's default where the field's cannot be one.
    """

    flag: str = ""
    help: str = ""
    no_flag: str = ""
    no_help: str = ""
    commands: tuple = ()
    choices: tuple = ()
    choice_help: Optional[dict] = None
    command_choices: Optional[dict] = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    above: Optional[float] = None
    label: str = ""
    description: str = ""
    prop: str = ""
    items: tuple = ()
    subtype: str = "NONE"
    switch: str = ""
    panel_default: Any = None


def _option(default, **option) -> Any:
    """A dataclass field with ``default`` and its :class:`Option` (``option`` its arguments)."""
    return field(default=default, metadata={"option": Option(**option)})


_CONVERT_BATCH = ("convert", "batch")


@dataclass
class ConvertOptions:
    """What a user can choose for one conversion (CLI flags and panel settings): each field's
    :class:`Option` says how (:func:`option_fields`)."""

    device: str = _option(
        "auto", flag="--device", choices=DEVICES, commands=COMMANDS,
        help="where the lifting network runs (auto: CUDA when present, else CPU)",
        label="Device", items=(("auto", "Auto", "The GPU when one is found, else the CPU"),
                               ("cpu", "CPU", "Always the CPU"),
                               ("cuda", "GPU", "A CUDA GPU (fails when none is found)")))
    #: first video frame (inclusive)
    start: int = _option(
        0, flag="--start", minimum=0, commands=("convert", "bench"), help="first frame (default 0)",
        label="First", prop="clip_start", switch="use_range", description="First video frame (0-based)")
    #: stop before this video frame (exclusive); None: to the end of the clip
    end: Optional[int] = _option(
        None, flag="--end", minimum=1, commands=("convert", "bench"),
        help="stop before this frame (default: end of clip)",
        label="End", prop="clip_end", switch="use_range", panel_default=100,
        description="Stop before this video frame")
    #: resample the animation to this frame rate (frames/s); None: the video's
    fps_out: Optional[float] = _option(
        None, flag="--fps-out", above=0, commands=("convert",),
        help="resample the animation to this frame rate")
    #: smoothing strength: 0 = off, 1 = strongest
    smoothing: float = _option(
        0.5, flag="--smoothing", minimum=0, maximum=1, commands=_CONVERT_BATCH,
        help="smoothing strength (0 = off; default 0.5)",
        label="Smoothing", subtype="FACTOR", description="0 = off, 1 = strongest (zero-phase low-pass filter)")
    root_motion: bool = _option(
        True, no_flag="--no-root-motion", no_help="keep the character in place", commands=_CONVERT_BATCH,
        label="Root motion", description="Move the character through space (off: in place, height kept)")
    #: longer detection gaps (seconds) are held and reported (neither flag nor property)
    max_gap_s: float = _option(0.5)
    #: network weights file; None: the lifter's shipped file (not on the panel)
    weights: Optional[str] = _option(
        None, flag="--weights", commands=COMMANDS,
        help="weights file for the chosen network lifter instead of the shipped one "
             "(lifting/weights.py: SHIPPED_WEIGHTS)")
    #: one of :data:`LIFTERS`
    lifter: str = _option(
        DEFAULT_LIFTER, flag="--lifter", choices=LIFTERS, choice_help=LIFTER_HELP,
        command_choices={"lift": NETWORK_LIFTERS}, commands=COMMANDS, help="2D-to-3D lifting",
        label="Lifter", items=LIFTER_ITEMS, description="What turns the detected 2D joints into 3D")
    #: pin feet in contact, floor under them (solving/footlock.py)
    foot_lock: bool = _option(
        True, flag="--foot-lock", no_flag="--no-foot-lock", commands=_CONVERT_BATCH,
        help="pin feet in contact with the floor (default: on)",
        label="Foot locking", description="Pin each foot while it is planted and put the floor under the "
                                          "contacts (no sliding or floating)")
    #: test-time mirroring of the network lifters (twice the lifting work; not on the panel: on)
    flip: bool = _option(
        True, flag="--flip", no_flag="--no-flip", commands=COMMANDS,
        help="test-time mirroring for the network lifters: average with the mirrored video's "
             "prediction (twice the lifting work; on by default)",
        no_help="lift the video as it is, without the mirrored pass")
    #: move BlazePose's 2D onto the mocap joint convention first (detection/landmarks.py)
    landmark_correction: bool = _option(
        False, flag="--landmark-correction", no_flag="--no-landmark-correction", commands=COMMANDS,
        help="move BlazePose's 2D onto the motion-capture joint convention before lifting "
             "(detection/landmarks.py; off by default)",
        no_help="lift BlazePose's 2D as detected (the default)",
        label="Correct landmarks",
        description="Move the detected 2D joints onto a motion-capture skeleton's joint positions before "
                    "lifting (BlazePose puts hips lower and wider, and ankles higher); networks only, "
                    "off by default")
    #: find the followed person's hands and key the fingers (detection/hands.py); off: relaxed fingers
    hands: bool = _option(
        True, no_flag="--no-hands", commands=("convert", "batch", "bench"),
        no_help="do not look for the hands: the finger bones keep a relaxed pose (faster)",
        label="Hands and fingers",
        description="Find the person's hands and animate the fingers (off: relaxed fingers, faster)")
    #: turn the hand bones with the palms (solving/body.py _hand_rotation); off: the hands
    #: continue the forearms. Needs ``hands``.
    hand_rotation: bool = _option(
        True, flag="--hand-rotation", no_flag="--no-hand-rotation", commands=_CONVERT_BATCH,
        help="turn the hand bones with the palms the hand detector sees (on by default; needs the hands)",
        no_help="keep the hand bones in line with the forearms",
        label="Turn hands with palms",
        description="Turn the hand bones with the palms seen in the video (off: the hands continue the "
                    "forearms); needs Hands and fingers")
    #: one of :data:`CAMERA_MODES`: remove the camera's estimated rotation (solving in the first
    #: frame's camera axes) or take the camera as still
    camera: str = _option(
        "auto", flag="--camera", choices=CAMERA_MODES, choice_help=CAMERA_HELP, commands=_CONVERT_BATCH,
        help="the camera's motion (a handheld or panning camera's turns are not the person's)",
        label="Camera", items=(("auto", "Auto", "Remove the camera's turning only where it clearly turned"),
                               ("still", "Still", "The camera never moved (nothing estimated)"),
                               ("moving", "Moving", "Always remove the camera's estimated turning")),
        description="Is the camera handheld or panning? Its turning is then estimated from the background "
                    "and removed from the person's motion")


def option_fields() -> tuple:
    """``(name, Option)`` for each :class:`ConvertOptions` field, in the dataclass's order."""
    return tuple((f.name, f.metadata["option"]) for f in fields(ConvertOptions))


def option_default(name: str) -> Any:
    """The :class:`ConvertOptions` default of field ``name``."""
    return next(f.default for f in fields(ConvertOptions) if f.name == name)


def option_type(name: str) -> type:
    """The type of field ``name``'s values (``bool``, ``int``, ``float`` or ``str``; an
    ``Optional[...]`` field's inner type)."""
    hint = get_type_hints(ConvertOptions)[name]
    inner = [a for a in get_args(hint) if a is not type(None)]
    return inner[0] if inner else hint


def options_from_panel(settings, clip_range: bool = True) -> tuple[ConvertOptions, list]:
    """:func:`options_from_values` of the add-on panel's properties (``settings``: the scene's
    ``PoseMoESettings``, or anything with those attributes). ``clip_range`` False (batch: whole
    clips) leaves the properties under a panel switch (the clip range) out, as does that switch
    when it is off; a property ``settings`` lacks leaves its field at the default."""
    values = {}
    for name, option in option_fields():
        prop = option.prop or name
        if not option.label or not hasattr(settings, prop):
            continue
        if option.switch and not (clip_range and getattr(settings, option.switch, False)):
            continue
        values[name] = option_type(name)(getattr(settings, prop))
    return options_from_values(**values)


def check_lifter(name: str) -> str:
    """``name`` when it is one of :data:`LIFTERS`, else PoseMoEError listing the choices."""
    if name not in LIFTERS:
        raise PoseMoEError(f"unknown lifter {name!r} (choose {', '.join(LIFTERS[:-1])} or {LIFTERS[-1]})")
    return name


def options_from_values(**values) -> tuple[ConvertOptions, list]:
    """A :class:`ConvertOptions` from loose values (the panel, the external worker's JSON);
    returns it and the sorted names it does not know (dropped)."""
    known = {f.name for f in fields(ConvertOptions)}
    options = ConvertOptions(**{k: v for k, v in values.items() if k in known})
    return options, sorted(k for k in values if k not in known)


__all__ = ["ConvertOptions", "LIFTERS", "NETWORK_LIFTERS", "DEFAULT_LIFTER", "LIFTER_NAMES",
           "LIFTER_HELP", "NETWORK_NAMES", "CAMERA_MODES", "CAMERA_HELP", "DEVICES", "FBX_PRESETS", "DEFAULT_FBX_PRESET",
           "check_lifter", "options_from_values", "Option", "COMMANDS", "LIFTER_ITEMS", "option_fields",
           "option_default", "option_type", "options_from_panel"]
