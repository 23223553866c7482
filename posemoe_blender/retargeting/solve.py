"""Retarget an :class:`~.skeleton.Animation` of the generated rig onto another rig (no bpy).

Conventions (Blender's pose math, as in :mod:`.solving`): a bone with rest orientation ``M``
(3x3, armature space, columns = local X, Y along the bone, Z) and local pose rotation ``L``
has the *world delta* ``G = G_parent @ M @ L @ M^T`` (the rotation taking its rest
orientation to its posed orientation, ``G_parent`` = identity for a root bone). Conversely
``L = M^T @ G_parent^T @ G @ M``.

:func:`retarget` gives each mapped target bone the world delta of our bone, so it turns the
way ours turns:

1. **Object transform**: the target's rest orientations are taken in world space
   (``W = R_object @ M``), so rigs imported with a rotated/scaled armature object (Mixamo,
   Unreal FBX) need no special case; locations are divided by the object's scale.
2. **Facing** (``C``): the rotation taking our character frame (left = +X, up = +Z, facing
   -Y) to the target's, measured from the rest heads of the mapped thighs/upper arms
   (left - right) and world up (+Z; the spine hips -> neck/head only when it is more than 45
   degrees from vertical). A rig facing +Y gets ``C`` = 180 deg about Z.
3. **Rest alignment** (``match_rest``, default on): a target whose rest pose is not a T-pose
   (the Unreal mannequins' A-pose, Rigify's bent arms) is first turned so each mapped bone
   points where ours points at rest (``A_b``: the smallest rotation from the target bone's
   rest direction to ours, measured head -> head of the next mapped bone along the chain,
   or the ``tips`` bone, else the bone's own axis). Then the target's world delta is
   ``H_b = C @ G_b @ C^T @ A_b``; with ``match_rest=False`` (or matching rest poses)
   ``A_b`` = identity, i.e. exactly the same world-space rotation deltas. The pelvis
   (``Hips``) is never aligned: every humanoid rig's rest pelvis is upright like ours, but
   its bone may point any way (Rigify's ``hips`` control points down from the waist), and
   aligning that direction would turn the pelvis over.
4. **Hierarchy**: target bones are walked parents first; a mapped bone gets
   ``L = W^T @ H_parent^T @ H_b @ W``; an unmapped bone is not keyed and is assumed to stay at
   rest (its world delta is its parent's).
5. **Root motion**: our pelvis displacement from its rest position (world) is rotated by ``C``,
   scaled by the leg-length ratio (target thigh + shin over ours), raised or lowered so the
   target's lower ankle is as high above its rest height as ours (:func:`_floor_correction`:
   planted feet stay on the floor whatever the target's proportions) and written as the target
   root bone's ``location`` (bone-local, ``W_root^T @ H_parent^T @ d / object_scale``).

The rotation conversions here (and :func:`~posemoe_blender.geometry.min_rotation` with
``numpy_only``) are plain numpy (no SciPy): the add-on applies a conversion in
Blender's own Python, which may have only numpy (the pipeline itself can run in another
Python, see ``addon/remote.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..errors import PoseMoEError
from ..geometry import continuous_quaternions, min_rotation, unit
from .presets import BoneMapping
from ..solving.skeleton import BONE_HEAD_JOINT, BONE_NAMES, BONE_TAIL_JOINT, FINGER_BONE_NAMES, RIG_BONE_NAMES, RIG_HEAD_POINT, RIG_TAIL_POINT, Animation

#: Our bones whose rest direction is aligned with the target's (``match_rest``): all but the pelvis.
REST_ALIGNED = frozenset(n for n in RIG_BONE_NAMES if n != "Hips")
FINGER_BONES = frozenset(FINGER_BONE_NAMES)


def _bone_points(bone_names) -> tuple[tuple, tuple]:
    """(head point, tail point) indices of an animation's bones: the generated rig's rig
    points, or the joints for a rig of the 16 joint bones alone."""
    if tuple(bone_names) == RIG_BONE_NAMES:
        return RIG_HEAD_POINT, RIG_TAIL_POINT
    if tuple(bone_names) == BONE_NAMES:
        return BONE_HEAD_JOINT, BONE_TAIL_JOINT
    raise PoseMoEError(f"unknown bone layout ({len(bone_names)} bones)")


@dataclass
class TargetRig:
    """The rest layout of the rig to animate (read from an armature by the Blender layer).

    * ``names``: bone names; ``parents``: parent index per bone (-1 = root);
    * ``rest_matrices``: (N, 3, 3) ``Bone.matrix_local`` rotation part (armature space);
    * ``rest_heads`` / ``rest_tails``: (N, 3) ``Bone.head_local`` / ``tail_local``;
    * ``matrix_world``: (4, 4) the armature object's world matrix (rest).
    """

    names: Sequence[str]
    parents: Sequence[int]
    rest_matrices: np.ndarray
    rest_heads: np.ndarray
    rest_tails: np.ndarray
    matrix_world: np.ndarray = field(default_factory=lambda: np.eye(4))

    def index(self) -> dict:
        return {n: i for i, n in enumerate(self.names)}


@dataclass
class RetargetResult:
    """What to key on the target: ``rotations`` (T, K, 4) w-x-y-z local quaternions of the bones
    ``bone_names`` (K mapped bones, target names), ``root_bone`` and its ``root_location``
    (T, 3) bone-local (None when there is no root bone), plus diagnostics: ``scale`` (leg
    ratio), ``facing`` (3x3 ``C``), ``missing`` (mapped target names the rig lacks).

    For checking the result on a rig whose constraints move bones (see the Blender layer):
    ``pose_matrices`` (T, K, 3, 3) is each keyed bone's intended orientation in armature space
    (``Bone.matrix`` of the posed bone, rotation part) and ``root_offset`` (T, 3) the intended
    displacement of the root bone's head from its rest position (armature space, armature
    units), or None."""

    bone_names: list
    rotations: np.ndarray
    root_bone: Optional[str]
    root_location: Optional[np.ndarray]
    scale: float
    facing: np.ndarray
    missing: list
    pose_matrices: Optional[np.ndarray] = None
    root_offset: Optional[np.ndarray] = None


# --------------------------------------------------------------------------- helpers

def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) w-x-y-z quaternions (normalised here) -> (..., 3, 3) rotation matrices."""
    q = unit(np.asarray(q, float))
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.empty(q.shape[:-1] + (3, 3))
    m[..., 0, 0] = 1 - 2 * (y * y + z * z)
    m[..., 0, 1] = 2 * (x * y - w * z)
    m[..., 0, 2] = 2 * (x * z + w * y)
    m[..., 1, 0] = 2 * (x * y + w * z)
    m[..., 1, 1] = 1 - 2 * (x * x + z * z)
    m[..., 1, 2] = 2 * (y * z - w * x)
    m[..., 2, 0] = 2 * (x * z - w * y)
    m[..., 2, 1] = 2 * (y * z + w * x)
    m[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return m


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit w-x-y-z quaternions (Shepperd's method:
    each matrix uses the best conditioned of the four formulas)."""
    m = np.asarray(m, float)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    diag = np.stack([m00 + m11 + m22, m00, m11, m22], axis=-1)
    case = np.argmax(diag, axis=-1)
    cands = np.empty(m.shape[:-2] + (4, 4))
    s0 = 2 * np.sqrt(np.maximum(1 + m00 + m11 + m22, 1e-12))
    cands[..., 0, :] = np.stack([s0 / 4, (m21 - m12) / s0, (m02 - m20) / s0, (m10 - m01) / s0], -1)
    s1 = 2 * np.sqrt(np.maximum(1 + m00 - m11 - m22, 1e-12))
    cands[..., 1, :] = np.stack([(m21 - m12) / s1, s1 / 4, (m01 + m10) / s1, (m02 + m20) / s1], -1)
    s2 = 2 * np.sqrt(np.maximum(1 - m00 + m11 - m22, 1e-12))
    cands[..., 2, :] = np.stack([(m02 - m20) / s2, (m01 + m10) / s2, s2 / 4, (m12 + m21) / s2], -1)
    s3 = 2 * np.sqrt(np.maximum(1 - m00 - m11 + m22, 1e-12))
    cands[..., 3, :] = np.stack([(m10 - m01) / s3, (m02 + m20) / s3, (m12 + m21) / s3, s3 / 4], -1)
    q = np.take_along_axis(cands, case[..., None, None], axis=-2)[..., 0, :]
    return unit(q)


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) w-x-y-z -> (..., 3, 3)."""
    return quat_to_matrix(q)


def _matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) w-x-y-z, sign-continuous along the first axis."""
    return continuous_quaternions(matrix_to_quat(m))


def _split_world(matrix_world: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Rotation (3, 3), mean scale and translation of a 4x4 world matrix."""
    m = np.asarray(matrix_world, dtype=np.float64)
    lin = m[:3, :3]
    u, s, vt = np.linalg.svd(lin)
    rot = u @ vt
    if np.linalg.det(rot) < 0:  # mirrored object: keep a proper rotation
        u[:, -1] *= -1
        rot = u @ vt
    return rot, float(np.mean(s)), m[:3, 3]


