"""``convert --preview OUT.mp4``: the footage with the detection and the solved rig drawn on it.

Each frame of the converted range shows, on the upright picture:

* the **detected 2D skeleton** (BlazePose mapped to the 17 joints, plus its ankles, heels and
  toe tips) in green, thinner where the detection is less confident;
* the **solved rig** reprojected (orange): every bone of the generated rig, feet and toes
  included, through the camera the solve assumed (:func:`~.solving.default_focal_px`, the
  principal point at the image centre) from the rig's armature-space points
  (``armature = camera_to_armature @ camera + armature_offset``). With root motion off the rig's
  pelvis is put back on the camera-space root estimate first;
* the **detected hands** (MediaPipe Hands' 21 landmarks of each hand the conversion kept:
  fingers and palm) in light green over the footage; the rig's own fingers are among its bones;
* **planted feet** (foot locking's contacts): a red ring under the foot, labelled L / R;
* a **side-view inset** (top right): the rig's 3D points seen from the character's right
  (armature Y -> inset x, Z up), following the pelvis, with the floor (Z = 0) and planted
  feet in red;
* where the camera was taken as moving (``result.camera_rotations``, ``--camera``), a **camera
  inset** under it: the estimated camera path (where the optical axis points, pan to the right
  and tilt up, degrees from the first frame's) in grey, the current frame's as a dot with the
  estimated horizon (the camera's roll) through it; the rig is then projected through each
  frame's turned camera.

Written with OpenCV (``mp4v``) to a staging file renamed into place
(:func:`~posemoe_blender.fileio.atomic_output`); the same size as the upright input and one
frame per converted input frame. OpenCV is imported here, never by the add-on's registration
path (Blender's Python has no ``cv2``).
"""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

import cv2
import numpy as np

from ..errors import PoseMoEError
from ..fileio import atomic_output
from ..joints import BONES
from ..joints import FINGERS
from ..solving.skeleton import POINT_INDEX, RIG_HEAD_POINT, RIG_TAIL_POINT
from ..solving.kinematics import rig_points_world
from ..solving.root import default_focal_px
from ..video.reader import open_video

#: BGR colours.
DETECTED = (80, 220, 80)
SOLVED = (0, 150, 255)
PLANTED = (40, 40, 230)
INSET_BG = (32, 32, 32)
HAND = (170, 255, 170)
#: The detected hand's lines: each finger from the wrist, and the knuckles.
HAND_LINES = tuple((c[i], c[i + 1]) for c in FINGERS for i in range(4)) + ((5, 9), (9, 13), (13, 17))
#: Rig points drawn as dots (the body's; the fingers' points only as bones).
BODY_POINTS = POINT_INDEX["LThumb1"]
#: The inset's width as a fraction of the frame's shorter side.
INSET_FRACTION = 0.32
#: Colours of the camera inset: the whole path, the current frame and its horizon.
CAMERA_PATH = (150, 150, 150)
CAMERA_NOW = (255, 255, 255)
HORIZON = (0, 220, 255)


def solved_camera_points(result) -> np.ndarray:
    """(T', 64, 3) the solved rig's points (:data:`~.skeleton.POINT_NAMES`) in the camera
    the solve assumed (metres, x right, y down, z forward), T' = the animation's frames.

    ``camera = camera_to_armature^-1 @ (armature - armature_offset)`` (the solve's
    :class:`~.solving.skeleton.CameraMapping`, ``animation.camera``): the rig where the solve
    put it, foot locking's shifts included. With root motion off (the pelvis kept above the
    origin) the pelvis is put on the camera root estimate ``result.root`` instead.
    """
    anim = result.animation
    pts = rig_points_world(anim)
    camera = anim.camera
    if camera.root_motion:
        return camera.to_camera(pts)
    rel = camera.to_camera(pts - pts[:, :1], relative=True)
    return rel + np.asarray(result.root, dtype=np.float64)[: len(pts), None, :]


def turned_camera_points(points: np.ndarray, rotations: Optional[np.ndarray]) -> np.ndarray:
    """(T', P, 3) camera points in the first frame's camera axes (metres) turned into each
    frame's own camera: ``X_t = rotations[t] @ X_0`` (``rotations`` (T', 3, 3), the removed
    camera rotation, :attr:`~.pipeline.ClipResult.camera_rotations`); unchanged when None."""
    if rotations is None:
        return points
    rot = np.asarray(rotations, dtype=np.float64)[: len(points)]
    return np.einsum("tij,tpj->tpi", rot, points)


