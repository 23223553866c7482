"""The source video behind the rig (``posemoe_blender/output/footage.py``, issue #15 *Preview*).

Runs in bpy on the synthetic animation of ``test_blender_layer`` (no pipeline run) and
``samples/demo.mp4`` (30 fps, 90 frames, 480 x 640):

* same frame rate: a MovieClip camera background; which video frame Blender shows at a scene
  frame is read back from a render of the compositor's Movie Clip node (the viewport's camera
  background maps scene frames to clip frames with the same function) and compared with the
  frames OpenCV decodes;
* another frame rate (``--fps-out``): the movie Image background's driven frame offset, read
  back from the image user's ``frame_current`` (Blender's own frame calculation);
* a missing or unreadable video changes nothing and raises PoseMoEError; removing the
  footage puts the scene camera and resolution back; a saved .blend keeps it.
"""

from __future__ import annotations

from pathlib import Path
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
cv2 = pytest.importorskip("cv2")

from posemoe_blender.output import footage  # noqa: E402
from posemoe_blender.output.blend import ARMATURE_NAME, write_outputs  # noqa: E402
from posemoe_blender.errors import PoseMoEError  # noqa: E402
from posemoe_blender.solving.skeleton import CameraMapping  # noqa: E402
from posemoe_lab.synthetic import make_animation  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "demo.mp4"
#: The solve's camera for the synthetic animation: 4 m in front of the rig (which faces -Y),
#: 1 m up, camera x right -> +X, y down -> -Z, z forward -> +Y, stature scale 1.1.
CAMERA = {"camera_to_armature": (1.1 * np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)).tolist(),
          "armature_offset": [0.0, -4.0, 1.0], "scale": 1.1}


@pytest.fixture(autouse=True)
def empty_scene():
    if not SAMPLE.is_file():
        pytest.skip("samples/demo.mp4 is missing")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield


def _animation(fps=30.0, frames=24):
    anim = make_animation(frames=frames, fps=fps)
    anim.camera = CameraMapping.from_dict(CAMERA)
    return anim


def _info(anim, video=SAMPLE, video_start=0, frame_start=1, video_fps=30.0):
    return footage.footage_info(video, anim, video_start=video_start, video_fps=video_fps,
                                frame_start=frame_start, width=480, height=640, focal_px=500.0)


def _state():
    """Everything attaching footage could create or change."""
    s = bpy.context.scene
    out = {k: sorted(x.name for x in getattr(bpy.data, k))
           for k in ("objects", "cameras", "movieclips", "images", "actions")}
    out["scene"] = (s.camera.name if s.camera else None, s.render.resolution_x, s.render.resolution_y,
                    s.frame_start, s.frame_end, s.frame_current, s.render.fps)
    return out


def _video_frames(size=(60, 80)):
    cap = cv2.VideoCapture(str(SAMPLE))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(f, size, interpolation=cv2.INTER_AREA).astype(np.float32))
    return frames


def _shown_video_frame(clip, frame: int, tmp_path, frames) -> tuple[int, float]:
    """The video frame (0-based) the MovieClip shows at scene ``frame``: rendered through the
    compositor's Movie Clip node, matched against the decoded frames. Returns (index, error)."""
    s = bpy.context.scene
    if s.compositing_node_group is None:
        tree = bpy.data.node_groups.new("check", 'CompositorNodeTree')
        tree.interface.new_socket("Image", in_out='OUTPUT', socket_type='NodeSocketColor')
        node = tree.nodes.new('CompositorNodeMovieClip')
        node.clip = clip
        tree.links.new(node.outputs['Image'], tree.nodes.new('NodeGroupOutput').inputs[0])
        s.compositing_node_group = tree
        s.render.engine = 'BLENDER_WORKBENCH'
        s.view_settings.view_transform = 'Standard'
        s.render.resolution_percentage = 100  # the compositor does not scale the clip
    s.frame_set(frame)
    path = str(tmp_path / f"frame_{frame}.png")
    s.render.filepath = path
    bpy.ops.render.render(write_still=True)
    img = cv2.resize(cv2.imread(path), frames[0].shape[1::-1], interpolation=cv2.INTER_AREA).astype(np.float32)
    err = [float(np.abs(img - f).mean()) for f in frames]
    return int(np.argmin(err)), float(min(err))


