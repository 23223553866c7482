"""The detector's landmark convention vs the training skeleton's joints.

BlazePose does not put its hips, ankles, elbows... where a motion-capture skeleton has its joint
centres: its hips sit lower and its ankles higher than the mocap joints, and its torso-to-leg
proportion differs (measurements in docs/joint-mapping.md, from ``posemoe_lab/experiments/keypoint_bias.py`` and
``posemoe_lab/experiments/landmark_proportions.py``). The lifting networks learnt the mocap convention, so the 2D is
moved onto it before lifting, joint by joint:

    corrected_j = p_j + alpha_j * ref_j + beta_j * width_j

where ``ref_j`` is the joint's reference bone in the image (the torso, Pelvis -> Thorax, for the
Pelvis, hips, spine, neck, head and shoulders; the parent bone for knees, ankles, elbows and
wrists) and ``width_j`` its side's half of the body's width line (half the right -> left hip
vector for the left hip, knee and ankle, minus that for the right ones; the shoulder line for
the arm joints; zero on the centre line). ``alpha_j`` moves a joint along its bone, ``beta_j``
towards (< 0) or away from the body's midline: BlazePose's hips and shoulders sit wider than a
skeleton's hip and shoulder joint centres. Both are one number per joint and side-free (left
and right share them), fitted by least squares on renders of *training-split* motion whose
true 2D joints are known (``posemoe_lab/experiments/fit_landmark_correction.py``); the numbers and their
provenance are the data file :data:`CORRECTION_FILE`. Built from the person's own
bones, the correction does not depend on image size, distance, position or view (the width
line shortens by itself in a side view).

Keypoints are ``(..., 17, 2 or 3)`` pixels (a third channel, the confidence, passes through).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..fileio import atomic_output
from ..joints import JOINT_INDEX, JOINT_NAMES, MIRROR, NUM_JOINTS, PARENTS

#: Joints whose correction is measured along the torso (Pelvis -> Thorax) instead of a parent bone.
TORSO_JOINTS = ("Pelvis", "RHip", "LHip", "Spine", "Thorax", "Neck", "Head", "LShoulder", "RShoulder")
_TORSO = np.isin(np.arange(NUM_JOINTS), [JOINT_INDEX[n] for n in TORSO_JOINTS])

#: The data file holding the fitted ``(alpha, beta)`` per joint and its provenance (which
#: script fitted it, on what, with which detector; see ``posemoe_lab/experiments/fit_landmark_correction.py``).
CORRECTION_FILE = Path(__file__).resolve().parents[1] / "data" / "landmark_correction.json"


def load_correction(path: str | os.PathLike = CORRECTION_FILE) -> np.ndarray:
    """``(17, 2)`` = (alpha, beta) per joint in :data:`~posemoe_blender.joints.JOINT_NAMES`
    order, read from a correction file (``{"joints": {name: [alpha, beta]}, "provenance": ...}``)."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return np.array([data["joints"][name] for name in JOINT_NAMES], dtype=np.float64)


def save_correction(path: str | os.PathLike, correction: np.ndarray, provenance: dict) -> None:
    """Write a correction file (atomically): ``correction`` (17, 2) and where it came from."""
    data = {"what": "Landmark-convention correction of BlazePose's 2D joints (detection/landmarks.py): "
                    "corrected_j = p_j + alpha_j * ref_j + beta_j * width_j",
            "provenance": dict(provenance), "columns": ["alpha", "beta"],
            "joints": {n: [round(float(a), 4), round(float(b), 4)]
                       for n, (a, b) in zip(JOINT_NAMES, np.asarray(correction, float))}}
    with atomic_output(path, ".json") as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")


#: ``(alpha, beta)`` per joint (rows in the order of :data:`~posemoe_blender.joints.JOINT_NAMES`),
#: from :data:`CORRECTION_FILE`.
CORRECTION = load_correction()

_SIDE = np.array([0.5 if n.startswith("L") else -0.5 if n.startswith("R") else 0.0 for n in JOINT_NAMES])
_ARM = np.array([any(k in n for k in ("Shoulder", "Elbow", "Wrist")) for n in JOINT_NAMES])


