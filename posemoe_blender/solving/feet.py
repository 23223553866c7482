"""Foot and toe rotations of the generated rig from BlazePose's heels and toe tips (no bpy).

BlazePose gives, per side, the ankle, the heel and the toe tip ("foot index"; landmarks 27/29/31
left, 28/30/32 right). Its world landmarks (metres, camera oriented: x right, y down, z
forward) of those three points fix the foot's orientation: *forward* is heel -> toe tip, *up*
is the ankle's offset from that line, perpendicular to it. :func:`solve_feet` turns them into
each Foot bone's world rotation from its rest pose (rest: flat on the floor, facing -Y) and a
toe bend:

1. **Measured frame** (camera -> armature rotation of the solve), weighted by the three
   landmarks' smallest visibility (``smoothstep(0.4, 0.8)``): where they are unseen the foot
   eases to the **fallback**, flat on the floor and turned with the pelvis (the hip line's
   normal). The blend is a rotation slerp, so nothing snaps.
2. **Anatomical limit**: the foot is kept within :data:`DORSIFLEXION_DEG` (toes up) and
   :data:`PLANTARFLEXION_DEG` (toes down) of the shin's right angle, measured in the foot's
   sagittal plane.
3. **Temporal smoothing**: quaternions low-passed with a Gaussian of :data:`SMOOTH_S` seconds.
4. **Planted feet stay flat** (consistent with :mod:`.footlock`): over each run of frames a
   foot is locked the foot is levelled (no pitch or roll) and keeps one heading (the run's
   circular mean), eased in and out over :data:`CONTACT_EASE_S` seconds around the run.
5. **Floor**: a foot is pitched so that its ball does not sink below its rest height above
   the floor nor its heel below the floor, where the ankle's height allows.
6. **Toe-off**: where the rigid foot would put the toe tip below its rest height above the
   floor (heel raised, ball still down), the toes bend up about the foot's side axis just
   enough to keep the tip there (at most :data:`MAX_TOE_BEND_DEG`).

Arrays: ``feet3d`` (T, 2, 3, 4): [left, right] x [ankle, heel, toe tip] x (x, y, z metres
camera oriented, visibility); ``feet2d`` (T, 2, 3, 3): the same points in pixels + visibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from ..geometry import Z_AXIS, continuous_quaternions, rot_z, smoothstep, unit
from ..joints import JOINT_INDEX as J

#: BlazePose landmarks per side: (ankle, heel, toe tip), [left, right].
FOOT_LANDMARKS = ((27, 29, 31), (28, 30, 32))
#: Height of the ankle joint above the sole (metres; the same as ``rest.ANKLE_HEIGHT``).
ANKLE_HEIGHT = 0.08
#: Rest foot for a leg (thigh + shin) of :data:`REFERENCE_LEG` metres; horizontal sizes scale
#: with the leg, heights do not. Ball of the foot ahead of the ankle and its height; toe
#: length ahead of the ball and the toe tip's height; the heel behind the ankle (on the floor).
REFERENCE_LEG = 0.90
BALL_FORWARD, BALL_HEIGHT = 0.13, 0.025
TOE_LENGTH, TOE_TIP_HEIGHT = 0.06, 0.015
HEEL_BACK = 0.05
#: Anatomical range of the ankle relative to the shin's right angle (degrees).
DORSIFLEXION_DEG, PLANTARFLEXION_DEG = 30.0, 55.0
#: Most the toes bend up (degrees).
MAX_TOE_BEND_DEG = 60.0
#: Gaussian smoothing of the foot rotations (seconds, sigma) and the ease into a plant.
SMOOTH_S = 0.04
CONTACT_EASE_S = 0.1
#: Visibility ramp of the landmarks' weight.
VISIBILITY_RAMP = (0.4, 0.8)

@dataclass
class FootPose:
    """The solved feet. ``rotations`` (T, 2, 3, 3): each Foot bone's world rotation from its
    rest pose (armature space), [left, right]; ``toe_bend`` (T, 2) radians, the Toes bent up
    about the foot's side axis (>= 0); ``measured`` (T, 2) in [0, 1], the weight the
    landmarks had (0: the fallback); ``flat`` (T, 2) in [0, 1], the weight of the planted,
    levelled foot."""

    rotations: np.ndarray
    toe_bend: np.ndarray
    measured: np.ndarray
    flat: np.ndarray

    def summary(self) -> dict:
        """JSON-friendly figures for ``SolveReport.feet`` (``Animation.report``)."""
        return {"landmark_frames": float(np.mean(self.measured > 0.5)),
                "planted_frames": float(np.mean(self.flat > 0.99)),
                "toe_bend_frames": float(np.mean(self.toe_bend > np.radians(5))),
                "max_toe_bend_deg": float(np.degrees(self.toe_bend.max())) if self.toe_bend.size else 0.0}


def foot_offsets(leg_length: float) -> dict:
    """Rest offsets (3,) from the ankle joint, metres, Blender axes (facing -Y): ``ball``,
    ``toe`` (tip) and ``heel``, for a leg (thigh + shin) of ``leg_length`` metres."""
    k = float(leg_length) / REFERENCE_LEG if leg_length > 0 else 1.0
    return {"ball": np.array([0.0, -BALL_FORWARD * k, BALL_HEIGHT - ANKLE_HEIGHT]),
            "toe": np.array([0.0, -(BALL_FORWARD + TOE_LENGTH) * k, TOE_TIP_HEIGHT - ANKLE_HEIGHT]),
            "heel": np.array([0.0, HEEL_BACK * k, -ANKLE_HEIGHT])}


def _frame(fwd: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(..., 3, 3) orthonormal frames, columns (side, forward, up), from forward and an up hint."""
    f = unit(fwd)
    u = unit(up - np.sum(up * f, axis=-1, keepdims=True) * f)
    return np.stack([np.cross(f, u), f, u], axis=-1)


