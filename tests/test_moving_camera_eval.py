"""The moving-camera evaluation's metrics (posemoe_lab/evaluation/moving_camera.py) on synthetic
arrays: what one rigid alignment forgives and what it does not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posemoe_blender.errors import PoseMoEError
from posemoe_lab.evaluation import moving_camera as mc


def _walk(frames: int = 120, seed: int = 0) -> np.ndarray:
    """(T, 17, 3) metres: a body that drifts along x, its joints wobbling, Z up."""
    rng = np.random.default_rng(seed)
    rest = rng.normal(0.0, 0.3, (17, 3)) + [0.0, 0.0, 1.0]
    rest[0] = [0.0, 0.0, 1.0]
    t = np.arange(frames)[:, None, None]
    wobble = 0.02 * np.sin(0.3 * t + np.arange(17)[None, :, None])
    return rest[None] + wobble + np.concatenate([0.01 * t, 0 * t, 0 * t], axis=-1)


def test_one_rigid_motion_costs_nothing():
    gt = _walk()
    R = Rotation.from_euler("zyx", [40, 10, -5], degrees=True).as_matrix()
    pred = gt @ R.T + [1.0, -2.0, 0.3]
    assert mc.root_rms_cm(pred, gt) == pytest.approx(0.0, abs=1e-6)
    assert mc.w_mpjpe_mm(pred, gt) == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(mc.rigid_align(pred, gt), gt, atol=1e-9)


def test_a_camera_turn_written_into_the_root_is_measured():
    gt = _walk()
    # the still-camera assumption's error: the root swings sideways with a pan
    swing = 0.2 * np.sin(np.linspace(0, 2 * np.pi, len(gt)))
    pred = gt.copy()
    pred[..., 1] += swing[:, None]
    rms = mc.root_rms_cm(pred, gt)
    # one alignment cannot undo a swing: about the swing's RMS (14 cm) remains
    assert 10.0 < rms < 15.0
    assert mc.w_mpjpe_mm(pred, gt) > 50.0


def test_scale_is_not_forgiven():
    gt = _walk()
    assert mc.w_mpjpe_mm(1.1 * gt, gt) > 10.0


def test_windows():
    assert mc.windows(90) == [(0, 90)]
    assert mc.windows(100) == [(0, 100)]
    assert mc.windows(250) == [(0, 100), (100, 200)]


def test_windows_are_aligned_separately():
    gt = _walk(200)
    pred = gt.copy()
    pred[100:] += [0.5, 0.0, 0.0]  # a jump between the windows: each window on its own is right
    assert mc.w_mpjpe_mm(pred, gt) == pytest.approx(0.0, abs=1e-6)
    assert mc.root_rms_cm(pred, gt) > 10.0


def test_foot_slide_of_a_planted_foot():
    fps = 30.0
    gt = _walk(90)
    gt[..., 0] = gt[0:1, :, 0]  # no drift: the truth stands
    gt[:, mc.metrics.ANKLES] = gt[:1, mc.metrics.ANKLES]
    gt[:, mc.metrics.ANKLES, 2] = 0.05  # both ankles planted, still
    assert mc.foot_slide_cm_s(gt, gt, fps) == pytest.approx(0.0, abs=1e-9)
    pred = gt.copy()
    pred[:, mc.metrics.ANKLES[0], 1] += 0.001 * (np.arange(90) % 2)  # 1 mm back and forth a frame: 3 cm/s
    assert mc.foot_slide_cm_s(pred, gt, fps) == pytest.approx(1.5, abs=0.1)  # one foot of two


def test_rotation_error_deg():
    a = Rotation.from_euler("y", np.linspace(0, 8, 10)[:, None], degrees=True).as_matrix()
    b = Rotation.from_euler("y", np.linspace(0, 8, 10)[:, None] + 1.0, degrees=True).as_matrix()
    assert mc.rotation_error_deg(a, b) == pytest.approx(1.0, abs=1e-9)


def test_bad_input_is_one_error():
    with pytest.raises(PoseMoEError):
        mc.root_rms_cm(np.zeros((10, 17, 3)), np.zeros((9, 17, 3)))
    bad = _walk(10)
    bad[3, 2, 1] = np.nan
    with pytest.raises(PoseMoEError):
        mc.w_mpjpe_mm(bad, _walk(10))


def test_missing_set_is_one_error_line(tmp_path, capsys):
    assert mc.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
