"""The camera's motion (issue #23): the background rotation estimate, the still/moving decision,
the turning removed before the solve, the option's wiring, and a synthetic pan of a real clip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posemoe_blender import cli
from posemoe_blender.camera import derotate_pixels, project
from posemoe_blender.convert import summary_line
from posemoe_blender.detection import camera_motion as cm
from posemoe_blender.options import CAMERA_MODES, ConvertOptions, option_fields
from posemoe_blender.smoothing.stage import smooth_motion

cv2 = pytest.importorskip("cv2")

W, H = 360, 640
F = 27.0 / 43.267 * np.hypot(W, H)
K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]])


def _texture(seed: int = 0) -> np.ndarray:
    """A wide, blobby RGB texture (the background seen from a camera at its centre)."""
    rng = np.random.default_rng(seed)
    small = (rng.random((H // 8, W // 8, 3)) * 255).astype(np.uint8)
    return cv2.resize(small, (3 * W, 3 * H), interpolation=cv2.INTER_CUBIC)


def _view(world: np.ndarray, R: np.ndarray) -> np.ndarray:
    """The texture (a plane at infinity, seen at the centre with focal F) through a camera turned by R."""
    kw = np.array([[F, 0, world.shape[1] / 2], [0, F, world.shape[0] / 2], [0, 0, 1.0]])
    return cv2.warpPerspective(world, kw @ R.T @ np.linalg.inv(K), (W, H),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def test_a_known_turn_is_recovered_with_the_person_masked_out():
    world, rng = _texture(), np.random.default_rng(1)
    tracker = cm.CameraTracker(W, H, F)
    truth = []
    box = (120, 200, 240, 560)
    for t in range(24):
        R = Rotation.from_euler("yxz", [0.4 * t, 0.3 * np.sin(t / 4), 0.05 * t], degrees=True).as_matrix()
        frame = _view(world, R)
        frame[200:560, 120:240] = rng.integers(0, 255, (360, 120, 3))  # a "person" moving on its own
        tracker(frame, [box])
        truth.append(R)
    motion = tracker.result()
    assert motion.rotations.shape == (24, 3, 3) and motion.confidence.shape == (24,)
    err = Rotation.from_matrix(motion.rotations) * Rotation.from_matrix(np.array(truth)).inv()
    assert np.degrees(err.magnitude()).max() < 0.15
    assert abs(motion.angles_deg[-1] - np.degrees(Rotation.from_matrix(truth[-1]).magnitude())) < 0.15
    assert motion.fallbacks == [] and (motion.confidence[1:] > 0.1).all()
    assert np.allclose(motion.zoom, 1.0, atol=5e-3)
    assert cm.decide_moving(motion, "auto") and not cm.decide_moving(motion, "still")


def test_a_blank_background_and_a_cut_fall_back_to_a_still_camera():
    tracker = cm.CameraTracker(W, H, F)
    for _ in range(4):
        tracker(np.full((H, W, 3), 90, np.uint8))
    tracker(_view(_texture(0), np.eye(3)))
    tracker(_view(_texture(7), np.eye(3)))  # another shot
    motion = tracker.result()
    assert motion.fallbacks == [(1, 5, "texture"), (5, 6, "cut")]  # frame 4: its previous frame was blank
    assert np.allclose(motion.rotations, np.eye(3)) and (motion.confidence[1:] == 0).all()
    assert not cm.decide_moving(motion, "auto") and cm.decide_moving(motion, "moving")
    assert not cm.decide_moving(None, "moving")


def test_derotated_pixels_are_what_the_first_frame_saw():
    rng = np.random.default_rng(2)
    pts = rng.normal([0, 0, 3], [0.5, 0.8, 0.3], (17, 3))
    R = Rotation.from_euler("yx", [[4, -2], [0, 0], [-7, 3]], degrees=True).as_matrix()
    seen = project(np.einsum("tij,kj->tki", R, pts), F, W / 2, H / 2)
    kp = np.concatenate([seen, np.full((3, 17, 1), 0.8)], axis=-1)
    back = derotate_pixels(kp, R, F, W / 2, H / 2)
    assert np.allclose(back[..., :2], project(pts, F, W / 2, H / 2)[None], atol=1e-6)
    assert np.allclose(back[..., 2], 0.8)


def test_the_camera_turn_is_removed_from_joints_and_root():
    """A body standing still, filmed by a turning camera: with the rotations its joints and
    root come out still in the first frame's axes; with identity rotations as without them."""
    rng = np.random.default_rng(3)
    T = 40
    rel = rng.normal(0, 0.15, (17, 3))
    rel[0] = 0
    root = np.array([0.1, 0.2, 3.0])
    R = Rotation.from_euler("y", np.linspace(0, 6, T)[:, None], degrees=True).as_matrix()
    joints_cam = np.einsum("tij,kj->tki", R, rel)
    kp = np.concatenate([project(np.einsum("tij,kj->tki", R, rel + root), F, W / 2, H / 2), np.ones((T, 17, 1))], -1)
    opts = ConvertOptions()
    still = smooth_motion(joints_cam, kp, kp, W, H, 30.0, opts)
    assert np.ptp(still.root[:, 0]) > 0.2  # the camera's turn, taken as the person's
    moving = smooth_motion(joints_cam, kp, kp, W, H, 30.0, opts, camera_rotations=R)
    assert np.allclose(moving.root, root, atol=0.01) and np.allclose(moving.joints3d, rel, atol=1e-3)
    assert moving.camera_rotations.shape == (T, 3, 3) and still.camera_rotations is None
    same = smooth_motion(joints_cam, kp, kp, W, H, 30.0, opts, camera_rotations=np.eye(3)[None].repeat(T, 0))
    assert np.allclose(same.root, still.root, atol=1e-9) and np.allclose(same.joints3d, still.joints3d, atol=1e-9)
    retimed = smooth_motion(joints_cam, kp, kp, W, H, 30.0, dataclasses.replace(opts, fps_out=15.0),
                            camera_rotations=R)
    assert retimed.camera_rotations.shape == (retimed.joints3d.shape[0], 3, 3)


