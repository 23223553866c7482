"""The pipeline's lifting stage: detected 2D (and MediaPipe's 3D) -> root-relative 3D joints.

The network code lives in :mod:`posemoe_blender.model` (:mod:`~posemoe_blender.lifting.inference`
runs it over a sequence); this stage checks the pipeline's arrays, loads the chosen weights
once per process (:data:`MODELS`) and gives the network the inputs its config asks for.

Public API::

    resolve_device("auto" | "cpu" | "cuda") -> torch.device
    default_weights_path() -> pathlib.Path
    weights_available(path=None) -> bool
    load_lifter(weights, device) -> dict (the network's config; loads and caches it)
    lift_keypoints(keypoints2d, width, height, device="auto", weights=None, batch_size=16,
                   flip=False, world3d=None) -> (T, 17, 3) float32 metres

``keypoints2d`` is ``(T, 17, 3)`` = pixels (x right, y down, origin top-left of the upright
image) + confidence; ``world3d`` ``(T, 17, 3)`` MediaPipe's world landmarks (metres,
root-relative, camera axes), read only by networks trained to fuse them (``hint3d`` in their
config).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import PoseMoEError
from ..joints import NUM_JOINTS
from .inference import ModelCache, lift_sequence, network_inputs, resolve_device, uses_hint3d
from .registry import DEFAULT_WEIGHTS

__all__ = ["MODELS", "default_weights_path", "lift_keypoints", "load_lifter", "needs_world3d",
           "resolve_device", "weights_available"]

#: The networks this process has loaded (one file and device at a time).
MODELS = ModelCache()


def default_weights_path() -> Path:
    """The shipped PoseMoE weights (``weights/posemoe_default.pt``)."""
    return DEFAULT_WEIGHTS


def weights_available(path: str | os.PathLike | None = None) -> bool:
    """True when the weights file exists and is non-empty (not validated: see ``load_model``)."""
    p = Path(path) if path is not None else default_weights_path()
    return p.is_file() and p.stat().st_size > 0


def load_lifter(weights: str | os.PathLike | None, device) -> dict:
    """Load (and cache) the network of a weights file on ``device``; return its config.

    Raises :class:`PoseMoEError` for a missing, corrupted or mismatched file, so a caller can
    check the weights before spending time on detection.
    """
    return MODELS.get(weights if weights is not None else default_weights_path(), device)[1]


def needs_world3d(config: dict) -> bool:
    """True when the network of ``config`` reads MediaPipe's world landmarks too."""
    return uses_hint3d(config)


def _check(name: str, arr, T: int | None = None) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim != 3 or a.shape[1:] != (NUM_JOINTS, 3) or a.shape[0] < 1:
        raise PoseMoEError(f"{name} has shape {a.shape}, expected (T, {NUM_JOINTS}, 3) with T >= 1")
    if T is not None and a.shape[0] != T:
        raise PoseMoEError(f"{name} has {a.shape[0]} frames, keypoints2d {T}")
    if not np.all(np.isfinite(a)):
        raise PoseMoEError(f"{name} contains NaN or infinite values")
    return a


def lift_keypoints(keypoints2d, width: int, height: int, device: str = "auto",
                   weights: str | os.PathLike | None = None, batch_size: int = 16,
                   flip: bool = False, world3d=None) -> np.ndarray:
    """Lift ``(T, 17, 3)`` pixel keypoints + confidence to ``(T, 17, 3)`` metres.

    Output: float32, root-relative (Pelvis = 0), camera coordinates (x right, y down,
    z forward). Deterministic. ``world3d``: MediaPipe's world landmarks of the same frames,
    required by a network that fuses them, ignored by the others. ``flip``: test-time
    mirroring (see :func:`~posemoe_blender.lifting.inference.lift_sequence`). Raises
    :class:`PoseMoEError` for bad input, an unusable device or unusable weights.
    """
    kp = _check("keypoints2d", keypoints2d)
    if not (width and height) or width <= 0 or height <= 0:
        raise PoseMoEError(f"invalid image size {width}x{height}")
    if batch_size < 1:
        raise PoseMoEError(f"batch size must be >= 1, got {batch_size}")
    dev = resolve_device(device)
    model, config = MODELS.get(weights if weights is not None else default_weights_path(), dev)
    world = _check("world3d", world3d, kp.shape[0]) if (world3d is not None and uses_hint3d(config)) else None
    x = network_inputs(kp, width, height, world, config)
    return lift_sequence(model, x, dev, batch_size=batch_size, flip=flip)
