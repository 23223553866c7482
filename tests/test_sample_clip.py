"""The shipped sample clip (samples/demo.mp4) and its ground truth (samples/demo_truth.npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posemoe_blender.joints import JOINT_NAMES, PARENTS

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture
def truth(sample_clip):
    path = SAMPLES / "demo_truth.npz"
    assert path.is_file(), "demo.mp4 is shipped without demo_truth.npz"
    with np.load(path) as d:
        return {k: d[k] for k in d.files}


def test_truth_arrays_have_contract_shapes(truth):
    T = truth["joints3d"].shape[0]
    assert T >= 60
    for key in ("joints3d", "keypoints2d", "joints_world"):
        assert truth[key].shape == (T, 17, 3), key
        assert np.all(np.isfinite(truth[key])), key
    assert truth["root"].shape == (T, 3)
    assert truth["K"].shape == (3, 3) and truth["R"].shape == (3, 3) and truth["t"].shape == (3,)
    assert tuple(truth["joint_names"]) == JOINT_NAMES
    np.testing.assert_allclose(truth["keypoints2d"][..., 2], 1.0)
    np.testing.assert_allclose(truth["joints3d"][:, 0], 0.0, atol=1e-6)  # root-relative


def test_video_decodes_to_truth_size_and_fps(sample_clip, truth):
    cv2 = pytest.importorskip("cv2")
    cap = cv2.VideoCapture(str(sample_clip))
    assert cap.isOpened()
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(float(truth["fps"]), abs=0.01)
    frames = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        assert img.shape == (int(truth["height"]), int(truth["width"]), 3)
        frames += 1
    cap.release()
    assert frames == truth["joints3d"].shape[0]
    assert sample_clip.stat().st_size < 2_000_000


def test_projection_matches_keypoints(truth):
    K, R, t = truth["K"], truth["R"], truth["t"]
    cam = truth["joints_world"].astype(np.float64) @ R.T + t
    assert np.all(cam[..., 2] > 0.5)  # in front of the camera
    proj = cam @ K.T
    uv = proj[..., :2] / proj[..., 2:3]
    assert np.abs(uv - truth["keypoints2d"][..., :2]).max() < 0.5
    # all joints inside the image
    assert uv[..., 0].min() >= 0 and uv[..., 0].max() < truth["width"]
    assert uv[..., 1].min() >= 0 and uv[..., 1].max() < truth["height"]


def test_camera_joints_are_world_joints_in_camera_frame(truth):
    R, t = truth["R"], truth["t"]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(R) == pytest.approx(1.0)
    cam = truth["joints_world"].astype(np.float64) @ R.T + t
    np.testing.assert_allclose(truth["joints3d"] + truth["root"][:, None], cam, atol=1e-4)
    # camera y points down: the head is above (smaller y than) the ankles in every frame
    j3 = truth["joints3d"]
    assert np.all(j3[:, JOINT_NAMES.index("Head"), 1] < j3[:, JOINT_NAMES.index("RAnkle"), 1])


def test_bone_lengths_are_constant(truth):
    world = truth["joints_world"].astype(np.float64)
    for j, p in enumerate(PARENTS):
        if p < 0:
            continue
        lengths = np.linalg.norm(world[:, j] - world[:, p], axis=-1)
        assert lengths.min() > 0.05, JOINT_NAMES[j]
        assert np.ptp(lengths) < 1e-4, JOINT_NAMES[j]


def test_figure_is_upright_on_the_floor(truth):
    world = truth["joints_world"]
    head, ankles = world[:, JOINT_NAMES.index("Head")], world[:, [3, 6]]
    assert np.all(head[:, 2] > world[:, 0, 2])
    assert ankles[..., 2].min() > 0.0 and ankles[..., 2].min() < 0.15
    assert 1.5 < (head[0, 2] - ankles[0, :, 2].min()) < 1.9
