"""The source video behind the rig, in step with its Action (issue #15, *Preview*).

:func:`attach_footage` adds a camera that sees the rig the way the footage does and shows the
video as that camera's background, so scrubbing the timeline moves the rig and the footage
together (look through the camera: Numpad 0). Camera background images are drawn in the 3D
viewport only (a render does not show them).

* **The camera** is the one the solve assumed: the conversion maps camera coordinates to the
  rig's armature space with ``anim.camera.camera_to_armature`` (a rotation times the stature
  scale) and ``anim.camera.armature_offset`` (:class:`~.solving.skeleton.CameraMapping`), so
  the camera sits at the offset, turned by that rotation (camera x right, y down, z forward
  -> Blender's camera X right, Y up, -Z forward), with the focal length the solve used
  (``focal_px``; a 27 mm-equivalent lens) and the scene's resolution set to the upright
  video's size. On the generated rig the overlay matches what
  ``convert --preview`` draws; on your own rig the path is scaled by the leg-length ratio, so
  the overlay is approximate. Without that information (a hand-made record), the camera looks
  at the rig from the front.
* **Sync.** The Action's first key (scene frame ``frame_start``) shows the first converted video
  frame (``video_start``, 0-based: ``--start`` / *First Video Frame*), and scene frame
  ``frame_start + k`` shows the video at the same time as the Action's key ``k``:

  - same frame rate (no ``--fps-out``): a MovieClip (source ``'MOVIE_CLIP'``) with
    ``clip.frame_start = frame_start - video_start`` (Blender shows clip frame
    ``F - clip.frame_start`` (0-based) at scene frame ``F``);
  - other frame rates (``--fps-out``): Blender 5.0 plays movie clips and VSE movie strips one
    video frame per scene frame (a strip's retiming keys cannot be made from Python: adding one
    crashes Blender 5.0.1), so the video is shown as a movie Image (source ``'IMAGE'``) whose
    image user's ``frame_offset`` is driven by a simple expression (no Python needed, so it
    works with auto-run scripts off) that picks video frame
    ``video_start + round((F - frame_start) * video_fps / action_fps)``.

  No VSE strip is added: with a strip in its sequencer, a scene renders the strip instead of
  its 3D view.
* **Safe.** A missing or unreadable video raises :class:`~posemoe_blender.errors.PoseMoEError`
  (one line) before anything is changed; a failure later removes what was made. The camera
  remembers the scene camera and resolution it replaced; :func:`remove_footage` puts them back.
* **Record.** :func:`record_footage` stores what is needed (video path, first converted frame,
  frame rates, the camera) on the Action as the JSON custom property ``posemoe_footage``, so the
  footage can be added or removed later for an already converted rig
  (:func:`footage_for_object`). The video path is stored **absolute** (a .blend that moves keeps
  its footage; a video that moves must be re-linked in the Movie Clip editor / Image).

bpy only (no numpy): the add-on applies results with Blender's own Python.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from typing import Optional

import bpy

from ..errors import PoseMoEError

#: The Action's custom property holding :class:`FootageInfo` as JSON.
FOOTAGE_PROP = "posemoe_footage"
#: Custom property on the footage camera object: the name of the rig it shows.
CAMERA_TAG = "posemoe_footage_rig"
#: On the footage camera: the scene camera's name and the resolution it replaced.
PREV_CAMERA = "posemoe_prev_camera"
PREV_RESOLUTION = "posemoe_prev_resolution"
#: The solve's lens when none is recorded: 27 mm equivalent over the 35 mm frame's diagonal
#: (the same rule as ``core.solving.default_focal_px``, which needs SciPy's module to import).
_FOCAL_35MM, _DIAGONAL_35MM = 27.0, 43.267
#: How opaque the footage is drawn behind the rig.
DEFAULT_ALPHA = 0.8


@dataclass
class FootageInfo:
    """What it takes to show one Action's source video in step with it."""

    video: str                       # the source video (absolute path)
    video_start: int = 0             # first converted video frame (0-based)
    video_fps: float = 0.0           # the video's frame rate (0: same as ``fps``)
    frame_start: int = 1             # scene frame of the Action's first key
    fps: float = 0.0                 # the Action's frame rate (keys per second)
    frames: int = 0                  # the Action's keyed frames
    width: int = 0                   # upright video size in pixels (0: unknown)
    height: int = 0
    focal_px: float = 0.0            # the solve's focal length in pixels (0: the default lens)
    camera_to_armature: Optional[list] = None  # (3, 3) nested lists
    armature_offset: Optional[list] = None     # (3,)
    scale: float = 1.0               # retargeting's leg-length ratio (1 on the generated rig)
    camera_rotations: Optional[list] = None  # (frames, 3, 3) a moving camera's turn per key (X_t = R_t X_0)

    @property
    def retimed(self) -> bool:
        """The Action's frame rate differs from the video's (``--fps-out``)."""
        return bool(self.video_fps and self.fps and abs(self.video_fps - self.fps) > 1e-3)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "FootageInfo":
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def footage_info(video: str, animation, *, video_start: int = 0, video_fps: float = 0.0,
                 frame_start: int = 1, width: int = 0, height: int = 0, focal_px: float = 0.0,
                 scale: float = 1.0, camera_rotations=None) -> FootageInfo:
    """A :class:`FootageInfo` for ``animation`` (its ``fps``, frame count and the solve's camera
    from ``animation.camera``; none when it is None) keyed from scene frame ``frame_start``.
    ``camera_rotations`` (frames, 3, 3): a moving camera's rotation per key, first frame's camera
    axes -> that frame's (the footage camera is then keyed to turn with it); None: still."""
    camera = getattr(animation, "camera", None)
    a = None if camera is None else camera.camera_to_armature
    off = None if camera is None else camera.armature_offset
    return FootageInfo(video=os.path.abspath(os.fspath(video)), video_start=int(video_start),
                       video_fps=float(video_fps or animation.fps), frame_start=int(frame_start),
                       fps=float(animation.fps), frames=int(animation.num_frames),
                       width=int(width), height=int(height), focal_px=float(focal_px or 0.0),
                       camera_to_armature=[[float(x) for x in row] for row in a] if a is not None else None,
                       armature_offset=[float(x) for x in off] if off is not None else None,
                       scale=float(scale or 1.0),
                       camera_rotations=None if camera_rotations is None
                       else [[[float(x) for x in row] for row in r] for r in camera_rotations])


