"""core/feet: foot and toe rotations from BlazePose's heels and toe tips (synthetic, known answers)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posemoe_blender.solving import feet
from posemoe_blender.solving.root import CAMERA_TO_BLENDER
from posemoe_blender.joints import JOINT_INDEX as J

FPS = 30.0
T = 30


def _standing(T=T, ankle_z=feet.ANKLE_HEIGHT) -> np.ndarray:
    """(T, 17, 3) a person standing, Blender axes (Z up, facing -Y), ankles ``ankle_z`` up."""
    P = np.zeros((T, 17, 3))
    for side, x in (("L", 0.1), ("R", -0.1)):
        P[:, J[side + "Hip"]] = (x, 0, 0.98)
        P[:, J[side + "Knee"]] = (x, 0, 0.53)
        P[:, J[side + "Ankle"]] = (x, 0, 0.08)
    P[:, J["Pelvis"]] = (0, 0, 0.98)
    P[..., 2] += np.asarray(ankle_z, float).reshape(-1, 1) - 0.08
    return P


def _observed(P, pitch_deg, yaw_deg=0.0, visibility=0.95) -> np.ndarray:
    """(T, 2, 3, 4) camera-oriented world landmarks (ankle, heel, toe tip) of feet pitched by
    ``pitch_deg`` (toes up > 0) and turned by ``yaw_deg`` (counter-clockwise seen from above)."""
    off = feet.foot_offsets(0.9)
    R = Rotation.from_euler("ZX", [yaw_deg, -pitch_deg], degrees=True).as_matrix()  # intrinsic
    out = np.zeros((P.shape[0], 2, 3, 4))
    for s, ankle in enumerate(("LAnkle", "RAnkle")):
        a = P[:, J[ankle]]
        pts = np.stack([a, a + R @ off["heel"], a + R @ off["toe"]], axis=1)  # Blender axes
        pts = pts - P[:, J["Pelvis"]][:, None]
        out[:, s, :, :3] = pts @ CAMERA_TO_BLENDER  # -> camera axes (inverse rotation)
        out[:, s, :, 3] = visibility
    return out


def _solve(P, obs=None, contacts=None):
    return feet.solve_feet(P, FPS, 0.9, camera_to_armature=CAMERA_TO_BLENDER, feet3d=obs, contacts=contacts)


def test_measured_pitch_and_heading_are_followed():
    P = _standing(ankle_z=0.2)  # a raised foot: nothing else constrains it
    for pitch, yaw in ((20.0, 0.0), (-30.0, 25.0)):
        fp = _solve(P, _observed(P, pitch, yaw))
        got = feet.foot_pitch_deg(fp.rotations)
        np.testing.assert_allclose(got, pitch, atol=1.0)
        fwd = fp.rotations @ np.array([0.0, -1.0, 0.0])
        heading = np.degrees(np.arctan2(fwd[..., 0], -fwd[..., 1]))
        np.testing.assert_allclose(heading, yaw, atol=1.0)
        assert np.all(fp.measured > 0.99) and np.all(fp.toe_bend == 0.0)


def test_unseen_feet_ease_to_flat_without_snapping():
    P = _standing(ankle_z=0.2)
    obs = _observed(P, 25.0)
    vis = np.clip(np.linspace(1.2, -0.2, T), 0, 1)  # the feet fade out of view
    obs[..., 3] = vis[:, None, None]
    fp = _solve(P, obs)
    pitch = feet.foot_pitch_deg(fp.rotations)[:, 0]
    assert pitch[0] == pytest.approx(25.0, abs=1.0)  # seen
    assert abs(pitch[-1]) < 0.5  # unseen: flat, turned with the pelvis
    assert np.abs(np.diff(pitch)).max() < 6.0  # eased, no snap
    # no landmarks at all: the fallback everywhere
    np.testing.assert_allclose(feet.foot_pitch_deg(_solve(P).rotations), 0.0, atol=1e-9)


def test_planted_feet_are_flat_with_one_heading():
    P = _standing()
    rng = np.random.default_rng(0)
    obs = _observed(P, 12.0, 10.0)
    obs[..., :3] += rng.normal(scale=0.01, size=obs[..., :3].shape)  # noisy landmarks
    contacts = np.zeros((T, 2), bool)
    contacts[5:25] = True
    fp = _solve(P, obs, contacts)
    inside = slice(5 + 3, 25 - 3)  # past the ease
    np.testing.assert_allclose(feet.foot_pitch_deg(fp.rotations[inside]), 0.0, atol=1e-6)
    fwd = fp.rotations[inside] @ np.array([0.0, -1.0, 0.0])
    np.testing.assert_allclose(fwd[..., 2], 0.0, atol=1e-9)
    heading = np.degrees(np.arctan2(fwd[..., 0], -fwd[..., 1]))
    assert np.ptp(heading, axis=0).max() < 1e-6  # one heading per plant
    assert np.all(np.abs(heading - 10.0) < 3.0)
    assert np.all(fp.flat[inside] == 1.0) and np.all(fp.flat[:2] == 0.0)


def test_toe_off_bends_the_toes_and_nothing_goes_through_the_floor():
    # heel raised (ankle 0.16 m up), foot pitched toes-down 35 deg: the ball stays near the floor
    P = _standing(ankle_z=0.16)
    fp = _solve(P, _observed(P, -35.0))
    off = feet.foot_offsets(0.9)
    D = fp.rotations[:, 0]
    ankle = P[:, J["LAnkle"]]
    ball = ankle + D @ off["ball"]
    # the toe bone turns about the rest foot's side axis (world: D @ R_x(-bend))
    rx = Rotation.from_rotvec(np.outer(-fp.toe_bend[:, 0], [1.0, 0.0, 0.0])).as_matrix()
    tip = ball + np.einsum("tij,tjk,k->ti", D, rx, off["toe"] - off["ball"])
    assert np.all(fp.toe_bend[:, 0] > np.radians(10))
    assert np.all(tip[:, 2] >= feet.TOE_TIP_HEIGHT - 1e-3) and np.all(ball[:, 2] >= feet.BALL_HEIGHT - 1e-3)
    # a standing ankle with a toes-down reading: the foot is pitched back so the ball stays up
    P0 = _standing()
    fp0 = _solve(P0, _observed(P0, -30.0))
    ball0 = P0[:, J["LAnkle"]] + fp0.rotations[:, 0] @ off["ball"]
    assert np.all(ball0[:, 2] >= feet.BALL_HEIGHT - 1e-6)
    heel0 = P0[:, J["LAnkle"]] + fp0.rotations[:, 0] @ off["heel"]
    assert np.all(heel0[:, 2] >= -1e-6)


def test_anatomical_limits():
    P = _standing(ankle_z=0.3)
    pitch = feet.foot_pitch_deg(_solve(P, _observed(P, 80.0)).rotations)
    assert np.all(pitch <= feet.DORSIFLEXION_DEG + 3.6)
    pitch = feet.foot_pitch_deg(_solve(P, _observed(P, -85.0)).rotations)
    assert np.all(pitch >= -feet.PLANTARFLEXION_DEG - 3.6 - 1e-6)
