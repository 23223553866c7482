"""Render the motion-quality benchmark set: held-out mocap clips on the primitive-built figure,
seen from several cameras, with the true joints and camera of every frame.

Usage (headless, from the repository root; ``make render-set`` runs the first line)::

    .venv/bin/python -m posemoe_lab.renders.eval_set --out .cache/render_set
    .venv/bin/python -m posemoe_lab.renders.eval_set --manifest-only     # rewrite benchmarks/render_set/manifest.json
    .venv/bin/python -m posemoe_lab.renders.eval_set --out DIR --clips walk --views side --frames 30   # quick/tiny set
    .venv/bin/python -m posemoe_lab.renders.eval_set --calibration --out .cache/render_calib   # training-split twin

``--calibration`` renders the same kinds of motion (:data:`CALIBRATION_CLIPS`) from the
*training* split instead, in other styles: the set that calibrates the detector's landmark
convention (``posemoe_lab/experiments/fit_landmark_correction.py``) without touching the held-out clips.

Source motion: ``.cache/mocap/mocap.npz`` (``python -m posemoe_lab prepare``), only clips of
the held-out test split (dataset-1 style ``happy``, dataset-2 style ``youthful``: never trained
on). Each clip is a 3 s window (:data:`CLIPS`), re-centred on the origin and turned so the
actor's average facing is -Y (towards the ``front`` camera).

The figure is the sample clip's (``posemoe_lab/renders/sample.py``), rebuilt with the mocap actor's
bone lengths (same bone directions; body parts follow their bones), and driven by solving the
mocap joints onto its rig: :func:`posemoe_blender.solving.body.solve_animation` gives each bone's
rotation (twist from the hip/shoulder lines and limb bend planes), mapped from the solver's
T-pose rest to the figure's rest. The shoes stay flat, turned with the pelvis. The truth is read
back from the posed armature, so it is exactly what is rendered: it equals the (re-chained)
mocap joints.

Cameras (:data:`VIEWS`): front, three-quarter (45 degrees) and side (90 degrees) of the actor's
facing, 1.1-1.8 m high, 4.2-5 m from the motion's centre (moved back in 0.25 m steps until every
joint of every frame is inside the image), looking at (0, 0, 0.9). Landscape 640x480 at 30 fps,
focal length 499 px = a 27 mm-equivalent phone lens (what the pipeline assumes for unknown
cameras). Workbench, FXAA by default (``--aa``).

Writes into ``--out``: ``<clip>_<view>.mp4``, ``<clip>_<view>_truth.npz`` (the arrays of
``render_sample.truth_arrays`` plus ``clip``, ``view``, ``source_clip``, ``source_frames``) and
``manifest.json`` (clips, views, cameras, frames, source BVH clips; the same content as
``benchmarks/render_set/manifest.json`` for the default set).
"""

from __future__ import annotations

from posemoe_lab import REPO_ROOT

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np

REPO = str(REPO_ROOT)

import bpy  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

from posemoe_lab.renders import sample as rs  # noqa: E402
from posemoe_blender.output.armature import build_armature  # noqa: E402
from posemoe_blender.solving.skeleton import BONE_HEAD_JOINT, BONE_NAMES as RIG_JOINT_BONES, BONE_PARENTS, BONE_TAIL_JOINT, SEGMENT_NAMES as BONE_NAMES  # noqa: E402  (the figure keeps the segments' own names)
from posemoe_blender.solving.body import solve_animation  # noqa: E402
from posemoe_blender.solving.root import CAMERA_TO_BLENDER  # noqa: E402
from posemoe_blender.joints import JOINT_INDEX as J, JOINT_NAMES, save_npz  # noqa: E402
from posemoe_blender.fileio import atomic_output  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 480, 30
#: 27 mm-equivalent focal length in pixels (diagonal-based, as core.solving.default_focal_px).
FOCAL_PX = 27.0 / 43.267 * math.hypot(WIDTH, HEIGHT)
LOOK_AT = (0.0, 0.0, 0.9)
#: Height of the figure's ankle joint above the floor when the shoe is flat on it (metres).
FIGURE_ANKLE_HEIGHT = 0.09

