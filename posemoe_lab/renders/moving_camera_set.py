"""Render the moving-camera set: one motion filmed by a still camera and by cameras that pan,
tilt, shake and track the actor, with the truth (issue #23's rendered targets).

Usage (headless, from the repository root)::

    .venv/bin/python -m posemoe_lab.renders.moving_camera_set --out .cache/render_camera
    .venv/bin/python -m posemoe_lab.renders.moving_camera_set --manifest-only   # benchmarks/camera/manifest.json

Motion: the sample clip's own (:func:`posemoe_lab.renders.sample.motion`: walking in place
while turning 60 degrees, then a squat with the arms raised), on the sample's figure and floor.
It is the project's own motion (the sample clip is checked in and tests run on it), not motion
from another source: the set measures the camera's removal, not the lifter.

Cameras (:data:`PATHS`), all at one place (:data:`CAMERA_LOCATION`), 3.2 m in front of the actor
and 1.2 m high, looking at :data:`LOOK_AT`; each *only turns about its own centre* (no travel,
no zoom), which is what the product's estimator models. The focal length is the one the
pipeline assumes for a clip of this size (27 mm equivalent,
:func:`posemoe_blender.solving.root.default_focal_px`), so a wrong focal guess is not part of
what is measured. Turns are given in the camera's axes (x right, y down, z forward) as
``D_t`` with ``R_t = D_t @ R_0`` (world -> camera of frame t):

* ``still``: ``D_t`` = identity;
* ``pan``: a turn about the camera's vertical axis, 8 degrees * sin(2 pi t / T);
* ``tilt``: about the camera's x axis, 6 degrees * sin(2 pi t / T);
* ``shake``: hand-held noise, sums of three sines (1.3-4.1 Hz, fixed phases) about each
  axis, peaks of about 1.5 (pan), 1.2 (tilt) and 0.7 (roll) degrees;
* ``track``: the camera keeps the actor's pelvis at the image centre, following it with a
  first-order lag of 0.2 s (the sample's actor stays in place, so this is mostly a tilt that
  follows the squat and a small pan: a travelling actor is not in this set).

Writes ``<path>.mp4`` and ``<path>_truth.npz`` into ``--out`` and ``manifest.json``. Truth
arrays: ``joints_world`` (T, 17, 3) metres, Blender world (Z up, floor at Z = 0);
``joints_camera`` (T, 17, 3) metres, each frame's camera axes (x right, y down, z forward);
``joints_first_camera`` (T, 17, 3) metres, the first frame's camera axes (the frame the product
puts a moving camera's person in); ``camera_rotations`` (T, 3, 3) ``D_t`` (the convention of
:class:`posemoe_blender.detection.camera_motion.CameraMotion`: ``X_t = D_t X_0``); ``R`` (T, 3,
3), ``t`` (T, 3) world -> camera per frame; ``K`` (3, 3) pixels; ``keypoints2d`` (T, 17, 3)
pixels + confidence 1; ``root`` (T, 3) the Pelvis in each frame's camera; ``fps``, ``width``,
``height``, ``joint_names``, ``camera_path``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np

import bpy  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

from posemoe_blender.joints import JOINT_INDEX, JOINT_NAMES, save_npz  # noqa: E402
from posemoe_blender.output.armature import build_armature  # noqa: E402
from posemoe_blender.solving.root import default_focal_px  # noqa: E402
from posemoe_lab.renders import sample as rs  # noqa: E402

WIDTH, HEIGHT, FPS, NUM_FRAMES = 480, 360, 30, 90
FOCAL_PX = default_focal_px(WIDTH, HEIGHT)
CAMERA_LOCATION = (0.0, -3.2, 1.2)
LOOK_AT = (0.0, 0.0, 0.9)
PATHS = ("still", "pan", "tilt", "shake", "track")
#: The track camera's lag (seconds, first-order).
TRACK_LAG_S = 0.2
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPO_MANIFEST = os.path.join(REPO, "benchmarks", "camera", "manifest.json")


def base_rotation() -> np.ndarray:
    """(3, 3) world -> camera (x right, y down, z forward) of the camera at
    :data:`CAMERA_LOCATION` looking at :data:`LOOK_AT`, its x axis horizontal."""
    c, a = np.array(CAMERA_LOCATION), np.array(LOOK_AT)
    z = (a - c) / np.linalg.norm(a - c)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


def _euler(yaw_deg, pitch_deg, roll_deg) -> np.ndarray:
    """(T, 3, 3) turns in camera axes: yaw about y (down), pitch about x, roll about z."""
    return Rotation.from_euler("yxz", np.stack([yaw_deg, pitch_deg, roll_deg], -1), degrees=True).as_matrix()


def camera_turns(path: str, pelvis_world: np.ndarray, fps: float = FPS) -> np.ndarray:
    """(T, 3, 3) ``D_t`` of camera path ``path`` (:data:`PATHS`) for a clip whose Pelvis is at
    ``pelvis_world`` (T, 3) metres, Blender world."""
    n = len(pelvis_world)
    s = np.arange(n) / n
    zero = np.zeros(n)
    if path == "still":
        return _euler(zero, zero, zero)
    if path == "pan":
        return _euler(8.0 * np.sin(2 * np.pi * s), zero, zero)
    if path == "tilt":
        return _euler(zero, 6.0 * np.sin(2 * np.pi * s), zero)
    if path == "shake":
        t = np.arange(n) / fps

        def noise(amps, freqs, phases):
            return sum(a * np.sin(2 * np.pi * f * t + p) for a, f, p in zip(amps, freqs, phases))
        return _euler(noise((0.8, 0.5, 0.25), (1.3, 2.3, 4.1), (0.3, 1.9, 4.0)),
                      noise((0.6, 0.4, 0.2), (1.7, 2.9, 3.7), (2.2, 0.7, 5.1)),
                      noise((0.35, 0.2, 0.1), (1.1, 2.6, 3.9), (1.0, 3.3, 0.2)))
    if path == "track":
        R0 = base_rotation()
        c = np.array(CAMERA_LOCATION)
        ray = (pelvis_world - c) @ R0.T  # the pelvis in the first camera's axes
        yaw = np.degrees(np.arctan2(ray[:, 0], ray[:, 2]))
        pitch = -np.degrees(np.arctan2(ray[:, 1], np.hypot(ray[:, 0], ray[:, 2])))
        k = 1.0 - math.exp(-1.0 / (TRACK_LAG_S * fps))
        ys, ps = np.zeros(n), np.zeros(n)
        for i in range(1, n):
            ys[i] = ys[i - 1] + k * (yaw[i] - yaw[0] - ys[i - 1])
            ps[i] = ps[i - 1] + k * (pitch[i] - pitch[0] - ps[i - 1])
        return _euler(ys, ps, zero)
    raise ValueError(f"unknown camera path {path!r}")


def place_camera(cam, R: np.ndarray) -> None:
    """Set the Blender camera ``cam`` at :data:`CAMERA_LOCATION` with world -> camera ``R``
    (3, 3; x right, y down, z forward)."""
    rc = R.T @ np.diag([1.0, -1.0, -1.0])
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rc, CAMERA_LOCATION
    cam.matrix_world = Matrix(m.tolist())


def truth_arrays(world: np.ndarray, turns: np.ndarray, path: str) -> dict:
    """The truth file's arrays (module docstring) of ``world`` (T, 17, 3) joints filmed through
    ``turns`` (T, 3, 3)."""
    R0 = base_rotation()
    R = turns @ R0
    t = -R @ np.array(CAMERA_LOCATION)
    cam = np.einsum("tij,tkj->tki", R, world) + t[:, None]
    first = world @ R0.T + (-R0 @ np.array(CAMERA_LOCATION))
    K = np.array([[FOCAL_PX, 0.0, WIDTH / 2.0], [0.0, FOCAL_PX, HEIGHT / 2.0], [0.0, 0.0, 1.0]])
    proj = cam @ K.T
    kp = np.concatenate([proj[..., :2] / proj[..., 2:3], np.ones(cam.shape[:2] + (1,))], -1)
    root = cam[:, JOINT_INDEX["Pelvis"]]
    return dict(joints_world=world.astype(np.float64), joints_camera=cam, joints_first_camera=first,
                joints3d=(cam - root[:, None]), root=root, keypoints2d=kp,
                camera_rotations=turns, R=R, t=t, K=K, fps=np.float64(FPS),
                width=np.int64(WIDTH), height=np.int64(HEIGHT),
                joint_names=np.array(JOINT_NAMES), camera_path=np.array(path))


def check_projection(cam, truth: dict, frame: int) -> None:
    """Assert that frame ``frame``'s truth projects like Blender's camera ``cam`` placed there."""
    from bpy_extras.object_utils import world_to_camera_view
    place_camera(cam, truth["R"][frame])
    bpy.context.view_layer.update()
    for j in range(17):
        ndc = world_to_camera_view(bpy.context.scene, cam, Vector(truth["joints_world"][frame, j].tolist()))
        uv = np.array([ndc.x * WIDTH, (1.0 - ndc.y) * HEIGHT])
        err = np.abs(uv - truth["keypoints2d"][frame, j, :2]).max()
        assert err < 0.05, f"projection mismatch {err:.3f} px at frame {frame} joint {j}"
        assert 4 <= uv[0] <= WIDTH - 4 and 4 <= uv[1] <= HEIGHT - 4, f"joint {j} leaves the picture at frame {frame}"


def render(out_dir: str, paths=PATHS, frames: int = NUM_FRAMES, render_aa: str = "8") -> list:
    """Render every camera path of ``paths``; returns the manifest's rows."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    layout = rs.figure_layout()
    arm_obj = build_armature(layout, "Figure")
    arm_obj.hide_render = True
    rs.build_figure(arm_obj)
    rs.build_floor()
    rs.setup_scene(WIDTH, HEIGHT, FPS, render_aa=render_aa, camera=False)
    cam = rs.add_camera(CAMERA_LOCATION, (0.0, 0.0, 0.0), lens=FOCAL_PX * 24.0 / HEIGHT, name="Camera")
    scene = bpy.context.scene
    world = np.stack([rs.pose_figure(arm_obj, layout, f) for f in range(frames)])
    truths = {p: truth_arrays(world, camera_turns(p, world[:, JOINT_INDEX["Pelvis"]]), p) for p in paths}
    for p in paths:
        for f in (0, frames // 2, frames - 1):
            check_projection(cam, truths[p], f)
    dirs = {p: tempfile.mkdtemp(prefix=f"posemoe-camera-{p}-") for p in paths}
    rows, t0 = [], time.time()
    try:
        for f in range(frames):
            rs.pose_figure(arm_obj, layout, f)
            for p in paths:
                place_camera(cam, truths[p]["R"][f])
                scene.render.filepath = os.path.join(dirs[p], f"{f:04d}.png")
                bpy.ops.render.render(write_still=True)
            print(f"frame {f + 1}/{frames}  {time.time() - t0:.0f} s", flush=True)
        for p in paths:
            codec = rs.encode_video(dirs[p], frames, os.path.join(out_dir, p + ".mp4"), WIDTH, HEIGHT, FPS)
            save_npz(os.path.join(out_dir, p + "_truth.npz"), **truths[p])
            rows.append(manifest_row(p, truths[p], codec))
    finally:
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)
    print(f"rendered {frames} frames x {len(paths)} cameras in {time.time() - t0:.0f} s")
    return rows


