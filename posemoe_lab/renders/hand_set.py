"""Render the hands benchmark set: the sample clip's figure with articulated hands (a palm and
three phalanges per finger) driven by known finger poses, with the true hand landmarks,
visibility and finger flexion of every frame (issue #15).

Usage (headless, from the repository root)::

    .venv/bin/python -m posemoe_lab.renders.hand_set --out .cache/render_hands          # the set (~6 min)
    .venv/bin/python -m posemoe_lab.renders.hand_set --out /tmp/h --clips close_front_a --frames 12
    .venv/bin/python -m posemoe_lab.renders.hand_set --still /tmp/still.png --pose fist   # one picture
    .venv/bin/python -m posemoe_lab.renders.hand_set --manifest-only   # rewrite benchmarks/hands/manifest.json

The figure is ``posemoe_lab/renders/sample.py``'s (:func:`render_sample.build_figure`) with its mitten
hands removed and each hand rebuilt: a palm (four metacarpal capsules and a flat palm pad), a
thenar pad, and per finger three phalanx capsules (thumb: metacarpal, proximal, distal from its
CMC near the wrist, bending in its own plane across the palm). Each hand segment is its own rigid
object whose world matrix is set every frame by forward kinematics from the posed forearm (its
"bone": the segment's joint frame), so the truth landmarks are exactly the joints the render shows.
The arms' directions are set per frame (hands in front of the chest, waving, reaching), the hand's
roll (palm to the camera or sideways) oscillates.

Finger poses (:data:`POSES`, degrees per joint: fingers MCP, PIP, DIP; thumb CMC, MCP, IP, plus
an in-palm spread (abduction) per finger): relaxed, fist, spread, point, pinch, count1..count5;
each held ~0.4 s, eased into the next over 0.2 s (smoothstep); the two hands run different pose
sequences.

**Flexion definition.** A finger at zero flexion continues its wrist -> knuckle ray (the 21
MediaPipe landmarks: wrist, knuckle, ...), and each joint bends in one plane (the finger's ray and
the palm's normal; the thumb's ray and a direction across the palm), so the angle between
consecutive landmark segments equals the driven flexion: ``core.hands.finger_flexion`` on the true
landmarks gives back the driven angles (checked every frame) except at the knuckles of a spread
finger, where the angle between segments also holds the abduction (``arccos(cos a cos f)``); the
truth ``flexion`` is ``finger_flexion`` of the true landmarks (what the solver estimates),
``driven`` the angles the hand was posed with.

**Visibility rule** (per frame and side): the hand *shows* when its 21 landmarks all lie inside
the picture and at most a third of them are hidden by something else than that same hand (a ray
from the camera to the landmark hits the body or the other hand more than 1.5 cm before the
landmark; ``scene.ray_cast`` on the evaluated scene).

Clips (:data:`CLIPS`): close-up (chest-up, landscape 960x720, wrist -> middle knuckle ~75-85 px)
and full-body (portrait 720x960, ~30-45 px) framings, front and 45-degree cameras, 30 fps,
Workbench (studio light, shadows, cavity, FXAA), about 1 s a frame on the shared 2-core machine.

Writes per clip into ``--out``: ``<clip>.mp4`` (``render_sample.encode_video``) and
``<clip>_truth.npz``: the body truth of ``render_sample.truth_arrays`` plus ``hands_world``
(T, 2, 21, 3) Blender world metres [left, right]; ``hands_cam`` (T, 2, 21, 3) camera metres (x
right, y down, z forward); ``hands2d`` (T, 2, 21, 3) pixels + 1 where the landmark is unhidden;
``hands_inside`` / ``hands_visible`` (T, 2) bool; ``flexion`` (T, 2, 5, 3) radians (truth,
``finger_flexion``), ``driven`` (T, 2, 5, 3) and ``spread`` (T, 2, 5) radians; ``poses`` (T, 2)
the pose names (the nearer pose in a transition). Also ``manifest.json`` (same content as
``benchmarks/hands/manifest.json``).
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
from posemoe_blender.solving.fingers import finger_flexion  # noqa: E402
from posemoe_blender.joints import save_npz  # noqa: E402

WIDTH, HEIGHT, FPS = 720, 960, 30
#: Image size per framing: close-ups landscape (room for both raised hands), full-body portrait.
SIZES = {"close": (960, 720), "full": (720, 960)}
REPO_MANIFEST = os.path.join(REPO, "benchmarks", "hands", "manifest.json")

# ------------------------------------------------------------------------------ the hand
#: Wrist -> middle knuckle (metres); positions below are in these units, in the hand's frame:
#: u along the hand, v towards the thumb, n the back of the hand.
HAND = 0.098
#: Knuckle (MCP) positions (u, v) of index, middle, ring, little; the thumb's CMC (u, v, n).
KNUCKLES = ((0.97, 0.30), (1.0, 0.08), (0.96, -0.13), (0.88, -0.32))
THUMB_CMC = (0.25, 0.22, -0.12)
#: Phalanx lengths (metres): thumb metacarpal, proximal, distal; fingers proximal, middle, distal.
PHALANX = ((0.036, 0.030, 0.025), (0.042, 0.025, 0.019), (0.047, 0.029, 0.020),
           (0.044, 0.028, 0.020), (0.034, 0.021, 0.018))
#: Phalanx radii (metres) at their bases, thumb..little (tapering 15% per phalanx).
FINGER_RADIUS = (0.0120, 0.0102, 0.0104, 0.0098, 0.0088)
#: The thumb's joints (CMC, MCP, IP) bend towards these directions (u, v, n): the metacarpal
#: forwards out of the palm (opposition), the phalanges across the palm.
THUMB_BEND = ((0.0, -0.25, -0.97), (0.0, -0.8, -0.6), (0.0, -0.8, -0.6))

#: Finger poses: (thumb CMC, MCP, IP), then the other fingers' (MCP, PIP, DIP), degrees; and the
#: spread (abduction in the palm's plane, degrees towards the thumb) of thumb..little.
_OPEN = (5.0, 5.0, 3.0)
_FOLD = (82.0, 100.0, 60.0)
_THUMB_FOLD = (35.0, 40.0, 35.0)
POSES = {
    "relaxed": (((15.0, 10.0, 10.0),) + ((15.0, 25.0, 15.0),) * 4, (0, 0, 0, 0, 0)),
    "fist": ((_THUMB_FOLD,) + (_FOLD,) * 4, (0, 0, 0, 0, 0)),
    "spread": (((0.0, 0.0, 0.0),) + (_OPEN,) * 4, (0, 12.0, 0.0, -10.0, -20.0)),
    "point": ((_THUMB_FOLD, _OPEN) + (_FOLD,) * 3, (0, 0, 0, 0, 0)),
    "pinch": (((30.0, 25.0, 20.0), (50.0, 45.0, 30.0), (20.0, 30.0, 15.0), (25.0, 35.0, 20.0),
               (30.0, 40.0, 25.0)), (0, 0, 0, 0, 0)),
    "count1": ((_THUMB_FOLD, _OPEN) + (_FOLD,) * 3, (0, 0, 0, 0, 0)),
    "count2": ((_THUMB_FOLD, _OPEN, _OPEN) + (_FOLD,) * 2, (0, 6.0, -4.0, 0, 0)),
    "count3": ((_THUMB_FOLD, _OPEN, _OPEN, _OPEN, _FOLD), (0, 6.0, 0, -6.0, 0)),
    "count4": ((_THUMB_FOLD,) + (_OPEN,) * 4, (0, 6.0, 0, -4.0, -10.0)),
    "count5": (((0.0, 0.0, 0.0),) + (_OPEN,) * 4, (0, 6.0, 0, -4.0, -10.0)),
}
# count1 is point with the wrist turned (the hand roll differs per clip); kept separate for the tables


def pose_angles(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(5, 3) flexion and (5,) spread, radians."""
    flex, spread = POSES[name]
    return np.radians(np.array(flex, float)), np.radians(np.array(spread, float))


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    return Rotation.from_rotvec(np.asarray(axis, float) * angle).as_matrix()