def record_footage(action, info: FootageInfo) -> None:
    """Store ``info`` on ``action`` (custom property :data:`FOOTAGE_PROP`)."""
    action[FOOTAGE_PROP] = info.to_json()


def footage_for_object(obj) -> FootageInfo:
    """The footage record of ``obj``'s active Action (else its newest NLA strip's Action);
    PoseMoEError when it has none."""
    if obj is None or obj.type != 'ARMATURE':
        raise PoseMoEError("select the converted armature")
    actions = []
    ad = obj.animation_data
    if ad is not None:
        if ad.action is not None:
            actions.append(ad.action)
        for track in reversed(list(ad.nla_tracks)):
            actions += [s.action for s in track.strips if s.action is not None]
    for action in actions:
        if FOOTAGE_PROP in action.keys():
            try:
                return FootageInfo.from_json(str(action[FOOTAGE_PROP]))
            except (ValueError, TypeError) as exc:
                raise PoseMoEError(f"{action.name}: its footage record is damaged ({exc})") from None
    raise PoseMoEError(f"{obj.name} has no Action converted from a video (no footage record)")


# --------------------------------------------------------------------------- loading

def _load_video(info: FootageInfo):
    """Load the video as a MovieClip (same frame rate) or a movie Image (retimed); the
    datablock, or PoseMoEError with nothing left behind."""
    path = os.path.abspath(os.fspath(info.video or ""))
    if not info.video or not os.path.isfile(path):
        raise PoseMoEError(f"{path}: no such video, so the footage cannot be shown")
    kind = "images" if info.retimed else "movieclips"
    collection = getattr(bpy.data, kind)
    before = set(collection)
    try:
        block = collection.load(path, check_existing=False)
    except RuntimeError as exc:
        for new in set(collection) - before:
            collection.remove(new)
        raise PoseMoEError(f"{path}: Blender cannot read this video "
                           f"({str(exc).strip().splitlines()[-1]})") from None
    ok = block.frame_duration > 0 and block.size[0] > 0 and block.size[1] > 0
    if kind == "images":
        ok = ok and block.source == 'MOVIE'
    if not ok:
        collection.remove(block)
        raise PoseMoEError(f"{path}: Blender cannot read this video (no frames)")
    return block