#: (short name, held-out source clip, first frame, frames); 3 s each at 30 fps.
CLIPS = (
    ("walk", "dataset-2_walk_youthful_001", 30, 90),
    ("walk_turn", "dataset-2_walk-turn-left_youthful_005", 40, 90),
    ("walk_back", "dataset-1_walk-back_happy_001", 30, 90),
    ("walk_left", "dataset-1_walk-left_happy_001", 30, 90),
    ("wave", "dataset-2_wave-both-hands_youthful_010", 30, 90),
    ("bow", "dataset-1_bow_happy_001", 20, 90),
    ("bye", "dataset-1_bye_happy_001", 30, 90),
    ("guide", "dataset-1_guide_happy_001", 10, 90),
    ("walk_right", "dataset-1_walk-right_happy_001", 30, 90),
    ("walk_turn_right", "dataset-2_walk-turn-right_youthful_002", 40, 90),
)
#: The calibration twin of CLIPS: the same contents from the training split, other styles.
CALIBRATION_CLIPS = (
    ("walk", "dataset-2_walk_active_001", 30, 90),
    ("walk_turn", "dataset-2_walk-turn-left_active_003", 40, 90),
    ("walk_back", "dataset-1_walk-back_angry_001", 30, 90),
    ("walk_left", "dataset-1_walk-left_feminine_001", 30, 90),
    ("wave", "dataset-2_wave-both-hands_active_003", 30, 90),
    ("bow", "dataset-1_bow_feminine_001", 20, 90),
)
#: (name, azimuth from the actor's facing in degrees, camera height m, distance m).
VIEWS = (("front", 0.0, 1.5, 5.0), ("three_quarter", 45.0, 1.8, 4.5), ("side", 90.0, 1.1, 4.2))

MOCAP = os.path.join(REPO, ".cache", "mocap", "mocap.npz")
REPO_MANIFEST = os.path.join(REPO, "benchmarks", "render_set", "manifest.json")
REPO_CALIBRATION_MANIFEST = os.path.join(REPO, "benchmarks", "render_set", "calibration_manifest.json")


# ------------------------------------------------------------------------------ motion
def bvh_path(source_clip: str) -> str:
    k = source_clip.split("_")[0].split("-")[1]
    return f".cache/mocap/raw/Bandai-Namco-Research-Motiondataset-{k}/data/{source_clip}.bvh"


def load_clip(source_clip: str, start: int, frames: int, mocap: str = MOCAP,
              split: str = "test") -> tuple[np.ndarray, dict]:
    """(frames, 17, 3) Blender-world joints (Z up, metres) of a clip window of ``split`` (the
    held-out "test" split by default), centred on the origin, facing -Y on average, mocap floor
    at Z = 0; plus facts for the manifest."""
    with np.load(mocap) as d:
        names = list(d["clip_name"])
        if source_clip not in names:
            raise SystemExit(f"{source_clip}: not in {mocap}")
        i = names.index(source_clip)
        if str(d["split"][i]) != split:
            raise SystemExit(f"{source_clip}: in the {d['split'][i]} split, not {split}")
        s, n = int(d["clip_start"][i]), int(d["clip_len"][i])
        whole = d["joints"][s:s + n].astype(np.float64)
        meta = {"dataset": str(d["dataset"][i]), "style": str(d["style"][i]),
                "content": str(d["content"][i]), "source_len": n}
    if start + frames > n:
        raise SystemExit(f"{source_clip}: has {n} frames, window {start}+{frames} does not fit")
    P, placed = place_clip(whole, start, frames)
    meta.update(placed)
    return P, meta


def place_clip(whole: np.ndarray, start: int, frames: int) -> tuple[np.ndarray, dict]:
    """A window of a whole clip's mocap joints (N, 17, 3) (Y up, metres) in Blender's world:
    Z up, centred on the origin, facing -Y on average, the mocap floor at the shoes' level."""
    # BVH world (Y up) -> Blender (Z up): (x, y, z) -> (x, -z, y)
    to_blender = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    whole = whole @ to_blender.T
    contact_level = float(np.percentile(whole[:, [J["LAnkle"], J["RAnkle"]], 2].min(axis=1), 5))
    P = whole[start:start + frames].copy()
    line = P[:, J["LHip"]] - P[:, J["RHip"]]
    fwd = np.cross(line, [0.0, 0.0, 1.0]).mean(axis=0)
    yaw = math.atan2(fwd[0], -fwd[1])  # angle of the facing from -Y (counter-clockwise)
    Rz = Rotation.from_euler("z", -yaw).as_matrix()
    P = P @ Rz.T
    centre = P[:, J["Pelvis"]].mean(axis=0)
    P[..., 0] -= centre[0]
    P[..., 1] -= centre[1]
    P[..., 2] -= contact_level - FIGURE_ANKLE_HEIGHT  # shoes (0.09 below the ankle) on the floor
    return P, {"turned_deg": round(-math.degrees(yaw), 2), "mocap_ankle_contact_height": round(contact_level, 4)}


