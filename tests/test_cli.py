"""The command line: one-line errors, non-zero exits, nothing written on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posemoe_blender.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "posemoe_blender", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or REPO, timeout=300)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    for frag in fragments:
        assert frag in lines[0], lines[0]


@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "text", "image"])
def test_convert_rejects_non_videos(tmp_path, kind):
    path = tmp_path / f"in put é.{'png' if kind == 'image' else 'mp4'}"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("hello, this is not a video\n")
    elif kind == "image":
        import cv2
        cv2.imwrite(str(path), np.zeros((32, 32, 3), np.uint8))
    out = tmp_path / "out.fbx"
    proc = run_cli("convert", path, "-o", out)
    assert_one_line_error(proc, path.name)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ([path.name] if kind != "missing" else [])


def test_convert_refuses_existing_output_without_overwrite(tmp_path, capsys):
    out = tmp_path / "clip.fbx"
    out.write_bytes(b"keep me")
    assert main(["convert", str(tmp_path / "whatever.mp4"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"keep me"


def test_convert_rejects_unwritable_output_folder(tmp_path, capsys):
    if os.geteuid() == 0:
        target = "/proc/posemoe/out.fbx"  # root can write anywhere else
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "out.fbx")
    assert main(["convert", str(tmp_path / "x.mp4"), "-o", target]) == 2
    assert "error:" in capsys.readouterr().err


def test_convert_needs_an_output(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "x.mp4")]) == 2
    assert "nothing to write" in capsys.readouterr().err


def test_bad_flags_are_one_line_errors():
    proc = run_cli("convert", "x.mp4", "-o", "x.fbx", "--start", "-3")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error:" in proc.stderr and "--start" in proc.stderr


def test_lift_rejects_bad_npz(tmp_path, capsys):
    bad = tmp_path / "kp.npz"
    np.savez(bad, keypoints2d=np.zeros((5, 12, 3)), fps=30.0, width=640, height=480)
    assert main(["lift", str(bad), "-o", str(tmp_path / "j.npz")]) == 2
    err = capsys.readouterr().err
    assert "keypoints2d has shape" in err
    assert not (tmp_path / "j.npz").exists()


def test_batch_with_no_matching_clips(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "*.mp4"), "-o", str(tmp_path / "out")]) == 2
    assert "no video files match" in capsys.readouterr().err


def test_outputs_get_normal_file_permissions(tmp_path):
    """Staged outputs are renamed into place with the umask's mode, not mkstemp's 0600."""
    from posemoe_blender.joints import save_npz
    out = tmp_path / "j.npz"
    old = os.umask(0o022)
    try:
        save_npz(out, joints3d=np.zeros((1, 17, 3), np.float32))
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == 0o644


def test_bpy_import_never_overlaps_library_loading_on_the_worker(tmp_path):
    """convert imports bpy on the main thread while the worker detects; loading a shared library
    on the worker during that import deadlocks (bpy's USD initialisers retake the GIL under the
    loader lock). The contract: the lifter's weights are loaded before the worker starts, the
    import starts only after the worker's first detected frame, and lifting waits for its end."""
    script = r'''
import sys, time, threading
import posemoe_blender.convert as cv
from posemoe_blender.core import lifting
from posemoe_blender.errors import PoseMoEError
log = []
def fake_process_clip(video, options, progress, lift_gate=None):
    log.append(("weights loaded", bool(lifting._CACHE)))
    time.sleep(0.3)
    log.append(("bpy before first frame", "bpy" in sys.modules))
    progress(1, 10)
    assert lift_gate is not None and lift_gate.wait(60)
    log.append(("bpy before lifting", "bpy" in sys.modules))
    raise PoseMoEError(repr(log))
cv.process_clip = fake_process_clip
try:
    cv.convert_clip("clip.mp4", cv.Outputs(fbx=sys.argv[1]), cv.ConvertOptions())
except PoseMoEError as e:
    print(e)
'''
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "o.fbx")], capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    out = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    assert out == ("[('weights loaded', True), ('bpy before first frame', False), "
                   "('bpy before lifting', True)]"), out
