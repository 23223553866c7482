"""Pose metrics (numpy). Inputs ``(..., 17, 3)`` in metres; results in mm unless stated."""

from __future__ import annotations

import numpy as np


def mpjpe(pred, gt) -> float:
    return float(np.linalg.norm(pred - gt, axis=-1).mean() * 1000)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity-align each pose of ``pred`` (N, J, 3) to ``gt`` (scale, rotation, translation)."""
    mp, mg = pred.mean(axis=1, keepdims=True), gt.mean(axis=1, keepdims=True)
    p, g = pred - mp, gt - mg
    H = np.einsum("nji,njk->nik", p, g)
    U, S, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.einsum("nij,njk->nik", Vt.transpose(0, 2, 1), U.transpose(0, 2, 1))))
    D = np.ones_like(S)
    D[:, -1] = d
    R = np.einsum("nij,nj,njk->nik", Vt.transpose(0, 2, 1), D, U.transpose(0, 2, 1))
    scale = (S * D).sum(axis=1) / np.maximum((p ** 2).sum(axis=(1, 2)), 1e-12)
    return scale[:, None, None] * np.einsum("nij,nkj->nki", R, p) + mg


def p_mpjpe(pred, gt) -> float:
    p = pred.reshape(-1, *pred.shape[-2:])
    g = gt.reshape(-1, *gt.shape[-2:])
    return mpjpe(procrustes_align(p, g), g)


def depth_error(pred, gt) -> float:
    """Mean |z error| (mm) after root alignment (both root-relative)."""
    return float(np.abs((pred[..., 2] - pred[..., :1, 2]) - (gt[..., 2] - gt[..., :1, 2])).mean() * 1000)


def accel_error(pred, gt) -> float:
    """Mean acceleration error (mm / frame^2) over sequences ``(S, T, J, 3)``."""
    ap = pred[:, 2:] - 2 * pred[:, 1:-1] + pred[:, :-2]
    ag = gt[:, 2:] - 2 * gt[:, 1:-1] + gt[:, :-2]
    return float(np.linalg.norm(ap - ag, axis=-1).mean() * 1000)


def reprojection_error(pred_rel, root_cam, f, cx, cy, clean_px) -> float:
    """Mean pixel distance between the projection of ``pred_rel + root`` and the true 2D.

    ``pred_rel`` (S, T, J, 3), ``root_cam`` (S, T, 3), ``f/cx/cy`` (S,), ``clean_px`` (S, T, J, 2).
    """
    P = pred_rel + root_cam[:, :, None, :]
    z = np.maximum(P[..., 2], 0.05)
    u = f[:, None, None] * P[..., 0] / z + cx[:, None, None]
    v = f[:, None, None] * P[..., 1] / z + cy[:, None, None]
    return float(np.hypot(u - clean_px[..., 0], v - clean_px[..., 1]).mean())


def reprojection_error_fitted(pred_rel, keypoints_px, f, cx, cy, clean_px) -> float:
    """Reprojection error (px) with the root placed where the *detected* 2D puts it.

    A root-relative prediction has no position of its own; this places it the way the
    pipeline does (:func:`~.camera.fit_root`, as the pipeline's root estimate: per frame, the root
    translation that best explains the detected, confidence-weighted keypoints with the known
    camera), then measures the projection against the true 2D. A pure scale error is absorbed
    by the root depth (a bigger body farther away projects the same), so what remains is how
    well the prediction's 2D shape matches the person: the paper's "the 2D part must not be
    corrupted". ``keypoints_px`` (S, T, J, 3) = detected x, y, confidence; the rest as
    :func:`reprojection_error`.
    """
    from posemoe_blender.camera import fit_root

    roots = np.stack([_held(*fit_root(pred_rel[i], keypoints_px[i], float(f[i]), float(cx[i]), float(cy[i])))
                      for i in range(pred_rel.shape[0])])
    return reprojection_error(pred_rel, roots, f, cx, cy, clean_px)


def _held(root: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Frames without two confident joints take the root interpolated from the others."""
    if valid.all() or not valid.any():
        return root
    idx = np.arange(len(root))
    out = root.copy()
    for k in range(3):
        out[~valid, k] = np.interp(idx[~valid], idx[valid], root[valid, k])
    return out
