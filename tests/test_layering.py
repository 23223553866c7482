"""The layering rules of issue #13, kept by tests (no bpy needed).

* one dependency-free options module holds ConvertOptions, the lifter names and defaults;
* bone maps are JSON data files found by a folder walk;
* the fitted landmark correction is a data file with its provenance;
* one atomic-write helper (``fileio.atomic_output``) serves the writers;
* code comments carry no dates (dates and figures live in docs/benchmarks*.md).

The import rule for the add-on's registration path is tested in a Blender-like process
(``test_blender_like.test_registration_imports_no_heavy_module``).
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from posemoe_blender import options
from posemoe_blender.detection import landmarks
from posemoe_blender.retargeting import presets as rp
from posemoe_blender.errors import PoseMoEError
from posemoe_blender.fileio import atomic_output

PKG = Path(options.__file__).resolve().parent
REPO = PKG.parent


def _imports(path: Path) -> set:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            out.add("." * node.level + (node.module or ""))
    return out


def test_options_module_is_the_one_place_and_dependency_free():
    assert _imports(PKG / "options.py") <= {"__future__", "dataclasses", "typing", ".errors"}
    assert _imports(PKG / "errors.py") <= {"sys", "__future__"}
    from posemoe_blender import cli
    from posemoe_blender import pipeline
    assert pipeline.ConvertOptions is options.ConvertOptions
    assert pipeline.LIFTERS is options.LIFTERS and pipeline.NETWORK_NAMES is options.NETWORK_NAMES
    parser = cli.build_parser()
    convert = parser._subparsers._group_actions[0].choices["convert"]
    actions = {a.dest: a for a in convert._actions}
    assert tuple(actions["lifter"].choices) == options.LIFTERS
    assert actions["lifter"].default == options.DEFAULT_LIFTER
    assert tuple(actions["fbx_preset"].choices) == options.FBX_PRESETS
    assert tuple(actions["device"].choices) == options.DEVICES
    assert set(options.LIFTER_NAMES) == set(options.LIFTER_HELP) == set(options.LIFTERS)
    opts, ignored = options.options_from_values(lifter="entangled", foot_lock=False, colour="red")
    assert opts.lifter == "entangled" and not opts.foot_lock and ignored == ["colour"]
    with pytest.raises(PoseMoEError, match="unknown lifter 'nope'"):
        options.check_lifter("nope")


def test_bone_maps_are_json_files_found_by_a_folder_walk(tmp_path):
    shipped = sorted(p.stem.upper() for p in rp.BONE_MAP_DIR.glob("*.json"))
    assert sorted(rp.PRESETS) == shipped
    for key, mapping in rp.PRESETS.items():
        assert rp.detect_mapping(mapping.bones.values()) is mapping, key  # its own bones
        assert rp.get_preset(key.lower()) is mapping
    assert rp.get_preset("rigify") is rp.RIGIFY_FK and rp.get_preset("Unreal") is rp.UE5
    assert rp.get_preset("rigify-metarig") is rp.RIGIFY_METARIG
    assert rp.detect_mapping(["Bone", "Bone.001"]) is None
    # another folder (with a sub-folder): a new map is found, in its order
    (tmp_path / "studio").mkdir()
    rp.save_mapping(tmp_path / "studio" / "our_rig.json", rp.BoneMapping(
        name="Our rig", bones={"Hips": "root_pelvis", "LThigh": "leg_upper_L"}))
    found = rp.find_bone_maps([rp.BONE_MAP_DIR, tmp_path])
    assert list(found)[-1] == "OUR_RIG" and found["OUR_RIG"].bones["LeftUpperLeg"] == "leg_upper_L"  # old name, translated
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(PoseMoEError, match="broken.json: not valid JSON"):
        rp.find_bone_maps([tmp_path])
    assert rp.resolve_mapping(str(tmp_path / "studio" / "our_rig.json")).name == "Our rig"


def test_landmark_correction_is_a_data_file_with_provenance(tmp_path):
    data = json.loads(landmarks.CORRECTION_FILE.read_text())
    assert {"fitted_by", "date", "data", "detector", "checked"} <= set(data["provenance"])
    assert "fit_landmark_correction.py" in data["provenance"]["fitted_by"]
    np.testing.assert_array_equal(landmarks.load_correction(), landmarks.CORRECTION)
    assert landmarks.CORRECTION.shape == (17, 2) and landmarks.CORRECTION[0, 0] == pytest.approx(0.1397)
    path = tmp_path / "c.json"
    landmarks.save_correction(path, landmarks.CORRECTION * 2, {"fitted_by": "a test"})
    np.testing.assert_allclose(landmarks.load_correction(path), landmarks.CORRECTION * 2, atol=1e-4)
    assert json.loads(path.read_text())["provenance"] == {"fitted_by": "a test"}


def test_atomic_output(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_output(target) as tmp:
        assert Path(tmp).parent == tmp_path and Path(tmp).name.startswith(".posemoe-")
        Path(tmp).write_text("complete")
        assert not target.exists()
    assert target.read_text() == "complete"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            Path(tmp).write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "complete" and sorted(os.listdir(tmp_path)) == ["out.txt"]
    with pytest.raises(PoseMoEError, match="cannot write .*missing_folder"):
        with atomic_output(tmp_path / "missing_folder" / "x.txt"):
            pass


#: The writers that must go through ``fileio.atomic_output`` (no staging of their own).
WRITERS = ["joints.py", "retargeting/presets.py", "detection/landmarks.py", "output/fbx.py",
           "output/blend.py"]


@pytest.mark.parametrize("module", WRITERS)
def test_writers_use_the_one_atomic_helper(module):
    text = (PKG / module).read_text(encoding="utf-8")
    assert "atomic_output" in text
    assert "os.replace(" not in text and "mkstemp(" not in text and "staging_file(" not in text
    build = (REPO / "posemoe_lab" / "extension.py").read_text(encoding="utf-8")
    assert "atomic_output" in build and "os.replace(" not in build


#: Modules under issue #13's comment rule (what the code does, not when it was measured).
COMMENT_RULE = ["addon", "output", "cli.py", "convert.py", "../posemoe_lab/evaluation/bench.py", "fileio.py", "options.py",
                "pipeline.py", "retargeting/solve.py", "retargeting/presets.py", "solving/footlock.py",
                "solving/body.py", "solving/skeleton.py", "smoothing/filters.py", "detection/landmarks.py"]


def test_no_dates_in_code_comments():
    date = re.compile(r"\b20\d\d-\d\d-\d\d\b|\b(19|20)\d\d\b(?! ?fps)")
    bad = []
    for name in COMMENT_RULE:
        paths = sorted((PKG / name).glob("*.py")) if (PKG / name).is_dir() else [PKG / name]
        for path in paths:
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if date.search(line) and ("#" in line or line.strip().startswith(("*", '"', "``")) or
                                          not line.strip().startswith(("return", "if", "for"))):
                    if re.search(r"arXiv|\d{4}\.\d{5}", line):
                        continue  # a paper's identifier, not a date
                    bad.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert bad == []