def camera_path_deg(rotations: np.ndarray) -> np.ndarray:
    """(T, 3) degrees: pan (optical axis to the right), tilt (up) and roll (the horizon turned
    clockwise in the picture) of each frame's camera relative to the first frame's, from the
    rotations (T, 3, 3) ``X_t = R_t X_0`` (camera axes x right, y down, z forward)."""
    rot = np.asarray(rotations, dtype=np.float64)
    axis = rot[:, 2, :]  # R_t^T (0, 0, 1): the optical axis in the first frame's axes
    right = rot[:, 0, :]  # R_t^T (1, 0, 0)
    pan = np.degrees(np.arctan2(axis[:, 0], axis[:, 2]))
    tilt = np.degrees(np.arctan2(-axis[:, 1], np.hypot(axis[:, 0], axis[:, 2])))
    roll = np.degrees(np.arctan2(right[:, 1], np.hypot(right[:, 0], right[:, 2])))
    return np.stack([pan, tilt, roll], axis=1)


def project(points: np.ndarray, focal: float, cx: float, cy: float) -> np.ndarray:
    """(..., 2) pixels of camera points (..., 3) (pinhole; depth clipped at 1 cm)."""
    z = np.maximum(points[..., 2], 0.01)
    return np.stack([focal * points[..., 0] / z + cx, focal * points[..., 1] / z + cy], axis=-1)


def _pt(p) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _inside(p, w, h, margin=4 * 1024) -> bool:
    return bool(np.all(np.isfinite(p)) and -margin < p[0] < w + margin and -margin < p[1] < h + margin)