def reference_vectors(points: np.ndarray) -> np.ndarray:
    """``(..., 17, 2)`` image points -> ``(..., 17, 2)``: each joint's reference bone vector."""
    pts = np.asarray(points, dtype=np.float64)[..., :2]
    parent = np.array([max(p, 0) for p in PARENTS])
    ref = pts - pts[..., parent, :]
    torso = pts[..., JOINT_INDEX["Thorax"], :] - pts[..., JOINT_INDEX["Pelvis"], :]
    ref[..., _TORSO, :] = torso[..., None, :]
    return ref


def width_vectors(points: np.ndarray) -> np.ndarray:
    """``(..., 17, 2)`` image points -> ``(..., 17, 2)``: each joint's side of the body's width
    line (shoulders for the arms, hips for the rest; zero on the centre line)."""
    pts = np.asarray(points, dtype=np.float64)[..., :2]
    hips = pts[..., JOINT_INDEX["LHip"], :] - pts[..., JOINT_INDEX["RHip"], :]
    shoulders = pts[..., JOINT_INDEX["LShoulder"], :] - pts[..., JOINT_INDEX["RShoulder"], :]
    line = np.where(_ARM[:, None], shoulders[..., None, :], hips[..., None, :])
    return _SIDE[:, None] * line


def to_training_convention(keypoints: np.ndarray, correction: np.ndarray | None = None) -> np.ndarray:
    """Move detected 2D joints ``(..., 17, 2|3)`` onto the training skeleton's convention
    (same shape and dtype; confidences unchanged). ``correction`` ``(17, 2)`` = (alpha, beta)
    per joint, or ``(17,)`` = alpha alone; default :data:`CORRECTION`."""
    kp = np.asarray(keypoints)
    c = CORRECTION if correction is None else np.asarray(correction, dtype=np.float64)
    if c.shape == (NUM_JOINTS,):
        c = np.stack([c, np.zeros(NUM_JOINTS)], axis=1)
    if kp.shape[-2] != NUM_JOINTS or c.shape != (NUM_JOINTS, 2):
        raise ValueError(f"expected (..., {NUM_JOINTS}, 2|3) keypoints and a ({NUM_JOINTS}, 2) correction")
    shift = c[:, :1] * reference_vectors(kp) + c[:, 1:] * width_vectors(kp)
    out = kp.copy()
    out[..., :2] = kp[..., :2] + shift.astype(kp.dtype)
    return out


def fit_correction(pairs, symmetric: bool = True) -> np.ndarray:
    """Least-squares ``(alpha, beta)`` per joint, ``(17, 2)``, from ``(detected (T, 17, 2|3),
    true (T, 17, 2))`` pairs of frames where the person was detected: minimises
    ``|detected + alpha * ref + beta * width - true|^2`` joint by joint. ``symmetric``: left and
    right joints share their values (fitted jointly): a landmark convention has no side, while a
    few clips' motions (a right-handed wave) would otherwise give it one. Centre-line joints
    have no width term (beta = 0)."""
    A, b = np.zeros((NUM_JOINTS, 2, 2)), np.zeros((NUM_JOINTS, 2))
    for det, true in pairs:
        basis = np.stack([reference_vectors(det), width_vectors(det)], axis=-1)  # (T, 17, 2, 2)
        err = np.asarray(true, np.float64)[..., :2] - np.asarray(det, np.float64)[..., :2]
        A += np.einsum("tjki,tjkl->jil", basis, basis)
        b += np.einsum("tjki,tjk->ji", basis, err)
    if symmetric:
        centre = np.arange(NUM_JOINTS) == np.array(MIRROR)
        A, b = A + A[list(MIRROR)], b + b[list(MIRROR)]
        A[centre] /= 2
        b[centre] /= 2
    out = np.zeros((NUM_JOINTS, 2))
    for j in range(NUM_JOINTS):
        if A[j, 1, 1] > 0 and np.linalg.det(A[j]) > 1e-9 * A[j, 0, 0] * A[j, 1, 1]:
            out[j] = np.linalg.solve(A[j], b[j])
        elif A[j, 0, 0] > 0:  # no width term (centre line)
            out[j, 0] = b[j, 0] / A[j, 0, 0]
    return out