# --------------------------------------------------------------------------- sync

def test_movie_clip_background_in_step_with_the_action(tmp_path):
    """``convert --start 7`` keyed from scene frame 10: scene frame 10 (the Action's first key)
    shows video frame 7, and each later scene frame the next video frame."""
    anim = _animation()
    out = write_outputs(anim, "clip", video=str(SAMPLE), footage=_info(anim, video_start=7, frame_start=1),
                        show_footage=True)
    assert not out.get("warnings")
    # the same footage on an Action keyed from frame 10 (the panel's Start frame)
    rig = bpy.data.objects[ARMATURE_NAME]
    info = _info(anim, video_start=7, frame_start=10)
    res = footage.attach_footage(bpy.context, rig, info)
    assert res["source"] == 'MOVIE_CLIP' and not res["retimed"]
    assert len(footage.footage_cameras(rig)) == 1  # the first camera was replaced
    cam = bpy.data.objects[res["camera"]]
    assert bpy.context.scene.camera == cam and cam.data.show_background_images
    bg = cam.data.background_images[0]
    clip = bg.clip
    assert bg.source == 'MOVIE_CLIP' and bg.frame_method == 'FIT' and bg.display_depth == 'BACK'
    assert clip.filepath == str(SAMPLE.resolve())
    assert clip.fps == pytest.approx(30.0) and bpy.context.scene.render.fps == 30
    assert clip.frame_start == 10 - 7 and clip.frame_offset == 0
    frames = _video_frames()
    for scene_frame, want in ((10, 7), (11, 8), (30, 27)):
        got, err = _shown_video_frame(clip, scene_frame, tmp_path, frames)
        assert got == want and err < 25, (scene_frame, got, err)


def test_other_frame_rate_is_retimed():
    """An Action at 24 fps (``--fps-out 24``) from the 30 fps video, converted from frame 5 and
    keyed from frame 1: scene frame 1 + k shows video frame 5 + round(k * 30 / 24)."""
    anim = _animation(fps=24.0, frames=40)
    write_outputs(anim, "clip", video=str(SAMPLE), footage=_info(anim, video_start=5), show_footage=True)
    scene = bpy.context.scene
    assert (scene.render.fps, scene.render.fps_base) == (24, 1.0)
    cam = scene.camera
    bg = cam.data.background_images[0]
    assert bg.source == 'IMAGE' and bg.image.source == 'MOVIE'
    driver = cam.data.animation_data.drivers[0].driver
    assert driver.is_valid and driver.is_simple_expression  # no Python: works with auto-run off
    for k in (0, 1, 2, 4, 10, 39):
        scene.frame_set(1 + k)
        shown = bg.image_user.frame_current - 1  # Blender's 1-based movie frame
        assert shown == 5 + int(np.floor(k * 30 / 24 + 0.5)), k


def test_camera_is_the_solves_camera():
    anim = _animation()
    write_outputs(anim, "clip", footage=_info(anim), show_footage=True)
    cam = bpy.context.scene.camera
    m = np.array(cam.matrix_world)
    np.testing.assert_allclose(m[:3, 3], CAMERA["armature_offset"], atol=1e-6)
    np.testing.assert_allclose(m[:3, 2], [0, -1, 0], atol=1e-6)   # looks along +Y (at the rig's front)
    np.testing.assert_allclose(m[:3, 1], [0, 0, 1], atol=1e-6)    # up is up
    assert cam.data.lens == pytest.approx(500.0 * cam.data.sensor_width / 640)
    s = bpy.context.scene
    assert (s.render.resolution_x, s.render.resolution_y) == (480, 640)
    # a point projects where the solve's pinhole camera puts it
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector
    p_cam = np.linalg.inv(np.array(CAMERA["camera_to_armature"])) @ (np.array([0.3, 0.2, 1.4]) - CAMERA["armature_offset"])
    u = 500.0 * p_cam[0] / p_cam[2] + 240
    v = 500.0 * p_cam[1] / p_cam[2] + 320
    ndc = world_to_camera_view(s, cam, Vector((0.3, 0.2, 1.4)))
    assert ndc.x * 480 == pytest.approx(u, abs=1e-3) and (1 - ndc.y) * 640 == pytest.approx(v, abs=1e-3)


# --------------------------------------------------------------------------- safety