def draw_frame(bgr: np.ndarray, kp2d: Optional[np.ndarray], feet2d: Optional[np.ndarray],
               rig2d: Optional[np.ndarray], rig3d: Optional[np.ndarray],
               planted: Optional[np.ndarray], thickness: int = 2,
               hands2d: Optional[np.ndarray] = None, camera_path: Optional[np.ndarray] = None,
               camera_frame: int = 0) -> np.ndarray:
    """Draw one frame in place and return it.

    Args:
        bgr: (H, W, 3) uint8 BGR image.
        kp2d: (17, 3) detected pixels + confidence, or None.
        feet2d: (2, 3, 3) detected ankle, heel, toe tip per side (pixels + visibility), or None.
        rig2d: (64, 2) the solved rig's points reprojected (pixels), or None.
        rig3d: (64, 3) the same points in armature space (metres, Z up) for the inset, or None.
        planted: (2,) bool, [left, right] foot planted, or None.
        hands2d: (2, 21, 3) the detected hands ([left, right], pixels + confidence; 0: unseen),
            or None.
        camera_path: (T', 3) degrees, :func:`camera_path_deg` of a camera taken as moving (drawn
            in an inset under the side view), or None (a still camera: no camera inset).
        camera_frame: the row of ``camera_path`` that is this frame.
    """
    h, w = bgr.shape[:2]
    if hands2d is not None:
        for hand in np.asarray(hands2d):
            if hand[0, 2] <= 0:
                continue
            for a, b in HAND_LINES:
                if _inside(hand[a], w, h) and _inside(hand[b], w, h):
                    cv2.line(bgr, _pt(hand[a]), _pt(hand[b]), HAND, max(1, thickness - 1), cv2.LINE_AA)
    if kp2d is not None:
        for a, b in BONES:
            c = min(kp2d[a, 2], kp2d[b, 2])
            if c < 0.3 or not (_inside(kp2d[a], w, h) and _inside(kp2d[b], w, h)):
                continue
            cv2.line(bgr, _pt(kp2d[a]), _pt(kp2d[b]), DETECTED, max(1, thickness - (c < 0.6)), cv2.LINE_AA)
        if feet2d is not None:
            for side in feet2d:
                if side[:, 2].min() < 0.3:
                    continue
                for i, j in ((0, 1), (1, 2), (2, 0)):
                    cv2.line(bgr, _pt(side[i]), _pt(side[j]), DETECTED, max(1, thickness - 1), cv2.LINE_AA)
    if rig2d is not None:
        if planted is not None:
            for s, pre in enumerate("LR"):
                if planted[s]:
                    a, b = rig2d[POINT_INDEX[pre + "Ankle"]], rig2d[POINT_INDEX[pre + "Ball"]]
                    if _inside(a, w, h) and _inside(b, w, h):
                        c = 0.5 * (a + b)
                        r = max(6, int(0.8 * np.linalg.norm(a - b)))
                        cv2.ellipse(bgr, _pt(c), (r, max(3, r // 2)), 0, 0, 360, PLANTED, thickness,
                                    cv2.LINE_AA)
                        cv2.putText(bgr, pre, (_pt(c)[0] - 4, _pt(c)[1] + r // 2 + 7 * (thickness + 1)),
                                    cv2.FONT_HERSHEY_SIMPLEX, 0.22 * (thickness + 1), PLANTED, thickness,
                                    cv2.LINE_AA)
        for hd, tl in zip(RIG_HEAD_POINT, RIG_TAIL_POINT):
            if _inside(rig2d[hd], w, h) and _inside(rig2d[tl], w, h):
                cv2.line(bgr, _pt(rig2d[hd]), _pt(rig2d[tl]), SOLVED, thickness, cv2.LINE_AA)
        for p in rig2d[:BODY_POINTS]:
            if _inside(p, w, h):
                cv2.circle(bgr, _pt(p), thickness + 1, SOLVED, -1, cv2.LINE_AA)
    if rig3d is not None:
        _draw_inset(bgr, rig3d, planted)
    if camera_path is not None:
        _draw_camera_inset(bgr, np.asarray(camera_path, dtype=np.float64), camera_frame)
    _legend(bgr, max(1.0, min(h, w) / 480.0))
    return bgr


def _draw_inset(bgr: np.ndarray, rig3d: np.ndarray, planted: Optional[np.ndarray]) -> None:
    """Side view (from the character's right: armature -Y to the right... i.e. forward = -Y
    points left-to-right as x, Z up) in a square at the top right."""
    h, w = bgr.shape[:2]
    size = max(60, int(INSET_FRACTION * min(h, w)))
    x0, y0 = w - size - 8, 8
    roi = bgr[y0:y0 + size, x0:x0 + size]
    roi[:] = (0.35 * roi + 0.65 * np.array(INSET_BG)).astype(np.uint8)
    _draw_rig(roi, rig3d, planted, "side")
    cv2.rectangle(roi, (0, 0), (size - 1, size - 1), (200, 200, 200), 1)
    k = max(1.0, size / 150.0)
    cv2.putText(roi, "side", (int(6 * k), int(16 * k)), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * k, (230, 230, 230),
                max(1, int(k)), cv2.LINE_AA)


def _draw_camera_inset(bgr: np.ndarray, path: np.ndarray, frame: int) -> None:
    """The camera inset under the side view: ``path`` (T, 3) pan, tilt, roll in degrees
    (:func:`camera_path_deg`) as a line (pan to the right, tilt up, the first frame at the
    centre, the scale the path's largest excursion), frame ``frame`` as a dot with the horizon
    turned by its roll, and the scale as text."""
    h, w = bgr.shape[:2]
    size = max(60, int(INSET_FRACTION * min(h, w)))
    x0, y0 = w - size - 8, 8 + size + 6
    if y0 + size > h:
        return
    roi = bgr[y0:y0 + size, x0:x0 + size]
    roi[:] = (0.35 * roi + 0.65 * np.array(INSET_BG)).astype(np.uint8)
    half = float(max(1.0, np.abs(path[:, :2]).max() * 1.15))
    scale = 0.5 * size / half

    def at(p):
        return np.array([size / 2 + p[0] * scale, size / 2 - p[1] * scale])

    cv2.line(roi, (size // 2, 0), (size // 2, size - 1), (90, 90, 90), 1)
    cv2.line(roi, (0, size // 2), (size - 1, size // 2), (90, 90, 90), 1)
    pts = np.array([_pt(at(p)) for p in path], dtype=np.int32)
    if len(pts) > 1:
        cv2.polylines(roi, [pts], False, CAMERA_PATH, 1, cv2.LINE_AA)
    now = path[min(max(frame, 0), len(path) - 1)]
    c = at(now)
    a = np.radians(now[2])
    d = 0.3 * size * np.array([np.cos(a), np.sin(a)])
    cv2.line(roi, _pt(c - d), _pt(c + d), HORIZON, 2, cv2.LINE_AA)
    cv2.circle(roi, _pt(c), 4, CAMERA_NOW, -1, cv2.LINE_AA)
    cv2.rectangle(roi, (0, 0), (size - 1, size - 1), (200, 200, 200), 1)
    k = max(1.0, size / 150.0)
    cv2.putText(roi, f"cam +-{half:.0f} deg", (int(6 * k), int(16 * k)), cv2.FONT_HERSHEY_SIMPLEX,
                0.4 * k, (230, 230, 230), max(1, int(k)), cv2.LINE_AA)


def _draw_rig(img: np.ndarray, points: np.ndarray, planted: Optional[np.ndarray], view: str) -> None:
    """Draw into the square ``img`` the rig's armature-space points (64, 3) orthographically:
    ``view`` "front" (X to the right as the camera at -Y sees it, Z up) or "side" (forward -Y
    to the right, Z up), 2.2 m top to bottom, centred on the pelvis horizontally, the floor
    (Z = 0) near the bottom, planted feet (``planted`` (2,) bool, [left, right]) as dots."""
    size = img.shape[0]
    scale = size / 2.2
    pelvis = points[0]
    axis, sign = (0, 1.0) if view == "front" else (1, -1.0)
    floor = size - 0.08 * size

    def at(p):
        return np.array([size / 2 + sign * (p[axis] - pelvis[axis]) * scale, floor - p[2] * scale])

    cv2.line(img, (0, int(floor)), (size - 1, int(floor)), (140, 140, 140), 1, cv2.LINE_AA)
    for hd, tl in zip(RIG_HEAD_POINT, RIG_TAIL_POINT):
        cv2.line(img, _pt(at(points[hd])), _pt(at(points[tl])), SOLVED, 2, cv2.LINE_AA)
    if planted is not None:
        for s, pre in enumerate("LR"):
            if planted[s]:
                c = 0.5 * (points[POINT_INDEX[pre + "Ankle"]] + points[POINT_INDEX[pre + "Ball"]])
                cv2.circle(img, _pt(at(c)), 5, PLANTED, -1, cv2.LINE_AA)


def _legend(bgr: np.ndarray, scale: float = 1.0) -> None:
    """The colour key at the bottom left; ``scale``: text size (1 for a 480-pixel picture)."""
    y = bgr.shape[0] - int(12 * scale)
    thin = max(1, int(round(scale)))
    for text, colour in (("detected 2D", DETECTED), ("detected hands", HAND), ("solved rig", SOLVED),
                         ("planted foot (L/R)", PLANTED)):
        cv2.putText(bgr, text, (int(10 * scale), y), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 0, 0),
                    thin + 2, cv2.LINE_AA)
        cv2.putText(bgr, text, (int(10 * scale), y), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, colour, thin,
                    cv2.LINE_AA)
        y -= int(20 * scale)


def write_preview(video_path: str | os.PathLike, out_path: str | os.PathLike, result,
                  progress: Optional[Callable[[int, int], None]] = None) -> dict:
    """Write the preview of a :class:`~.pipeline.ClipResult` of ``video_path`` to
    ``out_path`` (.mp4) atomically; returns ``{"path", "frames", "width", "height",
    "seconds"}``.

    One output frame per input frame of the converted range (``result.start`` onward,
    ``result.keypoints2d.shape[0]`` frames), at the input's frame rate and upright size. The
    solved rig's frame for input frame ``t`` is ``round(t * fps / source_fps)`` (the same
    frame unless ``--fps-out`` resampled it). Raises :class:`PoseMoEError` when the video
    cannot be read or the file cannot be written.
    """
    t0 = time.perf_counter()
    out_path = os.path.abspath(os.fspath(out_path))
    T = int(result.keypoints2d.shape[0])
    anim = result.animation
    rotations = getattr(result, "camera_rotations", None)
    cam = turned_camera_points(solved_camera_points(result), rotations)
    camera_path = None if rotations is None else camera_path_deg(rotations)
    world = rig_points_world(anim)
    W, H = int(result.width), int(result.height)
    focal = default_focal_px(W, H)
    rig2d = project(cam, focal, W / 2.0, H / 2.0)
    contacts = anim.contacts
    n_anim = cam.shape[0]
    ratio = float(result.fps) / float(result.source_fps) if result.source_fps else 1.0
    feet2d = getattr(result, "feet2d", None)
    hands = getattr(result, "hands", None)
    hands2d = None if hands is None else hands.hands2d
    written = 0
    with open_video(video_path) as reader, atomic_output(out_path, ".mp4") as tmp:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), float(reader.fps), (W, H))
        if not writer.isOpened():
            raise PoseMoEError(f"cannot write {out_path}: OpenCV could not open an mp4 writer")
        try:
            for index, rgb in reader.frames(result.start, result.start + T):
                t = index - result.start
                if t >= T:
                    break
                k = min(n_anim - 1, int(round(t * ratio)))
                bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
                draw_frame(bgr, result.keypoints2d[t], None if feet2d is None else feet2d[min(t, len(feet2d) - 1)],
                           rig2d[k], world[k], None if contacts is None else contacts[k],
                           thickness=max(1, round(min(W, H) / 360)),
                           hands2d=None if hands2d is None else hands2d[min(t, len(hands2d) - 1)],
                           camera_path=camera_path, camera_frame=k)
                writer.write(bgr)
                written += 1
                if progress is not None:
                    progress(written, T)
        finally:
            writer.release()
    if written == 0:
        raise PoseMoEError(f"{video_path}: no frames to draw the preview on")
    return {"path": out_path, "frames": written, "width": W, "height": H,
            "seconds": time.perf_counter() - t0}


# --------------------------------------------------------------------------- contact sheet

def _rig_panel(points: np.ndarray, planted: Optional[np.ndarray], size: int, view: str) -> np.ndarray:
    """(size, size, 3) BGR: the rig's armature-space points (64, 3) drawn orthographically,
    ``view`` "front" (X to the right as the camera at -Y sees it, Z up) or "side" (forward -Y
    to the right, Z up), centred on the pelvis horizontally, the floor (Z = 0) near the bottom."""
    panel = np.full((size, size, 3), INSET_BG, np.uint8)
    _draw_rig(panel, points, planted, view)
    cv2.putText(panel, view, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (230, 230, 230), 1, cv2.LINE_AA)
    return panel


def write_contact_sheet(video_path: str | os.PathLike, out_path: str | os.PathLike, result,
                        frames: int = 4, row_height: int = 240) -> dict:
    """A contact sheet PNG of a :class:`~.pipeline.ClipResult`: ``frames`` rows, evenly spaced
    over the converted range, each the footage (with the detected 2D skeleton and the solved
    rig drawn as in the preview, scaled to ``row_height`` pixels) beside the rig seen from the
    front and from the side (square panels, the floor drawn, planted feet red). Written
    atomically; returns ``{"path", "frames" (the input frame numbers shown), "width",
    "height"}``. Meant for ``batch`` (one sheet per clip next to its report)."""
    out_path = os.path.abspath(os.fspath(out_path))
    T = int(result.keypoints2d.shape[0])
    picks = sorted({int(round(x)) for x in np.linspace(0, T - 1, max(1, min(frames, T)))})
    anim = result.animation
    cam = turned_camera_points(solved_camera_points(result), getattr(result, "camera_rotations", None))
    world = rig_points_world(anim)
    W, H = int(result.width), int(result.height)
    rig2d = project(cam, default_focal_px(W, H), W / 2.0, H / 2.0)
    ratio = float(result.fps) / float(result.source_fps) if result.source_fps else 1.0
    feet2d = getattr(result, "feet2d", None)
    hands = getattr(result, "hands", None)
    wanted = {result.start + t for t in picks}
    rows = {}
    with open_video(video_path) as reader:
        for index, rgb in reader.frames(result.start + picks[0], result.start + picks[-1] + 1):
            if index not in wanted:
                continue
            t = index - result.start
            k = min(cam.shape[0] - 1, int(round(t * ratio)))
            planted = None if anim.contacts is None else anim.contacts[k]
            bgr = draw_frame(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), result.keypoints2d[t],
                             None if feet2d is None else feet2d[min(t, len(feet2d) - 1)], rig2d[k], None,
                             planted, thickness=max(1, round(min(W, H) / 360)),
                             hands2d=None if hands is None else hands.hands2d[min(t, len(hands.hands2d) - 1)])
            foot = cv2.resize(bgr, (max(1, round(W * row_height / H)), row_height), interpolation=cv2.INTER_AREA)
            cv2.putText(foot, f"frame {index}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                        cv2.LINE_AA)
            rows[index] = np.concatenate([foot, _rig_panel(world[k], planted, row_height, "front"),
                                          _rig_panel(world[k], planted, row_height, "side")], axis=1)
    if not rows:
        raise PoseMoEError(f"{video_path}: no frames for the contact sheet")
    sheet = np.concatenate([rows[i] for i in sorted(rows)], axis=0)
    ok, png = cv2.imencode(".png", sheet)
    if not ok:
        raise PoseMoEError(f"cannot write {out_path}: PNG encoding failed")
    with atomic_output(out_path, ".png") as tmp:
        with open(tmp, "wb") as fh:
            fh.write(png.tobytes())
    return {"path": out_path, "frames": sorted(rows), "width": int(sheet.shape[1]), "height": int(sheet.shape[0])}