def hand_landmarks(frame: np.ndarray, flex: np.ndarray, spread: np.ndarray, right: bool) -> np.ndarray:
    """(21, 3) MediaPipe-ordered landmarks (hand frame units: metres, in the hand frame's basis
    ``frame`` (3, 3) columns u, v, n, world directions), wrist at the origin."""
    u, v, n = frame[:, 0], frame[:, 1], frame[:, 2]
    pts = np.zeros((21, 3))

    def chain(base: np.ndarray, ray: np.ndarray, bend, angles, lengths, first: int, abduct: float = 0.0,
              plane: bool = False):
        """Landmarks ``first .. first+2`` (+ tip) along ``ray``, joint k bending towards ``bend[k]``
        (about an axis normal to the segment coming in, so the angle between segments is the
        joint's angle); ``plane``: all joints about the first joint's axis (a finger curling in
        one plane, past 180 degrees in a fist)."""
        d = ray
        if abduct:
            d = _rot(n, abduct if right else -abduct) @ d  # towards the thumb, mirrored on the left
        p = base
        out = []
        axis = None
        for k in range(3):
            if axis is None or not plane:
                b = np.asarray(bend[k], float)
                axis = np.cross(d, b - np.dot(b, d) * d)
                axis /= np.linalg.norm(axis)
            d = _rot(axis, angles[k]) @ d
            p = p + lengths[k] * d
            out.append(p)
        pts[first:first + 3] = out

    for f, (ku, kv) in enumerate(KNUCKLES):
        knuckle = HAND * (ku * u + kv * v)
        ray = knuckle / np.linalg.norm(knuckle)
        pts[5 + 4 * f] = knuckle
        chain(knuckle, ray, (-n,) * 3, flex[f + 1], PHALANX[f + 1], 6 + 4 * f, abduct=spread[f + 1],
              plane=True)
    cmc = HAND * (THUMB_CMC[0] * u + THUMB_CMC[1] * v + THUMB_CMC[2] * n)
    ray = cmc / np.linalg.norm(cmc)
    bends = [b[0] * u + b[1] * v + b[2] * n for b in THUMB_BEND]
    pts[1] = cmc
    chain(cmc, ray, bends, flex[0], PHALANX[0], 2)
    return pts


