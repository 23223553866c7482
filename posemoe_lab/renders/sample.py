"""Render the project's own sample clip: a procedurally animated human-like figure.

Usage (headless, from the repository root)::

    .venv/bin/python -m posemoe_lab.renders.sample --out samples/            # render + check
    .venv/bin/python -m posemoe_lab.renders.sample --out samples/ --check-only

Writes into ``--out``:

* ``demo.mp4``: 480x640 (portrait), 30 fps, H.264 via Blender's FFmpeg (falls back to
  OpenCV ``mp4v`` if that fails), ~3 s of a figure walking in place while turning ~60 degrees,
  then squatting with both arms raised forward.
* ``demo_truth.npz``: the ground truth per frame (see :func:`truth_arrays`): ``joints3d``
  (T,17,3) metres root-relative camera coordinates (x right, y down, z forward), ``root`` (T,3),
  ``keypoints2d`` (T,17,3) pixels + confidence 1, ``joints_world`` (T,17,3) Blender world,
  ``K`` (3,3), ``R`` (3,3), ``t`` (3,) world -> camera, ``fps``, ``width``, ``height``,
  ``joint_names``.
* ``demo_preview.png``: one frame with the true 2D joints (green) and BlazePose's (red).

The figure is built from Blender primitives (capsules/ellipsoids), each part rigidly skinned
(vertex group + Armature modifier) to a bone of an armature whose bones run between the 17
Human3.6M joints (layout of :mod:`posemoe_blender.solving.skeleton`, plus two foot bones that keep
the shoes flat). The truth is read back from the posed armature's bone heads/tails.
Rendered with Workbench (studio lighting, material colours), ~1-2 s a frame on a CPU.

Importable (``posemoe_lab/renders/eval_set.py`` renders the benchmark set with it): the figure
(:func:`figure_layout`, :func:`build_figure`, both taking other rest joints, e.g. a mocap
actor's proportions), the floor, the scene and cameras (:func:`setup_scene`, :func:`add_camera`,
:func:`camera_matrices`), posing (:func:`apply_pose`), the truth (:func:`truth_arrays`,
:func:`check_projection`) and encoding (:func:`encode_video`) all take the image size and
frame rate as arguments whose defaults are this clip's.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from types import SimpleNamespace

import numpy as np

import bpy  # noqa: E402
from mathutils import Matrix  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

from posemoe_blender.output.armature import build_armature  # noqa: E402
from posemoe_blender.solving.skeleton import BONE_HEAD_JOINT, BONE_PARENTS, BONE_TAIL_JOINT, SEGMENT_NAMES as BONE_NAMES  # noqa: E402  (the figure keeps the segments' own names)
from posemoe_blender.joints import JOINT_INDEX, JOINT_NAMES, save_npz  # noqa: E402

WIDTH, HEIGHT, FPS, NUM_FRAMES = 480, 640, 30, 90

#: Rest joint positions (Blender world, metres; figure faces -Y, its left is +X).
REST_JOINTS = {
    "Pelvis": (0.0, 0.0, 0.95), "RHip": (-0.10, 0.0, 0.95), "LHip": (0.10, 0.0, 0.95),
    "RKnee": (-0.10, 0.0, 0.52), "LKnee": (0.10, 0.0, 0.52),
    "RAnkle": (-0.10, 0.0, 0.09), "LAnkle": (0.10, 0.0, 0.09),
    "Spine": (0.0, 0.0, 1.18), "Thorax": (0.0, 0.0, 1.43), "Neck": (0.0, -0.04, 1.58),
    "Head": (0.0, 0.0, 1.75),
    "LShoulder": (0.19, 0.0, 1.43), "LElbow": (0.22, 0.0, 1.15), "LWrist": (0.25, 0.0, 0.90),
    "RShoulder": (-0.19, 0.0, 1.43), "RElbow": (-0.22, 0.0, 1.15), "RWrist": (-0.25, 0.0, 0.90),
}
#: Extra bones of the figure (not part of the 17-joint truth): ankle -> toe, keep shoes flat.
FOOT_BONES = (("RFoot", "RShin", (-0.10, 0.0, 0.09), (-0.10, -0.14, 0.04)),
              ("LFoot", "LShin", (0.10, 0.0, 0.09), (0.10, -0.14, 0.04)))

COLORS = {
    "skin": (0.87, 0.64, 0.50), "shirt": (0.80, 0.15, 0.12), "trousers": (0.12, 0.20, 0.45),
    "shoes": (0.08, 0.08, 0.08), "hair": (0.20, 0.11, 0.05), "eye_white": (0.95, 0.95, 0.95),
    "pupil": (0.05, 0.05, 0.08), "mouth": (0.60, 0.12, 0.12), "nose": (0.80, 0.55, 0.42),
    "floor_a": (0.75, 0.75, 0.72), "floor_b": (0.35, 0.35, 0.38),
}


# --------------------------------------------------------------------------------------- rig
def rest_frame(direction: np.ndarray) -> np.ndarray:
    """(3,3) rest orientation (columns X, Y = direction, Z) with Z as close to +Y as possible."""
    y = direction / np.linalg.norm(direction)
    ref = np.array([0.0, 1.0, 0.0]) if abs(y[1]) < 0.9 else np.array([0.0, 0.0, 1.0])
    z = ref - ref.dot(y) * y
    z /= np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z], axis=1)


class PartMapper:
    """Moves the figure's hard-coded part coordinates (made for :data:`REST_JOINTS`) onto other
    rest joints with the same bone directions but other lengths. Identity (the very same
    objects back) for the default joints, so the sample clip is unchanged."""

    def __init__(self, rest_joints: dict | None = None):
        self.identity = rest_joints is None or rest_joints is REST_JOINTS
        self.old = {k: np.array(v, float) for k, v in REST_JOINTS.items()}
        self.new = self.old if self.identity else {k: np.array(v, float) for k, v in rest_joints.items()}

    def stretch(self, bone: str, p):
        """``p`` rigidly attached to ``bone``, its offset along the bone scaled with its length."""
        if self.identity:
            return p
        b = BONE_NAMES.index(bone)
        h, t = JOINT_NAMES[BONE_HEAD_JOINT[b]], JOINT_NAMES[BONE_TAIL_JOINT[b]]
        axis = self.old[t] - self.old[h]
        length = np.linalg.norm(axis)
        u = axis / length
        k = np.linalg.norm(self.new[t] - self.new[h]) / length
        rel = np.asarray(p, float) - self.old[h]
        return tuple(self.new[h] + rel + (rel @ u) * (k - 1.0) * u)

    def move(self, joint: str, p):
        """``p`` translated with ``joint``."""
        if self.identity:
            return p
        return tuple(np.asarray(p, float) + self.new[joint] - self.old[joint])


def figure_layout(rest_joints: dict | None = None) -> SimpleNamespace:
    """Rest layout of the figure's armature: the 16 skeleton bones + 2 foot bones.

    ``rest_joints``: joint name -> (x, y, z) (default :data:`REST_JOINTS`); other joints must
    keep the default bone directions (see :class:`PartMapper`).
    """
    rest = REST_JOINTS if rest_joints is None else rest_joints
    m = PartMapper(rest_joints)
    names = list(BONE_NAMES) + [f[0] for f in FOOT_BONES]
    parents = list(BONE_PARENTS) + [BONE_NAMES.index(f[1]) for f in FOOT_BONES]
    heads = [rest[JOINT_NAMES[j]] for j in BONE_HEAD_JOINT] + [m.move(f[1][0] + "Ankle", f[2]) for f in FOOT_BONES]
    tails = [rest[JOINT_NAMES[j]] for j in BONE_TAIL_JOINT] + [m.move(f[1][0] + "Ankle", f[3]) for f in FOOT_BONES]
    heads, tails = np.array(heads, float), np.array(tails, float)
    mats = np.stack([rest_frame(t - h) for h, t in zip(heads, tails)])
    return SimpleNamespace(rest_heads=heads, rest_tails=tails, rest_matrices=mats,
                           bone_names=tuple(names), bone_parents=tuple(parents))


# ------------------------------------------------------------------------------------ motion
def _smooth(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def _rx(deg: float) -> np.ndarray:
    return Rotation.from_euler("x", deg, degrees=True).as_matrix()


def motion(frame: int) -> tuple[dict, float, float]:
    """Global bone rotations (character frame, before yaw), yaw (deg) and pelvis drop (m).

    Frames 0-54: walking in place (1 Hz), arms swinging; turning 0 -> 60 degrees over 0-75;
    frames 50-89: a squat (thighs 55 degrees, knees 110) with both arms raised forward.
    Rotation about +X moves a downward bone backwards (+Y), so flexion forward is negative.
    """
    phase = 2 * math.pi * frame / 30.0
    walk = 1.0 - _smooth((frame - 42) / 12.0)
    squat = math.sin(math.pi * min(max((frame - 50) / 40.0, 0.0), 1.0)) ** 2
    yaw = 60.0 * _smooth(frame / 75.0)

    lean = 28.0 * squat
    g = {name: np.eye(3) for name in BONE_NAMES}
    g["Hips"] = _rx(0.5 * lean)
    for name in ("Spine", "LClavicle", "RClavicle"):
        g[name] = _rx(lean)
    g["Neck"] = g["Head"] = _rx(0.4 * lean)

    thigh_squat = 55.0 * squat
    for side, sgn in (("L", 1.0), ("R", -1.0)):
        lift = 32.0 * max(0.0, sgn * math.sin(phase)) * walk
        flex = thigh_squat + lift
        knee = 2.0 * thigh_squat + 2.0 * lift
        g[side + "Thigh"] = _rx(-flex)
        g[side + "Shin"] = _rx(knee - flex)
        g[side + "Foot"] = _rx(-0.3 * lift)
        swing = -sgn * 28.0 * math.sin(phase) * walk
        raise_ = 80.0 * squat
        g[side + "UpperArm"] = _rx(lean) @ _rx(-(swing + raise_))
        elbow = 15.0 + 12.0 * abs(math.sin(phase)) * walk - 10.0 * squat
        g[side + "Forearm"] = g[side + "UpperArm"] @ _rx(-elbow)
    drop = (0.43 + 0.43) * (1.0 - math.cos(math.radians(thigh_squat)))
    return g, yaw, drop


def local_quaternions(layout: SimpleNamespace, glob: dict) -> np.ndarray:
    """(B, 4) w-first pose-bone quaternions for global rotations ``glob`` (name -> 3x3).

    With pose = G @ rest (armature space) Blender's local rotation is
    ``rest_b^-1 @ G_parent^-1 @ G_b @ rest_b``.
    """
    out = []
    for b, name in enumerate(layout.bone_names):
        p = layout.bone_parents[b]
        gb = glob.get(name, np.eye(3))
        gp = glob.get(layout.bone_names[p], np.eye(3)) if p >= 0 else np.eye(3)
        rest = layout.rest_matrices[b]
        local = rest.T @ gp.T @ gb @ rest
        x, y, z, w = Rotation.from_matrix(local).as_quat()
        out.append((w, x, y, z))
    return np.array(out)


# ------------------------------------------------------------------------------------ meshes
def _material(name: str) -> bpy.types.Material:
    mat = bpy.data.materials.get(name)
    if mat is None:
        mat = bpy.data.materials.new(name)
        mat.diffuse_color = (*COLORS[name], 1.0)
        mat.roughness = 0.6
    return mat


def _capsule_geometry(p0, p1, radii, cap, segments=20, rings=12, xref=(1.0, 0.0, 0.0)):
    """Vertices/faces of a capsule from p0 to p1 (elliptic cross-section ``radii``, caps
    ``cap`` metres); p0 == p1 gives an axis-aligned ellipsoid (radii x, y, cap z)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    if length < 1e-9:
        ez, ex = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])
    else:
        ez = axis / length
        ex = np.asarray(xref, float) - np.dot(xref, ez) * ez
        if np.linalg.norm(ex) < 1e-6:
            ex = np.array([0.0, 1.0, 0.0]) - ez[1] * ez
        ex /= np.linalg.norm(ex)
    ey = np.cross(ez, ex)
    half = rings // 2
    lat = [-math.pi / 2 + math.pi * i / rings for i in range(half + 1)]
    lat += [-math.pi / 2 + math.pi * i / rings for i in range(half, rings + 1)]
    verts, ring_rows = [], []
    for k, a in enumerate(lat):
        offset = 0.0 if k <= half else length
        z = offset + cap * math.sin(a)
        r = math.cos(a)
        row = []
        for s in range(segments):
            u = 2 * math.pi * s / segments
            v = p0 + ez * z + ex * (r * radii[0] * math.cos(u)) + ey * (r * radii[1] * math.sin(u))
            row.append(len(verts))
            verts.append(v)
        ring_rows.append(row)
    faces = []
    for a, b in zip(ring_rows[:-1], ring_rows[1:]):
        for s in range(segments):
            faces.append((a[s], a[(s + 1) % segments], b[(s + 1) % segments], b[s]))
    return np.array(verts), faces