def world_deltas(rotations: np.ndarray, rest_matrices: np.ndarray, parents: Sequence[int]) -> np.ndarray:
    """(T, B, 3, 3) world deltas ``G_b = G_p M_b L_b M_b^T`` from local quaternions (T, B, 4)."""
    L = _quat_to_matrix(np.asarray(rotations, float))
    M = np.asarray(rest_matrices, float)
    T, B = L.shape[:2]
    G = np.empty((T, B, 3, 3))
    for b in range(B):
        local = M[b] @ L[:, b] @ M[b].T
        G[:, b] = local if parents[b] < 0 else G[:, parents[b]] @ local
    return G


def _hierarchy_order(parents: Sequence[int]) -> list[int]:
    order, seen = [], set()

    def visit(i, depth=0):
        if i in seen:
            return
        if depth > len(parents):
            raise PoseMoEError("the target armature's bone hierarchy has a cycle")
        p = parents[i]
        if p >= 0:
            visit(p, depth + 1)
        seen.add(i)
        order.append(i)

    for i in range(len(parents)):
        visit(i)
    return order


def _frame(left: np.ndarray, up: np.ndarray) -> Optional[np.ndarray]:
    """Columns: left, forward (= up x left), up; None when degenerate. A spine within 45
    degrees of world +Z counts as upright: the frame then only turns about Z (a leaning or
    curved rest spine does not tilt the whole animation)."""
    up = unit(np.asarray(up, float))
    if float(up[2]) > np.cos(np.radians(45)):
        up = np.array([0.0, 0.0, 1.0])
    left = np.asarray(left, float) - np.dot(left, up) * up
    if np.linalg.norm(up) < 0.5 or np.linalg.norm(left) < 1e-6:
        return None
    left = unit(left)
    return np.stack([left, np.cross(up, left), up], axis=1)