# --------------------------------------------------------------------------- the camera

def _camera_matrix(info: FootageInfo, obj, rotation=None):
    """The footage camera's world matrix (mathutils.Matrix); ``rotation`` (3, 3) nested lists,
    a moving camera's turn at one frame (``X_t = R X_0``): its axes are ``R``'s rows in the
    first frame's camera axes."""
    from mathutils import Matrix, Vector
    origin = obj.matrix_world.to_translation()
    if info.camera_to_armature is None or info.armature_offset is None:
        # no record of the solve's camera: 4 m in front of the rig (it faces -Y), chest high
        m = Matrix.Rotation(math.radians(90.0), 4, 'X')
        m.translation = origin + Vector((0.0, -4.0, 1.0))
        return m
    a = Matrix([list(map(float, row)) for row in info.camera_to_armature])
    if rotation is not None:
        a = a @ Matrix([list(map(float, row)) for row in rotation]).transposed()
    cols = [Vector((a[0][c], a[1][c], a[2][c])) for c in range(3)]
    s = sum(c.length for c in cols) / 3.0
    if not s > 0:
        raise PoseMoEError("the recorded camera is degenerate")
    right, down, forward = (c / s for c in cols)
    m = Matrix.Identity(4)
    for r in range(3):  # camera X = right, Y = up (-down), Z = back (-forward)
        m[r][0], m[r][1], m[r][2] = right[r], -down[r], -forward[r]
    m.translation = origin + Vector(info.armature_offset) * float(info.scale or 1.0)
    return m


def _focal_mm(info: FootageInfo, width: int, height: int, sensor: float) -> float:
    focal = info.focal_px or _FOCAL_35MM / _DIAGONAL_35MM * math.hypot(width, height)
    return focal * sensor / max(width, height)


def _drive_frame(cam_data, index: int, info: FootageInfo) -> None:
    """Drive background ``index``'s ``image_user.frame_offset`` so scene frame F shows video
    frame ``video_start + round((F - frame_start) * video_fps / fps)``."""
    ratio = info.video_fps / info.fps
    s = int(info.frame_start)
    fc = cam_data.driver_add(f"background_images[{index}].image_user.frame_offset")
    drv = fc.driver
    drv.type = 'SCRIPTED'
    drv.expression = f"{int(info.video_start)} + floor((frame - {s}) * {ratio!r} + 0.5) - (frame - {s})"