@pytest.mark.parametrize("bad", ["missing", "not_a_video"])
@pytest.mark.parametrize("fps", [30.0, 24.0])
def test_bad_video_changes_nothing(tmp_path, bad, fps):
    anim = _animation(fps=fps)
    write_outputs(anim, "clip")
    rig = bpy.data.objects[ARMATURE_NAME]
    user_cam = bpy.data.objects.new("UserCam", bpy.data.cameras.new("UserCam"))
    bpy.context.scene.collection.objects.link(user_cam)
    bpy.context.scene.camera = user_cam
    video = tmp_path / "clip.mp4"
    if bad == "not_a_video":
        video.write_text("not a video")
    before = _state()
    with pytest.raises(PoseMoEError, match="no such video" if bad == "missing" else "cannot read") as exc:
        footage.attach_footage(bpy.context, rig, _info(anim, video=video))
    assert "\n" not in str(exc.value) and str(video) in str(exc.value)
    assert _state() == before
    # in convert --blend: a warning, the Action is kept, nothing else is added
    bpy.ops.wm.read_factory_settings(use_empty=True)
    out = write_outputs(anim, "clip", footage=_info(anim, video=video), show_footage=True)
    assert out["footage"] is None and any("footage not shown" in w for w in out["warnings"])
    assert [o.type for o in bpy.data.objects] == ['ARMATURE'] and not bpy.data.movieclips
    assert not bpy.data.images and "posemoe_footage" in bpy.data.actions["clip"].keys()


def test_remove_puts_the_scene_camera_back():
    anim = _animation()
    write_outputs(anim, "clip")
    rig = bpy.data.objects[ARMATURE_NAME]
    s = bpy.context.scene
    user_cam = bpy.data.objects.new("UserCam", bpy.data.cameras.new("UserCam"))
    s.collection.objects.link(user_cam)
    s.camera = user_cam
    s.render.resolution_x, s.render.resolution_y = 1920, 1080
    before = _state()
    for _ in range(2):  # adding twice keeps one camera
        footage.attach_footage(bpy.context, rig, _info(anim))
    assert len(footage.footage_cameras(rig)) == 1 and len(bpy.data.movieclips) == 1
    assert s.camera != user_cam and (s.render.resolution_x, s.render.resolution_y) == (480, 640)
    assert footage.remove_footage(bpy.context, rig) == 1
    assert _state() == before
    assert footage.remove_footage(bpy.context, rig) == 0


def test_record_and_blend_file(tmp_path):
    """The Action remembers its footage (add it later: ``footage_for_object``); a saved .blend
    keeps the camera and the clip with the video's absolute path."""
    anim = _animation()
    out = write_outputs(anim, "clip", video=str(SAMPLE), blend_path=tmp_path / "a.blend",
                        footage=_info(anim, video_start=3), show_footage=True)
    assert out["footage"] == f"PoseMoE_Footage_{ARMATURE_NAME}"
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "a.blend"))
    rig = bpy.data.objects[ARMATURE_NAME]
    cam = bpy.context.scene.camera
    assert cam.name == out["footage"] and cam.data.background_images[0].clip.filepath == str(SAMPLE.resolve())
    assert cam.data.background_images[0].clip.frame_start == 1 - 3
    info = footage.footage_for_object(rig)
    assert (info.video, info.video_start, info.frame_start, info.fps, info.frames) == (
        str(SAMPLE.resolve()), 3, 1, 30.0, 24)
    footage.remove_footage(bpy.context, rig)
    assert bpy.context.scene.camera is None and not bpy.data.movieclips
    footage.attach_footage(bpy.context, rig, info)  # added again later from the record
    assert bpy.context.scene.camera.data.background_images[0].clip.frame_start == -2
    with pytest.raises(PoseMoEError, match="no Action converted from a video"):
        footage.footage_for_object(bpy.data.objects.new("Empty", bpy.data.armatures.new("Empty")))
    assert footage.FootageInfo.from_json(info.to_json()) == info


# --------------------------------------------------------------------------- convert --blend

