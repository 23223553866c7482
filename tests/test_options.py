"""Each conversion option is declared once (:mod:`posemoe_blender.options`): its command-line
flags and its panel property are made from the declaration, with the dataclass's default."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest

from posemoe_blender import cli, options
from posemoe_blender.options import COMMANDS, ConvertOptions, option_default, option_fields

#: The fields with no command-line flag and no panel property: the exceptions are named here,
#: so a new field that forgets its declaration fails the tests below.
NOT_ON_THE_COMMAND_LINE = {"max_gap_s"}
NOT_ON_THE_PANEL = {"max_gap_s", "fps_out", "weights", "flip"}


def _parser(command: str):
    if command == "bench":
        from posemoe_lab.__main__ import build_parser as lab_parser
        return lab_parser()._subparsers._group_actions[0].choices["bench"]
    return cli.build_parser()._subparsers._group_actions[0].choices[command]


def _argv(command: str) -> list:
    return {"convert": ["convert", "x.mp4", "-o", "x.fbx"], "batch": ["batch", "clips/*.mp4", "-o", "out"],
            "bench": ["bench", "x.mp4"], "lift": ["lift", "kp.npz", "-o", "j.npz"]}[command]


def _parse(command: str, *flags):
    if command == "bench":
        from posemoe_lab.__main__ import build_parser as lab_parser
        return lab_parser().parse_args(_argv(command) + list(flags))
    return cli.build_parser().parse_args(_argv(command) + list(flags))


def test_every_field_is_declared_with_its_default():
    names = [f.name for f in dataclasses.fields(ConvertOptions)]
    assert [name for name, _ in option_fields()] == names
    for name, option in option_fields():
        assert isinstance(option, options.Option), name
        assert set(option.commands) <= set(COMMANDS), name
        assert (not option.commands) == (name in NOT_ON_THE_COMMAND_LINE), name
        assert (not option.label) == (name in NOT_ON_THE_PANEL), name
        assert option_default(name) == getattr(ConvertOptions(), name)
        if option.choices:
            assert option_default(name) in option.choices, name
        if option.items:
            assert tuple(i[0] for i in option.items) == tuple(option.choices), name
        if option.switch:  # the panel's default counts only with the switch on
            assert option.panel_default is not None or option_default(name) is not None, name


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_the_flags_declared_with_their_defaults(command):
    """convert, batch, lift (posemoe_blender) and bench (posemoe_lab) have exactly the flags the
    declarations give them, each defaulting to the dataclass's default; ``_options`` of the
    plain command line is ``ConvertOptions()``."""
    fields = {name for name, _ in option_fields()}
    parser = _parser(command)
    dests = {a.dest for a in parser._actions} & fields
    assert dests == {name for name, option in option_fields() if command in option.commands}
    args = _parse(command)
    for name in dests:
        assert getattr(args, name) == option_default(name), (command, name)
    if command in ("convert", "batch"):
        assert cli._options(args) == ConvertOptions()


def test_every_field_but_the_named_ones_has_a_convert_flag():
    on_convert = {name for name, option in option_fields() if "convert" in option.commands}
    assert on_convert == {f.name for f in dataclasses.fields(ConvertOptions)} - NOT_ON_THE_COMMAND_LINE


@pytest.mark.parametrize("command", ["convert", "batch"])
def test_boolean_flags_reach_the_options(command):
    for name, option in option_fields():
        if command not in option.commands or not isinstance(option_default(name), bool):
            continue
        if option.flag:
            assert getattr(cli._options(_parse(command, option.flag)), name) is True, option.flag
        if option.no_flag:
            assert getattr(cli._options(_parse(command, option.no_flag)), name) is False, option.no_flag


def test_hand_rotation_on_the_command_line():
    """``--hand-rotation`` / ``--no-hand-rotation`` (convert and batch; on by default) reach
    ``ConvertOptions.hand_rotation``, and the external worker's JSON keeps it."""
    from posemoe_blender.addon import worker
    for command in ("convert", "batch"):
        assert cli._options(_parse(command)).hand_rotation is True
        assert cli._options(_parse(command, "--hand-rotation")).hand_rotation is True
        assert cli._options(_parse(command, "--no-hand-rotation")).hand_rotation is False
        assert cli._options(_parse(command, "--no-hand-rotation", "--no-hands")).hands is False
    opts = cli._options(_parse("convert", "--no-hand-rotation"))
    remote, ignored = worker.make_options(**json.loads(json.dumps(worker.options_dict(opts))))
    assert remote == opts and ignored == []


