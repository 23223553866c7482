"""Tests for posemoe_blender.video.reader with small videos written by OpenCV."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from posemoe_blender.video.reader import open_video
from posemoe_blender.errors import PoseMoEError


def write_video(path, n=12, width=64, height=48, fps=24.0):
    """Write an mp4v clip whose frame i is a flat grey of level 10 * i (BGR)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for i in range(n):
        frame = np.full((height, width, 3), 10 * i, np.uint8)
        frame[:, :, 2] = 200  # red channel in BGR -> checks the RGB conversion
        writer.write(frame)
    writer.release()
    return path


def test_properties_and_frames(tmp_path):
    path = write_video(tmp_path / "clip.mp4", n=12, width=64, height=48, fps=24.0)
    with open_video(path) as reader:
        assert reader.fps == pytest.approx(24.0)
        assert not reader.fps_guessed
        assert reader.frame_count == 12
        assert (reader.width, reader.height) == (64, 48)
        assert reader.rotation == 0
        frames = list(reader.frames())
    assert [i for i, _ in frames] == list(range(12))
    for i, rgb in frames:
        assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
        assert abs(float(rgb[..., 1].mean()) - 10 * i) < 6  # grey level encodes the index
        assert rgb[..., 0].mean() > 150  # red is channel 0 in RGB


def test_start_end(tmp_path):
    path = write_video(tmp_path / "clip.mp4", n=20)
    reader = open_video(path)
    got = list(reader.frames(start=5, end=9))
    assert [i for i, _ in got] == [5, 6, 7, 8]
    for i, rgb in got:
        assert abs(float(rgb[..., 1].mean()) - 10 * i) < 6
    assert [i for i, _ in reader.frames(start=17)] == [17, 18, 19]
    assert list(reader.frames(start=5, end=5)) == []
    # end beyond the file: stops quietly at the real end
    assert [i for i, _ in reader.frames(start=18, end=100)] == [18, 19]
    reader.close()


def test_odd_size(tmp_path):
    path = write_video(tmp_path / "odd.mp4", n=5, width=161, height=241, fps=30.0)
    reader = open_video(path)
    frames = list(reader.frames())
    assert len(frames) == 5
    assert frames[0][1].shape == (reader.height, reader.width, 3)
    # OpenCV's writer crops odd sizes to even ones; the reader must report what it yields
    assert reader.width in (160, 161) and reader.height in (240, 241)
    for _, rgb in frames:
        assert rgb.shape == (reader.height, reader.width, 3)


def test_early_close_does_not_hang(tmp_path):
    path = write_video(tmp_path / "long.mp4", n=60)
    reader = open_video(path)
    before = threading.active_count()
    gen = reader.frames()
    for i, _ in gen:
        if i == 2:
            break
    t0 = time.monotonic()
    gen.close()
    assert time.monotonic() - t0 < 2.0
    time.sleep(0.3)
    assert threading.active_count() <= before
    # a generator abandoned without close is stopped by reader.close()
    gen2 = reader.frames()
    next(gen2)
    reader.close()
    assert threading.active_count() <= before + 0  # decoder thread joined
    gen2.close()


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "text", "png", "truncated"])
def test_errors(tmp_path, case):
    if case == "missing":
        path = tmp_path / "nope.mp4"
    elif case == "directory":
        path = tmp_path
    elif case == "empty":
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
    elif case == "text":
        path = tmp_path / "notes.mp4"
        path.write_text("this is not a video\n" * 50)
    elif case == "png":
        path = tmp_path / "image.png"
        cv2.imwrite(str(path), np.zeros((32, 32, 3), np.uint8))
    else:
        full = write_video(tmp_path / "full.mp4", n=30)
        path = tmp_path / "truncated.mp4"
        path.write_bytes(full.read_bytes()[:300])
    with pytest.raises(PoseMoEError) as info:
        open_video(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg


def test_real_video(real_video):
    reader = open_video(real_video)
    assert reader.fps == pytest.approx(60.0)
    assert reader.frame_count == 100
    assert (reader.width, reader.height) == (1080, 1920)
    idx, rgb = next(iter(reader.frames(start=50)))
    assert idx == 50 and rgb.shape == (1920, 1080, 3)
    reader.close()


def test_consumer_interrupt_stops_thread(tmp_path):
    path = write_video(tmp_path / "long.mp4", n=60)
    reader = open_video(path)
    before = threading.active_count()
    with pytest.raises(KeyboardInterrupt):
        for i, _ in reader.frames():
            if i == 3:
                raise KeyboardInterrupt
    time.sleep(0.3)
    assert threading.active_count() <= before
    assert reader._threads == []


def test_truncated_message(tmp_path):
    full = write_video(tmp_path / "full.mp4", n=30)
    path = tmp_path / "clip.mp4"
    path.write_bytes(full.read_bytes()[:300])
    with pytest.raises(PoseMoEError, match=r"clip\.mp4: not a readable video"):
        open_video(path)


def _set_rotation(src, dst, degrees):
    """Copy an mp4 with its track's display matrix set to a rotation (as phones write it)."""
    import struct
    data = bytearray(src.read_bytes())
    i = data.find(b"tkhd")
    version = data[i + 4]
    # tkhd: version/flags, times, track id, reserved, duration, reserved(8), layer, group,
    # volume, reserved, then the 3x3 matrix (16.16 fixed point, w in 2.30)
    off = i + 8 + (8 + 8 + 4 + 4 + 8 if version == 1 else 4 + 4 + 4 + 4 + 4) + 8 + 8
    one = 1 << 16
    c, s = {90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]
    data[off:off + 36] = struct.pack(">9i", c * one, s * one, 0, -s * one, c * one, 0, 0, 0, 1 << 30)
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotation_metadata(tmp_path, degrees):
    raw = tmp_path / "raw.mp4"
    writer = cv2.VideoWriter(str(raw), cv2.VideoWriter_fourcc(*"mp4v"), 24.0, (64, 48))
    for _ in range(4):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:16, :16] = 255  # marker in the stored frame's top-left corner
        writer.write(frame)
    writer.release()
    path = _set_rotation(raw, tmp_path / f"rot{degrees}.mp4", degrees)
    reader = open_video(path)
    assert reader.rotation == degrees
    expected = cv2.rotate(np.zeros((48, 64), np.uint8), {
        90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}[degrees])
    assert (reader.height, reader.width) == expected.shape
    marker = np.zeros((48, 64), np.uint8)
    marker[:16, :16] = 255
    marker = cv2.rotate(marker, {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180,
                                 270: cv2.ROTATE_90_COUNTERCLOCKWISE}[degrees])
    for _, rgb in reader.frames():
        assert rgb.shape == (reader.height, reader.width, 3)
        assert np.abs(rgb[..., 1].astype(int) - marker).mean() < 20  # upright picture