def figure_rest_joints(lengths: dict) -> dict:
    """The sample figure's rest joints with the given bone lengths (bone name -> metres)."""
    old = {k: np.array(v, float) for k, v in rs.REST_JOINTS.items()}
    legs = lengths["LThigh"] + lengths["LShin"]
    new = {"Pelvis": np.array([0.0, 0.0, FIGURE_ANKLE_HEIGHT + legs])}
    for b, name in enumerate(BONE_NAMES):
        h, t = JOINT_NAMES[BONE_HEAD_JOINT[b]], JOINT_NAMES[BONE_TAIL_JOINT[b]]
        d = old[t] - old[h]
        new[t] = new[h] + lengths[name] * d / np.linalg.norm(d)
    return {k: tuple(float(x) for x in v) for k, v in new.items()}


def _min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(a @ b)
    if s < 1e-12:
        return np.eye(3) if c > 0 else Rotation.from_rotvec(np.pi * np.array([1.0, 0, 0])).as_matrix()
    return Rotation.from_rotvec(axis / s * math.atan2(s, c)).as_matrix()


def _segment_lengths(anim) -> dict:
    """The solved segment lengths under the figure's bone names (segment name -> metres)."""
    return {seg: anim.report.bone_lengths[bone] for seg, bone in zip(BONE_NAMES, RIG_JOINT_BONES)}


def solve_figure_motion(P: np.ndarray, layout) -> tuple[list, np.ndarray, dict]:
    """Per frame: global bone rotations for the figure (name -> 3x3) and the armature
    translation; plus the solved bone lengths. ``P``: (T, 17, 3) Blender world joints."""
    cam = P @ CAMERA_TO_BLENDER  # Blender axes -> camera axes (the solver's input)
    anim = solve_animation(cam - cam[:, :1], cam[:, 0], FPS, symmetric=False,
                           max_tilt_deg=-1.0, stature_range=None)
    T = P.shape[0]
    M = anim.rest_matrices
    q = anim.rotations
    R_local = Rotation.from_quat(q[..., [1, 2, 3, 0]].reshape(-1, 4)).as_matrix().reshape(T, -1, 3, 3)
    pose = np.zeros_like(R_local)
    for b in range(len(anim.bone_names)):  # the solved rig's own bones (it has more than the figure)
        p = anim.bone_parents[b]
        pose[:, b] = (M[b] if p < 0 else pose[:, p] @ M[p].T @ M[b]) @ R_local[:, b]
    G = pose @ np.transpose(M, (0, 2, 1))[None]  # rotation of each bone relative to its rest
    ours = [list(anim.bone_names).index(n) for n in RIG_JOINT_BONES]  # the figure's 16, in its order
    G = G[:, ours]
    solver_dirs = (anim.rest_tails - anim.rest_heads)[ours]
    fig_dirs = layout.rest_tails - layout.rest_heads
    R0 = [_min_rotation(solver_dirs[b], fig_dirs[b]) for b in range(len(BONE_NAMES))]
    globs = []
    for t in range(T):
        g = {name: G[t, b] @ R0[b].T for b, name in enumerate(BONE_NAMES)}
        fwd = G[t, 0] @ np.array([0.0, -1.0, 0.0])  # pelvis facing; shoes stay flat, turned with it
        yaw = math.atan2(fwd[0], -fwd[1])
        g["LFoot"] = g["RFoot"] = Rotation.from_euler("z", yaw).as_matrix()
        globs.append(g)
    # armature translation: the solver put the first pelvis above the origin (floor/offset):
    # move the figure's rest pelvis onto the true pelvis instead
    rest_pelvis = layout.rest_heads[0]
    return globs, P[:, 0] - rest_pelvis, _segment_lengths(anim)


# ------------------------------------------------------------------------------ cameras
def camera_placement(azimuth_deg: float, height: float, distance: float) -> tuple[tuple, tuple]:
    """(location, rotation_euler) of a camera at ``distance`` (horizontal) from the origin on
    the side ``azimuth_deg`` from -Y (counter-clockwise seen from above), looking at LOOK_AT."""
    a = math.radians(azimuth_deg)
    loc = Vector((distance * math.sin(a), -distance * math.cos(a), height))
    direction = Vector(LOOK_AT) - loc
    rot = direction.to_track_quat('-Z', 'Y').to_euler()
    return tuple(loc), tuple(rot)


