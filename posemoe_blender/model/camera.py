"""Camera geometry shared by training, evaluation and inference.

:func:`normalize_keypoints` is THE input normalisation of every lifting network in this
package: the CLI/add-on (``core/lifting.py``), training and evaluation all call it.
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
