"""The detector's landmark convention vs the training skeleton's joints.

BlazePose does not put its hips, ankles, elbows... where a motion-capture skeleton has its joint
centres: on the project's renders its hips sit ~3 % of the person's height below the mocap hips
and its ankles ~2 % above them (``scripts/keypoint_bias.py``), and on real footage its torso-to-leg
proportion is even further from the mocap skeleton's (``scripts/landmark_proportions.py``; both
in docs/benchmarks-quality.md). The lifting networks learnt the mocap convention, so the 2D is
moved onto it before lifting:

    corrected_j = p_j + alpha_j * ref_j

where ``ref_j`` is the joint's reference bone in the image (the torso, Pelvis -> Thorax, for the
Pelvis, hips, spine, neck, head and shoulders; the parent bone for knees, ankles, elbows and
wrists) and ``alpha_j`` is one number per joint, fitted by least squares on renders of
*training-split* motion whose true 2D joints are known (``scripts/fit_landmark_correction.py``).
Scaling along the person's own bones makes it independent of image size, distance and view.

Keypoints are ``(..., 17, 2 or 3)`` pixels (a third channel, the confidence, passes through).
"""

from __future__ import annotations

import numpy as np

from ..joints import JOINT_INDEX, MIRROR, NUM_JOINTS, PARENTS

#: Joints whose correction is measured along the torso (Pelvis -> Thorax) instead of a parent bone.
TORSO_JOINTS = ("Pelvis", "RHip", "LHip", "Spine", "Thorax", "Neck", "Head", "LShoulder", "RShoulder")
_TORSO = np.isin(np.arange(NUM_JOINTS), [JOINT_INDEX[n] for n in TORSO_JOINTS])

#: ``alpha`` per joint (order of :data:`~posemoe_blender.joints.JOINT_NAMES`), fitted by
#: ``python scripts/fit_landmark_correction.py .cache/render_calib`` on 2026-11-26 (18 videos of
#: training-split motion, 6 clips x 3 views, rendered by ``scripts/render_eval_set.py
#: --calibration``; BlazePose of mediapipe 0.10.21, model_complexity 1).
#: One value per left/right pair. Checked on the held-out render set (never used for the fit):
#: 2D error against the skeleton's joints 4.41 -> 3.21 px; the networks' PA-MPJPE before
#: smoothing 70.5 -> 63.8 mm (PoseMoE) and 58.5 -> 53.0 mm (entangled). On real footage it moves
#: BlazePose's torso/leg proportion from 0.75-0.78 to 0.59-0.61 (training skeleton 0.52;
#: docs/joint-mapping.md).
CORRECTION = np.array([
    +0.1397, +0.0923, -0.0451, +0.0860, +0.0923, -0.0451,  # Pelvis, RHip, RKnee, RAnkle, LHip, LKnee
    +0.0860, +0.0785, +0.0260, +0.0789, +0.0853, -0.0442,  # LAnkle, Spine, Thorax, Neck, Head, LShoulder
    -0.0648, -0.0828, -0.0442, -0.0648, -0.0828,           # LElbow, LWrist, RShoulder, RElbow, RWrist
])


def reference_vectors(points: np.ndarray) -> np.ndarray:
    """``(..., 17, 2)`` image points -> ``(..., 17, 2)``: each joint's reference bone vector."""
    pts = np.asarray(points, dtype=np.float64)[..., :2]
    parent = np.array([max(p, 0) for p in PARENTS])
    ref = pts - pts[..., parent, :]
    torso = pts[..., JOINT_INDEX["Thorax"], :] - pts[..., JOINT_INDEX["Pelvis"], :]
    ref[..., _TORSO, :] = torso[..., None, :]
    return ref


def to_training_convention(keypoints: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """Move detected 2D joints ``(..., 17, 2|3)`` onto the training skeleton's convention
    (same shape and dtype; confidences unchanged). ``alpha`` defaults to :data:`CORRECTION`."""
    kp = np.asarray(keypoints)
    a = CORRECTION if alpha is None else np.asarray(alpha, dtype=np.float64)
    if kp.shape[-2] != NUM_JOINTS or a.shape != (NUM_JOINTS,):
        raise ValueError(f"expected (..., {NUM_JOINTS}, 2|3) keypoints and {NUM_JOINTS} alphas")
    out = kp.copy()
    out[..., :2] = kp[..., :2] + (a[:, None] * reference_vectors(kp)).astype(kp.dtype)
    return out


def fit_correction(pairs, symmetric: bool = True) -> np.ndarray:
    """Least-squares ``alpha`` (17,) from ``(detected (T, 17, 2|3), true (T, 17, 2))`` pairs of
    frames where the person was detected: minimises ``|detected + alpha * ref - true|^2``.
    ``symmetric``: one value per left/right pair (fitted jointly): a landmark convention has no
    side, while a few clips' motions (a right-handed wave) would otherwise give it one."""
    num, den = np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS)
    for det, true in pairs:
        ref = reference_vectors(det)
        num += ((np.asarray(true, np.float64)[..., :2] - np.asarray(det, np.float64)[..., :2]) * ref).sum(-1).sum(0)
        den += (ref * ref).sum(-1).sum(0)
    if symmetric:
        num, den = num + num[list(MIRROR)], den + den[list(MIRROR)]
        num[np.arange(NUM_JOINTS) == np.array(MIRROR)] /= 2  # centre-line joints counted twice
        den[np.arange(NUM_JOINTS) == np.array(MIRROR)] /= 2
    return np.divide(num, den, out=np.zeros(NUM_JOINTS), where=den > 0)
