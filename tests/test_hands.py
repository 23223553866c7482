"""core/hands: the followed person's hands (MediaPipe Hands on crops at the body's wrists) and
finger flexion (synthetic hands with known angles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posemoe_blender.detection import hands
from posemoe_blender.solving import fingers
from posemoe_blender.joints import JOINT_INDEX as J

REPO = Path(__file__).resolve().parents[1]


def _hand(angles_deg: np.ndarray) -> np.ndarray:
    """(21, 3) a right hand, palm facing the camera (camera axes: x right, y down, z forward),
    fingers up, each finger's three joints flexed by ``angles_deg`` (5, 3) towards the palm."""
    x = np.zeros((21, 3))
    bases = {1: (0.03, -0.03), 5: (0.025, -0.09), 9: (0.0, -0.095), 13: (-0.02, -0.09), 17: (-0.04, -0.08)}
    palm_out = np.array([0.0, 0.0, -1.0])  # towards the camera
    lengths = (0.04, 0.03, 0.025)
    for f, chain in enumerate(fingers.FINGERS):
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
    limits = np.array([fingers.FLEX_LIMITS_DEG["Thumb"]] + [fingers.FLEX_LIMITS_DEG["other"]] * 4)
    expected = np.clip(angles, limits[..., 0], limits[..., 1])
    right = _hand(angles)
    np.testing.assert_allclose(np.degrees(fingers.finger_flexion(right, right=True)), expected, atol=1e-4)
    left = right * [-1.0, 1.0, 1.0]  # the mirror image: a left hand
    np.testing.assert_allclose(np.degrees(fingers.finger_flexion(left, right=False)), expected, atol=1e-4)
    # rotating the whole hand changes nothing
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    rot *= np.sign(np.linalg.det(rot))
    np.testing.assert_allclose(np.degrees(fingers.finger_flexion(right @ rot.T, right=True)), expected, atol=1e-4)


def test_unseen_hands_ease_to_relaxed():
    fist = _hand(np.tile([80.0, 95.0, 60.0], (5, 1)))
    out = np.degrees(fingers.finger_flexion(np.stack([fist, fist]), right=True, confidence=np.array([1.0, 0.0])))
    np.testing.assert_allclose(out[1, 1:], np.tile(fingers.RELAXED_DEG["other"], (4, 1)))
    np.testing.assert_allclose(out[1, 0], fingers.RELAXED_DEG["Thumb"])
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
    from posemoe_blender.detection import body as detection
    from posemoe_blender.video.reader import open_video
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


def _spread_hand(spread_deg, flex_deg=(0, 0, 0, 0), thumb_cmc=(0.0, None)) -> np.ndarray:
    """(21, 3) a right hand like :func:`_hand`'s (palm to the camera, fingers up: the hand's
    axis ``u`` = -y, towards the thumb ``v`` = +x, the back of the hand ``n`` = +z) whose
    index .. little proximal phalanges are spread by ``spread_deg`` (4,) (away from the middle
    finger; the middle finger towards the thumb) and flexed out of the palm plane by
    ``flex_deg`` (4,), and whose thumb metacarpal has the CMC flexion / palmar abduction
    ``thumb_cmc`` (degrees; abduction None: the rest thumb's)."""
    u, v, n = np.array([0.0, -1.0, 0.0]), np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
    x = np.zeros((21, 3))

    def direction(az, el):  # azimuth towards the thumb, elevation towards the palm (radians)
        return np.cos(el) * (np.cos(az) * u + np.sin(az) * v) - np.sin(el) * n

    mcp = {5: (0.09, 0.025), 9: (0.095, 0.0), 13: (0.09, -0.02), 17: (0.08, -0.04)}
    for f, sign in zip(range(4), (1, 1, -1, -1)):
        chain = fingers.FINGERS[f + 1]
        x[chain[1]] = mcp[chain[1]][0] * u + mcp[chain[1]][1] * v
        d = direction(np.radians(sign * spread_deg[f]), np.radians(flex_deg[f]))
        for j, length in enumerate((0.04, 0.03, 0.025)):
            x[chain[j + 2]] = x[chain[j + 1]] + length * d
    flex, abd = thumb_cmc
    abd = np.degrees(fingers.THUMB_REST[1]) if abd is None else abd
    x[1] = 0.03 * u + 0.03 * v
    d = direction(fingers.THUMB_REST[0] - np.radians(flex), np.radians(abd))
    for j, length in enumerate((0.04, 0.03, 0.025)):
        x[j + 2] = x[j + 1] + length * d
    return x


def _mirror_and_turn(right: np.ndarray):
    rot = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    rot *= np.sign(np.linalg.det(rot))
    return right * [-1.0, 1.0, 1.0], right @ rot.T


@pytest.mark.parametrize("spread", [(0, 0, 0, 0), (20, 5, 10, 25), (-10, -8, -5, 12), (12, -4, 18, -14)])
def test_finger_spread_of_known_hands_both_sides(spread):
    right = _spread_hand(spread, flex_deg=(10, 20, 0, 30))
    left, turned = _mirror_and_turn(right)
    for hand, is_right in ((right, True), (left, False), (turned, True)):
        flex, sp = fingers.finger_bases(hand, right=is_right)
        np.testing.assert_allclose(np.degrees(sp[1:]), spread, atol=1e-6)
        # the MCP flexion out of the palm plane, without the spread mixed in
        np.testing.assert_allclose(np.degrees(flex[1:]), (10, 20, 0, 30), atol=1e-6)
    # the plain angle between the segments (finger_flexion, unchanged) does mix them in
    assert abs(np.degrees(fingers.finger_flexion(right, right=True))[2, 0]) > 10.0