def add_part(name, material, bone_weights, arm_obj, p0, p1, radii, cap, **kw):
    """Add one skinned part. ``bone_weights``: a bone name, or a callable vertex -> {bone: w}."""
    verts, faces = _capsule_geometry(p0, p1, radii, cap, **kw)
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(v) for v in verts], [], faces)
    mesh.polygons.foreach_set("use_smooth", [True] * len(faces))
    mesh.materials.append(_material(material))
    obj = bpy.data.objects.new(name, mesh)
    obj.parent = arm_obj  # the armature sits at the origin at build time: identity inverse
    bpy.context.scene.collection.objects.link(obj)
    groups = {}
    for i, v in enumerate(verts):
        weights = {bone_weights: 1.0} if isinstance(bone_weights, str) else bone_weights(v)
        for bone, w in weights.items():
            if bone not in groups:
                groups[bone] = obj.vertex_groups.new(name=bone)
            if w > 0:
                groups[bone].add([i], float(w), 'REPLACE')
    mod = obj.modifiers.new("Armature", 'ARMATURE')
    mod.object = arm_obj
    return obj


def build_figure(arm_obj, rest_joints: dict | None = None) -> None:
    """Skin-coloured head with face and hair, red shirt, blue trousers, black shoes.

    ``rest_joints``: as in :func:`figure_layout` (parts follow their bones' lengths; the head
    and shoes keep their size and move with the top of the head and the ankles).
    """
    J = {k: np.array(v) for k, v in (REST_JOINTS if rest_joints is None else rest_joints).items()}
    m = PartMapper(rest_joints)
    if m.identity:
        z_lo, z_span = 1.10, 0.12
    else:
        z_lo = m.stretch("Hips", (0, 0, 1.10))[2]
        z_span = m.stretch("Spine", (0, 0, 1.22))[2] - z_lo

    def torso_w(v):
        s = min(max((v[2] - z_lo) / z_span, 0.0), 1.0)
        return {"Hips": 1.0 - s, "Spine": s}

    def head(p):
        return m.move("Head", p)

    add_part("Pelvis", "trousers", "Hips", arm_obj, m.stretch("RHip", (-0.07, 0, 0.93)),
             m.stretch("LHip", (0.07, 0, 0.93)), (0.10, 0.11), 0.10)
    add_part("Torso", "shirt", torso_w, arm_obj, m.stretch("Hips", (0, 0.005, 0.97)),
             m.stretch("Spine", (0, 0.005, 1.36)), (0.155, 0.10), 0.09)
    add_part("Shoulders", "shirt", "Spine", arm_obj, m.stretch("RClavicle", (-0.17, 0.005, 1.39)),
             m.stretch("LClavicle", (0.17, 0.005, 1.39)), (0.065, 0.075), 0.065, xref=(0, 0, 1))
    add_part("NeckPart", "skin", "Neck", arm_obj, m.stretch("Neck", (0, 0.0, 1.40)),
             m.stretch("Neck", (0, -0.005, 1.56)), (0.048, 0.048), 0.03)
    # head and face (on the -Y side)
    add_part("HeadPart", "skin", "Head", arm_obj, head((0, -0.005, 1.64)), head((0, -0.005, 1.64)),
             (0.085, 0.10), 0.11)
    add_part("Hair", "hair", "Head", arm_obj, head((0, 0.03, 1.69)), head((0, 0.03, 1.69)),
             (0.093, 0.105), 0.08)
    for x in (-0.034, 0.034):
        add_part("Eye", "eye_white", "Head", arm_obj, head((x, -0.088, 1.655)),
                 head((x, -0.088, 1.655)), (0.018, 0.012), 0.013)
        add_part("Pupil", "pupil", "Head", arm_obj, head((x, -0.099, 1.655)),
                 head((x, -0.099, 1.655)), (0.008, 0.005), 0.008)
        add_part("Brow", "hair", "Head", arm_obj, head((x, -0.094, 1.682)),
                 head((x, -0.094, 1.682)), (0.02, 0.006), 0.005)
        add_part("Ear", "skin", "Head", arm_obj, head((1.05 * x / 0.034 * 0.085, 0.0, 1.64)),
                 head((1.05 * x / 0.034 * 0.085, 0.0, 1.64)), (0.014, 0.025), 0.032)
    add_part("Nose", "nose", "Head", arm_obj, head((0, -0.106, 1.625)), head((0, -0.106, 1.625)),
             (0.014, 0.018), 0.024)
    add_part("Mouth", "mouth", "Head", arm_obj, head((0, -0.094, 1.585)), head((0, -0.094, 1.585)),
             (0.027, 0.008), 0.008)
    for s in "LR":
        add_part(s + "UpperArmPart", "shirt", s + "UpperArm", arm_obj, J[s + "Shoulder"],
                 J[s + "Elbow"], (0.05, 0.05), 0.05)
        add_part(s + "ForearmPart", "skin", s + "Forearm", arm_obj, J[s + "Elbow"],
                 J[s + "Wrist"], (0.038, 0.038), 0.038)
        d = (J[s + "Wrist"] - J[s + "Elbow"]) / np.linalg.norm(J[s + "Wrist"] - J[s + "Elbow"])
        add_part(s + "Hand", "skin", s + "Forearm", arm_obj, J[s + "Wrist"] + 0.02 * d,
                 J[s + "Wrist"] + 0.08 * d, (0.025, 0.042), 0.03)
        add_part(s + "ThighPart", "trousers", s + "Thigh", arm_obj, J[s + "Hip"], J[s + "Knee"],
                 (0.072, 0.072), 0.07)
        add_part(s + "ShinPart", "trousers", s + "Shin", arm_obj, J[s + "Knee"], J[s + "Ankle"],
                 (0.052, 0.052), 0.05)
        x = REST_JOINTS[s + "Ankle"][0] if not m.identity else J[s + "Ankle"][0]
        add_part(s + "Shoe", "shoes", s + "Foot", arm_obj, m.move(s + "Ankle", (x, 0.03, 0.05)),
                 m.move(s + "Ankle", (x, -0.13, 0.045)), (0.05, 0.045), 0.05, xref=(1, 0, 0))


