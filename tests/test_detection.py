"""Tests for posemoe_blender.detection.body (real MediaPipe, no mocks)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posemoe_blender.detection.body import HEAD_EXTENSION, NECK_FRACTION, SPINE_FRACTION, PoseDetector, blazepose_to_h36m, detect_video
from posemoe_blender.video.reader import open_video
from posemoe_blender.errors import PoseMoEError
from posemoe_blender.joints import JOINT_INDEX as J

N_FRAMES = 20


def _synthetic_landmarks():
    rng = np.random.default_rng(0)
    lm = rng.normal(size=(2, 33, 3))
    vis = rng.uniform(0.2, 1.0, size=(2, 33))
    return lm, vis


def test_mapping_known_answers():
    lm, vis = _synthetic_landmarks()
    pts, conf = blazepose_to_h36m(lm, vis)
    assert pts.shape == (2, 17, 3) and conf.shape == (2, 17)
    pelvis = (lm[:, 23] + lm[:, 24]) / 2
    thorax = (lm[:, 11] + lm[:, 12]) / 2
    ears = (lm[:, 7] + lm[:, 8]) / 2
    np.testing.assert_allclose(pts[:, J["Pelvis"]], pelvis)
    np.testing.assert_allclose(pts[:, J["Thorax"]], thorax)
    np.testing.assert_allclose(pts[:, J["Spine"]], pelvis + SPINE_FRACTION * (thorax - pelvis))
    np.testing.assert_allclose(pts[:, J["Neck"]], thorax + NECK_FRACTION * (lm[:, 0] - thorax))
    np.testing.assert_allclose(pts[:, J["Head"]], ears + HEAD_EXTENSION * (ears - thorax))
    for name, idx in [("RHip", 24), ("RKnee", 26), ("RAnkle", 28), ("LHip", 23), ("LKnee", 25),
                      ("LAnkle", 27), ("LShoulder", 11), ("LElbow", 13), ("LWrist", 15),
                      ("RShoulder", 12), ("RElbow", 14), ("RWrist", 16)]:
        np.testing.assert_allclose(pts[:, J[name]], lm[:, idx])
        np.testing.assert_allclose(conf[:, J[name]], vis[:, idx])
    np.testing.assert_allclose(conf[:, J["Pelvis"]], np.minimum(vis[:, 23], vis[:, 24]))
    np.testing.assert_allclose(conf[:, J["Head"]], vis[:, [7, 8, 11, 12]].min(axis=1))
    np.testing.assert_allclose(conf[:, J["Neck"]], vis[:, [0, 11, 12]].min(axis=1))


def test_mapping_four_channels_and_single_frame():
    lm, vis = _synthetic_landmarks()
    packed = np.concatenate([lm[0], vis[0, :, None]], axis=1)  # (33, 4): x, y, z, visibility
    pts, conf = blazepose_to_h36m(packed)
    ref_pts, ref_conf = blazepose_to_h36m(lm[0], vis[0])
    np.testing.assert_allclose(pts, ref_pts)
    np.testing.assert_allclose(conf, ref_conf)
    pts2d, conf2d = blazepose_to_h36m(lm[..., :2])  # 2D input, no visibility -> confidence 1
    assert pts2d.shape == (2, 17, 2) and np.all(conf2d == 1)


@pytest.fixture(scope="module")
def real_detections(request):
    from conftest import data_root
    path = data_root() / "videos" / "single_person_cam01.mp4"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    calls = []
    dets = detect_video(open_video(path), end=N_FRAMES, progress=lambda d, t: calls.append((d, t)))
    return dets, calls


def test_real_video_detects_every_frame(real_detections):
    dets, calls = real_detections
    assert dets.num_frames == N_FRAMES
    assert dets.detected.all()
    assert dets.keypoints2d.shape == (N_FRAMES, 17, 3) and dets.keypoints2d.dtype == np.float32
    assert dets.world3d.shape == (N_FRAMES, 17, 3) and dets.world3d.dtype == np.float32
    np.testing.assert_array_equal(dets.frame_indices, np.arange(N_FRAMES))
    assert (dets.width, dets.height, dets.fps) == (1080, 1920, 60.0)
    assert calls[-1] == (N_FRAMES, N_FRAMES) and len(calls) == N_FRAMES


def test_real_video_keypoints_plausible(real_detections):
    dets, _ = real_detections
    kp = dets.keypoints2d
    confident = kp[..., 2] > 0.5
    assert confident.mean() > 0.9
    x, y = kp[..., 0][confident], kp[..., 1][confident]
    assert x.min() >= 0 and x.max() < dets.width and y.min() >= 0 and y.max() < dets.height
    # cam01: the man faces the camera, so his left shoulder is on the image's right
    assert np.all(kp[:, J["LShoulder"], 0] > kp[:, J["RShoulder"], 0])
    assert np.all(kp[:, J["LHip"], 0] > kp[:, J["RHip"], 0])
    # head above thorax above pelvis above ankles (image y grows downwards)
    assert np.all(kp[:, J["Head"], 1] < kp[:, J["Thorax"], 1])
    assert np.all(kp[:, J["Thorax"], 1] < kp[:, J["Pelvis"], 1])
    assert np.all(kp[:, J["Pelvis"], 1] < kp[:, J["LAnkle"], 1])


def test_real_video_world_axes(real_detections):
    dets, _ = real_detections
    w = dets.world3d
    np.testing.assert_allclose(w[:, J["Pelvis"]], 0, atol=1e-6)
    # camera orientation: y down (head negative, ankles positive), x right (left shoulder +x
    # for a person facing the camera), sizes in metres
    assert np.all(w[:, J["Head"], 1] < -0.4)
    assert np.all(w[:, J["LAnkle"], 1] > 0.5)
    assert np.all(w[:, J["LShoulder"], 0] > w[:, J["RShoulder"], 0])
    shoulder_width = np.linalg.norm(w[:, J["LShoulder"]] - w[:, J["RShoulder"]], axis=1)
    assert np.all((shoulder_width > 0.2) & (shoulder_width < 0.5))


def test_detector_returns_none_on_blank():
    with PoseDetector() as det:
        assert det.detect(np.zeros((240, 160, 3), np.uint8)) is None


def test_blank_video_raises(tmp_path):
    path = tmp_path / "blank.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (128, 128))
    for _ in range(5):
        writer.write(np.full((128, 128, 3), 40, np.uint8))
    writer.release()
    with pytest.raises(PoseMoEError, match="no person detected in any frame"):
        detect_video(open_video(path))
