"""The hand and finger bones' turns that do not follow from the 17 joints (no bpy here).

* :func:`hand_frame`: the rest hand's axes (along the hand, towards the thumb, back of the hand);
* :func:`hand_rotation`: the hand bone turned with the palm the hand tracker saw, relative to
  the forearm, limited to what a wrist does (:data:`HAND_LIMITS_DEG`) and eased where unseen;
* :func:`finger_base_rotation`: a finger's proximal bone turned by its base joint's flexion and
  spread (the thumb: CMC flexion across the palm and palmar abduction).

:func:`~.body.solve_pose` applies them; :mod:`.fingers` measures the angles.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from ..geometry import X_AXIS, Y_AXIS, Z_AXIS, axis_rotation, unit
from ..smoothing.filters import nearest_kept
from . import fingers as fingers_mod
from .skeleton import FINGER_BONE_NAMES


def hand_frame(side: int) -> np.ndarray:
    """(3, 3) columns ``u`` (along the hand), ``v`` (towards the thumb), ``n`` (back of the
    hand) of a rest (T-pose, palm down) hand: left (0) along +X, right (1) along -X; the
    thumbs point forward (-Y)."""
    u = X_AXIS if side == 0 else -X_AXIS
    return np.stack([u, -Y_AXIS, Z_AXIS], axis=1)


#: Finger bone name -> (side 0 left / 1 right, finger 0 thumb .. 4 little, phalanx 0..2).
FINGER_BONE_INDEX = {f"{side}{finger}{p}": (s, f, k)
                     for s, side in enumerate(("Left", "Right"))
                     for f, finger in enumerate(fingers_mod.FINGER_NAMES)
                     for k, p in enumerate(fingers_mod.PHALANX_NAMES)}
assert set(FINGER_BONE_INDEX) == set(FINGER_BONE_NAMES)


def finger_base_rotation(side: int, f: int, base_flexion: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """(T, 3, 3) world delta, relative to the hand's, of ``side``'s finger ``f``'s proximal
    bone for its base joint's ``base_flexion`` and ``spread`` (T,) (:func:`~.fingers.finger_bases`):
    the rest direction (:data:`~.fingers.FINGER_LAYOUT`) turned out of the palm plane to the
    measured elevation, then about the palm's normal to the measured azimuth. Index .. little:
    the elevation is the MCP flexion (towards the palm) and the azimuth the spread (away from
    the middle finger); the thumb: the elevation is its CMC palmar abduction and the azimuth
    the rest thumb's less its CMC flexion (across the palm)."""
    F = hand_frame(side)
    u, v, n = F.T
    name = fingers_mod.FINGER_NAMES[f]
    az0, el0 = fingers_mod._layout_angles(name)
    if f == 0:
        az, el = fingers_mod.THUMB_REST[0] - base_flexion, spread
    else:
        az, el = fingers_mod._SPREAD_SIGN[f - 1] * spread, base_flexion
    w0 = np.cos(az0) * u + np.sin(az0) * v
    return axis_rotation(unit(np.cross(u, v)), az - az0) @ axis_rotation(unit(np.cross(w0, -n)), el - el0)


#: The hand bone's turn relative to the forearm from the palm's orientation (:func:`hand_rotation`),
#: degrees, (low, high), in each hand's own frame (a left hand mirrored): wrist flexion
#: (towards the palm, +) / extension (-) about the hand's thumb axis, radial (towards the
#: thumb, +) / ulnar (-) deviation about the palm's normal, and the twist about the hand's
#: axis. Pronation/supination is the forearm's twist, but the rig's forearm bones carry none
#: of it (their twist is the least turn from the upper arm's, not the anatomical one), so the
#: hand bone carries the palm's whole twist relative to the forearm, unlimited (a limit would
#: clip right readings, and flip sides where they cross +-180 degrees).
HAND_LIMITS_DEG = {"flexion": (-70.0, 80.0), "deviation": (-35.0, 20.0), "twist": (-180.0, 180.0)}

#: A palm whose hand axis turns more than this (degrees) past :data:`HAND_LIMITS_DEG`'s
#: flexion or deviation from the forearm is taken as misread: unseen there (eased).
HAND_IMPLAUSIBLE_DEG = 30.0

#: The share of the palm's measured swing (flexion, deviation: where the hand points) that
#: the hand bone takes; the rest continues the forearm. Decided on the 45-degree renders
#: (docs/benchmarks.md): the whole swing pointed the hand worse than the forearm did
#: (MediaPipe's hand landmarks overstate it), half of it better; the twist is taken whole.
HAND_SWING_SHARE = 0.5


