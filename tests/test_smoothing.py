"""Tests for posemoe_blender.smoothing.filters with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posemoe_blender.smoothing.filters import Gap, cutoff_for_strength, fill_gaps, resample, smooth_joints
from posemoe_blender.errors import PoseMoEError
from posemoe_blender.joints import JOINT_INDEX as J, MIRROR


def _sine(fps, duration=4.0, freq=1.5):
    t = np.arange(int(round(duration * fps))) / fps
    return t, np.sin(2 * np.pi * freq * t)


def _phase(y, t, freq=1.5):
    return math.atan2(np.dot(y, np.cos(2 * np.pi * freq * t)), np.dot(y, np.sin(2 * np.pi * freq * t)))


def test_noise_reduced_without_lag():
    fps = 60.0
    t, clean = _sine(fps)
    rng = np.random.default_rng(0)
    noise = rng.normal(scale=0.2, size=clean.shape)
    x = np.tile((clean + noise)[:, None, None], (1, 17, 3))
    y = smooth_joints(x, fps, cutoff_hz=2.5)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    residual = y[:, 0, 0] - clean
    assert np.sqrt(np.mean(residual ** 2)) < np.sqrt(np.mean(noise ** 2)) / 3
    # zero phase: the 1.5 Hz component is not delayed (< 1 frame, and < 0.1 frame in fact)
    dphase = _phase(y[:, 0, 0], t) - _phase(clean, t)
    lag_frames = abs(dphase) / (2 * np.pi * 1.5) * fps
    assert lag_frames < 0.1
    # cross-correlation peaks at lag 0
    lags = np.arange(-5, 6)
    xc = [np.dot(np.roll(y[:, 0, 0], k)[10:-10], clean[10:-10]) for k in lags]
    assert lags[int(np.argmax(xc))] == 0


def test_frame_rate_independent():
    def signal(t):
        return np.sin(2 * np.pi * 1.5 * t) + 0.3 * np.sin(2 * np.pi * 8.0 * t + 0.3)

    out = {}
    for fps in (24.0, 60.0):
        t = np.arange(int(3 * fps)) / fps
        out[fps] = (t, smooth_joints(signal(t)[:, None], fps, cutoff_hz=4.0)[:, 0])
    t24, y24 = out[24.0]
    t60, y60 = out[60.0]
    # compare at the common times (every 5th 60 fps frame = every 2nd 24 fps frame)
    a, b = y24[::2], y60[::5]
    n = min(len(a), len(b))
    inner = slice(5, n - 5)  # away from the edges
    assert np.abs(a[:n][inner] - b[:n][inner]).max() < 0.02
    # and the 8 Hz component is removed in both (amplitude 0.3 -> small)
    assert np.abs(a[:n][inner] - np.sin(2 * np.pi * 1.5 * t24[::2][:n][inner])).max() < 0.06


def test_low_confidence_outliers_suppressed():
    fps = 30.0
    t, clean = _sine(fps, duration=3.0, freq=1.0)
    x = clean.copy()
    spikes = np.arange(10, 80, 9)
    x[spikes] += 1.5
    conf = np.ones_like(x)
    conf[spikes] = 0.05
    plain = smooth_joints(x[:, None], fps, cutoff_hz=6.0)[:, 0]
    aware = smooth_joints(x[:, None], fps, cutoff_hz=6.0, confidence=conf)[:, 0]
    err_plain = np.abs(plain - clean)[spikes].max()
    err_aware = np.abs(aware - clean)[spikes].max()
    assert err_aware < 0.15 < err_plain
    # full confidence changes nothing
    np.testing.assert_allclose(smooth_joints(x[:, None], fps, 6.0, np.ones_like(x)), plain[:, None])


def test_short_and_degenerate_inputs():
    for T in (1, 2, 3, 5, 12):
        x = np.random.default_rng(T).normal(size=(T, 17, 3))
        y = smooth_joints(x, 30.0, 6.0, confidence=np.zeros((T, 17)))
        assert y.shape == x.shape and np.all(np.isfinite(y))
    x = np.random.default_rng(0).normal(size=(20, 17, 3))
    np.testing.assert_array_equal(smooth_joints(x, 30.0, math.inf), x)
    np.testing.assert_array_equal(smooth_joints(x, 30.0, cutoff_for_strength(0.0)), x)
    np.testing.assert_array_equal(smooth_joints(x, 10.0, 6.0), x)  # cutoff above Nyquist


def test_cutoff_for_strength():
    assert cutoff_for_strength(0) == 0.0
    assert cutoff_for_strength(0.5) == pytest.approx(6.0)
    assert cutoff_for_strength(1.0) == pytest.approx(1.5)
    values = [cutoff_for_strength(s) for s in np.linspace(0.01, 1, 20)]
    assert all(a > b for a, b in zip(values, values[1:]))
    with pytest.raises(PoseMoEError):
        cutoff_for_strength(1.5)


def _track(T, fps, amp=100.0):
    t = np.arange(T) / fps
    kp = np.zeros((T, 17, 3))
    for j in range(17):
        kp[:, j, 0] = 500 + amp * np.sin(2 * np.pi * 1.0 * t + j)
        kp[:, j, 1] = 800 + amp * np.cos(2 * np.pi * 0.7 * t + j)
    kp[..., 2] = 0.9
    return kp


def test_short_gap_interpolated():
    fps = 60.0
    truth = _track(120, fps)
    kp = truth.copy()
    kp[40:45, J["LWrist"], 2] = 0.1  # 5 missing frames of one joint
    kp[40:45, J["LWrist"], :2] = 0.0  # detector garbage
    kp[70:75, :, 2] = 0.0  # 5 frames without anybody
    filled, gaps = fill_gaps(kp, fps)
    assert gaps == []
    assert np.abs(filled[40:45, J["LWrist"], :2] - truth[40:45, J["LWrist"], :2]).max() < 1.0
    assert np.abs(filled[70:75, :, :2] - truth[70:75, :, :2]).max() < 1.0
    # confidences are kept low so later weighting knows
    assert np.all(filled[40:45, J["LWrist"], 2] == np.float32(0.1))
    assert np.all(filled[70:75, :, 2] == 0)
    # valid samples untouched
    np.testing.assert_allclose(filled[:40], truth[:40], atol=1e-3)


def test_long_gap_held_and_reported():
    fps = 30.0
    truth = _track(200, fps)
    kp = truth.copy()
    kp[50:140] = 0.0  # 3 s with nobody
    filled, gaps = fill_gaps(kp, fps, max_gap_s=0.5)
    assert gaps == [Gap(50, 140, tuple(range(17)))]
    assert gaps[0].whole_person and len(gaps[0]) == 90
    # held at the nearest valid value
    np.testing.assert_allclose(filled[50:95, :, :2], np.broadcast_to(truth[49, :, :2], (45, 17, 2)), atol=1e-3)
    np.testing.assert_allclose(filled[96:140, :, :2], np.broadcast_to(truth[140, :, :2], (44, 17, 2)), atol=1e-3)
    assert np.all(np.isfinite(filled))


def test_edges_held_and_never_valid_joint():
    fps = 30.0
    truth = _track(60, fps)
    kp = truth.copy()
    kp[:5, :, 2] = 0.0  # short edge gap: held, not reported
    kp[:, J["RWrist"], 2] = 0.0  # never valid: copies its mirror
    kp[:, J["RWrist"], :2] = np.nan
    filled, gaps = fill_gaps(kp, fps)
    np.testing.assert_allclose(filled[:5, J["Pelvis"], :2], np.broadcast_to(truth[5, J["Pelvis"], :2], (5, 2)), atol=1e-3)
    np.testing.assert_allclose(filled[:, J["RWrist"], :2], filled[:, MIRROR[J["RWrist"]], :2])
    assert gaps == [Gap(0, 60, (J["RWrist"],))]
    assert np.all(np.isfinite(filled))


def test_never_nan_random():
    rng = np.random.default_rng(5)
    for T in (1, 2, 7, 50):
        kp = rng.normal(size=(T, 17, 3)) * 100
        kp[..., 2] = rng.uniform(0, 1, size=(T, 17)) * (rng.uniform(size=(T, 17)) > 0.5)
        filled, _ = fill_gaps(kp, 25.0)
        assert np.all(np.isfinite(filled))
        sm = smooth_joints(filled[..., :2], 25.0, 6.0, filled[..., 2])
        assert np.all(np.isfinite(sm))
    filled, gaps = fill_gaps(np.zeros((10, 17, 3)), 30.0)  # nobody at all
    assert np.all(filled == 0) and gaps == [Gap(0, 10, tuple(range(17)))]


def test_resample():
    fps_in, fps_out = 60.0, 24.0
    t_in = np.arange(121) / fps_in  # 2 s
    x = np.sin(2 * np.pi * 0.8 * t_in)[:, None, None] * np.ones((1, 17, 3))
    y = resample(x, fps_in, fps_out)
    assert y.shape == (49, 17, 3)
    t_out = np.arange(49) / fps_out
    np.testing.assert_allclose(y[:, 3, 1], np.sin(2 * np.pi * 0.8 * t_out), atol=1e-3)
    up = resample(x, fps_in, 120.0)
    assert up.shape == (241, 17, 3)
    np.testing.assert_allclose(up[::2], x, atol=1e-12)
    assert resample(x[:1], 60.0, 24.0).shape == (1, 17, 3)


def test_fill_gaps_world_with_confidence_channel():
    """(T, 17, 4): xyz metres + confidence, as the pipeline passes MediaPipe world points."""
    fps = 30.0
    truth = _track(40, fps) / 1000.0
    world = np.concatenate([truth[..., :2], truth[..., :1] * 0.5, np.full((40, 17, 1), 0.9)], axis=-1)
    kp = world.copy()
    kp[10:13, :, 3] = 0.0
    filled, gaps = fill_gaps(kp, fps)
    assert filled.shape == (40, 17, 4) and gaps == []
    assert np.abs(filled[10:13, :, :3] - world[10:13, :, :3]).max() < 2e-3
    assert np.all(filled[10:13, :, 3] == 0)
