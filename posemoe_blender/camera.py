"""Camera geometry shared by training, evaluation and inference.

:func:`normalize_keypoints` is THE input normalisation of every lifting network in this
package: the CLI/add-on (``lifting/stage.py``), training and evaluation all call it.
"""

from __future__ import annotations

import numpy as np

#: Image sizes (width, height) of the virtual cameras: portrait and landscape phone video.
IMAGE_SIZES = ((1080, 1920), (1920, 1080), (720, 1280), (1280, 720), (480, 640), (640, 480))
#: 35 mm-equivalent focal lengths of phone main cameras (mm); the 35 mm diagonal is 43.27 mm.
FOCAL_MM = (22.0, 32.0)
FULL_FRAME_DIAG_MM = 43.266


def normalize_keypoints(keypoints2d, width, height):
    """Pixels + confidence ``(..., 17, 3)`` -> network input ``(..., 17, 3)``.

    x and y are centred on the image centre and divided by ``max(width, height) / 2`` (the
    same scale for both axes, so the aspect ratio of the pose is kept); the confidence is
    clipped to [0, 1]. Works on numpy arrays and torch tensors. ``width``/``height`` may be
    scalars or arrays broadcastable to ``keypoints2d[..., 0]``.
    """
    is_np = isinstance(keypoints2d, np.ndarray)
    if is_np:
        kp = keypoints2d.astype(np.float32, copy=False)
        w = np.asarray(width, dtype=np.float32)
        h = np.asarray(height, dtype=np.float32)
        scale = np.maximum(w, h) / 2.0
        x = (kp[..., 0] - w / 2.0) / scale
        y = (kp[..., 1] - h / 2.0) / scale
        c = np.clip(kp[..., 2], 0.0, 1.0)
        return np.stack([x, y, c], axis=-1).astype(np.float32)
    import torch

    kp = keypoints2d.float()
    w = torch.as_tensor(width, dtype=kp.dtype, device=kp.device)
    h = torch.as_tensor(height, dtype=kp.dtype, device=kp.device)
    scale = torch.maximum(w, h) / 2.0
    x = (kp[..., 0] - w / 2.0) / scale
    y = (kp[..., 1] - h / 2.0) / scale
    c = kp[..., 2].clamp(0.0, 1.0)
    return torch.stack([x, y, c], dim=-1)


def focal_pixels(focal_mm, width, height):
    """35 mm-equivalent focal length (mm) -> focal length in pixels for an image size."""
    diag = np.hypot(width, height)
    return np.asarray(focal_mm) / FULL_FRAME_DIAG_MM * diag


def look_at(cam_pos, target, roll=None):
    """World (Y up) camera rotation(s) ``(..., 3, 3)``: rows = camera x right, y down, z forward.

    ``X_cam = R @ (X_world - cam_pos)``.
    """
    fwd = target - cam_pos
    fwd = fwd / np.linalg.norm(fwd, axis=-1, keepdims=True)
    up = np.zeros_like(fwd)
    up[..., 1] = 1.0
    right = np.cross(fwd, up)
    right = right / np.maximum(np.linalg.norm(right, axis=-1, keepdims=True), 1e-9)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd], axis=-2)
    if roll is not None:
        c, s = np.cos(roll), np.sin(roll)
        Rz = np.zeros(R.shape)
        Rz[..., 0, 0], Rz[..., 0, 1], Rz[..., 1, 0], Rz[..., 1, 1] = c, -s, s, c
        Rz[..., 2, 2] = 1.0
        R = Rz @ R
    return R


def project(points_cam, f, cx, cy, min_z=0.05):
    """Pinhole projection of camera-space points ``(..., 3)`` (m) -> pixels ``(..., 2)``.

    ``f``, ``cx``, ``cy`` broadcast against ``points_cam[..., 0]``.
    """
    z = np.maximum(points_cam[..., 2], min_z)
    u = f * points_cam[..., 0] / z + cx
    v = f * points_cam[..., 1] / z + cy
    return np.stack([u, v], axis=-1)