def hand_rotation(side: int, Gp: np.ndarray, palm: np.ndarray, weight: np.ndarray,
                   camera_to_armature: np.ndarray, fps: float = 30.0) -> np.ndarray:
    """(T, 3, 3) world delta of ``side``'s hand bone turned with the palm: ``palm`` (T, 3, 3)
    the palm's frame in camera axes (:attr:`~.fingers.HandSolve.palm`), taken to armature axes
    (the rotation of ``camera_to_armature``), relative to the forearm's world delta ``Gp``,
    limited (:data:`HAND_LIMITS_DEG`, mirror-symmetric: measured in each hand's own frame; the
    swing scaled by :data:`HAND_SWING_SHARE` first; a reading :data:`HAND_IMPLAUSIBLE_DEG` past
    the limits held from the nearest plausible one and eased out) and weighted by ``weight``
    (T,) (0: the hand continues the forearm, as without hands); ``fps``: the ease's time scale."""
    U, _, Vt = np.linalg.svd(np.asarray(camera_to_armature, dtype=np.float64))
    A = U @ Vt                                          # the rotation (any scale removed)
    F = hand_frame(side)                                # rest: along the hand, thumb, back
    G_meas = np.einsum("ij,tjk,lk->til", A, palm, F)    # (A palm) F^T
    L = np.einsum("tji,tjk->tik", Gp, G_meas)           # relative to the forearm
    # no palm of this side (e.g. the identity of a hand never seen: not a left hand's frame)
    bad = ~(np.linalg.det(L) > 0.5)
    L[bad] = np.eye(3)
    weight = np.where(bad, 0.0, weight)
    Lh = np.einsum("ji,tjk,kl->til", F, L, F)           # in the hand's own (mirrored for the left) frame
    lim = {k: np.radians(v) for k, v in HAND_LIMITS_DEG.items()}
    # the swing from where the hand's axis points in the forearm's frame: flexion (towards the
    # palm, -Z, about Y) and deviation (towards the thumb, +Y, about Z)
    u = Lh[:, :, 0]
    flex = np.arctan2(-u[:, 2], u[:, 0])
    dev = np.arctan2(u[:, 1], np.hypot(u[:, 0], u[:, 2]))
    # a reading far outside what a wrist does (a palm read wrong, or the forearm): unseen
    slack = np.radians(HAND_IMPLAUSIBLE_DEG)
    odd = ((flex < lim["flexion"][0] - slack) | (flex > lim["flexion"][1] + slack)
           | (dev < lim["deviation"][0] - slack) | (dev > lim["deviation"][1] + slack))
    w = np.clip(np.asarray(weight, dtype=np.float64), 0.0, 1.0)
    flex = np.clip(HAND_SWING_SHARE * flex, *lim["flexion"])
    dev = np.clip(HAND_SWING_SHARE * dev, *lim["deviation"])
    zero = np.zeros_like(flex)
    swing = Rotation.from_rotvec(np.stack([zero, zero, dev], 1)) * Rotation.from_rotvec(np.stack([zero, flex, zero], 1))
    # the twist: what is left about the hand's axis
    rest = (swing.inv() * Rotation.from_matrix(Lh)).as_quat()
    rest = rest * np.where(rest[:, 3:] < 0, -1.0, 1.0)
    twist = 2 * np.arctan2(rest[:, 0], rest[:, 3])
    twist = np.clip((twist + np.pi) % (2 * np.pi) - np.pi, *lim["twist"])
    if odd.all():
        w = np.zeros_like(w)
    elif odd.any():   # held from the nearest plausible frame, eased out towards the forearm
        keep = gaussian_filter1d((~odd).astype(np.float64), sigma=max(fingers_mod.EASE_S * fps, 0.5), mode="nearest")
        w = np.minimum(w, np.clip(keep * 1.25, 0.0, 1.0))
        near = nearest_kept(~odd)
        flex, dev, twist = flex[near], dev[near], twist[near]
        swing = Rotation.from_rotvec(np.stack([zero, zero, dev], 1)) * Rotation.from_rotvec(np.stack([zero, flex, zero], 1))
    Lh = swing * Rotation.from_rotvec(np.stack([twist, zero, zero], 1))
    Lh = Rotation.from_rotvec(Lh.as_rotvec() * w[:, None]).as_matrix()
    return Gp @ np.einsum("ij,tjk,lk->til", F, Lh, F)