# --------------------------------------------------------------------------- retarget

def retarget(anim: Animation, target: TargetRig, mapping: BoneMapping, *,
             match_rest: bool = True, root_motion: bool = True) -> RetargetResult:
    """Compute local rotations (and root location) for ``target`` following ``anim``.

    Only bones named in ``mapping.bones`` that exist on ``target`` are returned (keyed);
    names the rig lacks are listed in ``missing``, except finger bones (optional: a rig
    without fingers, or with fewer, is keyed on the ones it has). Raises :class:`PoseMoEError` when the rig
    has none of the mapped bones. See the module docstring for the math.
    """
    ours = {n: i for i, n in enumerate(anim.bone_names)}
    tidx = target.index()
    pairs = [(o, t) for o, t in mapping.bones.items() if o in ours]
    present = [(o, t) for o, t in pairs if t in tidx]
    missing = [t for o, t in pairs if t not in tidx and o not in FINGER_BONES]
    if not present:
        raise PoseMoEError(f"the armature has none of the bones of the {mapping.name!r} mapping "
                           f"(e.g. {', '.join(t for _, t in pairs[:4])})")
    target_of = dict(present)                       # our bone -> target bone name
    source_of = {t: o for o, t in present}           # target bone name -> our bone

    # our side (armature = world for the generated rig)
    M = np.asarray(anim.rest_matrices, float)
    heads = np.asarray(anim.rest_heads, float)
    tails = np.asarray(anim.rest_tails, float)
    G = world_deltas(anim.rotations, M, anim.bone_parents)
    T = G.shape[0]

    # target side, world space
    R_obj, s_obj, _ = _split_world(target.matrix_world)
    Mt = np.asarray(target.rest_matrices, float)
    W = np.einsum("ij,njk->nik", R_obj, Mt)
    th = (np.asarray(target.rest_heads, float) * s_obj) @ R_obj.T
    tt = (np.asarray(target.rest_tails, float) * s_obj) @ R_obj.T

    def t_head(our_name):
        t = target_of.get(our_name)
        return None if t is None else th[tidx[t]]

    def o_head(our_name):
        return heads[ours[our_name]]

    # facing C: our frame -> target frame
    C = np.eye(3)
    for lname, rname in (("LeftUpperLeg", "RightUpperLeg"), ("LeftUpperArm", "RightUpperArm"),
                         ("LeftShoulder", "RightShoulder")):
        top = next((n for n in ("Head", "Neck", "Spine") if n in target_of), None)
        if t_head(lname) is None or t_head(rname) is None or top is None or "Hips" not in target_of:
            continue
        Ft = _frame(t_head(lname) - t_head(rname), t_head(top) - t_head("Hips"))
        Fo = _frame(o_head(lname) - o_head(rname), o_head(top) - o_head("Hips"))
        if Ft is not None and Fo is not None:
            C = Ft @ Fo.T
            break

    # rest alignment A_b per mapped target bone
    child_along = {}
    head_pt, tail_pt = _bone_points(anim.bone_names)
    for b, name in enumerate(anim.bone_names):
        for c, cname in enumerate(anim.bone_names):
            if head_pt[c] == tail_pt[b] and anim.bone_parents[c] == b:
                child_along[name] = cname
    A = {}
    for o, t in present:
        u = C @ (tails[ours[o]] - heads[ours[o]])
        end = None
        child = child_along.get(o)
        while child is not None and child not in target_of:  # e.g. our Chest when only Spine is mapped
            child = child_along.get(child)
        if child in target_of:
            end = th[tidx[target_of[child]]]
        elif mapping.tips.get(o) in tidx:
            end = th[tidx[mapping.tips[o]]]
        v = (end - th[tidx[t]]) if end is not None else W[tidx[t]][:, 1]
        if np.linalg.norm(v) < 1e-6:
            v = W[tidx[t]][:, 1]
        A[t] = (min_rotation(unit(v), unit(u), exact_parallel=True, numpy_only=True)
                if match_rest and o in REST_ALIGNED else np.eye(3))

    # walk the target hierarchy
    H: dict[int, Optional[np.ndarray]] = {}   # world delta per bone (None = identity)
    local: dict[str, np.ndarray] = {}
    for i in _hierarchy_order(target.parents):
        p = target.parents[i]
        Hp = H.get(p) if p >= 0 else None
        name = target.names[i]
        if name in source_of:
            Hb = np.einsum("ij,tjk,lk->til", C, G[:, ours[source_of[name]]], C) @ A[name]
            HpT = np.eye(3) if Hp is None else np.swapaxes(Hp, -1, -2)
            local[name] = W[i].T @ HpT @ Hb @ W[i]
            H[i] = Hb
        else:
            H[i] = Hp

    names = [t for o, t in present]
    rot = _matrix_to_quat(np.stack([local[t] for t in names], axis=1))
    pose = np.stack([np.einsum("ji,tjk,kl->til", R_obj, H[tidx[t]], W[tidx[t]]) for t in names],
                    axis=1)  # R_obj^T H W: armature-space posed orientation

    # root motion
    root_name = mapping.root_bone if mapping.root_bone in tidx else None
    root_loc, root_offset, ratio = None, None, 1.0
    ours_leg = np.mean([np.linalg.norm(tails[ours[s + "UpperLeg"]] - heads[ours[s + "UpperLeg"]])
                        + np.linalg.norm(tails[ours[s + "LowerLeg"]] - heads[ours[s + "LowerLeg"]])
                        for s in ("Left", "Right")])
    legs = []
    for s in ("Left", "Right"):
        thigh, shin = target_of.get(s + "UpperLeg"), target_of.get(s + "LowerLeg")
        if thigh is None or shin is None:
            continue
        knee = th[tidx[shin]]
        ankle = (th[tidx[mapping.tips[s + "LowerLeg"]]] if mapping.tips.get(s + "LowerLeg") in tidx
                 else th[tidx[target_of[s + "Foot"]]] if s + "Foot" in target_of else tt[tidx[shin]])
        legs.append(np.linalg.norm(knee - th[tidx[thigh]]) + np.linalg.norm(ankle - knee))
    if legs and ours_leg > 1e-6 and np.mean(legs) > 1e-6:
        ratio = float(np.mean(legs) / ours_leg)
    if root_name is not None:
        r = tidx[root_name]
        d_ours = np.asarray(anim.root_location, float) @ M[ours["Hips"]].T   # world displacement
        if not root_motion:
            d_ours = d_ours * np.array([0.0, 0.0, 1.0])
        d = ratio * (d_ours @ C.T)
        d[:, 2] += _floor_correction(anim, target, mapping, target_of, tidx, th, tt, H, r, d, ratio)
        p = target.parents[r]
        Hp = H.get(p) if p >= 0 else None
        if Hp is None:
            loc = d @ W[r] / s_obj                        # W^T d
        else:
            loc = np.einsum("ji,tkj,tk->ti", W[r], Hp, d) / s_obj   # W^T Hp^T d
        root_loc = loc
        root_offset = d @ R_obj / s_obj                      # R_obj^T d / s
    return RetargetResult(bone_names=names, rotations=rot, root_bone=root_name,
                          root_location=root_loc, scale=ratio, facing=C, missing=missing,
                          pose_matrices=pose, root_offset=root_offset)