def hand_frame(direction, back, right: bool) -> np.ndarray:
    """(3, 3) columns u (along the hand), v (towards the thumb), n (back of the hand), world."""
    u = np.asarray(direction, float)
    u = u / np.linalg.norm(u)
    n = np.asarray(back, float) - np.dot(back, u) * u
    n /= np.linalg.norm(n)
    v = np.cross(n, u) if right else np.cross(u, n)
    return np.stack([u, v, n], axis=1)


# ------------------------------------------------------------------------------ meshes
def _segment_object(name: str, material: str, length: float, r0, r1=None, cap=None) -> bpy.types.Object:
    """A capsule from the origin along local +Z (``length``), radii ``r0`` (x, y) at the base
    tapering to ``r1``; its world matrix is set per frame."""
    r1 = r0 if r1 is None else r1
    cap = min(r0[0], r0[1]) if cap is None else cap
    verts, faces = rs._capsule_geometry((0, 0, 0), (0, 0, length), r0, cap, segments=16, rings=10)
    # taper: scale x/y linearly from r0 at z=0 to r1 at z=length
    z = np.clip(verts[:, 2] / max(length, 1e-9), 0.0, 1.0)
    scale = np.stack([(1 - z) + z * r1[0] / r0[0], (1 - z) + z * r1[1] / r0[1]], axis=1)
    verts[:, :2] *= scale
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(p) for p in verts], [], faces)
    mesh.polygons.foreach_set("use_smooth", [True] * len(faces))
    mesh.materials.append(rs._material(material))
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _place(obj, p0, p1, side_dir) -> None:
    """Put a local-+Z capsule between world points ``p0`` -> ``p1``, local x along ``side_dir``."""
    z = np.asarray(p1, float) - np.asarray(p0, float)
    z /= np.linalg.norm(z)
    x = np.asarray(side_dir, float) - np.dot(side_dir, z) * z
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, p0
    obj.matrix_world = Matrix(m.tolist())


