"""From 3D joints to an :class:`~.skeleton.Animation` of the generated rig (no bpy here).

Pipeline of :func:`solve_animation`:

1. **Axes**: camera coordinates (x right, y down, z forward, metres) -> Blender axes
   (X right, Y forward away from the camera, Z up): ``(x, y, z) -> (x, z, -y)``
   (:data:`~.root.CAMERA_TO_BLENDER`). A person
   facing the camera then faces -Y, like the rest pose.
2. **Up correction** (assumption: the person is mostly upright over the clip, the camera
   may be tilted): the world up is the median pelvis->thorax direction, averaged with the
   median ankle->hip direction of the supporting (lower, straight) leg where there is one.
   The minimal rotation taking it to +Z is applied when it is below ``max_tilt_deg``.
3. **Constant bone lengths**: each bone's median length over the clip (left/right averaged
   when ``symmetric``); every frame is re-chained from the Pelvis along the hierarchy,
   keeping bone directions (:mod:`.rest`).
4. **Grounding**: the floor (Z = 0) is the median of the lower ankle's height minus
   :data:`~.rest.ANKLE_HEIGHT` (ankle joint above the sole: most frames have a foot on the ground,
   even in walks and jumps); frames whose lower foot would sink below the floor are raised
   onto it. The first frame's Pelvis is put above the armature origin (X = Y = 0).
5. **Rotations**: each bone's frame is its direction plus a twist reference (see
   :func:`solve_animation`), expressed as Blender pose-bone quaternions. The rig's bones
   beyond the 17 joints (:mod:`.skeleton`): ``Chest`` (the upper half of the Spine -> Thorax
   segment) and the hands follow their parents (the hands turned with the palms where
   given, :mod:`.hand_bones`); the feet and toes come from
   :func:`.feet.solve_feet` (BlazePose's heels and toe tips, levelled where a foot is planted);
   each finger bone turns by its joint's flexion about its own X axis, towards the palm, and
   the proximal bones by their base joint's flexion and spread (the thumb: CMC flexion across
   the palm and palmar abduction) where given (:func:`.fingers.solve_hands`; a relaxed hand
   without hands).

Armature space = ``camera_to_armature @ p_camera + armature_offset`` (both in
``Animation.camera``, a :class:`~.skeleton.CameraMapping`), plus ``Animation.root_shift[t]`` (frames raised onto the floor, foot locking; see
:class:`~.root.RootTrajectory`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import PoseMoEError
from ..geometry import Z_AXIS, continuous_quaternions, min_rotation, norm, rot_x, rot_y, smoothstep, unit
from ..joints import JOINT_INDEX as J, NUM_JOINTS
from . import feet as feet_mod
from . import fingers as fingers_mod
from .hand_bones import FINGER_BONE_INDEX, finger_base_rotation, hand_rotation
from .kinematics import forward_kinematics
from .rest import ANKLE_HEIGHT, bone_lengths, leg_length, rechain, rest_pose, rig_points, rig_rest_pose
from .root import CAMERA_TO_BLENDER, check_joints, root_trajectory
from .skeleton import BONE_NAMES, NUM_RIG_BONES, RIG_BONE_NAMES, RIG_BONE_PARENTS, RIG_HEAD_POINT, RIG_TAIL_POINT, Animation, CameraMapping, SolveReport

#: Camera tilts larger than this are not corrected (the person may be lying down).
MAX_TILT_DEG = 45.0
#: Standing heights (top of head to sole, metres) a solved character is kept within.
STATURE_RANGE = (1.55, 1.95)


def _unwrap_runs(angle: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Unwrap (T,) angles in time within each run of ``active`` frames, so that ``w * angle``
    stays continuous; each run starts from the principal value (inactive frames unchanged)."""
    out = angle.copy()
    padded = np.concatenate([[False], active, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    for s, e in zip(edges[::2], edges[1::2]):
        out[s:e] = np.unwrap(angle[s:e])
    return out


def _up_direction(P: np.ndarray) -> np.ndarray:
    """Robust world-up estimate (unit 3-vector) from (T, 17, 3) joints in Blender axes."""
    trunk = unit(np.median(unit(P[:, J["Thorax"]] - P[:, J["Pelvis"]]), axis=0), Z_AXIS)
    samples = []
    for hip, knee, ankle in (("LHip", "LKnee", "LAnkle"), ("RHip", "RKnee", "RAnkle")):
        thigh = unit(P[:, J[knee]] - P[:, J[hip]])
        shin = unit(P[:, J[ankle]] - P[:, J[knee]])
        straight = np.einsum("ti,ti->t", thigh, shin) > np.cos(np.radians(20))
        other = "RAnkle" if ankle == "LAnkle" else "LAnkle"
        lower = P[:, J[ankle]] @ trunk <= P[:, J[other]] @ trunk + 1e-9  # supporting leg
        sel = straight & lower
        if sel.any():
            samples.append(unit(P[sel, J[hip]] - P[sel, J[ankle]]))
    if samples:
        legs = np.concatenate(samples)
        if len(legs) >= max(3, 0.1 * len(P)):
            leg_up = unit(np.median(legs, axis=0), trunk)
            return unit(trunk + leg_up, trunk)
    return trunk


def _twist_reference(name: str, P: np.ndarray, d: np.ndarray):
    """Desired bone Z direction (T, 3), its weight (T,) in [0, 1] and whether to keep the
    twist within +-90 degrees, or None for bones that just follow their parent (no twist)."""
    if name in ("Hips", "Spine"):
        line = (P[:, J["LHip"]] - P[:, J["RHip"]]) if name == "Hips" else \
            (P[:, J["LShoulder"]] - P[:, J["RShoulder"]])
        ref = np.cross(line, d)  # forward for a person with Z up, facing -Y
        sin = np.divide(norm(ref), norm(line), out=np.zeros(len(d)), where=norm(line) > 1e-6)
        return ref, smoothstep(sin, 0.2, 0.5), False
    if name.endswith("UpperLeg") or name.endswith("UpperArm"):
        side = name[0]
        child = J[side + ("Ankle" if name.endswith("UpperLeg") else "Wrist")]
        mid = J[side + ("Knee" if name.endswith("UpperLeg") else "Elbow")]
        seg = P[:, child] - P[:, mid]
        perp = seg - np.einsum("ti,ti->t", seg, d)[:, None] * d
        sin = np.divide(norm(perp), norm(seg), out=np.zeros(len(d)), where=norm(seg) > 1e-6)
        weight = smoothstep(sin, np.sin(np.radians(5)), np.sin(np.radians(25)))
        if name.endswith("UpperLeg"):
            return -perp, weight, True  # the knee points forward; bent backwards = mirrored
        ref = np.cross(perp, d) * (1.0 if side == "L" else -1.0)  # up for a forward elbow bend
        return ref, weight, False
    return None


@dataclass
class PlacedJoints:
    """The joints in armature space before foot locking (:func:`place_joints`).

    ``joints`` (T, 17, 3) metres, Z up, constant bone lengths ``lengths`` (16,), the floor at
    Z = 0 (``floor_offset`` metres were removed from Z), frames whose lower foot would sink
    raised by ``ground_lift`` (T,); ``camera_to_armature`` (3, 3, the stature ``scale``
    included) and ``armature_offset`` (3,) map camera coordinates to armature space:
    ``joints[t, 0] = camera_to_armature @ pelvis_camera[t] + armature_offset + (0, 0, ground_lift[t])``.
    """

    joints: np.ndarray
    lengths: np.ndarray
    camera_to_armature: np.ndarray
    armature_offset: np.ndarray
    floor_offset: float
    ground_lift: np.ndarray
    scale: float
    tilt_deg: float
    tilt_corrected: bool


def place_joints(joints3d: np.ndarray, root: np.ndarray | None, fps: float, symmetric: bool = True,
                 max_tilt_deg: float = MAX_TILT_DEG,
                 stature_range: tuple[float, float] | None = STATURE_RANGE) -> PlacedJoints:
    """Camera joints -> armature space: axes, up correction, constant bone lengths, stature,
    floor (steps 1-4 of the module docstring). Arguments as :func:`solve_animation`."""
    joints3d = check_joints("joints3d", joints3d)
    T = joints3d.shape[0]
    if root is None:
        root_cam = np.zeros((T, 3))
    else:
        root_cam = check_joints("root", root, (3,))
        if root_cam.shape[0] != T:
            raise PoseMoEError(f"root has {root_cam.shape[0]} frames, joints3d has {T}")
    if not (np.isfinite(fps) and fps > 0):
        raise PoseMoEError(f"fps must be positive, got {fps}")

    cam = joints3d - joints3d[:, :1] + root_cam[:, None, :]
    P = cam @ CAMERA_TO_BLENDER.T

    up = _up_direction(P)
    tilt = float(np.degrees(np.arccos(np.clip(up @ Z_AXIS, -1, 1))))
    tilt_corrected = tilt <= max_tilt_deg
    R_tilt = min_rotation(up[None], Z_AXIS[None])[0] if tilt_corrected else np.eye(3)
    R_total = R_tilt @ CAMERA_TO_BLENDER
    P = P @ R_tilt.T

    lengths = bone_lengths(P, symmetric)
    P = rechain(P, lengths)
    scale = 1.0
    if stature_range is not None:
        stature = float(rest_pose(lengths)[0][J["Head"], 2])
        body = stature - ANKLE_HEIGHT  # the sole-to-ankle height is a constant, not scaled
        target = float(np.clip(stature, *stature_range))
        scale = (target - ANKLE_HEIGHT) / body if body > 0 else 1.0
        P = P * scale
        lengths = lengths * scale

    low_ankle = np.minimum(P[:, J["LAnkle"], 2], P[:, J["RAnkle"], 2])
    floor = float(np.median(low_ankle) - ANKLE_HEIGHT)
    offset = np.array([-P[0, 0, 0], -P[0, 0, 1], -floor])
    P = P + offset
    # Never below the floor: where the lower foot would sink (a pose whose legs are straighter
    # than the 2D root drop says, e.g. a deep squat), the body is raised onto the floor.
    sink = np.maximum(0.0, ANKLE_HEIGHT - (low_ankle - floor))
    P[:, :, 2] += sink[:, None]
    return PlacedJoints(joints=P, lengths=lengths, camera_to_armature=scale * R_total,
                        armature_offset=offset, floor_offset=floor, ground_lift=sink, scale=scale,
                        tilt_deg=tilt, tilt_corrected=bool(tilt_corrected))


def solve_pose(P: np.ndarray, lengths: np.ndarray, fps: float, feet=None,
               fingers: np.ndarray | None = None, palms=None,
               camera_to_armature: np.ndarray | None = None) -> Animation:
    """Bone rotations and the root bone's location of the generated rig for joints ``P``
    (T, 17, 3) in armature space with constant bone ``lengths`` (16,) (step 5 of the module
    docstring); ``feet``: a :class:`~.feet.FootPose` (None: :func:`~.feet.solve_feet` without
    landmarks or contacts, i.e. flat feet turned with the pelvis); ``fingers``: (T, 2, 5, 3)
    flexion in radians ([left, right], thumb .. little, proximal .. distal, see
    :func:`~.fingers.solve_hands`; None: a relaxed hand, :func:`~.fingers.relaxed_rig_angles`), each finger bone turned by it about its
    X axis towards the palm; or (T, 2, 5, 5) :meth:`~.fingers.HandSolve.rig_angles`, the same
    plus each finger's base flexion and spread, which then turn the proximal bones on their
    own axes instead (:func:`~.hand_bones.finger_base_rotation`: the fingers spread in the palm plane, the
    thumb flexes across the palm and abducts out of it). ``palms``: None (the hands continue
    the forearms) or ``(palm (T, 2, 3, 3), weight (T, 2))`` (:class:`~.fingers.HandSolve`'s
    ``palm`` and ``palm_weight``), the hand bones turned with the palms (:func:`~.hand_bones.hand_rotation`;
    ``camera_to_armature``: the camera's axes in the armature, default
    :data:`~.root.CAMERA_TO_BLENDER`). ``camera`` and ``report`` are left for the caller."""
    T = P.shape[0]
    rest_pts, heads, tails, M = rig_rest_pose(lengths)
    if feet is None:
        feet = feet_mod.solve_feet(P, fps, leg_length(lengths))
    Q = rig_points(P, lengths)
    if fingers is None:
        fingers = fingers_mod.relaxed_rig_angles((T, 2))
    fingers = np.asarray(fingers, dtype=np.float64)
    if fingers.shape not in ((T, 2, 5, 3), (T, 2, 5, 5)):
        raise PoseMoEError(f"fingers must be ({T}, 2, 5, 3) or ({T}, 2, 5, 5), got {fingers.shape}")
    bases = fingers.shape[-1] == 5
    foot_side = {"LeftFoot": 0, "RightFoot": 1}
    toe_side = {"LeftToes": 0, "RightToes": 1}

    G = np.zeros((T, NUM_RIG_BONES, 3, 3))
    for b, name in enumerate(RIG_BONE_NAMES):
        if name in foot_side:  # world rotation from the rest pose, solved in .feet
            G[:, b] = feet.rotations[:, foot_side[name]]
            continue
        if name in toe_side:  # the foot's, bent up about the rest foot's side axis (+X: up is -angle)
            G[:, b] = feet.rotations[:, toe_side[name]] @ rot_x(-feet.toe_bend[:, toe_side[name]])
            continue
        p = RIG_BONE_PARENTS[b]
        Gp = np.broadcast_to(np.eye(3), (T, 3, 3)) if p < 0 else G[:, p]
        if palms is not None and name in ("LeftHand", "RightHand"):  # turned with the palm
            side = 0 if name == "LeftHand" else 1
            A = CAMERA_TO_BLENDER if camera_to_armature is None else camera_to_armature
            G[:, b] = hand_rotation(side, Gp, np.asarray(palms[0], dtype=np.float64)[:, side],
                                    np.asarray(palms[1], dtype=np.float64)[:, side], A, fps)
            continue
        if name in FINGER_BONE_INDEX:  # local rotation: flexion about the bone's X (towards -Z, the palm)
            side, f, k = FINGER_BONE_INDEX[name]
            if bases and k == 0:  # the base joint on its own axes: flexion and spread
                G[:, b] = Gp @ finger_base_rotation(side, f, fingers[:, side, f, 3], fingers[:, side, f, 4])
            else:
                G[:, b] = Gp @ M[b] @ rot_x(-fingers[:, side, f, k]) @ M[b].T
            continue
        d = unit(Q[:, RIG_TAIL_POINT[b]] - Q[:, RIG_HEAD_POINT[b]])
        zero_rot_dir = Gp @ M[b][:, 1]
        F = min_rotation(zero_rot_dir, d) @ Gp @ M[b]  # swing-only frame, Y = d
        twist = _twist_reference(name, P, d)
        if twist is not None:
            ref, weight, half = twist
            phi = np.arctan2(np.einsum("ti,ti->t", ref, F[:, :, 0]),
                             np.einsum("ti,ti->t", ref, F[:, :, 2]))
            if half:
                phi = np.where(phi > np.pi / 2, phi - np.pi,
                               np.where(phi < -np.pi / 2, phi + np.pi, phi))
            else:  # no jump when the reference passes behind the fallback (phi ~ +-180)
                phi = _unwrap_runs(phi, weight > 0)
            F = F @ rot_y(weight * phi)
        G[:, b] = F @ M[b].T

    Gp_all = np.stack([np.broadcast_to(np.eye(3), (T, 3, 3)) if p < 0 else G[:, p]
                       for p in RIG_BONE_PARENTS], axis=1)
    local = np.einsum("bji,tbkj,tbkl,blm->tbim", M, Gp_all, G, M)  # M^T Gp^T G M
    quat = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_quat().reshape(T, NUM_RIG_BONES, 4)
    quat = quat[..., [3, 0, 1, 2]]  # w first (Blender)
    quat = continuous_quaternions(quat)

    root_location = (P[:, 0] - rest_pts[0]) @ M[0]  # M_hips^T (pelvis - pelvis_rest)
    anim = Animation(fps=float(fps), rest_heads=heads, rest_tails=tails, rest_matrices=M,
                     rotations=quat, root_location=root_location,
                     joints_world=np.zeros((T, NUM_JOINTS, 3)))
    anim.joints_world = forward_kinematics(anim)
    return anim


def solve_animation(joints3d: np.ndarray, root: np.ndarray | None, fps: float,
                    root_motion: bool = True, symmetric: bool = True,
                    max_tilt_deg: float = MAX_TILT_DEG,
                    stature_range: tuple[float, float] | None = STATURE_RANGE,
                    foot_lock: bool = False, keypoints2d: np.ndarray | None = None,
                    lock=None, feet3d: np.ndarray | None = None,
                    fingers: np.ndarray | None = None, palms=None) -> Animation:
    """Solve the generated rig's animation from 3D joints: :func:`place_joints`, foot locking
    (:func:`~.footlock.lock_feet`, when ``foot_lock``; or a ready ``lock`` of the placed
    joints, as :func:`~.pipeline.process_clip` passes it), :func:`~.root.root_trajectory` and
    :func:`solve_pose`.

    Args:
        joints3d: (T, 17, 3) metres, root-relative, camera oriented (x right, y down, z fwd).
        root: (T, 3) metres, the Pelvis in camera coordinates, or None (Pelvis fixed).
        fps: frames per second of the clip.
        root_motion: False keeps the Pelvis height but removes horizontal translation.
        symmetric: average left/right bone lengths.
        max_tilt_deg: larger estimated camera tilts are not corrected.
        stature_range: (min, max) metres of standing height (top of head to sole) of the
            solved character. A monocular estimate's absolute scale is ambiguous, so a person
            solved outside this range is scaled (about the camera centre, which keeps the 2D
            projection) to the nearest bound; ``camera.scale`` says by how much. None: off.
        foot_lock: detect foot contacts, pin the contacting feet (two-bone leg IK, exact
            thigh/shin lengths) and put the floor under them (:mod:`.footlock`); the body's
            horizontal track and height then follow the planted feet.
        keypoints2d: optional (T, 17, 3) pixels + confidence of the same frames, used by
            foot locking to tell still feet from moving ones.
        feet3d: optional (T, 2, 3, 4) BlazePose's ankle, heel and toe-tip world landmarks per
            side (camera oriented, metres) + visibility: the feet's rotations (:mod:`.feet`);
            None: flat feet turned with the pelvis.
        fingers: optional (T, 2, 5, 3) finger flexion in radians (:func:`~.fingers.solve_hands`),
            or (T, 2, 5, 5) with the bases' flexion and spread (:meth:`~.fingers.HandSolve.rig_angles`,
            see :func:`solve_pose`); None: relaxed hands.
        palms: optional ``(palm (T, 2, 3, 3), weight (T, 2))``, the palms' frames in camera axes
            and how much each hand was seen (:class:`~.fingers.HandSolve`): the hand bones turn
            with them (:func:`solve_pose`); None: the hands continue the forearms.

    Returns:
        An :class:`Animation`; see the module docstring for the axes. Twist of each bone:
        ``Hips`` from the hip line, ``Spine`` from the shoulder line, thighs from the plane
        of the bent knee (the knee points along bone Z) and upper arms from the plane of the
        bent elbow, each fading to "no twist relative to the parent" as the reference
        degenerates (straight limb, hip line along the spine); every other bone only swings
        (minimal rotation) relative to its parent, so knees and elbows are hinges; the
        feet and toes come from :func:`~.feet.solve_feet`.
        ``contacts`` holds the locked frames ((T, 2) bool, None without foot locking) and
        ``root_shift`` the per-frame shift of :class:`~.root.RootTrajectory`; ``camera`` (a
        :class:`~.skeleton.CameraMapping`) holds ``camera_to_armature`` (3, 3) and
        ``armature_offset`` (3,) such that
        ``armature = camera_to_armature @ camera + armature_offset + root_shift[t]``, the
        stature ``scale`` and ``root_motion``; ``report`` (a :class:`~.skeleton.SolveReport`)
        holds ``bone_lengths`` (the 16 joint bones' lengths in metres; ``Spine``: the whole
        Spine -> Thorax segment, which the rig splits into ``Spine`` and ``Chest``),
        ``floor_offset`` (metres removed from Z), ``up_correction_deg``,
        ``estimated_tilt_deg``, ``tilt_corrected``, ``ankle_height``, ``foot_lock``
        (:meth:`~.footlock.FootLock.summary`, or None) and ``feet``
        (:meth:`~.feet.FootPose.summary`).
    """
    placed = place_joints(joints3d, root, fps, symmetric, max_tilt_deg, stature_range)
    if lock is None and foot_lock:
        from .footlock import lock_feet
        lock = lock_feet(placed.joints, fps, keypoints2d=keypoints2d)
    return animation_from(placed, lock, fps, root_motion, feet3d=feet3d, fingers=fingers, palms=palms)


def animation_from(placed: PlacedJoints, lock, fps: float, root_motion: bool = True,
                   feet3d: np.ndarray | None = None, fingers: np.ndarray | None = None,
                   palms=None) -> Animation:
    """The :class:`Animation` of placed (and possibly foot-locked) joints: the root
    trajectory, the feet (:func:`~.feet.solve_feet` with ``feet3d`` (T, 2, 3, 4), BlazePose's
    ankle/heel/toe-tip world landmarks, or None, and the lock's contacts), the rotations and
    the report (see :func:`solve_animation`); ``fingers``, ``palms``: see :func:`solve_pose`."""
    P, traj = root_trajectory(placed, lock, root_motion)
    contacts = None if lock is None else np.asarray(lock.contacts, bool)
    feet = feet_mod.solve_feet(P, fps, leg_length(placed.lengths),
                               camera_to_armature=traj.camera_to_armature, feet3d=feet3d,
                               contacts=contacts)
    anim = solve_pose(P, placed.lengths, fps, feet, fingers, palms=palms,
                      camera_to_armature=traj.camera_to_armature)
    anim.contacts = contacts
    anim.root_shift = traj.shift
    anim.camera = CameraMapping(camera_to_armature=np.array(traj.camera_to_armature, dtype=np.float64),
                                armature_offset=np.array(traj.armature_offset, dtype=np.float64),
                                root_motion=bool(root_motion), scale=placed.scale)
    anim.report = SolveReport(
        bone_lengths={n: float(x) for n, x in zip(BONE_NAMES, placed.lengths)},
        floor_offset=traj.floor_offset,
        up_correction_deg=placed.tilt_deg if placed.tilt_corrected else 0.0,
        estimated_tilt_deg=placed.tilt_deg,
        tilt_corrected=placed.tilt_corrected,
        ankle_height=ANKLE_HEIGHT,
        foot_lock=None if lock is None else lock.summary(),
        feet=feet.summary())
    return anim