def build_floor() -> None:
    """An 8 m x 8 m checker floor (0.5 m tiles) of two materials at z = 0."""
    n, size = 16, 0.5
    verts = [((i - n / 2) * size, (j - n / 2) * size, 0.0) for j in range(n + 1) for i in range(n + 1)]
    faces = [(j * (n + 1) + i, j * (n + 1) + i + 1, (j + 1) * (n + 1) + i + 1, (j + 1) * (n + 1) + i)
             for j in range(n) for i in range(n)]
    mesh = bpy.data.meshes.new("Floor")
    mesh.from_pydata(verts, [], faces)
    mesh.materials.append(_material("floor_a"))
    mesh.materials.append(_material("floor_b"))
    mesh.polygons.foreach_set("material_index", [(i + j) % 2 for j in range(n) for i in range(n)])
    obj = bpy.data.objects.new("Floor", mesh)
    bpy.context.scene.collection.objects.link(obj)


def add_camera(location, rotation_euler, lens: float = 45.0, name: str = "Camera") -> bpy.types.Object:
    """A camera with a 24 mm-high sensor (vertical fit), made the scene camera."""
    scene = bpy.context.scene
    cam_data = bpy.data.cameras.new(name)
    cam_data.lens = lens
    cam_data.sensor_fit = 'VERTICAL'
    cam_data.sensor_height = 24.0
    cam = bpy.data.objects.new(name, cam_data)
    cam.location = location
    cam.rotation_euler = rotation_euler
    scene.collection.objects.link(cam)
    scene.camera = cam
    return cam


