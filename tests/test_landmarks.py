"""detection/landmarks.py: the detector-to-training-skeleton landmark correction."""

import numpy as np
import pytest

from posemoe_blender.detection import landmarks
from posemoe_blender.joints import JOINT_INDEX as J, NUM_JOINTS


def _points(T=6, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(100, 900, (T, NUM_JOINTS, 2))
    return np.concatenate([xy, rng.uniform(0.2, 1.0, (T, NUM_JOINTS, 1))], -1).astype(np.float32)


def test_zero_correction_is_the_identity_and_confidence_passes_through():
    kp = _points()
    out = landmarks.to_training_convention(kp, np.zeros((NUM_JOINTS, 2)))
    assert out.dtype == kp.dtype and out.shape == kp.shape and np.array_equal(out, kp)
    shipped = landmarks.to_training_convention(kp)
    assert np.array_equal(shipped[..., 2], kp[..., 2]) and shipped is not kp


def test_reference_bones():
    kp = _points(1)
    ref = landmarks.reference_vectors(kp)
    torso = kp[0, J["Thorax"], :2] - kp[0, J["Pelvis"], :2]
    for name in landmarks.TORSO_JOINTS:
        np.testing.assert_allclose(ref[0, J[name]], torso, rtol=1e-6)
    np.testing.assert_allclose(ref[0, J["LAnkle"]], kp[0, J["LAnkle"], :2] - kp[0, J["LKnee"], :2], rtol=1e-6)
    np.testing.assert_allclose(ref[0, J["RWrist"]], kp[0, J["RWrist"], :2] - kp[0, J["RElbow"], :2], rtol=1e-6)


def test_correction_follows_the_person_not_the_image():
    """Along the person's own bones: moving or scaling the person in the image moves/scales the
    corrected points the same way (independent of image size, distance and position)."""
    kp = _points().astype(np.float64)
    alpha = np.random.default_rng(1).normal(0, 0.05, (NUM_JOINTS, 2))
    moved = kp.copy()
    moved[..., :2] = 2.5 * kp[..., :2] + np.array([40.0, -70.0])
    a = landmarks.to_training_convention(kp, alpha)[..., :2]
    b = landmarks.to_training_convention(moved, alpha)[..., :2]
    np.testing.assert_allclose(b, 2.5 * a + np.array([40.0, -70.0]), rtol=1e-9, atol=1e-9)


def test_fit_recovers_a_known_offset():
    from posemoe_blender.joints import MIRROR
    c = np.random.default_rng(2).normal(0, 0.05, (NUM_JOINTS, 2))
    c[landmarks._SIDE == 0, 1] = 0.0  # centre-line joints have no width term
    dets = [_points(20, seed).astype(np.float64) for seed in range(3)]
    pairs = [(d, landmarks.to_training_convention(d, c)[..., :2]) for d in dets]
    np.testing.assert_allclose(landmarks.fit_correction(pairs, symmetric=False), c, atol=1e-6)
    sym = 0.5 * (c + c[list(MIRROR)])  # a sideless offset is recovered by the default fit
    pairs = [(d, landmarks.to_training_convention(d, sym)[..., :2]) for d in dets]
    np.testing.assert_allclose(landmarks.fit_correction(pairs), sym, atol=1e-6)
    alone = landmarks.to_training_convention(dets[0], c[:, 0])  # (17,) = alpha alone
    np.testing.assert_allclose(alone, landmarks.to_training_convention(dets[0], np.stack([c[:, 0], 0 * c[:, 0]], 1)))


def test_width_term_narrows_towards_the_midline():
    """beta < 0 moves left and right joints towards each other, whichever way the person faces."""
    kp = _points(1)
    c = np.zeros((NUM_JOINTS, 2))
    c[[J["LHip"], J["RHip"]], 1] = -0.2
    for mirror in (1.0, -1.0):  # facing the camera or away (left/right swapped in the image)
        k = kp.astype(np.float64).copy()
        k[..., 0] *= mirror
        out = landmarks.to_training_convention(k, c)
        before = np.linalg.norm(k[0, J["LHip"], :2] - k[0, J["RHip"], :2])
        after = np.linalg.norm(out[0, J["LHip"], :2] - out[0, J["RHip"], :2])
        assert after == pytest.approx(0.8 * before)
        np.testing.assert_allclose(out[0, J["LHip"], :2] + out[0, J["RHip"], :2],
                                   k[0, J["LHip"], :2] + k[0, J["RHip"], :2])


def test_shipped_correction_is_fitted_and_modest():
    """The shipped table is a fit, not zeros: no joint moves by more than 30 % of its reference
    bone or width line (the renders measured 2-4 % of the height on hips, ankles, pelvis), and
    centre-line joints have no width term."""
    c = landmarks.CORRECTION
    assert c.shape == (NUM_JOINTS, 2) and np.all(np.isfinite(c))
    assert np.abs(c).max() > 0.01 and np.abs(c).max() < 0.3
    assert np.all(c[landmarks._SIDE == 0, 1] == 0)


def test_bad_shapes():
    with pytest.raises(ValueError):
        landmarks.to_training_convention(np.zeros((4, 16, 3)))
    with pytest.raises(ValueError):
        landmarks.to_training_convention(_points(), np.zeros((5, 2)))


def test_pipeline_corrects_the_networks_input_only(sample_clip):
    """With the correction on (off by default), convert's lifting stage lifts the corrected 2D (and
    fits the root to it); the reported keypoints stay as detected; MediaPipe's own 3D is not
    touched."""
    from dataclasses import replace

    from posemoe_blender.lifting import stage as lifting
    from posemoe_blender.pipeline import ConvertOptions, process_clip
    from posemoe_lab.evaluation.detections import memoised_detections

    seen = []
    original = lifting.lift_keypoints

    def spy(kp, *args, **kwargs):
        seen.append(np.array(kp))
        return original(kp, *args, **kwargs)

    base = ConvertOptions(device="cpu", end=30, landmark_correction=True)
    assert ConvertOptions().landmark_correction is False
    with memoised_detections():
        lifting.lift_keypoints = spy
        try:
            on = process_clip(str(sample_clip), base)
            off = process_clip(str(sample_clip), replace(base, landmark_correction=False))
        finally:
            lifting.lift_keypoints = original
        mp_on = process_clip(str(sample_clip), replace(base, lifter="mediapipe"))
        mp_off = process_clip(str(sample_clip), replace(base, lifter="mediapipe", landmark_correction=False))
    assert on.lifter == "tcn" and len(seen) == 2
    np.testing.assert_allclose(seen[0], landmarks.to_training_convention(seen[1]), atol=1e-4)
    assert np.array_equal(on.keypoints2d, off.keypoints2d)
    assert np.abs(on.joints3d - off.joints3d).max() > 1e-3
    assert np.array_equal(mp_on.joints3d, mp_off.joints3d) and np.array_equal(mp_on.root, mp_off.root)


def test_symmetric_fit_and_shipped_table_have_no_side():
    from posemoe_blender.joints import MIRROR
    c = landmarks.CORRECTION
    np.testing.assert_array_equal(c, c[list(MIRROR)])
    rng = np.random.default_rng(5)
    det = _points(30, 5)
    true = det[..., :2] + rng.normal(0, 3, det[..., :2].shape)
    fitted = landmarks.fit_correction([(det, true)])
    np.testing.assert_allclose(fitted, fitted[list(MIRROR)], atol=1e-12)
    free = landmarks.fit_correction([(det, true)], symmetric=False)
    assert not np.allclose(free, free[list(MIRROR)])
