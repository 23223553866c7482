"""Running a trained lifting network over whole sequences (no ``bpy``, no pipeline code).

Public API::

    resolve_device("auto" | "cpu" | "cuda") -> torch.device
    ModelCache().get(weights, device) -> (model, config)      # loads once per file and device
    network_inputs(keypoints2d, width, height, world3d=None, config) -> (T, 17, C) float32
    predict_sequences(model, inputs, batch_size, device, stride, workers) -> (S, T, 17, 3)
    lift_sequence(model, inputs, device, batch_size, flip) -> (T, 17, 3) root-relative metres
    mirror(x) -> x mirrored left-right (its own inverse)

Inputs are normalised keypoints ``(T, 17, 3)`` (:func:`~.camera.normalize_keypoints`: x, y
about the image centre, confidence), and for a network built with ``hint3d`` also MediaPipe's
world landmarks ``(T, 17, 3)`` (metres, root-relative, camera axes) as three more channels:
``(T, 17, 6)``. A sequence is cut into windows of the network's length ``W`` with stride
``W // 2``; the predictions of overlapping windows are averaged with a sin^2 taper (window
edges, which see less context, weigh less). Sequences shorter than a window are padded by
repeating their first/last frame. Windows run in batches under ``torch.inference_mode``; on
CUDA in float32 from pinned memory. On the CPU the batches are spread over ``workers`` Python
threads with one torch thread each (independent windows, so a busy core slows only its own
share; the result does not depend on the number of workers).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..errors import PoseMoEError
from ..joints import MIRROR, NUM_JOINTS
from ..camera import normalize_keypoints
from .weights import load_model

#: Torch threads per op for CPU lifting: the network's ops are small, and two intra-op threads
#: on a machine that is also decoding or detecting make every op wait for a descheduled
#: thread (docs/benchmarks.md), so each op runs on one thread ...
CPU_THREADS = int(os.environ.get("POSEMOE_LIFT_THREADS", "1"))
#: ... and the windows are shared by this many worker threads instead.
CPU_WORKERS = int(os.environ.get("POSEMOE_LIFT_WORKERS", str(min(4, os.cpu_count() or 1))))


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU -> PoseMoEError."""
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise PoseMoEError("--device cuda was requested but no CUDA GPU is available")
        return torch.device(name)
    raise PoseMoEError(f"--device {name}: unknown device (use auto, cpu or cuda)")


class ModelCache:
    """Loaded networks by (file, modification time, size, device): one entry at a time, so a
    batch of clips loads its network once and a changed file is reloaded. Thread-safe."""

    def __init__(self):
        self._entries: dict[tuple, tuple[torch.nn.Module, dict]] = {}
        self._lock = threading.Lock()

    def get(self, weights: str | os.PathLike, device: torch.device) -> tuple[torch.nn.Module, dict]:
        path = Path(weights)
        try:
            st = path.stat()
        except OSError:
            raise PoseMoEError(f"{path}: weights file not found") from None
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size, str(device))
        with self._lock:
            if key not in self._entries:
                self._entries.clear()
                self._entries[key] = load_model(path, device=device)
            return self._entries[key]

    def __bool__(self) -> bool:
        return bool(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


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


class torch_threads:
    """Context manager: ``torch.set_num_threads(n)`` inside, the previous value after."""

    def __init__(self, n: int):
        self.n = max(1, n)

    def __enter__(self):
        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)


def predict_sequences(model: torch.nn.Module, inputs: np.ndarray, batch_size: int = 256,
                      device: torch.device | None = None, stride: int | None = None,
                      workers: int = 1) -> np.ndarray:
    """Run ``model`` over input sequences ``(S, T, 17, C)`` with tapered sliding windows.

    Returns ``(S, T, 17, 3)`` float32. Any ``T >= 1``: sequences shorter than the window are
    padded by edge replication (and cropped back). ``workers`` > 1 (CPU only) runs the
    batches on that many threads, each with one torch thread.
    """
    device = device or next(model.parameters()).device
    W = int(model.cfg.frames)
    S, T = inputs.shape[:2]
    C = inputs.shape[-1]
    x = inputs.astype(np.float32, copy=False)
    if T < W:
        pad_l = (W - T) // 2
        pad_r = W - T - pad_l
        x = np.concatenate([np.repeat(x[:, :1], pad_l, axis=1), x, np.repeat(x[:, -1:], pad_r, axis=1)], axis=1)
        return predict_sequences(model, x, batch_size, device, stride, workers)[:, pad_l:pad_l + T]
    starts = window_starts(T, W, stride)
    idx = np.asarray(starts)[:, None] + np.arange(W)[None, :]          # (nw, W)
    windows = x[:, idx].reshape(S * len(starts), W, NUM_JOINTS, C)      # (S*nw, W, 17, C)
    preds = np.empty(windows.shape[:-1] + (3,), np.float32)
    cuda = device.type == "cuda"
    if not cuda and workers > 1:  # short clips: give every worker a share
        batch_size = max(1, min(batch_size, -(-windows.shape[0] // workers)))
    begins = list(range(0, windows.shape[0], batch_size))

    def run(batch_begins: list[int], threads: int | None = None) -> None:
        if threads is not None:
            torch.set_num_threads(threads)  # this worker thread's own intra-op setting
        with torch.inference_mode():
            for b in batch_begins:
                chunk = torch.from_numpy(np.ascontiguousarray(windows[b:b + batch_size]))
                if cuda:
                    chunk = chunk.pin_memory().to(device, non_blocking=True)
                out = model(chunk)
                preds[b:b + batch_size] = out.float().cpu().numpy()

    workers = 1 if cuda else max(1, min(int(workers), len(begins)))
    if workers == 1:
        run(begins)
    else:
        with torch_threads(1), ThreadPoolExecutor(workers, thread_name_prefix="posemoe-lift") as pool:
            for f in [pool.submit(run, begins[k::workers], 1) for k in range(workers)]:
                f.result()
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


def lift_sequence(model: torch.nn.Module, inputs: np.ndarray, device: torch.device,
                  batch_size: int = 16, flip: bool = False) -> np.ndarray:
    """One sequence ``(T, 17, C)`` of network inputs -> ``(T, 17, 3)`` float32 metres,
    root-relative camera coordinates.

    On the CPU: batches of ``batch_size`` windows on :data:`CPU_WORKERS` threads of one torch
    thread each (:data:`CPU_THREADS` torch threads for a single worker). ``flip``: test-time
    mirroring, the mean of the prediction and the un-mirrored prediction of the mirrored
    input (twice the work).
    """
    x = inputs[None]
    if flip:
        x = np.concatenate([x, mirror(x)], axis=0)              # (2, T, 17, C)
    if device.type == "cpu":
        with torch_threads(CPU_THREADS):
            pred = predict_sequences(model, x, batch_size=batch_size, device=device, workers=CPU_WORKERS)
    else:
        pred = predict_sequences(model, x, batch_size=max(batch_size, 256), device=device)
    out = 0.5 * (pred[0] + mirror(pred[1])) if flip else pred[0]
    out = out - out[:, :1]
    return np.ascontiguousarray(out, dtype=np.float32)