class Hand:
    """One articulated hand: the palm's objects and three per finger (see the module docstring)."""

    def __init__(self, side: str):
        self.side, self.right = side, side == "R"
        s = side
        self.meta = [_segment_object(f"{s}Meta{f}", "skin", HAND * math.hypot(*KNUCKLES[f]) - 0.012,
                                     (0.0095, 0.0085)) for f in range(4)]
        self.pad = _segment_object(f"{s}PalmPad", "skin", 0.060, (0.031, 0.015), (0.034, 0.013), cap=0.015)
        self.thenar = _segment_object(f"{s}Thenar", "skin", 0.042, (0.017, 0.015), (0.013, 0.012))
        # the sample figure's forearm is a thick round capsule that hides the palm: a tapered,
        # flattened one instead (placed elbow -> wrist every frame)
        self.forearm = _segment_object(f"{s}ForearmTapered", "skin", 0.25, (0.040, 0.037), (0.028, 0.020),
                                       cap=0.02)
        self.phalanges = []
        for f in range(5):
            segs = []
            for k in range(3):
                r = FINGER_RADIUS[f] * 0.85 ** k
                segs.append(_segment_object(f"{s}F{f}P{k}", "skin", PHALANX[f][k], (r, r * 0.92),
                                            (r * 0.93, r * 0.86)))
            self.phalanges.append(segs)
        self.objects = self.meta + [self.pad, self.thenar] + [o for segs in self.phalanges for o in segs]
        self.objects_all = self.objects + [self.forearm]

    def place(self, elbow, wrist, frame, pts) -> np.ndarray:
        """Place the objects for world landmarks ``wrist + pts``; returns (21, 3) world."""
        w = np.asarray(wrist, float)
        P = w + pts
        u, v, n = frame[:, 0], frame[:, 1], frame[:, 2]
        _place(self.forearm, elbow, w - 0.01 * u, v)
        for f in range(4):
            a = w + 0.012 * (P[5 + 4 * f] - w) / np.linalg.norm(P[5 + 4 * f] - w)
            _place(self.meta[f], a, P[5 + 4 * f], v)
        mid = (P[5] + P[17]) / 2
        _place(self.pad, w + 0.22 * (mid - w) - 0.003 * n, w + 0.82 * (mid - w) - 0.003 * n, v)
        _place(self.thenar, w + 0.4 * (P[1] - w), P[2] + 0.25 * (P[5] - P[2]) - 0.004 * n, n)
        for f, chain in enumerate(((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16),
                                   (17, 18, 19, 20))):
            for k in range(3):
                _place(self.phalanges[f][k], P[chain[k]], P[chain[k + 1]], v if f else n)
        return P


# ------------------------------------------------------------------------------ motion
#: (name, framing, camera, frames, left-hand poses, right-hand poses, arm motion)
CLIPS = (
    ("close_front_a", "close", "front", 60, ("relaxed", "fist", "spread", "point"),
     ("spread", "point", "relaxed", "fist"), "front"),
    ("close_front_b", "close", "front", 60, ("count1", "count2", "count3", "count4", "count5"),
     ("pinch", "count5", "count2", "fist", "count3"), "wave"),
    ("close_45_a", "close", "45", 60, ("fist", "point", "relaxed", "spread"),
     ("point", "spread", "fist", "relaxed"), "wave"),
    ("close_45_b", "close", "45", 60, ("pinch", "count3", "count5", "count1", "fist"),
     ("count4", "count1", "pinch", "count5", "relaxed"), "front"),
    ("full_front", "full", "front", 60, ("relaxed", "spread", "fist", "point", "pinch"),
     ("fist", "count2", "spread", "relaxed", "count5"), "reach"),
    ("full_45", "full", "45", 60, ("spread", "fist", "count3", "relaxed", "point"),
     ("point", "relaxed", "count4", "spread", "fist"), "wave"),
)
#: (azimuth degrees from the figure's facing, camera height m, distance m, look-at height m,
#: lens mm on the 24 mm-high sensor) per (framing, camera).
CAMERAS = {("close", "front"): (0.0, 1.45, 1.9, 1.38, 50.0), ("close", "45"): (45.0, 1.50, 1.9, 1.38, 50.0),
           ("full", "front"): (0.0, 1.30, 2.9, 1.0, 30.0), ("full", "45"): (45.0, 1.35, 2.9, 1.0, 30.0)}
HOLD_S, EASE_S = 0.40, 0.20


def pose_track(names, frames: int, fps: float = FPS, offset: float = 0.0):
    """Per frame (5, 3) flexion, (5,) spread (radians) and the nearer pose's name: each pose held
    :data:`HOLD_S`, eased into the next over :data:`EASE_S` (smoothstep), cycling."""
    period = HOLD_S + EASE_S
    flex, spread, label = [], [], []
    for t in range(frames):
        x = t / fps / period + offset
        i = int(math.floor(x)) % len(names)
        j = (i + 1) % len(names)
        a = rs._smooth(((x - math.floor(x)) * period - HOLD_S) / EASE_S)
        fa, sa = pose_angles(names[i])
        fb, sb = pose_angles(names[j])
        flex.append((1 - a) * fa + a * fb)
        spread.append((1 - a) * sa + a * sb)
        label.append(names[i] if a < 0.5 else names[j])
    return np.array(flex), np.array(spread), label