def _slerp_to(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations a -> b by weights (N,) (0: a, 1: b)."""
    rel = Rotation.from_matrix(np.einsum("nji,njk->nik", a, b)).as_rotvec()
    return a @ Rotation.from_rotvec(rel * w[:, None]).as_matrix()


def _heading(D: np.ndarray) -> np.ndarray:
    """(N,) yaw (radians, counter-clockwise from -Y) of the feet's forward ``D @ -Y``."""
    f = D @ np.array([0.0, -1.0, 0.0])
    return np.arctan2(f[:, 0], -f[:, 1])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def _smooth_rotations(D: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass of (T, 3, 3) rotations through sign-continuous quaternions."""
    if sigma <= 0 or len(D) < 3:
        return D
    q = continuous_quaternions(Rotation.from_matrix(D).as_quat())
    q = gaussian_filter1d(q, sigma, axis=0, mode="nearest")
    return Rotation.from_quat(q).as_matrix()


def _limit_to_shin(D: np.ndarray, shin_up: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Keep the foot's pitch relative to the shin within the anatomical range: the angle
    between the foot's up and the shin (ankle -> knee) in the foot's sagittal plane."""
    F = D @ rest                                       # posed frames (side, fwd, up)
    side, fwd, up = F[..., 0], F[..., 1], F[..., 2]
    s = unit(shin_up - np.sum(shin_up * side, -1, keepdims=True) * side)
    # pitch > 0: toes up relative to the shin's right angle
    pitch = np.arctan2(np.sum(np.cross(up, s) * side, -1), np.sum(up * s, -1))
    pitch = -pitch
    lo, hi = -np.radians(PLANTARFLEXION_DEG), np.radians(DORSIFLEXION_DEG)
    fix = np.clip(pitch, lo, hi) - pitch              # turn about the side axis by this much
    if not np.any(np.abs(fix) > 1e-9):
        return D
    R = Rotation.from_rotvec(side * fix[:, None]).as_matrix()
    return R @ D


def _keep_above_floor(D: np.ndarray, ankle_z: np.ndarray, off: dict, rest: np.ndarray) -> np.ndarray:
    """Pitch the feet (about their own side axes) so that neither the ball of the foot sinks
    below its rest height above the floor (Z = 0) nor the heel below the floor, where the
    ankle's height allows it: a toe-down foot whose ankle is at standing height would push
    its ball into the ground."""
    side = (D @ rest)[..., 0]
    fix = np.zeros(len(D))
    for key, floor, sign in (("ball", BALL_HEIGHT, 1.0), ("heel", 0.0, -1.0)):
        v = D @ off[key]
        n = float(np.linalg.norm(off[key]))
        elev = np.arcsin(np.clip(v[:, 2] / n, -1, 1))
        need = np.arcsin(np.clip((floor - ankle_z) / n, -1, 1))
        short = np.maximum(need - elev, 0.0)  # raise this end by turning the foot
        fix += np.where(fix == 0.0, sign * short, 0.0)  # never both: the ankle is too low then
    if not np.any(fix != 0.0):
        return D
    return Rotation.from_rotvec(side * fix[:, None]).as_matrix() @ D


def solve_feet(P: np.ndarray, fps: float, leg_length: float,
               camera_to_armature: Optional[np.ndarray] = None, feet3d: Optional[np.ndarray] = None,
               contacts: Optional[np.ndarray] = None) -> FootPose:
    """Foot rotations and toe bends for joints ``P`` (T, 17, 3) in armature space (Z up, the
    floor at Z = 0), see the module docstring.

    Args:
        P: (T, 17, 3) metres, the final (foot-locked) joints the rig reproduces.
        fps: frames per second.
        leg_length: thigh + shin (metres), sizes the rest foot (:func:`foot_offsets`).
        camera_to_armature: (3, 3) the solve's camera -> armature mapping (scale included),
            needed with ``feet3d``.
        feet3d: (T, 2, 3, 4) or None: world landmarks (ankle, heel, toe tip) per side,
            camera oriented, and visibility. None: every frame uses the fallback.
        contacts: (T, 2) bool or None: the frames foot locking pinned each foot.
    """
    P = np.asarray(P, dtype=np.float64)
    T = P.shape[0]
    off = foot_offsets(leg_length)
    rest = _frame(off["toe"] - off["heel"], -off["heel"])  # (3, 3) the rest foot frame
    line = P[:, J["LHip"]] - P[:, J["RHip"]]
    facing = np.cross(line, Z_AXIS)
    yaw_fb = np.arctan2(facing[:, 0], -facing[:, 1])
    yaw_fb = np.where(np.linalg.norm(facing[:, :2], axis=-1) > 1e-9, yaw_fb, 0.0)
    D_fb = rot_z(yaw_fb)                               # flat, turned with the pelvis

    rotations = np.empty((T, 2, 3, 3))
    measured = np.zeros((T, 2))
    flat = np.zeros((T, 2))
    toe_bend = np.zeros((T, 2))
    R_c = None
    if feet3d is not None and camera_to_armature is not None:
        A = np.asarray(camera_to_armature, dtype=np.float64)
        R_c = A / np.cbrt(np.linalg.det(A))
        feet3d = np.asarray(feet3d, dtype=np.float64)
        if feet3d.shape != (T, 2, 3, 4):
            raise ValueError(f"feet3d has shape {feet3d.shape}, expected ({T}, 2, 3, 4)")
    sigma = SMOOTH_S * fps
    ease = max(CONTACT_EASE_S * fps, 1e-6)
    for s, (hip, knee, ankle) in enumerate((("LHip", "LKnee", "LAnkle"), ("RHip", "RKnee", "RAnkle"))):
        D = D_fb.copy()
        if R_c is not None:
            pts = feet3d[:, s, :, :3] @ R_c.T           # (T, 3, 3) ankle, heel, toe in armature axes
            vis = feet3d[:, s, :, 3].min(axis=1)
            fwd = pts[:, 2] - pts[:, 1]
            up = pts[:, 0] - pts[:, 1]
            ok = (np.linalg.norm(fwd, axis=-1) > 1e-4) & np.all(np.isfinite(pts), axis=(1, 2))
            w = np.where(ok, smoothstep(vis, *VISIBILITY_RAMP), 0.0)
            if w.any():
                D_m = np.einsum("tij,kj->tik", _frame(np.where(ok[:, None], fwd, -rest[:, 1]),
                                                      np.where(ok[:, None], up, Z_AXIS)), rest)
                D = _slerp_to(D_fb, D_m, w)
            measured[:, s] = w
        shin_up = P[:, J[knee]] - P[:, J[ankle]]
        D = _limit_to_shin(D, shin_up, rest)
        D = _smooth_rotations(D, sigma)
        if contacts is not None:
            c = np.asarray(contacts[:, s], bool)
            if c.any():
                heading = _heading(D)
                target = np.empty(T)
                wc = np.zeros(T)
                dist = np.full(T, np.inf)
                idx = np.arange(T)
                for a, b in _runs(c):
                    run_yaw = float(np.angle(np.mean(np.exp(1j * heading[a:b]))))
                    d = np.maximum(np.maximum(a - idx, idx - (b - 1)), 0).astype(np.float64)
                    nearer = d < dist
                    target[nearer] = run_yaw
                    dist[nearer] = d[nearer]
                wc = smoothstep(1.0 - dist / ease)
                sel = wc > 0
                D[sel] = _slerp_to(D[sel], rot_z(target[sel]), wc[sel])
                flat[:, s] = wc
        D = _keep_above_floor(D, P[:, J[ankle], 2], off, rest)
        rotations[:, s] = D
        # toe-off: keep the toe tip from going below its rest height
        ball = P[:, J[ankle]] + D @ off["ball"]
        toe_vec = D @ (off["toe"] - off["ball"])
        Lt = float(np.linalg.norm(off["toe"] - off["ball"]))
        elev = np.arcsin(np.clip(toe_vec[:, 2] / Lt, -1, 1))
        need = np.arcsin(np.clip((TOE_TIP_HEIGHT - ball[:, 2]) / Lt, -1, 1))
        bend = np.clip(need - elev, 0.0, np.radians(MAX_TOE_BEND_DEG))
        bend = np.where(ball[:, 2] < TOE_TIP_HEIGHT + Lt, bend, 0.0)
        if sigma > 0 and T >= 3:
            bend = np.maximum(gaussian_filter1d(bend, 0.5 * sigma, mode="nearest"), 0.0)
        toe_bend[:, s] = bend
    return FootPose(rotations=rotations, toe_bend=toe_bend, measured=measured, flat=flat)


def foot_pitch_deg(rotations: np.ndarray) -> np.ndarray:
    """(...,) pitch in degrees (toes up > 0) of feet with world rotations (..., 3, 3) from the
    rest foot (facing -Y): the elevation of the rotated forward axis."""
    f = np.asarray(rotations) @ np.array([0.0, -1.0, 0.0])
    return np.degrees(np.arcsin(np.clip(f[..., 2], -1.0, 1.0)))