def test_numbers_keep_their_bounds_on_the_command_line(capsys):
    for flags in (["--start", "-1"], ["--end", "0"], ["--fps-out", "0"], ["--smoothing", "1.5"]):
        with pytest.raises(SystemExit):
            _parse("convert", *flags)
        assert "error: argument " + flags[0] in capsys.readouterr().err
    args = _parse("convert", "--start", "3", "--end", "9", "--fps-out", "24", "--smoothing", "0")
    assert (args.start, args.end, args.fps_out, args.smoothing) == (3, 9, 24.0, 0.0)


def _panel_properties() -> dict:
    """PoseMoESettings' properties (unregistered: bpy.props' deferred definitions). The ones
    written in the class body are strings there (``from __future__ import annotations``) and
    evaluated in the module, as Blender does when it registers the class."""
    pytest.importorskip("bpy")
    from posemoe_blender.addon import properties
    return {name: eval(value, vars(properties)) if isinstance(value, str) else value
            for name, value in properties.PoseMoESettings.__annotations__.items()}


def test_every_field_but_the_named_ones_has_a_panel_property():
    """The panel's property of each field: its name, type, label, bounds and default follow
    the declaration (a property behind a switch: the switch is off by default, so the field
    keeps its default); the panel's defaults make ``ConvertOptions()``."""
    import bpy
    annotations = _panel_properties()
    kinds = {bool: bpy.props.BoolProperty, int: bpy.props.IntProperty, float: bpy.props.FloatProperty}
    defaults = {}
    for name, option in option_fields():
        if not option.label:
            continue
        prop = annotations[option.prop or name]
        kind = bpy.props.EnumProperty if option.items else kinds[options.option_type(name)]
        assert prop.function is kind, name
        kw = prop.keywords
        assert kw["name"] == option.label and kw["description"] == option.description, name
        if option.switch:
            assert annotations[option.switch].keywords["default"] is False, name
            assert kw["default"] == (option.panel_default if option.panel_default is not None
                                     else option_default(name)), name
        else:
            assert kw["default"] == option_default(name), name
        assert kw.get("min") == option.minimum and kw.get("max") == option.maximum, name
        defaults[option.prop or name] = kw["default"]
    names = {option.prop or name for name, option in option_fields() if option.label}
    assert names >= {"device", "clip_start", "clip_end", "smoothing", "root_motion", "lifter", "foot_lock",
                     "landmark_correction", "hands", "hand_rotation"}
    for switch in {option.switch for _, option in option_fields() if option.switch}:
        defaults[switch] = annotations[switch].keywords["default"]
    assert options.options_from_panel(SimpleNamespace(**defaults)) == (ConvertOptions(), [])


def test_options_from_panel():
    """One function turns the panel's values into ConvertOptions: the clip range only with its
    switch on and for convert (``clip_range``), a property missing from old settings left at
    its default."""
    values = dict(device="cpu", lifter="entangled", smoothing=0.25, root_motion=False, foot_lock=False,
                  landmark_correction=True, hands=True, hand_rotation=False,
                  use_range=True, clip_start=5, clip_end=40)
    opts, ignored = options.options_from_panel(SimpleNamespace(**values))
    assert ignored == [] and opts == ConvertOptions(
        device="cpu", lifter="entangled", smoothing=0.25, root_motion=False, foot_lock=False,
        landmark_correction=True, hands=True, hand_rotation=False, start=5, end=40)
    whole, _ = options.options_from_panel(SimpleNamespace(**values), clip_range=False)
    assert (whole.start, whole.end) == (0, None) and whole.hand_rotation is False
    off, _ = options.options_from_panel(SimpleNamespace(**dict(values, use_range=False)))
    assert (off.start, off.end) == (0, None)
    old = {k: v for k, v in values.items() if k not in ("hands", "hand_rotation")}
    opts, _ = options.options_from_panel(SimpleNamespace(**old))
    assert opts.hands is True and opts.hand_rotation is True and opts.lifter == "entangled"
    assert isinstance(options.options_from_panel(SimpleNamespace(smoothing=1))[0].smoothing, float)