def _unit(x):
    x = np.asarray(x, float)
    return x / np.linalg.norm(x)


def arm_directions(kind: str, side: str, t: float):
    """Upper arm and forearm directions, and the back of the hand's preferred direction, in the
    figure's frame (facing -Y, its left +X) at time ``t`` seconds."""
    o = 1.0 if side == "L" else -1.0       # outwards
    ph = 0.0 if side == "L" else 1.3
    s = math.sin(2 * math.pi * 0.45 * t + ph)
    c = math.cos(2 * math.pi * 0.3 * t + ph)
    if kind == "wave":       # forearm up beside the shoulder, waving sideways
        upper = (o * (0.45 + 0.1 * c), -0.35, -0.75)
        fore = (o * (0.05 + 0.3 * s), -0.25, 0.95)
    elif kind == "front":    # hands in front of the chest, palms towards the camera
        upper = (o * (0.25 + 0.05 * c), -0.45, -0.85)
        fore = (o * (-0.25 + 0.2 * s), -0.55, 0.80 + 0.1 * c)
    else:                    # "reach": forward and out, up and down
        upper = (o * (0.35 + 0.1 * s), -0.60, -0.55 + 0.25 * c)
        fore = (o * (0.30 + 0.1 * c), -0.75, 0.15 + 0.35 * s)
    roll = math.radians(35.0 * math.sin(2 * math.pi * 0.35 * t + 2 * ph))
    back = (o * math.sin(roll) * 0.9, math.cos(roll), 0.0)  # palm towards -Y (the camera) +- roll
    return _unit(upper), _unit(fore), back


def _align(d) -> np.ndarray:
    """Rotation taking a hanging bone (0, 0, -1) onto ``d`` (shortest arc)."""
    a = np.array([0.0, 0.0, -1.0])
    d = _unit(d)
    axis = np.cross(a, d)
    s, c = np.linalg.norm(axis), float(np.dot(a, d))
    if s < 1e-9:
        return np.eye(3) if c > 0 else _rot([1.0, 0.0, 0.0], math.pi)
    return _rot(axis / s, math.atan2(s, c))


# ------------------------------------------------------------------------------ scene
def build_scene(framing: str, camera: str, width: int = WIDTH, height: int = HEIGHT):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    layout = rs.figure_layout()
    arm_obj = build_armature(layout, "Figure")
    arm_obj.hide_render = True
    rs.build_figure(arm_obj)
    for s in "LR":  # the mittens and round forearms go; articulated hands instead
        for part in ("Hand", "ForearmPart"):
            bpy.data.objects.remove(bpy.data.objects[s + part], do_unlink=True)
    rs.build_floor()
    rs.setup_scene(width, height, FPS, render_aa='FXAA', camera=False)
    sh = bpy.context.scene.display.shading
    sh.show_cavity = True
    sh.cavity_type = 'WORLD'
    az, hgt, dist, look, lens = CAMERAS[(framing, camera)]
    a = math.radians(az)
    loc = np.array([dist * math.sin(a), -dist * math.cos(a), hgt])
    target = np.array([0.0, 0.0, look])
    fwd = _unit(target - loc)
    rot = Rotation.align_vectors([fwd, [0, 0, 1]], [[0, 0, -1], [0, 1, 0]], weights=[100, 1])[0]
    cam = rs.add_camera(tuple(loc), tuple(rot.as_euler("xyz")), lens=lens)
    hands = {s: Hand(s) for s in "LR"}
    return layout, arm_obj, cam, hands