def fit_root(joints3d, keypoints2d, f: float, cx: float, cy: float, min_depth: float = 0.3):
    """Camera-space root translation per frame that best explains detected 2D keypoints.

    ``joints3d`` (T, J, 3) metres, root-relative, camera axes; ``keypoints2d`` (T, J, 3)
    pixels + confidence (the weights; 0 = ignored); ``f``, ``cx``, ``cy`` the pinhole camera in
    pixels. For each frame ``t`` minimises the confidence-weighted linearised reprojection
    error ``u' (Z + tz) = f (X + tx)``, ``v' (Z + tz) = f (Y + ty)`` (``u' = u - cx``), refined by
    one re-weighting with ``1 / (Z + tz)`` (approximates the pixel error); the depth is kept at
    least ``min_depth``. Returns ``(root (T, 3) float64, valid (T,) bool)``: ``valid`` marks
    frames with at least two confident joints (the others hold an unconstrained solution).
    """
    joints3d = np.asarray(joints3d, np.float64)
    keypoints2d = np.asarray(keypoints2d, np.float64)
    T, J = joints3d.shape[:2]
    X, Y, Z = joints3d[..., 0], joints3d[..., 1], joints3d[..., 2]
    u = keypoints2d[..., 0] - cx
    v = keypoints2d[..., 1] - cy
    w0 = np.clip(keypoints2d[..., 2], 0.0, 1.0)
    # rows: [f, 0, -u] t = u Z - f X ;  [0, f, -v] t = v Z - f Y
    A = np.zeros((T, 2 * J, 3))
    A[:, :J, 0] = f
    A[:, :J, 2] = -u
    A[:, J:, 1] = f
    A[:, J:, 2] = -v
    b = np.concatenate([u * Z - f * X, v * Z - f * Y], axis=1)
    valid = (w0 > 1e-3).sum(axis=1) >= 2
    w = w0.copy()
    root = np.zeros((T, 3))
    for _ in range(2):
        ww = np.concatenate([w, w], axis=1)
        AtA = np.einsum("tri,tr,trj->tij", A, ww, A) + np.eye(3) * 1e-9
        Atb = np.einsum("tri,tr,tr->ti", A, ww, b)
        root = np.linalg.solve(AtA, Atb[..., None])[..., 0]
        root[:, 2] = np.maximum(root[:, 2], min_depth)
        depth = np.maximum(Z + root[:, 2:3], min_depth)
        w = w0 / depth ** 2  # squared residual scaled by 1/depth^2 ~ pixel error
    return root, valid


def derotate_pixels(keypoints2d, rotations, f: float, cx: float, cy: float):
    """Pixels seen by a turning pinhole camera, as its first frame would have seen them.

    ``keypoints2d`` (T, J, C >= 2) pixels (extra channels such as the confidence are kept);
    ``rotations`` (T, 3, 3) the camera's rotation per frame (``X_t = rotations[t] @ X_0``);
    ``f``, ``cx``, ``cy`` the pinhole in pixels. Each point's ray ``K^-1 (u, v, 1)`` is turned
    by ``rotations[t]^T`` and projected again (the homography ``K R_t^T K^-1``). Returns a
    float64 (T, J, C) copy; a ray turned behind the camera keeps its pixels.
    """
    kp = np.array(keypoints2d, dtype=np.float64, copy=True)
    rays = np.stack([(kp[..., 0] - cx) / f, (kp[..., 1] - cy) / f, np.ones(kp.shape[:-1])], axis=-1)
    turned = np.einsum("tji,tkj->tki", np.asarray(rotations, np.float64), rays)
    ahead = turned[..., 2] > 1e-6
    z = np.where(ahead, turned[..., 2], 1.0)
    kp[..., 0] = np.where(ahead, f * turned[..., 0] / z + cx, kp[..., 0])
    kp[..., 1] = np.where(ahead, f * turned[..., 1] / z + cy, kp[..., 1])
    return kp