@pytest.mark.parametrize("thumb", [(0.0, None), (30.0, 40.0), (-15.0, 5.0), (45.0, 60.0)])
def test_thumb_cmc_axes_of_known_hands_both_sides(thumb):
    right = _spread_hand((0, 0, 0, 0), thumb_cmc=thumb)
    left, turned = _mirror_and_turn(right)
    expected = (thumb[0], np.degrees(fingers.THUMB_REST[1]) if thumb[1] is None else thumb[1])
    for hand, is_right in ((right, True), (left, False), (turned, True)):
        flex, sp = fingers.finger_bases(hand, right=is_right)
        assert np.degrees(flex[0]) == pytest.approx(expected[0], abs=1e-6)
        assert np.degrees(sp[0]) == pytest.approx(expected[1], abs=1e-6)


def test_spread_limits_curled_fingers_and_relaxed():
    limits = np.array(fingers.SPREAD_LIMITS_DEG)
    flex, sp = fingers.finger_bases(_spread_hand((40, 30, -30, 50), thumb_cmc=(80.0, 85.0)), right=True)
    expected = [limits[0, 1], limits[1, 1], limits[2, 1], limits[3, 0], limits[4, 1]]  # 85, 40, 30, -30, 50 clipped
    np.testing.assert_allclose(np.degrees(sp), expected, atol=1e-6)
    assert np.degrees(flex[0]) == pytest.approx(fingers.BASE_FLEX_LIMITS_DEG[0][1])
    # a curled finger (MCP flexed 80 deg) spreads like a relaxed hand whatever its direction says
    _, sp = fingers.finger_bases(_spread_hand((20, 10, 15, 20), flex_deg=(80, 80, 80, 80)), right=True)
    np.testing.assert_allclose(np.degrees(sp[1:]), fingers.RELAXED_SPREAD_DEG[1:], atol=1e-6)
    # unseen: relaxed
    hand = _spread_hand((20, 5, 10, 25), thumb_cmc=(30.0, 40.0))
    flex, sp = fingers.finger_bases(np.stack([hand, hand]), right=True, confidence=np.array([1.0, 0.0]))
    np.testing.assert_allclose(np.degrees(sp[1]), fingers.RELAXED_SPREAD_DEG)
    np.testing.assert_allclose(np.degrees(flex[1]), fingers.RELAXED_BASE_FLEX_DEG)
    assert np.degrees(sp[0, 1]) == pytest.approx(20.0, abs=2.0)


def _turned(hand: np.ndarray, axis, deg: float) -> np.ndarray:
    from scipy.spatial.transform import Rotation
    return hand @ Rotation.from_rotvec(np.radians(deg) * np.asarray(axis, float)).as_matrix().T


def test_palm_track_recovers_a_turning_wrist_and_rejects_a_flipped_reading():
    fps, T = 30.0, 40
    right = _hand(np.zeros((5, 3)))
    ang = np.linspace(0.0, 40.0, T)                      # the wrist flexes slowly, 1 degree a frame
    axis = fingers.palm_frame(right, right=True)[:, 1]       # about the thumb axis
    h3 = np.stack([_turned(right, axis, a) for a in ang])
    u = fingers.palm_frame(h3[20], right=True)[:, 0]
    h3[20] = _turned(h3[20], u, 180.0)                     # one reading of the palm's other side
    seen = np.ones(T, bool)
    palm, ok = fingers.palm_frame_track(h3, seen, right=True, fps=fps, cutoff_hz=3.0)
    assert not ok[20] and ok[[0, 19, 21, -1]].all()
    truth = fingers.palm_frame(h3, right=True)
    err = fingers._frame_angle(palm, truth)
    truth20 = fingers.palm_frame(_turned(right, axis, ang[20]), right=True)
    assert fingers._frame_angle(palm[20], truth20) < 3.0    # the neighbours' palm there
    assert np.delete(err, 20)[3:-3].max() < 3.0           # smoothing keeps a slow turn
    assert fingers._frame_angle(palm[1:], palm[:-1]).max() < 3.0   # no jump
    # a left hand (mirror image) reads alike; never seen: the identity, nothing kept
    left = h3 * [-1.0, 1.0, 1.0]
    palm_l, ok_l = fingers.palm_frame_track(left, seen, right=False, fps=fps, cutoff_hz=3.0)
    assert not ok_l[20] and np.linalg.det(palm_l[5]) == pytest.approx(-1.0)
    p0, ok0 = fingers.palm_frame_track(h3, np.zeros(T, bool), right=True, fps=fps)
    assert not ok0.any() and np.allclose(p0, np.eye(3))


def test_palm_track_rejects_a_flip_read_over_two_frames():
    fps, T = 30.0, 30
    right = _hand(np.zeros((5, 3)))
    h3 = np.stack([right] * T)
    u = fingers.palm_frame(right, right=True)[:, 0]
    h3[14] = _turned(right, u, 80.0)                       # a flip read half-way, then fully
    h3[15] = _turned(right, u, 160.0)
    palm, ok = fingers.palm_frame_track(h3, np.ones(T, bool), right=True, fps=fps, cutoff_hz=3.0)
    assert not ok[14] and not ok[15]
    assert fingers._frame_angle(palm, fingers.palm_frame(right, right=True)).max() < 1.0