def pose_frame(arm_obj, layout, hands, t: float, kind: str, flex, spread):
    """Pose body and hands at ``t`` s; returns (17, 3) world joints and (2, 21, 3) world landmarks."""
    glob = {}
    frames = {}
    for s in "LR":
        upper, fore, back = arm_directions(kind, s, t)
        glob[s + "UpperArm"] = _align(upper)
        glob[s + "Forearm"] = _align(fore)
        frames[s] = (fore, back)
    joints = rs.apply_pose(arm_obj, layout, glob, Matrix.Identity(4))
    mw = np.array(arm_obj.matrix_world)[:3, :3]
    out = np.zeros((2, 21, 3))
    for i, s in enumerate("LR"):
        fore, back = frames[s]
        F = hand_frame(mw @ fore, mw @ np.asarray(back), s == "R")
        pts = hand_landmarks(F, flex[i], spread[i], s == "R")
        out[i] = hands[s].place(joints[rs.JOINT_INDEX[s + "Elbow"]], joints[rs.JOINT_INDEX[s + "Wrist"]], F, pts)
    bpy.context.view_layer.update()
    return joints, out


def visibility(cam, hands, world: np.ndarray, K, R, t, width: int, height: int):
    """(2, 21) inside the picture, (2, 21) not hidden by anything but that same hand."""
    scene = bpy.context.scene
    dg = bpy.context.evaluated_depsgraph_get()
    origin = np.array(cam.matrix_world)[:3, 3]
    camxyz = world @ R.T + t
    uv = camxyz @ K.T
    uv = uv[..., :2] / uv[..., 2:3]
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < width) & (uv[..., 1] >= 0) & (uv[..., 1] < height) & (camxyz[..., 2] > 0)
    unhidden = np.zeros((2, 21), bool)
    for i, s in enumerate("LR"):
        own = {o.name for o in hands[s].objects_all}
        for j in range(21):
            d = world[i, j] - origin
            dist = float(np.linalg.norm(d))
            hit, loc, _n, _f, obj, _m = scene.ray_cast(dg, Vector(origin.tolist()), Vector((d / dist).tolist()),
                                                       distance=dist)
            if not hit or obj.name in own or np.linalg.norm(np.array(loc) - origin) > dist - 0.015:
                unhidden[i, j] = True
    return inside, unhidden


def render_clip(spec, out_dir: str, frames: int | None = None) -> dict:
    name, framing, camera, n, lposes, rposes, kind = spec
    width, height = SIZES[framing]
    n = n if frames is None else min(n, frames)
    layout, arm_obj, cam, hands = build_scene(framing, camera, width, height)
    K, R, t = rs.camera_matrices(cam, width, height)
    fl, sl, ll = pose_track(lposes, n)
    fr, sr, lr = pose_track(rposes, n, offset=0.5)
    flex_d = np.stack([fl, fr], axis=1)
    spread_d = np.stack([sl, sr], axis=1)
    scene = bpy.context.scene
    frame_dir = tempfile.mkdtemp(prefix="posemoe-hands-")
    joints, world, inside, unhidden = [], [], [], []
    t0 = time.time()
    try:
        for f in range(n):
            scene.frame_set(f + 1)
            j, w = pose_frame(arm_obj, layout, hands, f / FPS, kind, flex_d[f], spread_d[f])
            joints.append(j)
            world.append(w)
            a, b = visibility(cam, hands, w, K, R, t, width, height)
            inside.append(a)
            unhidden.append(b)
            scene.render.filepath = os.path.join(frame_dir, f"{f:04d}.png")
            bpy.ops.render.render(write_still=True)
            if f % 10 == 0:
                print(f"{name}: frame {f + 1}/{n}  {time.time() - t0:.0f} s", flush=True)
        codec = rs.encode_video(frame_dir, n, os.path.join(out_dir, name + ".mp4"), width, height, FPS)
    finally:
        shutil.rmtree(frame_dir, ignore_errors=True)
    truth = rs.truth_arrays(np.array(joints), K, R, t, FPS, width, height)
    rs.check_projection(cam, truth)
    world = np.array(world)
    truth.update(hand_truth(world, np.array(inside), np.array(unhidden), K, R, t, flex_d, spread_d))
    truth["poses"] = np.array([ll, lr]).T
    truth.update(clip=np.array(name), framing=np.array(framing), camera=np.array(camera))
    save_npz(os.path.join(out_dir, name + "_truth.npz"), **truth)
    vis = truth["hands_visible"]
    print(f"{name}: {n} frames in {time.time() - t0:.0f} s ({codec}); hands shown L {vis[:, 0].mean():.0%} "
          f"R {vis[:, 1].mean():.0%}; flexion check max {truth['_check_deg']:.2f} deg", flush=True)
    return {"clip": name, "framing": framing, "camera": camera, "frames": n, "fps": FPS,
            "width": width, "height": height, "arms": kind, "left_poses": list(lposes),
            "right_poses": list(rposes), "camera_setup": dict(zip(
                ("azimuth_deg", "height_m", "distance_m", "look_at_height_m", "lens_mm"), CAMERAS[(framing, camera)])),
            "hands_shown": [float(vis[:, 0].mean()), float(vis[:, 1].mean())]}


