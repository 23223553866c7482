"""The camera estimate on a rendered pan with its truth (a cut of the moving-camera set,
posemoe_lab/renders/moving_camera_set.py): the rotation the renderer turned the camera by is
recovered from the footage.

The fixture ``tests/data/camera_pan/``: the first 24 frames (the pan reaches 8 degrees at frame 22) of the set's
``pan.mp4`` (re-encoded with OpenCV's mp4v) and of its truth (``camera_rotations`` (T, 3, 3),
``keypoints2d`` (T, 17, 3) pixels, ``K`` (3, 3) pixels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posemoe_blender.detection import camera_motion as cm

cv2 = pytest.importorskip("cv2")

DATA = Path(__file__).resolve().parent / "data" / "camera_pan"
#: Degrees: the largest per-frame angle between the estimate and the truth allowed, and the
#: share of the truth's largest turn the estimate's may miss by.
MAX_ERROR_DEG = 0.3
TURN_SHARE = 0.1


def _frames(path: Path) -> list:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            return out
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def test_the_rendered_pan_is_recovered():
    with np.load(DATA / "pan_truth.npz") as d:
        truth, kp, K = d["camera_rotations"], d["keypoints2d"], d["K"]
    frames = _frames(DATA / "pan.mp4")
    assert len(frames) == len(truth)
    h, w = frames[0].shape[:2]
    tracker = cm.CameraTracker(w, h, float(K[0, 0]))
    for rgb, pts in zip(frames, kp):
        # the person's box from the true 2D, grown for the head and feet
        x0, y0 = pts[:, :2].min(0) - 20
        x1, y1 = pts[:, :2].max(0) + 20
        tracker(rgb, [(x0, y0, x1, y1)])
    est = tracker.result()
    rel = np.einsum("tji,tjk->tik", est.rotations, truth)
    err = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    true_turn = np.degrees(np.arccos(np.clip((np.trace(truth, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert true_turn.max() > 5.0
    assert err.max() < MAX_ERROR_DEG, err.max()
    assert abs(est.angles_deg.max() - true_turn.max()) < TURN_SHARE * true_turn.max()
    assert cm.decide_moving(est, "auto")
