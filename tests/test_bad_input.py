"""Bad input to ``prepare``, ``train`` and ``lift`` ends with one ``error: ...`` line on stderr
and a non-zero status: no traceback, nothing half-written. Every file is made in tmp_path."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from posemoe_blender.cli import main as blender_main
from posemoe_lab.__main__ import main as lab_main

REPO = Path(__file__).resolve().parents[1]

#: A two-joint BVH (the reader's format: 6 channels per joint), 2 frames at 30 fps.
BVH_HEAD = """HIERARCHY
ROOT pelvis
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT face
  {
    OFFSET 0 1.5 0
    CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 0.2 0
    }
  }
}
MOTION
"""
BVH_FRAMES = "Frames: 2\nFrame Time: 0.0333333\n0 0.9 0 0 0 0 0 1.5 0 0 0 0\n0 0.9 0 5 0 0 0 1.5 0 0 0 0\n"


def _archive(path: Path, files: dict[str, str]) -> Path:
    """A ``.tar.xz`` at ``path`` holding ``files`` (name -> text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:xz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _one_error_line(capsys, *needles: str, usage: bool = False) -> str:
    """stderr is one ``error: ...`` line holding every needle (after argparse's usage lines
    when ``usage``: a bad option)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    if usage:
        assert lines[0].startswith("usage: ") and not any(x.startswith("error") for x in lines[:-1]), err
        lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _prepare(tmp_path, capsys, data: Path, *needles: str, sources: str = "reactidle") -> None:
    out = tmp_path / "out"
    assert lab_main(["prepare", "--data", str(data), "--out", str(out), "--sources", sources]) == 2
    _one_error_line(capsys, *needles)
    assert not (out / "mocap.npz").exists() and not (out / "manifest.json").exists()
    leftovers = [p for p in out.rglob("*") if ".partial-" in p.name] if out.exists() else []
    assert not leftovers


# ---------------------------------------------------------------------------- prepare

def test_prepare_on_an_empty_file_named_tar_xz(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "reactidle-idle.tar.xz").write_bytes(b"")
    _prepare(tmp_path, capsys, data, "reactidle-idle.tar.xz: not a readable .tar.xz archive")
    assert not (tmp_path / "out").exists()          # not even an empty output folder


def test_prepare_on_an_empty_archive(tmp_path, capsys):
    data = tmp_path / "data"
    _archive(data / "bandai-namco-motion-1.tar.xz", {})
    _prepare(tmp_path, capsys, data, "bandai-namco-motion-1.tar.xz: no motion files in the archive",
             sources="bandai")
    assert not (tmp_path / "out").exists()


def test_prepare_on_an_archive_without_motion_files(tmp_path, capsys):
    data = tmp_path / "data"
    _archive(data / "reactidle-idle.tar.xz", {"reactidle/README.md": "no takes here", "reactidle/acted/notes.txt": "x"})
    _prepare(tmp_path, capsys, data, "no motion files in the archive (expected reactidle/*/*.bvh")
    assert not (tmp_path / "out").exists()          # nothing cached: a later run unpacks again


def test_prepare_on_a_bvh_with_zero_frames(tmp_path, capsys):
    data = tmp_path / "data"
    _archive(data / "reactidle-idle.tar.xz",
             {"reactidle/acted/a.bvh": BVH_HEAD + "Frames: 0\nFrame Time: 0.0333333\n"})
    _prepare(tmp_path, capsys, data, "a.bvh: BVH has no frames")


def test_prepare_on_a_truncated_bvh(tmp_path, capsys):
    data = tmp_path / "data"
    _archive(data / "reactidle-idle.tar.xz", {"reactidle/acted/a.bvh": (BVH_HEAD + BVH_FRAMES)[:-20]})
    _prepare(tmp_path, capsys, data, "a.bvh: BVH motion truncated (15 values, expected 2 x 12)")
    cut = tmp_path / "cut"
    _archive(cut / "reactidle-idle.tar.xz", {"reactidle/acted/a.bvh": BVH_HEAD[:150] + "\nMOTION\n" + BVH_FRAMES})
    _prepare(tmp_path / "2", capsys, cut, "a.bvh: BVH HIERARCHY unreadable")


def test_prepare_on_a_bvh_of_another_skeleton(tmp_path, capsys):
    """A well-formed BVH whose joints are not the source's: the joint it lacks, named."""
    data = tmp_path / "data"
    _archive(data / "reactidle-idle.tar.xz", {"reactidle/acted/a.bvh": BVH_HEAD + BVH_FRAMES})
    _prepare(tmp_path, capsys, data, "not ReActIdle's skeleton (no joint or end site thigh.R)")


def test_prepare_on_a_cut_short_archive(tmp_path, capsys):
    whole = _archive(tmp_path / "whole" / "reactidle-idle.tar.xz",
                     {f"reactidle/acted/{k}.bvh": BVH_HEAD + BVH_FRAMES * 50 for k in range(3)})
    data = tmp_path / "data"
    data.mkdir()
    (data / "reactidle-idle.tar.xz").write_bytes(whole.read_bytes()[:200])
    _prepare(tmp_path, capsys, data, "reactidle-idle.tar.xz: not a readable .tar.xz archive")


# ---------------------------------------------------------------------------- train

def _train(tmp_path, data: Path, capsys, *needles: str) -> None:
    out = tmp_path / "run"
    assert lab_main(["train", "--steps", "2", "--batch", "2", "--data", str(data), "--out", str(out),
                     "--config", '{"dim": 16, "depth": 1, "expert_hidden": 16, "prior_hidden": 32, "heads": 2}']) == 2
    _one_error_line(capsys, *needles)
    assert not out.exists()


def test_train_on_an_empty_data_folder(tmp_path, capsys):
    (tmp_path / "mocap").mkdir()
    _train(tmp_path, tmp_path / "mocap", capsys, "mocap.npz: no such file")


def test_train_on_data_without_a_train_split(tmp_path, capsys):
    folder = tmp_path / "mocap"
    folder.mkdir()
    joints = np.zeros((60, 17, 3), np.float32)
    np.savez(folder / "mocap.npz", joints=joints, clip_start=np.array([0, 30]), clip_len=np.array([30, 30]),
             clip_name=np.array(["a", "b"]), style=np.array(["s", "s"]), dataset=np.array(["d", "d"]),
             split=np.array(["test", "test"]))
    _train(tmp_path, folder, capsys, "no training clips (split 'train'; it holds 'test')")


def test_train_on_an_unreadable_mocap_file(tmp_path, capsys):
    folder = tmp_path / "mocap"
    folder.mkdir()
    (folder / "mocap.npz").write_bytes(b"")
    _train(tmp_path, folder, capsys, "mocap.npz: not a readable .npz file")
    np.savez(folder / "mocap.npz", joints=np.zeros((4, 17, 3), np.float32))
    _train(tmp_path, folder, capsys, "mocap.npz: not a prepared mocap file (no clip_start")


def test_train_on_bad_json_options(tmp_path, capsys):
    (tmp_path / "mocap").mkdir()
    assert lab_main(["train", "--steps", "2", "--out", str(tmp_path / "run"), "--config", "{dim: 16"]) == 2
    _one_error_line(capsys, "--config: not valid JSON")
    with pytest.raises(SystemExit) as exc:
        lab_main(["train", "--steps", "0", "--out", str(tmp_path / "run")])
    assert exc.value.code == 2
    _one_error_line(capsys, "argument --steps: must be > 0, got 0", usage=True)
    assert not (tmp_path / "run").exists()


def test_the_lab_command_line_passes_options_through(tmp_path):
    """``python -m posemoe_lab train --option ...`` (an option right after the command) reaches
    the trainer, and its error is the one line, from a real process."""
    proc = subprocess.run([sys.executable, "-m", "posemoe_lab", "train", "--steps", "2", "--data",
                           str(tmp_path / "nothing"), "--out", str(tmp_path / "run")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {tmp_path / 'nothing' / 'mocap.npz'}: no such file "
                                                "(run `python -m posemoe_lab prepare` first)"]
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------- lift

def _keypoints(**changes) -> dict:
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(100, 500, (12, 17, 2)), np.ones((12, 17, 1))], -1).astype(np.float32)
    return {"keypoints2d": kp, "fps": np.float32(30), "width": np.int32(640), "height": np.int32(480), **changes}


