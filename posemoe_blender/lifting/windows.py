"""The numpy half of lifting a sequence: the network's inputs, the sliding windows, their
tapered blend and the mirrored pass (no torch, no ONNX Runtime).

Both backends run their network through :func:`predict_windows` (torch:
:func:`~posemoe_blender.lifting.inference.predict_sequences`; ONNX Runtime:
:func:`~posemoe_blender.lifting.onnx_backend.predict_sequences`), so they cut, pad and blend
the same windows and differ only in the arithmetic inside the network.

Public API::

    uses_hint3d(config) -> bool
    network_inputs(keypoints2d, width, height, world3d=None, config) -> (T, 17, C) float32
    window_starts(length, window, stride=None) -> list[int]
    predict_windows(inputs, window, predict, stride=None) -> (S, T, 17, 3) float32
    mirror(x) -> x mirrored left-right (its own inverse)
    merge_flip(pred, flip) -> (T, 17, 3) root-relative float32

Inputs are normalised keypoints ``(T, 17, 3)`` (:func:`~.camera.normalize_keypoints`: x, y
about the image centre, confidence), and for a network built with ``hint3d`` also MediaPipe's
world landmarks ``(T, 17, 3)`` (metres, root-relative, camera axes) as three more channels:
``(T, 17, 6)``. A sequence is cut into windows of the network's length ``W`` with stride
``W // 2``; the predictions of overlapping windows are averaged with a sin^2 taper (window
edges, which see less context, weigh less). Sequences shorter than a window are padded by
repeating their first/last frame.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..camera import normalize_keypoints
from ..errors import PoseMoEError
from ..joints import MIRROR, NUM_JOINTS


def uses_hint3d(config: dict) -> bool:
    """True when the network described by ``config`` also reads MediaPipe's 3D landmarks."""
    return bool(config.get("hint3d", False))


def network_inputs(keypoints2d: np.ndarray, width: float, height: float,
                   world3d: np.ndarray | None = None, config: dict | None = None) -> np.ndarray:
    """The network's input channels for one sequence.

    ``keypoints2d`` (T, 17, 3) pixels + confidence; ``world3d`` (T, 17, 3) MediaPipe world
    landmarks (metres, root-relative, camera axes), required when ``config`` has ``hint3d``.
    Returns (T, 17, 3) or (T, 17, 6) float32.
    """
    x = normalize_keypoints(np.asarray(keypoints2d, np.float32), float(width), float(height))
    if config is None or not uses_hint3d(config):
        return x
    if world3d is None:
        raise PoseMoEError("this network fuses MediaPipe's 3D landmarks: world3d is required")
    w = np.asarray(world3d, np.float32)
    if w.shape != x.shape:
        raise PoseMoEError(f"world3d has shape {w.shape}, expected {x.shape}")
    w = w - w[:, :1]
    return np.concatenate([x, w], axis=-1).astype(np.float32)


def _taper(window: int) -> np.ndarray:
    t = (np.arange(window) + 0.5) / window
    return (np.sin(np.pi * t) ** 2 + 1e-3).astype(np.float32)


def window_starts(length: int, window: int, stride: int | None = None) -> list[int]:
    """Start frames of the sliding windows covering ``length`` frames (length >= window)."""
    stride = max(1, stride or window // 2)
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def predict_windows(inputs: np.ndarray, window: int,
                    predict: Callable[[np.ndarray], np.ndarray],
                    stride: int | None = None) -> np.ndarray:
    """Run a network over input sequences ``(S, T, 17, C)`` with tapered sliding windows.

    ``predict`` maps every window at once, ``(N, W, 17, C)`` float32 (``W`` = ``window``), to
    ``(N, W, 17, 3)`` float32 metres (it batches as it likes). Returns ``(S, T, 17, 3)``
    float32. Any ``T >= 1``: sequences shorter than the window are padded by edge replication
    (and cropped back).
    """
    W = int(window)
    S, T = inputs.shape[:2]
    C = inputs.shape[-1]
    x = inputs.astype(np.float32, copy=False)
    if T < W:
        pad_l = (W - T) // 2
        pad_r = W - T - pad_l
        x = np.concatenate([np.repeat(x[:, :1], pad_l, axis=1), x, np.repeat(x[:, -1:], pad_r, axis=1)], axis=1)
        return predict_windows(x, W, predict, stride)[:, pad_l:pad_l + T]
    starts = window_starts(T, W, stride)
    idx = np.asarray(starts)[:, None] + np.arange(W)[None, :]          # (nw, W)
    windows = x[:, idx].reshape(S * len(starts), W, NUM_JOINTS, C)      # (S*nw, W, 17, C)
    preds = predict(windows)
    preds = preds.reshape(S, len(starts), W, NUM_JOINTS, 3)
    if len(starts) == 1:
        return preds[:, 0].copy()
    w = _taper(W)
    acc = np.zeros((S, T, NUM_JOINTS, 3), dtype=np.float64)
    wsum = np.zeros(T, dtype=np.float64)
    for k, s in enumerate(starts):
        acc[:, s:s + W] += preds[:, k] * w[None, :, None, None]
        wsum[s:s + W] += w
    return (acc / wsum[None, :, None, None]).astype(np.float32)


def mirror(x: np.ndarray) -> np.ndarray:
    """Mirror joints ``(..., 17, C)`` left-right: swap the sides and negate every x channel
    (channel 0, and channel 3 when a 3D hint follows the 2D). The same for the normalised
    network input (x about the image centre) and a camera-space prediction; its own inverse."""
    out = x[..., list(MIRROR), :].copy()
    out[..., 0] *= -1
    if out.shape[-1] == 6:
        out[..., 3] *= -1
    return out


def with_mirror(inputs: np.ndarray, flip: bool) -> np.ndarray:
    """One sequence ``(T, 17, C)`` -> ``(1, T, 17, C)``, or ``(2, T, 17, C)`` with its mirror
    image second when ``flip``."""
    x = inputs[None]
    return np.concatenate([x, mirror(x)], axis=0) if flip else x


def merge_flip(pred: np.ndarray, flip: bool) -> np.ndarray:
    """The predictions of :func:`with_mirror`'s sequences ``(1 or 2, T, 17, 3)`` -> ``(T, 17, 3)``
    float32 metres, root-relative: with ``flip`` the mean of the prediction and the
    un-mirrored prediction of the mirrored input."""
    out = 0.5 * (pred[0] + mirror(pred[1])) if flip else pred[0]
    out = out - out[:, :1]
    return np.ascontiguousarray(out, dtype=np.float32)