def _ancestors(parents: Sequence[int], i: int) -> set:
    out = set()
    while i >= 0 and i not in out:
        out.add(i)
        i = parents[i]
    return out


def _floor_correction(anim, target, mapping, target_of, tidx, th, tt, H, r, d, ratio) -> np.ndarray:
    """(T,) metres added to the root's vertical displacement ``d[:, 2]`` so the target's lower
    ankle is as high above its rest height as ours (times ``ratio``) in every frame.

    Scaling our pelvis displacement by the leg ratio puts the target's feet on its floor only
    when its proportions are ours; a pelvis whose hip joints sit lower or higher, or another
    thigh/shin split, leaves planted feet hovering or sinking by a few centimetres. The
    target's ankles are found by forward kinematics over its own rest offsets (each bone's
    head moves rigidly with its parent's world delta). Zero when the map has no legs or the
    ankles do not hang from the root bone."""
    parents = target.parents
    T = d.shape[0]
    ankles = []
    for s in ("Left", "Right"):
        shin = target_of.get(s + "LowerLeg")
        if shin is None:
            return np.zeros(T)
        tip = mapping.tips.get(s + "LowerLeg")
        if tip not in tidx and s + "Foot" in target_of:
            tip = target_of[s + "Foot"]
        ankles.append((tidx[tip], None) if tip in tidx else (tidx[shin], tt[tidx[shin]]))
    if any(r not in _ancestors(parents, i) for i, _ in ankles):
        return np.zeros(T)
    memo: dict = {}

    def head(i):  # (T, 3) posed head without the root displacement
        if i not in memo:
            p = parents[i]
            if p < 0:
                memo[i] = np.broadcast_to(th[i], (T, 3))
            else:
                Hp = H.get(p)
                off = th[i] - th[p]
                memo[i] = head(p) + (off if Hp is None else Hp @ off)
        return memo[i]

    def ankle(i, tail):
        if tail is None:
            return head(i), th[i]
        Hi = H.get(i)
        off = tail - th[i]
        return head(i) + (off if Hi is None else Hi @ off), tail

    posed, rest = zip(*(ankle(i, tail) for i, tail in ankles))
    target_low = np.minimum(posed[0][:, 2], posed[1][:, 2]) + d[:, 2] - min(rest[0][2], rest[1][2])
    names = list(anim.bone_names)
    shins = [names.index(n) for n in ("LeftLowerLeg", "RightLowerLeg")]
    ours_rest = min(anim.rest_tails[shins[0]][2], anim.rest_tails[shins[1]][2])
    ankle_joints = [BONE_TAIL_JOINT[BONE_NAMES.index(n)] for n in ("LeftLowerLeg", "RightLowerLeg")]
    ours_low = np.asarray(anim.joints_world, float)[:, ankle_joints, 2].min(axis=1) - ours_rest
    return ratio * ours_low - target_low


