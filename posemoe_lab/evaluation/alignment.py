"""Alignments between a method's joints and the truth's (or another view's).

Every method answers in its own frame (camera axes, the solved rig's Z-up world, MediaPipe's
hip-centred axes) and its own scale, so each metric names the alignment it allows:

* :func:`clip_rotation`: one rotation for the whole clip (Kabsch over all frames of the
  root-relative joints): axes only, the method's scale kept;
* :func:`similarity` / :func:`align_similarity`: one similarity transform (rotation, uniform
  scale, translation) over all the points given: per clip when given a whole clip;
* :func:`align_per_frame`: one similarity per frame (Procrustes);
* :func:`align_world`: the clip rotation plus the translation that puts the first frame's Pelvis
  on the truth's (trajectories, foot sliding).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from posemoe_lab.evaluation.pose_metrics import procrustes_align


def root_relative(joints: np.ndarray) -> np.ndarray:
    """(T, J, 3) joints minus each frame's Pelvis (joint 0)."""
    joints = np.asarray(joints)
    return joints - joints[:, :1]


def similarity(src: np.ndarray, dst: np.ndarray, scale: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
    """Best ``s R src + t ~ dst`` (least squares) for two point sets of the same shape
    (any leading dimensions, last 3); returns ``(R, t, s)`` (``s = 1`` unless ``scale``)."""
    src = np.asarray(src, np.float64).reshape(-1, 3)
    dst = np.asarray(dst, np.float64).reshape(-1, 3)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    U, S, Vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(Vt.T @ U.T)) or 1.0
    D = np.diag([1.0, 1.0, d])
    R = Vt.T @ D @ U.T
    s = float((S * np.diag(D)).sum() / max((a ** 2).sum(), 1e-12)) if scale else 1.0
    return R, md - s * R @ ms, s


def align_similarity(src: np.ndarray, dst: np.ndarray, scale: bool = True) -> np.ndarray:
    """``src`` moved by the one :func:`similarity` (or rigid transform) that best maps all of
    its points onto ``dst``'s."""
    R, t, s = similarity(src, dst, scale=scale)
    src = np.asarray(src, np.float64)
    return (s * src.reshape(-1, 3) @ R.T + t).reshape(src.shape)


def align_per_frame(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` (T, J, 3) with each frame similarity-aligned onto ``gt``'s (Procrustes)."""
    return procrustes_align(np.asarray(pred, np.float64), np.asarray(gt, np.float64))


def clip_rotation(pred: np.ndarray, gt: np.ndarray, joints: Optional[Sequence[int]] = None) -> np.ndarray:
    """One rotation for the whole clip taking ``pred``'s root-relative joints (those listed, or
    all) onto ``gt``'s."""
    p, g = root_relative(pred), root_relative(gt)
    if joints is not None:
        p, g = p[:, list(joints)], g[:, list(joints)]
    R, _, _ = similarity(p, g, scale=False)
    return R


def align_world(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` (T, 17, 3) in the truth's frame: the clip rotation of the root-relative poses,
    then the translation that makes the first frame's Pelvis coincide."""
    R = clip_rotation(pred, gt)
    out = np.asarray(pred, np.float64) @ R.T
    return out + (np.asarray(gt, np.float64)[0, 0] - out[0, 0])