def setup_scene(width: int = WIDTH, height: int = HEIGHT, fps: int = FPS, render_aa: str = '8',
                camera: bool = True) -> bpy.types.Object | None:
    """Camera (portrait 480x640, 45 mm on a 24 mm-high sensor), lights, Workbench settings.

    ``camera=False``: no camera (add them with :func:`add_camera`); returns None then.
    """
    scene = bpy.context.scene
    scene.render.engine = 'BLENDER_WORKBENCH'
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.display.shading.light = 'STUDIO'
    scene.display.shading.color_type = 'MATERIAL'
    scene.display.shading.show_shadows = True
    scene.display.shading.shadow_intensity = 0.4
    scene.display.shading.show_cavity = False
    scene.display.render_aa = render_aa
    scene.view_settings.view_transform = 'Standard'
    world = bpy.data.worlds.new("World")
    world.color = (0.55, 0.62, 0.70)
    scene.world = world

    cam = add_camera((0.0, -4.6, 1.05), (math.radians(89.0), 0.0, 0.0)) if camera else None

    for name, kind, energy, rot in (("Sun", 'SUN', 3.0, (40, 0, 30)),
                                    ("Side", 'AREA', 300.0, (70, 0, -70))):
        data = bpy.data.lights.new(name, kind)
        data.energy = energy
        light = bpy.data.objects.new(name, data)
        light.rotation_euler = tuple(math.radians(a) for a in rot)
        light.location = (3.0, -2.0, 3.0) if kind == 'AREA' else (0.0, 0.0, 5.0)
        scene.collection.objects.link(light)
    return cam