def fits(K, R, t, world: np.ndarray, margin: float = 8.0) -> bool:
    cam = world @ R.T + t
    if np.any(cam[..., 2] < 0.5):
        return False
    uv = (cam @ K.T)[..., :2] / (cam @ K.T)[..., 2:3]
    return bool(np.all((uv[..., 0] >= margin) & (uv[..., 0] <= WIDTH - margin)
                       & (uv[..., 1] >= margin) & (uv[..., 1] <= HEIGHT - margin)))


def place_cameras(P: np.ndarray, views) -> list:
    """One camera per view, moved back until every joint of ``P`` (plus a head/foot margin)
    projects inside the image."""
    pad = P.copy()
    pad[..., 2] = np.where(P[..., 2] < 0.2, 0.0, P[..., 2])  # soles on the floor
    head = P[:, [J["Head"]]] + [0.0, 0.0, 0.05]
    pts = np.concatenate([pad, head], axis=1)
    out = []
    lens = FOCAL_PX * 24.0 / HEIGHT
    for name, az, h, dist in views:
        for step in range(24):
            d = dist + 0.25 * step
            loc, rot = camera_placement(az, h, d)
            cam = rs.add_camera(loc, rot, lens=lens, name=f"Cam_{name}")
            K, R, t = rs.camera_matrices(cam, WIDTH, HEIGHT)
            if fits(K, R, t, pts):
                break
            bpy.data.objects.remove(cam)
        out.append({"name": name, "object": cam, "K": K, "R": R, "t": t, "azimuth_deg": az,
                    "height_m": h, "distance_m": d, "location": [round(v, 4) for v in loc],
                    "look_at": list(LOOK_AT), "lens_mm": round(lens, 4)})
    return out


# ------------------------------------------------------------------------------ render
def build_clip_scene(P: np.ndarray, render_aa: str):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    cam = P @ CAMERA_TO_BLENDER
    lengths = _segment_lengths(solve_animation(cam - cam[:, :1], cam[:, 0], FPS, symmetric=False,
                                               max_tilt_deg=-1.0, stature_range=None))
    rest = figure_rest_joints(lengths)
    layout = rs.figure_layout(rest)
    arm_obj = build_armature(layout, "Figure")
    arm_obj.hide_render = True
    rs.build_figure(arm_obj, rest)
    rs.build_floor()
    rs.setup_scene(WIDTH, HEIGHT, FPS, render_aa=render_aa, camera=False)
    return arm_obj, layout


def render_clip(out_dir: str, short: str, source: str, start: int, frames: int, views,
                render_aa: str, render: bool = True, split: str = "test", clip=None,
                place=None, extra=None) -> list:
    """Render one clip window from every view. ``clip``: ``(P, meta)`` already placed
    (:func:`place_clip`) instead of loading ``source`` from the mocap file; ``place``: the camera
    placement (default :func:`place_cameras`); ``extra``: more arrays for each truth file."""
    P, meta = clip if clip is not None else load_clip(source, start, frames, split=split)
    arm_obj, layout = build_clip_scene(P, render_aa)
    globs, moves, _ = solve_figure_motion(P, layout)
    # pose every frame once to read the truth (and check it equals the mocap joints)
    truth_world = np.stack([rs.apply_pose(arm_obj, layout, g, Matrix.Translation(tuple(m)))
                            for g, m in zip(globs, moves)])
    err = np.abs(truth_world - P).max()
    assert err < 0.02, f"{short}: figure joints differ from the mocap by {err:.4f} m"
    cams = (place or place_cameras)(truth_world, views)
    scene = bpy.context.scene
    rows = []
    dirs = {c["name"]: tempfile.mkdtemp(prefix=f"posemoe-{short}-{c['name']}-") for c in cams}
    t0 = time.time()
    try:
        if render:
            for i, (g, m) in enumerate(zip(globs, moves)):
                rs.apply_pose(arm_obj, layout, g, Matrix.Translation(tuple(m)))
                for c in cams:
                    scene.camera = c["object"]
                    scene.render.filepath = os.path.join(dirs[c["name"]], f"{i:04d}.png")
                    bpy.ops.render.render(write_still=True)
                print(f"{short}: frame {i + 1}/{frames}  {time.time() - t0:.0f} s", flush=True)
        for c in cams:
            base = f"{short}_{c['name']}"
            truth = rs.truth_arrays(truth_world, c["K"], c["R"], c["t"], FPS, WIDTH, HEIGHT)
            scene.camera = c["object"]
            rs.check_projection(c["object"], truth)
            if render:
                rs.encode_video(dirs[c["name"]], frames, os.path.join(out_dir, base + ".mp4"),
                                WIDTH, HEIGHT, FPS)
                save_npz(os.path.join(out_dir, base + "_truth.npz"), **truth, clip=np.array(short),
                         view=np.array(c["name"]), source_clip=np.array(source),
                         source_frames=np.array([start, start + frames]), **(extra or {}))
            rows.append({
                "video": base + ".mp4", "truth": base + "_truth.npz", "clip": short,
                "view": c["name"], "frames": frames, "fps": FPS, "width": WIDTH, "height": HEIGHT,
                "source_clip": source, "source_bvh": bvh_path(source) if clip is None else meta.get("file", ""),
                "source_frames": [start, start + frames], "source": meta,
                "camera": {k: c[k] for k in ("azimuth_deg", "height_m", "distance_m", "location",
                                             "look_at", "lens_mm")}
                | {"f_px": round(float(c["K"][0, 0]), 3), "K": np.round(c["K"], 6).tolist(),
                   "R": np.round(c["R"], 8).tolist(), "t": np.round(c["t"], 6).tolist()},
            })
    finally:
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)
    return rows


