"""``convert --preview``: the footage with the detected 2D skeleton and the solved rig drawn on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "demo.mp4"


@pytest.fixture(scope="module")
def result():
    if not SAMPLE.is_file():
        pytest.skip("samples/demo.mp4 is missing")
    from posemoe_blender.pipeline import process_clip
    from posemoe_blender.options import ConvertOptions
    return process_clip(str(SAMPLE), ConvertOptions(end=30, device="cpu"))


def test_the_solved_rig_reprojects_onto_the_detection(result):
    from posemoe_blender.output.preview import project, solved_camera_points
    from posemoe_blender.solving.root import default_focal_px
    cam = solved_camera_points(result)
    assert cam.shape == (30, 64, 3) and np.all(cam[..., 2] > 0.5)
    px = project(cam, default_focal_px(result.width, result.height), result.width / 2, result.height / 2)
    err = np.linalg.norm(px[:, :17] - result.keypoints2d[..., :2], axis=-1)
    # the solve fits the root to the 2D: the rig lands on the person (a 423 px tall figure)
    assert np.median(err) < 15.0, np.median(err)
    # the feet's points (balls, toe tips) are drawn near the detected toe tips
    from posemoe_blender.solving.skeleton import POINT_INDEX
    toes = px[:, [POINT_INDEX["LToeEnd"], POINT_INDEX["RToeEnd"]]]
    detected = result.feet2d[:, :, 2, :2]
    assert np.median(np.linalg.norm(toes - detected, axis=-1)) < 30.0


def test_convert_preview_writes_the_whole_clip(tmp_path):
    if not SAMPLE.is_file():
        pytest.skip("samples/demo.mp4 is missing")
    import cv2
    out = tmp_path / "preview.mp4"
    proc = subprocess.run([sys.executable, "-m", "posemoe_blender", "convert", str(SAMPLE), "--preview", str(out),
                           "--device", "cpu", "-q"], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert str(out) in proc.stderr.splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preview.mp4"]  # nothing else left behind
    src, got = cv2.VideoCapture(str(SAMPLE)), cv2.VideoCapture(str(out))
    for prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT, cv2.CAP_PROP_FRAME_COUNT, cv2.CAP_PROP_FPS):
        assert got.get(prop) == pytest.approx(src.get(prop)), prop
    got.set(cv2.CAP_PROP_POS_FRAMES, 45)
    ok, frame = got.read()
    assert ok
    b, g, r = (frame[..., i].astype(int) for i in range(3))
    orange = (r > 200) & (g > 110) & (g < 190) & (b < 80)   # the solved rig
    green = (g > 180) & (r < 130) & (b < 130)                # the detected 2D
    assert orange.sum() > 300 and green.sum() > 200, (orange.sum(), green.sum())
    size = int(0.32 * min(frame.shape[:2]))                  # the side view, top right
    assert orange[8:8 + size, -size - 8:-8].sum() > 30       # the rig drawn in it
    assert orange[8:8 + size, -size - 8:-8].sum() < orange.sum()
    # an existing preview is kept unless --overwrite
    proc = subprocess.run([sys.executable, "-m", "posemoe_blender", "convert", str(SAMPLE), "--preview", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode != 0 and "already exists" in proc.stderr.splitlines()[-1]


def test_contact_sheet(result, tmp_path):
    import cv2
    from posemoe_blender.output.preview import write_contact_sheet
    out = write_contact_sheet(SAMPLE, tmp_path / "sheet.png", result, frames=3, row_height=200)
    assert out["frames"] == [0, 14, 29]
    img = cv2.imread(str(tmp_path / "sheet.png"))
    footage_w = round(result.width * 200 / result.height)
    assert img.shape == (3 * 200, footage_w + 2 * 200, 3) == (out["height"], out["width"], 3)
    b, g, r = (img[..., i].astype(int) for i in range(3))
    orange = (r > 200) & (g > 110) & (g < 190) & (b < 80)
    for row in range(3):  # the rig drawn in the front and the side panel of every row
        for col in (footage_w, footage_w + 200):
            assert orange[row * 200:(row + 1) * 200, col:col + 200].sum() > 50, (row, col)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png"]


def test_camera_path_of_a_pan_tilt_and_roll():
    from scipy.spatial.transform import Rotation
    from posemoe_blender.output.preview import camera_path_deg
    # X_t = R_t X_0: a camera panned right by a makes a point straight ahead appear to its left
    pan = Rotation.from_euler("y", [[0.0], [-5.0]], degrees=True).as_matrix()
    assert np.allclose(camera_path_deg(pan)[:, 0], [0.0, 5.0])
    tilt = Rotation.from_euler("x", [[0.0], [-4.0]], degrees=True).as_matrix()  # tilted up
    assert np.allclose(camera_path_deg(tilt)[1], [0.0, 4.0, 0.0], atol=1e-9)
    roll = Rotation.from_euler("z", [[0.0], [-3.0]], degrees=True).as_matrix()
    assert np.allclose(camera_path_deg(roll)[1, :2], 0.0) and abs(abs(camera_path_deg(roll)[1, 2]) - 3.0) < 1e-9


def test_the_camera_inset_is_drawn_only_for_a_moving_camera():
    from scipy.spatial.transform import Rotation
    from posemoe_blender.output.preview import INSET_FRACTION, camera_path_deg, draw_frame
    path = camera_path_deg(Rotation.from_euler("y", np.linspace(0, -8, 30)[:, None], degrees=True).as_matrix())
    blank = np.full((480, 640, 3), 100, np.uint8)
    still = draw_frame(blank.copy(), None, None, None, None, None)
    moving = draw_frame(blank.copy(), None, None, None, None, None, camera_path=path, camera_frame=10)
    size = int(INSET_FRACTION * 480)
    box = (slice(8 + size + 6, 8 + 2 * size + 6), slice(640 - size - 8, 640 - 8))
    assert np.array_equal(still[box], blank[box])
    assert not np.array_equal(moving[box], blank[box])
    assert np.array_equal(moving[:box[0].start], still[:box[0].start])  # nothing else changes


def test_rig_points_turn_with_the_camera():
    from scipy.spatial.transform import Rotation
    from posemoe_blender.output.preview import turned_camera_points
    pts = np.tile(np.array([[0.0, 0.0, 3.0]]), (2, 1, 1))
    rot = Rotation.from_euler("y", [[0.0], [10.0]], degrees=True).as_matrix()
    out = turned_camera_points(pts, rot)
    assert np.allclose(out[0], pts[0]) and np.allclose(out[1, 0], rot[1] @ pts[1, 0])
    assert turned_camera_points(pts, None) is pts