def manifest_row(path: str, truth: dict, codec: str = "") -> dict:
    """One clip's manifest entry: its files, size and the camera's largest turn (degrees)."""
    angles = np.degrees(Rotation.from_matrix(truth["camera_rotations"]).magnitude())
    return {"video": path + ".mp4", "truth": path + "_truth.npz", "path": path,
            "frames": int(len(truth["joints_world"])), "fps": FPS, "width": WIDTH, "height": HEIGHT,
            "f_px": round(float(FOCAL_PX), 3), "camera_location": list(CAMERA_LOCATION),
            "look_at": list(LOOK_AT), "largest_turn_deg": round(float(angles.max()), 3),
            "codec": codec}


def write_manifest(path: str, rows: list, render_aa: str) -> None:
    doc = {"what": "One motion (the sample clip's, posemoe_lab/renders/sample.py) filmed by a still "
                   "camera and by cameras that only turn about their centre (pan, tilt, shake, track); "
                   "focal length = the pipeline's default for the size",
           "generator": "python -m posemoe_lab.renders.moving_camera_set",
           "render": {"engine": "BLENDER_WORKBENCH", "render_aa": render_aa}, "clips": rows}
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(REPO, ".cache", "render_camera"))
    ap.add_argument("--frames", type=int, default=NUM_FRAMES)
    ap.add_argument("--paths", nargs="*", default=list(PATHS), choices=PATHS)
    ap.add_argument("--render-aa", default="8")
    ap.add_argument("--manifest-only", action="store_true",
                    help="write benchmarks/camera/manifest.json from the truth (no rendering)")
    args = ap.parse_args(argv)
    if args.frames < 2:
        print("error: --frames must be at least 2", file=sys.stderr)
        return 2
    if args.manifest_only:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        layout = rs.figure_layout()
        arm_obj = build_armature(layout, "Figure")
        world = np.stack([rs.pose_figure(arm_obj, layout, f) for f in range(args.frames)])
        rows = [manifest_row(p, truth_arrays(world, camera_turns(p, world[:, JOINT_INDEX["Pelvis"]]), p))
                for p in args.paths]
        write_manifest(REPO_MANIFEST, rows, args.render_aa)
        return 0
    os.makedirs(args.out, exist_ok=True)
    rows = render(args.out, tuple(args.paths), args.frames, args.render_aa)
    write_manifest(os.path.join(args.out, "manifest.json"), rows, args.render_aa)
    return 0


if __name__ == "__main__":
    sys.exit(main())
