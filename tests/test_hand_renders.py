"""Hands on a render with truth (issue #15): a short close-up clip of the figure with
articulated fingers (``posemoe_lab/renders/hand_set.py``) goes through convert's computation; the
hands must be found and the solved fingers must beat the relaxed hand (the no-fingers baseline).

The fixture (``tests/data/hands_close.mp4`` + ``hands_close_truth.npz``, 30 frames, 960x720)
was made with::

    .venv/bin/python -m posemoe_lab.renders.hand_set --out /tmp/hands_fixture --clips close_front_a --frames 30
    cp /tmp/hands_fixture/close_front_a.mp4 tests/data/hands_close.mp4
    cp /tmp/hands_fixture/close_front_a_truth.npz tests/data/hands_close_truth.npz

Thresholds: measured on it (docs/benchmarks.md, "Renders with articulated fingers") with
a margin.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from posemoe_blender.detection import hands
from posemoe_blender.solving import fingers

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
CLIP = DATA / "hands_close.mp4"
TRUTH = DATA / "hands_close_truth.npz"

#: Measured on the fixture at bf7812f (2026-12-04): found 97% of the 60 hand-frames (only the
#: last frame, after the last 15 Hz look, is missed), finger error 17.9 degrees against 27.5 for
#: the relaxed hand; thresholds with a margin.
MIN_FOUND = 0.85
MAX_ERROR_DEG = 22.0


def _truth() -> dict:
    with np.load(TRUTH) as d:
        return {k: d[k] for k in d.files}


def test_truth_flexion_is_the_solver_definition_and_the_driven_angles():
    t = _truth()
    cam = t["hands_cam"].astype(np.float64)
    for s in range(2):
        again = fingers.finger_flexion(cam[:, s], right=(s == 1))
        np.testing.assert_allclose(again, t["flexion"][:, s], atol=1e-5)
    # equal to the driven angles; a spread finger's knuckle also holds the spread
    expect = t["driven"].astype(np.float64).copy()
    expect[..., 0] = np.arccos(np.cos(expect[..., 0]) * np.cos(t["spread"]))
    np.testing.assert_allclose(t["flexion"], expect, atol=np.radians(0.05))
    # the poses really move the fingers (a fist and an open hand in the clip)
    deg = np.degrees(t["flexion"][..., 1:, 1])
    assert deg.max() > 90 and deg.min() < 10
    # the pixels are the projection of the camera-frame landmarks
    K = t["K"]
    uv = cam @ K.T
    np.testing.assert_allclose(t["hands2d"][..., :2], uv[..., :2] / uv[..., 2:3], atol=1e-2)
    assert t["hands_visible"].all()


def test_rendered_hand_model_flexion_both_hands_all_poses():
    pytest.importorskip("bpy")
    from posemoe_lab.renders import hand_set as rh

    for right in (False, True):
        frame = rh.hand_frame((0.1, -0.3, 1.0), (0.3, 1.0, 0.2), right)
        for name in rh.POSES:
            flex, spread = rh.pose_angles(name)
            pts = rh.hand_landmarks(frame, flex, spread, right)
            got = fingers.finger_flexion(pts, right)
            expect = flex.copy()
            expect[:, 0] = np.arccos(np.cos(flex[:, 0]) * np.cos(spread))
            np.testing.assert_allclose(got, expect, atol=1e-6, err_msg=f"{name} right={right}")
            # the thumb is on the thumb's side: index knuckle - little knuckle points to it
            thumb_side = frame[:, 1]
            assert np.dot(pts[5] - pts[17], thumb_side) > 0 and np.dot(pts[1], thumb_side) > 0


@pytest.fixture(scope="module")
def solved():
    from posemoe_blender.pipeline import process_clip
    from posemoe_blender.options import ConvertOptions

    res = process_clip(str(CLIP), ConvertOptions())
    return res.hands, _truth()


def test_hands_found_on_the_render(solved):
    hs, t = solved
    shown = t["hands_visible"]
    found = hs.hands2d[..., 0, 2] > 0
    assert (found & shown).sum() / shown.sum() >= MIN_FOUND
    # no left/right swaps: each found wrist is nearer its own side's true wrist
    for s in range(2):
        for i in np.flatnonzero(found[:, s]):
            own = np.linalg.norm(hs.hands2d[i, s, 0, :2] - t["hands2d"][i, s, 0, :2])
            other = np.linalg.norm(hs.hands2d[i, s, 0, :2] - t["hands2d"][i, 1 - s, 0, :2])
            assert own < other


def test_fingers_beat_the_relaxed_hand(solved):
    hs, t = solved
    shown = t["hands_visible"]
    true = t["flexion"].astype(np.float64)
    err = np.degrees(np.abs(hs.fingers - true))[shown].mean()
    base = np.degrees(np.abs(fingers.relaxed_flexion(true.shape[:2]) - true))[shown].mean()
    assert err <= MAX_ERROR_DEG, (err, base)
    assert err < base - 3.0, (err, base)