def write_manifest_file(path: str, manifest: dict) -> None:
    """Write a render set's ``manifest`` as JSON to ``path`` atomically (its folder made)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_output(path) as staged, open(staged, "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


def write_manifest(path: str, rows: list, render_aa: str, calibration: bool = False) -> None:
    what = ("Training-split mocap clips (calibration twin of the benchmark set)" if calibration
            else "Held-out mocap clips")
    manifest = {
        "description": f"{what} rendered on the primitive-built figure (posemoe_lab/renders/eval_set.py)",
        "held_out_split": "dataset-1 style happy, dataset-2 style youthful (posemoe_lab/training/prepare.py)",
        "split_used": "train" if calibration else "test",
        "renderer": f"Blender {bpy.app.version_string} Workbench, AA {render_aa}",
        "width": WIDTH, "height": HEIGHT, "fps": FPS, "focal_px": round(FOCAL_PX, 3),
        "videos": rows,
    }
    write_manifest_file(path, manifest)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(REPO, ".cache", "render_set"))
    ap.add_argument("--clips", nargs="*", help="short clip names (default: all)")
    ap.add_argument("--views", nargs="*", help="view names (default: all)")
    ap.add_argument("--frames", type=int, help="frames per clip (default: each clip's 90)")
    ap.add_argument("--aa", default="FXAA", help="Workbench anti-aliasing (FXAA, 5, 8, ...)")
    ap.add_argument("--manifest-only", action="store_true",
                    help="only compute the cameras and write benchmarks/render_set/manifest.json")
    ap.add_argument("--skip-existing", action="store_true", help="keep clips already rendered")
    ap.add_argument("--calibration", action="store_true",
                    help="render CALIBRATION_CLIPS (training split) instead of the held-out CLIPS")
    args = ap.parse_args(argv)
    table = CALIBRATION_CLIPS if args.calibration else CLIPS
    split = "train" if args.calibration else "test"
    clips = [c for c in table if not args.clips or c[0] in args.clips]
    views = [v for v in VIEWS if not args.views or v[0] in args.views]
    if not clips or not views:
        raise SystemExit("no clip/view selected")
    os.makedirs(args.out, exist_ok=True)
    rows = []
    t0 = time.time()
    for short, source, start, frames in clips:
        n = args.frames or frames
        done = all(os.path.isfile(os.path.join(args.out, f"{short}_{v[0]}_truth.npz")) for v in views)
        render = not args.manifest_only and not (args.skip_existing and done)
        rows += render_clip(args.out, short, source, start, n, views, args.aa, render=render, split=split)
        if not args.manifest_only:
            write_manifest(os.path.join(args.out, "manifest.json"), rows, args.aa, args.calibration)
    if args.manifest_only:
        target = REPO_CALIBRATION_MANIFEST if args.calibration else REPO_MANIFEST
        write_manifest(target, rows, args.aa, args.calibration)
        print(f"wrote {target} ({len(rows)} videos)")
    else:
        print(f"rendered {len(rows)} videos into {args.out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
