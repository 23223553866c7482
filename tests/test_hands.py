"""core/hands: the followed person's hands (MediaPipe Hands on crops at the body's wrists) and
finger flexion (synthetic hands with known angles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posemoe_blender.core import hands
from posemoe_blender.joints import JOINT_INDEX as J

REPO = Path(__file__).resolve().parents[1]


def _hand(angles_deg: np.ndarray) -> np.ndarray:
    """(21, 3) a right hand, palm facing the camera (camera axes: x right, y down, z forward),
    fingers up, each finger's three joints flexed by ``angles_deg`` (5, 3) towards the palm."""
    x = np.zeros((21, 3))
    bases = {1: (0.03, -0.03), 5: (0.025, -0.09), 9: (0.0, -0.095), 13: (-0.02, -0.09), 17: (-0.04, -0.08)}
    palm_out = np.array([0.0, 0.0, -1.0])  # towards the camera
    lengths = (0.04, 0.03, 0.025)
    for f, chain in enumerate(hands.FINGERS):
        x[chain[1]] = (*bases[chain[1]], 0.0)
        u = x[chain[1]] / np.linalg.norm(x[chain[1]])
        total = 0.0
        for j in range(3):
            total += np.radians(angles_deg[f, j])
            n = palm_out - (palm_out @ u) * u
            n /= np.linalg.norm(n)
            d = np.cos(total) * u + np.sin(total) * n
            x[chain[j + 2]] = x[chain[j + 1]] + lengths[j] * d
    return x


@pytest.mark.parametrize("pose", ["flat", "fist", "point", "mixed"])
def test_finger_flexion_of_known_hands_both_sides(pose):
    angles = {"flat": np.zeros((5, 3)), "fist": np.tile([80.0, 95.0, 60.0], (5, 1)),
              "point": np.array([[30, 40, 30], [0, 0, 0], [85, 100, 70], [85, 100, 70], [85, 100, 70]], float),
              "mixed": np.array([[10, 20, 5], [45, 30, 10], [60, 90, 45], [20, 10, 5], [-10, 0, 0]], float)}[pose]
    limits = np.array([hands.FLEX_LIMITS_DEG["Thumb"]] + [hands.FLEX_LIMITS_DEG["other"]] * 4)
    expected = np.clip(angles, limits[..., 0], limits[..., 1])
    right = _hand(angles)
    np.testing.assert_allclose(np.degrees(hands.finger_flexion(right, right=True)), expected, atol=1e-4)
    left = right * [-1.0, 1.0, 1.0]  # the mirror image: a left hand
    np.testing.assert_allclose(np.degrees(hands.finger_flexion(left, right=False)), expected, atol=1e-4)
    # rotating the whole hand changes nothing
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    rot *= np.sign(np.linalg.det(rot))
    np.testing.assert_allclose(np.degrees(hands.finger_flexion(right @ rot.T, right=True)), expected, atol=1e-4)


def test_unseen_hands_ease_to_relaxed():
    fist = _hand(np.tile([80.0, 95.0, 60.0], (5, 1)))
    out = np.degrees(hands.finger_flexion(np.stack([fist, fist]), right=True, confidence=np.array([1.0, 0.0])))
    np.testing.assert_allclose(out[1, 1:], np.tile(hands.RELAXED_DEG["other"], (4, 1)))
    np.testing.assert_allclose(out[1, 0], hands.RELAXED_DEG["Thumb"])
    assert out[0, 1, 1] == pytest.approx(95.0)


def test_hand_crop_follows_the_forearm():
    kp = np.zeros((17, 3))
    kp[J["LElbow"]] = (400, 500, 0.9)
    kp[J["LWrist"]] = (500, 500, 0.9)
    x0, y0, x1, y1 = hands.hand_crop(kp, "L", 1000, 1000)
    side = round(hands.CROP_FOREARMS * 100)  # the forearm is 100 px long
    assert (x1 - x0, y1 - y0) == (side, side) and (x0 + x1) / 2 == pytest.approx(535, abs=1)
    assert hands.hand_crop(kp, "L", 1000, 1000)[1] == 500 - side // 2
    assert hands.hand_crop(kp, "L", 1000, 560)[3] == 560  # clipped to the picture
    kp[J["LWrist"], 2] = 0.1
    assert hands.hand_crop(kp, "L", 1000, 1000) is None


def test_hands_found_on_real_footage(real_video):
    """Some frames of the real phone clip: hands found at the followed person's wrists."""
    from posemoe_blender.core import detection
    from posemoe_blender.core.video import open_video
    with open_video(real_video) as reader:
        dets = detection.detect_video(reader, end=20)
    with open_video(real_video) as reader:
        tracks = hands.detect_hands(reader, dets.keypoints2d)
    assert tracks.hands2d.shape == (20, 2, 21, 3) and tracks.hands3d.shape == (20, 2, 21, 3)
    found = tracks.found
    assert found.mean() > 0.3, tracks.found_rate()
    for s, side in enumerate("LR"):  # attached to this person's wrist
        d = np.linalg.norm(tracks.hands2d[found[:, s], s, 0, :2] - dets.keypoints2d[found[:, s], J[side + "Wrist"], :2], axis=-1)
        fore = np.linalg.norm(dets.keypoints2d[found[:, s], J[side + "Wrist"], :2]
                              - dets.keypoints2d[found[:, s], J[side + "Elbow"], :2], axis=-1)
        assert np.all(d <= hands.ATTACH_FOREARMS * fore + 1e-6)
    np.testing.assert_allclose(tracks.hands3d[found][:, 0], 0.0, atol=1e-6)  # wrist-relative
    assert np.all(tracks.hands2d[~found] == 0)