def test_the_camera_option_on_the_command_line_and_the_panel():
    assert ConvertOptions().camera == "auto"
    option = dict(option_fields())["camera"]
    assert option.flag == "--camera" and option.label and {i[0] for i in option.items} == set(CAMERA_MODES)
    for argv in (["convert", "x.mp4", "-o", "x.fbx"], ["batch", "clips/*.mp4", "-o", "out"]):
        assert cli._options(cli.build_parser().parse_args(argv)).camera == "auto"
        assert cli._options(cli.build_parser().parse_args(argv + ["--camera", "moving"])).camera == "moving"
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(argv + ["--camera", "dolly"])


def test_the_summary_says_what_was_done_with_the_camera():
    info = {"video": "a.mp4", "frames": 10, "frames_out": 10, "fps": 30.0, "source_fps": 30.0, "lifter": "tcn",
            "fbx": "a.fbx", "blend": None, "joints": None, "seconds": 1.0, "throughput_fps": 10.0,
            "camera": {"moving": True, "max_deg": 6.04, "fallbacks": [(3, 5, "texture")]}}
    text = summary_line(info)
    assert "moving camera" in text and "6.0 degrees" in text and "frames 3-4 (too little background texture)" in text
    info["camera"] = {"moving": False, "max_deg": 0.01, "fallbacks": []}
    assert "camera" not in summary_line(info).replace("a.mp4", "")


def test_the_sample_clip_is_a_still_camera(sample_clip):
    from posemoe_blender.detection.clip import detect_clip
    clip = detect_clip(str(sample_clip), ConvertOptions(hands=False, end=60))
    camera = clip.detections.camera
    assert camera is not None and camera.rotations.shape[0] == clip.detections.num_frames
    assert not clip.camera_moving and clip.camera_rotations is None
    assert camera.angles_deg.max() < cm.MOVING_DEG / 5
    none = detect_clip(str(sample_clip), ConvertOptions(hands=False, end=5, camera="still"))
    assert none.detections.camera is None


def test_a_synthetic_pan_of_a_real_clip_keeps_the_still_crops_root(real_video, tmp_path):
    """The issue's test, shortened: a real still clip cropped by a still and by a panning,
    shaking window; with the default ``--camera auto`` the panned root follows the still one."""
    from posemoe_blender.pipeline import process_clip
    from posemoe_lab.experiments.crop_pan import make
    still, pan = make(real_video, tmp_path, amplitude=124, shake=2)
    opts = ConvertOptions(hands=False, end=60)
    a, b = process_clip(str(still), opts), process_clip(str(pan), opts)
    c = process_clip(str(pan), dataclasses.replace(opts, camera="still"))
    assert a.camera_rotations is None and b.camera_rotations is not None and c.camera is None
    rms = lambda r: float(np.sqrt(((r - a.root) ** 2).sum(axis=1).mean()))  # noqa: E731
    assert rms(b.root) < 0.05 and rms(c.root) > 2 * rms(b.root)