def attach_footage(context, obj, info: FootageInfo, alpha: float = DEFAULT_ALPHA) -> dict:
    """Show ``info.video`` behind ``obj`` (an armature) through a new camera, in step with the
    Action (see the module docstring). A footage camera this rig already has is replaced.

    Returns ``{"camera", "source" ('MOVIE_CLIP' or 'IMAGE'), "clip" or "image" (the
    datablock's name), "retimed"}``. Raises PoseMoEError (nothing changed) when the video is
    missing or unreadable."""
    if obj is None or obj.type != 'ARMATURE':
        raise PoseMoEError("the footage needs the converted armature")
    scene = context.scene
    block = _load_video(info)  # may raise: nothing changed yet
    width = int(info.width or block.size[0])
    height = int(info.height or block.size[1])
    made = [("images" if info.retimed else "movieclips", block)]
    try:
        remove_footage(context, obj)  # this rig's old footage camera: its scene camera comes back
    except BaseException:
        getattr(bpy.data, made[0][0]).remove(block)
        raise
    saved = (scene.camera, scene.render.resolution_x, scene.render.resolution_y)
    try:
        cam_data = bpy.data.cameras.new(f"PoseMoE_Footage_{obj.name}")
        made.append(("cameras", cam_data))
        cam = bpy.data.objects.new(cam_data.name, cam_data)
        made.append(("objects", cam))
        scene.collection.objects.link(cam)
        cam.matrix_world = _camera_matrix(info, obj)
        for k, rotation in enumerate(info.camera_rotations or ()):  # a moving camera turns with the video
            cam.matrix_world = _camera_matrix(info, obj, rotation)
            cam.keyframe_insert("rotation_euler", frame=int(info.frame_start) + k)
        cam_data.sensor_fit = 'AUTO'
        cam_data.lens = _focal_mm(info, width, height, cam_data.sensor_width)
        cam_data.clip_start, cam_data.clip_end = 0.05, 1000.0
        cam_data.show_background_images = True
        bg = cam_data.background_images.new()
        bg.alpha = float(alpha)
        bg.display_depth = 'BACK'
        bg.frame_method = 'FIT'
        bg.show_expanded = False
        out = {"camera": cam.name, "retimed": info.retimed}
        if info.retimed:
            bg.source = 'IMAGE'
            bg.image = block
            iu = bg.image_user
            iu.frame_start = int(info.frame_start)
            iu.frame_duration = max(int(block.frame_duration), int(info.frames) + 1)
            iu.frame_offset = int(info.video_start)
            iu.use_auto_refresh = True
            _drive_frame(cam_data, 0, info)
            out.update(source='IMAGE', image=block.name)
        else:
            block.frame_start = int(info.frame_start) - int(info.video_start)
            block.frame_offset = 0
            bg.source = 'MOVIE_CLIP'
            bg.clip = block
            bg.use_camera_clip = False
            out.update(source='MOVIE_CLIP', clip=block.name)
        cam[CAMERA_TAG] = obj.name
        cam[PREV_CAMERA] = saved[0].name if saved[0] is not None else ""
        cam[PREV_RESOLUTION] = [int(saved[1]), int(saved[2])]
        scene.camera = cam
        scene.render.resolution_x, scene.render.resolution_y = width, height
        return out
    except BaseException:
        scene.camera = saved[0]
        scene.render.resolution_x, scene.render.resolution_y = saved[1], saved[2]
        for kind, idblock in reversed(made):
            try:
                getattr(bpy.data, kind).remove(idblock)
            except (ReferenceError, RuntimeError):
                pass
        raise


def footage_cameras(obj) -> list:
    """The footage camera objects made for ``obj`` (by name)."""
    name = obj.name if obj is not None else ""
    return [o for o in bpy.data.objects if o.type == 'CAMERA' and o.get(CAMERA_TAG) == name]


def remove_footage(context, obj) -> int:
    """Remove ``obj``'s footage cameras, the clips/images only they showed, and put the scene
    camera and resolution they replaced back. Returns how many cameras were removed."""
    removed = 0
    for cam in footage_cameras(obj):
        for scene in bpy.data.scenes:
            if scene.camera == cam:
                prev = bpy.data.objects.get(str(cam.get(PREV_CAMERA, "")))
                scene.camera = prev if prev is not None and prev.type == 'CAMERA' else None
                res = list(cam.get(PREV_RESOLUTION, []))
                if len(res) == 2 and res[0] > 0 and res[1] > 0:
                    scene.render.resolution_x, scene.render.resolution_y = int(res[0]), int(res[1])
        data = cam.data
        media = [(bg.clip, "movieclips") if bg.source == 'MOVIE_CLIP' else (bg.image, "images")
                 for bg in data.background_images]
        bpy.data.objects.remove(cam)
        if data.users == 0:
            bpy.data.cameras.remove(data)
        for block, kind in media:
            if block is not None and block.users == 0:
                getattr(bpy.data, kind).remove(block)
        removed += 1
    return removed


def apply_footage(context, out: dict, info: FootageInfo, attach: bool = True) -> Optional[str]:
    """After a conversion: record ``info`` on the Action ``out["action"]`` and, with ``attach``,
    show the footage behind ``out["object"]`` (``out``: ``build_rig_action``'s summary; its
    ``"scale"``, when retargeted, scales the camera's path). Returns None, or a one-line warning
    when the footage could not be shown (the keyed Action is kept either way)."""
    info.scale = float(out.get("scale") or 1.0)
    action = bpy.data.actions.get(out.get("action") or "")
    if action is not None:
        record_footage(action, info)
    if not attach:
        return None
    try:
        attach_footage(context, bpy.data.objects.get(out.get("object") or ""), info)
    except PoseMoEError as exc:
        return f"footage not shown: {exc}"
    return None


__all__ = ["apply_footage", "FootageInfo", "footage_info", "record_footage", "footage_for_object", "attach_footage",
           "remove_footage", "footage_cameras", "FOOTAGE_PROP", "CAMERA_TAG"]
