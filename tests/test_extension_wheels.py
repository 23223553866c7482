"""The extension's platform zips (``posemoe_lab/extension.py``), checked without installing them.

For each platform of the lock (``posemoe_lab/extension_wheels.json``): the zip passes Blender's
own validator, its manifest lists exactly the bundled wheels with ``platforms = [platform]``,
each wheel's tags fit the platform (Blender's own rule, ``blender_ext.py``) and Python 3.11,
and no bundled wheel needs a distribution that is not bundled (``Requires-Dist`` with its
markers evaluated for the platform), except the ones left out on purpose
(``extension.DROPPED``, each with its reason).

The wheels come from ``.cache/extension-wheels`` (filled by ``make extension`` or by the first
run of these tests: ``pip download`` of the locked files, about 800 MB for the four platforms,
served by pip's cache afterwards) and are checked against the lock's sha256.
"""

from __future__ import annotations

import importlib.util
import tomllib
import zipfile

import pytest

from posemoe_lab import extension

PLATFORMS = sorted(extension.read_lock())


@pytest.fixture(scope="module")
def blender_ext():
    script = extension.blender_ext_script()
    if script is None:
        pytest.skip("bpy (Blender's blender_ext.py) is not installed")
    spec = importlib.util.spec_from_file_location("blender_ext_for_tests", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    return {p: extension.build(out, p) for p in PLATFORMS}


def test_lock_covers_the_four_platforms_and_the_pins():
    from packaging.utils import canonicalize_name
    assert PLATFORMS == ["linux-x64", "macos-arm64", "macos-x64", "windows-x64"]
    for platform in PLATFORMS:
        names = {extension.wheel_distribution(w) for w in extension.read_lock()[platform]}
        assert names == {canonicalize_name(n) for n in extension.pins_for(platform)}
        assert not names & {"torch", "jax", "jaxlib", "nvidia-cudnn-cu12"}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_platform_zip(platform, zips, blender_ext):
    zip_path = zips[platform]
    assert zip_path.name == f"posemoe_blender-0.1.0-{platform.replace('-', '_')}.zip"
    assert extension.validate(zip_path)  # Blender's validator accepts it
    with zipfile.ZipFile(zip_path) as zf:
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode("utf-8"))
        names = zf.namelist()
    wheels = sorted(n for n in names if n.startswith("wheels/"))
    assert manifest["platforms"] == [platform]
    assert sorted(w.removeprefix("./") for w in manifest["wheels"]) == wheels
    assert sorted(w.removeprefix("wheels/") for w in wheels) == sorted(extension.read_lock()[platform])
    for w in wheels:
        assert blender_ext.blender_platform_compatible_with_wheel_platform_from_filepath(platform, w), w
        versions = blender_ext.python_versions_from_wheel(w.removeprefix("wheels/"))
        abi3 = "-abi3-" in w  # the stable ABI: any CPython from its version on
        assert isinstance(versions, set) and any(
            v in {(3,), (3, 11)} or (abi3 and v[0] == 3 and v[1] <= 11) for v in versions), (w, versions)
    assert zip_path.stat().st_size < 300e6


@pytest.mark.parametrize("platform", PLATFORMS)
def test_bundled_wheels_need_nothing_unbundled(platform):
    wheels = extension.fetch_wheels(platform)
    assert extension.missing_requirements(platform, wheels) == []
    # what was left out is really asked for (so the list stays honest), and said why
    asked = {extension.wheel_distribution(w.name): extension.wheel_requirements(w) for w in wheels}
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    wanted = {canonicalize_name(Requirement(r).name) for reqs in asked.values() for r in reqs}
    assert {"jax", "jaxlib", "sounddevice", "sentencepiece"} <= wanted
    assert all(len(why) > 20 for why in extension.DROPPED.values())


def test_dependency_check_finds_a_missing_wheel():
    wheels = extension.fetch_wheels("linux-x64")
    without = [w for w in wheels if extension.wheel_distribution(w.name) != "protobuf"]
    problems = extension.missing_requirements("linux-x64", without)
    assert any(p.startswith("mediapipe-") and "protobuf" in p for p in problems), problems
    assert any(p.startswith("onnxruntime-") and "protobuf" in p for p in problems), problems


def test_a_wheel_whose_hash_differs_is_refused(tmp_path):
    name, _ = sorted(extension.read_lock()["linux-x64"].items())[0]
    (tmp_path / "linux-x64").mkdir()
    (tmp_path / "linux-x64" / name).write_bytes(b"not the locked wheel")
    with pytest.raises(SystemExit, match="sha256 differs"):
        extension.fetch_wheels("linux-x64", tmp_path)