@pytest.mark.parametrize("fps_out", [None, 24.0])
def test_convert_blend_has_the_footage(tmp_path, fps_out):
    """``convert demo.mp4 --start 10 --end 26 [--fps-out 24] --blend OUT.blend`` (the pipeline on
    16 frames, MediaPipe's lifter): the saved file shows the video behind the rig through the
    solve's camera, from video frame 10 at the Action's first key; ``--no-footage`` leaves it out."""
    from posemoe_blender.convert import Outputs, convert_clip
    from posemoe_blender.options import ConvertOptions
    options = ConvertOptions(start=10, end=26, fps_out=fps_out, lifter="mediapipe", hands=False)
    info = convert_clip(str(SAMPLE), Outputs(blend=str(tmp_path / "a.blend")), options)
    assert info["rig"]["footage"] == f"PoseMoE_Footage_{ARMATURE_NAME}" and not info["rig"].get("warnings")
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "a.blend"))
    scene = bpy.context.scene
    bg = scene.camera.data.background_images[0]
    assert (scene.render.resolution_x, scene.render.resolution_y) == (480, 640)
    if fps_out is None:
        assert bg.source == 'MOVIE_CLIP' and bg.clip.frame_start == 1 - 10
        assert bg.clip.filepath == str(SAMPLE.resolve())
    else:
        assert bg.source == 'IMAGE' and scene.render.fps == 24
        for k in (0, 4, 19):
            scene.frame_set(1 + k)
            assert bg.image_user.frame_current - 1 == 10 + int(np.floor(k * 30 / 24 + 0.5))
    rec = footage.footage_for_object(bpy.data.objects[ARMATURE_NAME])
    assert (rec.video_start, rec.video_fps, rec.fps) == (10, 30.0, fps_out or 30.0)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    convert_clip(str(SAMPLE), Outputs(blend=str(tmp_path / "b.blend"), footage=False), options)
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "b.blend"))
    assert not bpy.data.cameras and not bpy.data.movieclips


def test_phone_rotation_matches_the_conversion(tmp_path):
    """A video whose track says "turn 90 degrees" (as phones write them; made here by setting
    the sample's ``tkhd`` matrix): Blender's clip has the upright size the conversion works in,
    and the camera frame takes that size, so the footage stands as the conversion saw it."""
    import struct
    data = bytearray(SAMPLE.read_bytes())
    i = data.find(b"tkhd")
    assert i > 0 and data.count(b"tkhd") == 1
    times = 8 + 8 + 4 + 4 + 8 if data[i + 4] == 1 else 4 + 4 + 4 + 4 + 4
    at = i + 8 + times + 8 + 8  # after version/flags, the times, reserved, layer/group/volume
    assert struct.unpack(">9i", data[at:at + 36]) == (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    data[at:at + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    video = tmp_path / "phone.mp4"
    video.write_bytes(data)
    from posemoe_blender.video.reader import open_video
    with open_video(str(video)) as reader:
        assert (reader.width, reader.height, reader.rotation) == (640, 480, 90)
    anim = _animation()
    write_outputs(anim, "clip")
    info = footage.footage_info(video, anim, width=640, height=480)
    res = footage.attach_footage(bpy.context, bpy.data.objects[ARMATURE_NAME], info)
    assert tuple(bpy.data.movieclips[res["clip"]].size) == (640, 480)
    s = bpy.context.scene
    assert (s.render.resolution_x, s.render.resolution_y) == (640, 480)


def test_a_moving_camera_turns_the_footage_camera():
    """With the camera's estimated rotation (issue #23) the footage camera is keyed to turn as
    the video's camera did: at each key its axes are the rotation's rows in the first frame's."""
    from scipy.spatial.transform import Rotation
    anim = _animation(frames=6)
    R = Rotation.from_euler("y", np.linspace(0, 5, 6)[:, None], degrees=True).as_matrix()
    info = footage.footage_info(SAMPLE, anim, video_fps=30.0, width=480, height=640, focal_px=500.0,
                                camera_rotations=R)
    write_outputs(anim, "clip", footage=info, show_footage=True)
    cam = bpy.context.scene.camera
    A = np.array(CAMERA["camera_to_armature"]) / 1.1
    for k in (0, 5):
        bpy.context.scene.frame_set(1 + k)
        m = np.array(cam.matrix_world)
        forward = A @ R[k].T @ [0, 0, 1.0]
        np.testing.assert_allclose(m[:3, 2], -forward, atol=1e-5)
        np.testing.assert_allclose(m[:3, 3], CAMERA["armature_offset"], atol=1e-6)