def camera_matrices(cam, width: int = WIDTH, height: int = HEIGHT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K (3,3) pixels, R (3,3), t (3,) world -> camera (x right, y down, z forward)."""
    data = cam.data
    assert data.sensor_fit == 'VERTICAL'
    f = data.lens / data.sensor_height * height
    K = np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
    bpy.context.view_layer.update()
    mw = np.array(cam.matrix_world)
    rc = mw[:3, :3] / np.linalg.norm(mw[:3, :3], axis=0)
    flip = np.diag([1.0, -1.0, -1.0])
    R = flip @ rc.T
    t = -R @ mw[:3, 3]
    return K, R, t


# ------------------------------------------------------------------------------------ render
def pose_figure(arm_obj, layout, frame: int) -> np.ndarray:
    """Pose the figure for ``frame``; returns (17, 3) world joint positions."""
    glob, yaw, drop = motion(frame)
    return apply_pose(arm_obj, layout, glob, Matrix.Translation((0.0, 0.0, -drop)) @ Matrix.Rotation(
        math.radians(yaw), 4, 'Z'))


def apply_pose(arm_obj, layout, glob: dict, matrix_world) -> np.ndarray:
    """Pose the figure with global bone rotations ``glob`` (name -> 3x3, about each bone's rest
    head, armature space) and the armature's ``matrix_world``; returns (17, 3) world joints
    read back from the posed bones."""
    quats = local_quaternions(layout, glob)
    for b, name in enumerate(layout.bone_names):
        arm_obj.pose.bones[name].rotation_quaternion = quats[b]
    arm_obj.matrix_world = matrix_world
    bpy.context.view_layer.update()
    mw = np.array(arm_obj.matrix_world)
    joints = np.zeros((17, 3))
    for b, name in enumerate(BONE_NAMES):
        pb = arm_obj.pose.bones[name]
        joints[BONE_HEAD_JOINT[b]] = mw[:3, :3] @ np.array(pb.head) + mw[:3, 3]
        joints[BONE_TAIL_JOINT[b]] = mw[:3, :3] @ np.array(pb.tail) + mw[:3, 3]
    return joints


def truth_arrays(joints_world: np.ndarray, K, R, t, fps: float = FPS, width: int = WIDTH,
                 height: int = HEIGHT) -> dict:
    """Contract arrays from (T,17,3) world joints and the camera."""
    cam = joints_world @ R.T + t
    proj = cam @ K.T
    kp = np.concatenate([proj[..., :2] / proj[..., 2:3], np.ones(cam.shape[:2] + (1,))], axis=-1)
    root = cam[:, JOINT_INDEX["Pelvis"]]
    return dict(joints3d=(cam - root[:, None]).astype(np.float32), root=root.astype(np.float32),
                keypoints2d=kp.astype(np.float32), joints_world=joints_world.astype(np.float32),
                K=K.astype(np.float64), R=R.astype(np.float64), t=t.astype(np.float64),
                fps=np.float64(fps), width=np.int64(width), height=np.int64(height),
                joint_names=np.array(JOINT_NAMES))


def check_projection(cam, truth: dict, frames=None) -> None:
    """Assert that K, R, t project like Blender's own camera (``world_to_camera_view``)."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    scene = bpy.context.scene
    width, height = int(truth["width"]), int(truth["height"])
    for f in frames if frames is not None else (0, len(truth["joints_world"]) - 1):
        for j in range(17):
            ndc = world_to_camera_view(scene, cam, Vector(truth["joints_world"][f, j].tolist()))
            uv = np.array([ndc.x * width, (1.0 - ndc.y) * height])
            err = np.abs(uv - truth["keypoints2d"][f, j, :2]).max()
            assert err < 0.05, f"projection mismatch {err:.3f} px at frame {f} joint {j}"


def encode_video(frame_dir: str, count: int, out_path: str, width: int = WIDTH,
                 height: int = HEIGHT, fps: int = FPS) -> str:
    """Encode ``frame_dir/%04d.png`` to H.264 mp4 with Blender's sequencer; returns the codec."""
    tmp = out_path + ".part.mp4"
    try:
        scene = bpy.data.scenes.new("Encode")
        scene.render.resolution_x, scene.render.resolution_y = width, height
        scene.render.resolution_percentage = 100
        scene.render.fps, scene.render.fps_base = fps, 1.0
        scene.view_settings.view_transform = 'Standard'
        ed = scene.sequence_editor_create()
        strip = ed.strips.new_image("frames", os.path.join(frame_dir, "0000.png"), 1, 1)
        for i in range(1, count):
            strip.elements.append(f"{i:04d}.png")
        scene.frame_start, scene.frame_end = 1, count
        img = scene.render.image_settings
        img.media_type = 'VIDEO'
        img.file_format = 'FFMPEG'
        ff = scene.render.ffmpeg
        ff.format = 'MPEG4'
        ff.codec = 'H264'
        ff.constant_rate_factor = 'MEDIUM'
        ff.gopsize = 30
        ff.audio_codec = 'NONE'
        scene.render.use_sequencer = True
        scene.render.filepath = tmp
        scene.render.use_file_extension = False
        bpy.ops.render.render(animation=True, scene=scene.name)
        if not os.path.isfile(tmp) or os.path.getsize(tmp) == 0:
            raise RuntimeError("Blender wrote no video")
        os.replace(tmp, out_path)
        return "h264 (Blender FFmpeg)"
    except Exception as exc:  # fall back to OpenCV's MPEG-4 part 2
        print(f"Blender H.264 encoding failed ({exc}); using OpenCV mp4v", file=sys.stderr)
        import cv2
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        for i in range(count):
            writer.write(cv2.imread(os.path.join(frame_dir, f"{i:04d}.png")))
        writer.release()
        os.replace(tmp, out_path)
        return "mp4v (OpenCV)"


def render(out_dir: str, frames: tuple = tuple(range(NUM_FRAMES))) -> None:
    """Render ``frames`` (0-based) into ``out_dir`` (demo.mp4 + demo_truth.npz)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    layout = figure_layout()
    arm_obj = build_armature(layout, "Figure")
    arm_obj.hide_render = True
    build_figure(arm_obj)
    build_floor()
    cam = setup_scene()
    K, R, t = camera_matrices(cam)
    scene = bpy.context.scene

    frame_dir = tempfile.mkdtemp(prefix="posemoe-render-")
    joints = []
    t0 = time.time()
    try:
        for i, f in enumerate(frames):
            scene.frame_set(i + 1)
            joints.append(pose_figure(arm_obj, layout, f))
            scene.render.filepath = os.path.join(frame_dir, f"{i:04d}.png")
            bpy.ops.render.render(write_still=True)
            print(f"frame {i + 1}/{len(frames)}  {time.time() - t0:.0f} s", flush=True)
        codec = encode_video(frame_dir, len(frames), os.path.join(out_dir, "demo.mp4"))
        print("encoded with", codec)
    finally:
        shutil.rmtree(frame_dir, ignore_errors=True)
    truth = truth_arrays(np.array(joints), K, R, t)
    check_projection(cam, truth)
    save_npz(os.path.join(out_dir, "demo_truth.npz"), **truth)
    print(f"rendered {len(frames)} frames in {time.time() - t0:.0f} s")


# ------------------------------------------------------------------------------------- check
#: BlazePose landmark index for each of the 12 limb joints of the truth.
BLAZEPOSE_LIMBS = {"LShoulder": 11, "RShoulder": 12, "LElbow": 13, "RElbow": 14, "LWrist": 15,
                   "RWrist": 16, "LHip": 23, "RHip": 24, "LKnee": 25, "RKnee": 26,
                   "LAnkle": 27, "RAnkle": 28}


def check(out_dir: str, preview_frame: int = 60) -> dict:
    """Run BlazePose (complexity 1) on every frame; report detection rate and 2D error (px)."""
    import cv2
    import mediapipe as mp

    with np.load(os.path.join(out_dir, "demo_truth.npz")) as d:
        kp = d["keypoints2d"]
    cap = cv2.VideoCapture(os.path.join(out_dir, "demo.mp4"))
    errors, swapped, detected, frames, preview = [], 0, 0, 0, None
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            res = pose.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            h, w = bgr.shape[:2]
            det = None
            if res.pose_landmarks:
                detected += 1
                lm = res.pose_landmarks.landmark
                det = {n: np.array([lm[i].x * w, lm[i].y * h]) for n, i in BLAZEPOSE_LIMBS.items()}
                truth = {n: kp[frames, JOINT_INDEX[n], :2] for n in BLAZEPOSE_LIMBS}
                err = np.mean([np.linalg.norm(det[n] - truth[n]) for n in BLAZEPOSE_LIMBS])
                mirrored = {n: det[("R" + n[1:]) if n[0] == "L" else ("L" + n[1:])]
                            for n in BLAZEPOSE_LIMBS}
                err_m = np.mean([np.linalg.norm(mirrored[n] - truth[n]) for n in BLAZEPOSE_LIMBS])
                swapped += int(err_m < err)
                errors.append(err)
            if frames == preview_frame:
                preview = bgr.copy()
                for j in range(17):
                    cv2.circle(preview, tuple(int(round(v)) for v in kp[frames, j, :2]), 4,
                               (0, 200, 0), -1)
                if det:
                    for p in det.values():
                        cv2.circle(preview, tuple(int(round(v)) for v in p), 3, (0, 0, 255), -1)
            frames += 1
    if preview is not None:
        cv2.imwrite(os.path.join(out_dir, "demo_preview.png"), preview)
    stats = {"frames": frames, "detected": detected, "detection_rate": detected / max(frames, 1),
             "mean_error_px": float(np.mean(errors)) if errors else float("nan"),
             "max_frame_error_px": float(np.max(errors)) if errors else float("nan"),
             "left_right_swapped_frames": swapped}
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="samples")
    ap.add_argument("--check-only", action="store_true", help="only run the BlazePose check")
    ap.add_argument("--frames", type=int, nargs="*", default=None,
                    help="render only these 0-based frames (quick looks)")
    ap.add_argument("--no-check", action="store_true", help="skip the BlazePose check")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if not args.check_only:
        render(args.out, tuple(args.frames) if args.frames else tuple(range(NUM_FRAMES)))
    if not args.no_check:
        print(check(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