def hand_truth(world, inside, unhidden, K, R, t, driven, spread) -> dict:
    """The hand arrays of the truth file (see the module docstring); checks the flexion."""
    cam = world @ R.T + t
    uv = cam @ K.T
    px = np.concatenate([uv[..., :2] / uv[..., 2:3], unhidden[..., None].astype(float)], axis=-1)
    flexion = np.stack([finger_flexion(cam[:, s], right=(s == 1)) for s in range(2)], axis=1)
    # the definition check: equal to the driven angles, except a spread finger's knuckle
    # (arccos(cos a cos f)), both within finger_flexion's limits
    expect = driven.copy()
    expect[..., 0] = np.arccos(np.cos(driven[..., 0]) * np.cos(spread))
    err = np.degrees(np.abs(flexion - expect)).max()
    assert err < 0.05, f"truth flexion differs from the driven angles by {err:.3f} degrees"
    visible = inside.all(axis=-1) & ((~unhidden).sum(axis=-1) <= 7)
    return dict(hands_world=world.astype(np.float32), hands_cam=cam.astype(np.float32),
                hands2d=px.astype(np.float32), hands_inside=inside.all(axis=-1), hands_visible=visible,
                flexion=flexion.astype(np.float32), driven=driven.astype(np.float32),
                spread=spread.astype(np.float32), _check_deg=np.float64(err))


def render_still(path: str, pose: str, framing: str = "close", camera: str = "front", t: float = 0.0,
                 kind: str = "front") -> None:
    layout, arm_obj, cam, hands = build_scene(framing, camera, *SIZES[framing])
    f, s = pose_angles(pose)
    pose_frame(arm_obj, layout, hands, t, kind, np.stack([f, f]), np.stack([s, s]))
    bpy.context.scene.render.filepath = path
    bpy.ops.render.render(write_still=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(REPO, ".cache", "render_hands"))
    ap.add_argument("--clips", nargs="*", default=None)
    ap.add_argument("--frames", type=int, default=None, help="at most this many frames a clip")
    ap.add_argument("--still", default=None, help="render one picture to this PNG and stop")
    ap.add_argument("--pose", default="spread")
    ap.add_argument("--framing", default="close")
    ap.add_argument("--camera", default="front")
    ap.add_argument("--arms", default="front")
    ap.add_argument("--time", type=float, default=0.0)
    ap.add_argument("--manifest-only", action="store_true")
    args = ap.parse_args(argv)
    if args.still:
        render_still(args.still, args.pose, args.framing, args.camera, args.time, args.arms)
        return 0
    specs = [c for c in CLIPS if args.clips is None or c[0] in args.clips]
    if args.manifest_only:
        entries = [{"clip": c[0], "framing": c[1], "camera": c[2], "frames": c[3], "fps": FPS,
                    "width": SIZES[c[1]][0], "height": SIZES[c[1]][1], "arms": c[6], "left_poses": list(c[4]),
                    "right_poses": list(c[5])} for c in specs]
    else:
        os.makedirs(args.out, exist_ok=True)
        entries = [render_clip(c, args.out, args.frames) for c in specs]
    manifest = {"set": "render_hands", "generator": "posemoe_lab/renders/hand_set.py",
                "poses_deg": {k: {"flexion": v[0], "spread": v[1]} for k, v in POSES.items()},
                "hold_s": HOLD_S, "ease_s": EASE_S, "clips": entries}
    text = json.dumps(manifest, indent=1) + "\n"
    if not args.manifest_only:
        with open(os.path.join(args.out, "manifest.json"), "w") as fh:
            fh.write(text)
    if args.manifest_only or (args.clips is None and args.frames is None):
        os.makedirs(os.path.dirname(REPO_MANIFEST), exist_ok=True)
        with open(REPO_MANIFEST, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