def quaternions_to_euler(quat: np.ndarray, order: str) -> np.ndarray:
    """(T, 4) w-x-y-z -> (T, 3) Blender Euler angles for rotation mode ``order`` ('XYZ', ...),
    unwrapped in time (no 360-degree jumps).

    Blender's ``'XYZ'`` applies X first, then Y, then Z about fixed axes:
    ``R = R_Z(c) @ R_Y(b) @ R_X(a)``; in general ``R = R_k @ R_j @ R_i`` for the order ``ijk``."""
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise PoseMoEError(f"unknown Euler order {order!r}")
    i, j, k = ("XYZ".index(a) for a in order)
    e = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0  # parity of the order
    R = quat_to_matrix(np.asarray(quat, float))
    first = np.arctan2(e * R[:, k, j], R[:, k, k])
    middle = np.arcsin(np.clip(-e * R[:, k, i], -1.0, 1.0))
    last = np.arctan2(e * R[:, j, i], R[:, i, i])
    lock = np.hypot(R[:, k, j], R[:, k, k]) < 1e-9  # gimbal lock: put the first angle's share on the last
    if lock.any():
        first[lock] = 0.0
        last[lock] = np.arctan2(-e * R[lock, i, j], R[lock, j, j])
    angles = np.unwrap(np.stack([first, middle, last], axis=1), axis=0)
    out = np.empty_like(angles)
    for n, axis in enumerate((i, j, k)):
        out[:, axis] = angles[:, n]
    return out


__all__ = ["TargetRig", "RetargetResult", "retarget", "world_deltas",
           "quaternions_to_euler", "BONE_NAMES", "RIG_BONE_NAMES"]