def _lift(tmp_path, capsys, arrays: dict, *needles: str) -> None:
    src, out = tmp_path / "kp.npz", tmp_path / "j.npz"
    np.savez(src, **arrays)
    assert blender_main(["lift", str(src), "-o", str(out), "--device", "cpu"]) == 2
    _one_error_line(capsys, *needles)
    assert not out.exists()


@pytest.mark.parametrize("bad,where", [(np.nan, "frame 3, joint LHip"), (np.inf, "frame 3, joint LHip"),
                                       (-np.inf, "frame 3, joint LHip")])
def test_lift_on_keypoints_with_nan_or_inf(tmp_path, capsys, bad, where):
    kp = _keypoints()["keypoints2d"]
    kp[3, 4, 1] = bad
    _lift(tmp_path, capsys, _keypoints(keypoints2d=kp), "keypoints2d contains NaN or infinite values", where)


@pytest.mark.parametrize("shape", [(12, 17, 2), (12, 33, 3), (17, 3), (0, 17, 3)])
def test_lift_on_keypoints_of_a_wrong_shape(tmp_path, capsys, shape):
    _lift(tmp_path, capsys, _keypoints(keypoints2d=np.zeros(shape, np.float32)),
          f"keypoints2d has shape {shape}, expected (T, 17, 3) with T > 0")


def test_lift_on_other_bad_arrays(tmp_path, capsys):
    world = np.zeros((12, 17, 3), np.float32)
    world[0, 0, 0] = np.nan
    _lift(tmp_path, capsys, _keypoints(world3d=world), "world3d contains NaN or infinite values")
    _lift(tmp_path, capsys, _keypoints(keypoints2d=np.full((12, 17, 3), "x")), "keypoints2d holds <U1 values")
    _lift(tmp_path, capsys, _keypoints(width=np.array([640, 480])), "width is an array of shape (2,)")
    _lift(tmp_path, capsys, _keypoints(height=np.int32(0)), "height is 0, expected a whole number of pixels > 0")
    _lift(tmp_path, capsys, _keypoints(fps=np.float32(np.nan)), "fps is nan")
    kp = _keypoints()["keypoints2d"]
    kp[..., 2] = 2.0
    _lift(tmp_path, capsys, _keypoints(keypoints2d=kp), "confidence (last channel) outside [0, 1]")
