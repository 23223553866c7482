"""2D -> 3D lifting for the pipeline (PoseMoE by default). Never imports ``bpy``.

Public API::

    resolve_device("auto" | "cpu" | "cuda") -> torch.device
    default_weights_path() -> pathlib.Path
    weights_available(path=None) -> bool
    load_lifter(weights, device) -> dict (the network's config; loads and caches it)
    lift_keypoints(keypoints2d, width, height, device="auto", weights=None, batch_size=256)
        -> np.ndarray (T, 17, 3) float32, metres, root-relative camera coordinates
    predict_sequences(model, inputs, batch_size=256, device=None, workers=1) -> np.ndarray

``keypoints2d`` is ``(T, 17, 3)`` = pixels (x right, y down, origin top-left of the upright
image) + confidence. The sequence is cut into windows of the network's length ``W`` with
stride ``W // 2``; the predictions of overlapping windows are averaged with a
sin^2 taper (so window edges, which see less context, weigh less). Clips shorter than one
window are padded by repeating their first/last frame. Windows run in batches of
``batch_size`` under ``torch.inference_mode``; on CUDA in float32 from pinned memory (bf16
autocast was measured on an H200 on 2026-11-26 at 172,707 frames/s but moved joints by up to
59 mm from the CPU's answer; lifting needs only the detector's ~30 frames/s, so the GPU now
gives the CPU's animation instead).
On the CPU the batches are spread over :data:`CPU_WORKERS` Python threads with one torch
thread each (independent windows: no barrier between cores, so a busy core slows only its
own share; the results do not depend on the number of workers).
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
from ..model.camera import normalize_keypoints
from ..model.weights import DEFAULT_WEIGHTS, load_model

_CACHE: dict[tuple, tuple[torch.nn.Module, dict]] = {}
_LOCK = threading.Lock()


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


def default_weights_path() -> Path:
    """The shipped PoseMoE weights (``weights/posemoe_default.pt``)."""
    return DEFAULT_WEIGHTS


def weights_available(path: str | os.PathLike | None = None) -> bool:
    """True when the weights file exists and is non-empty (not validated: see ``load_model``)."""
    p = Path(path) if path is not None else default_weights_path()
    return p.is_file() and p.stat().st_size > 0


def _get_model(weights, device: torch.device):
    path = Path(weights) if weights is not None else default_weights_path()
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size, str(device))
    except OSError:
        raise PoseMoEError(f"{path}: weights file not found") from None
    with _LOCK:
        if key not in _CACHE:
            _CACHE.clear()
            _CACHE[key] = load_model(path, device=device)
        return _CACHE[key]


def load_lifter(weights: str | os.PathLike | None, device: torch.device) -> dict:
    """Load (and cache) the network of a weights file on ``device``; return its config.

    Raises :class:`PoseMoEError` for a missing, corrupted or mismatched file, so a caller can
    check the weights before spending time on detection.
    """
    return _get_model(weights, device)[1]


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


def predict_sequences(model: torch.nn.Module, inputs: np.ndarray, batch_size: int = 256,
                      device: torch.device | None = None, stride: int | None = None,
                      workers: int = 1) -> np.ndarray:
    """Run ``model`` over normalised sequences ``(S, T, 17, 3)`` with tapered sliding windows.

    Returns ``(S, T, 17, 3)`` float32. Any ``T >= 1``: sequences shorter than the window are
    padded by edge replication (and cropped back). ``workers`` > 1 (CPU only) runs the
    batches on that many threads, each with one torch thread.
    """
    device = device or next(model.parameters()).device
    W = int(model.cfg.frames)
    S, T = inputs.shape[:2]
    x = inputs.astype(np.float32, copy=False)
    if T < W:
        pad_l = (W - T) // 2
        pad_r = W - T - pad_l
        x = np.concatenate([np.repeat(x[:, :1], pad_l, axis=1), x, np.repeat(x[:, -1:], pad_r, axis=1)], axis=1)
        return predict_sequences(model, x, batch_size, device, stride, workers)[:, pad_l:pad_l + T]
    starts = window_starts(T, W, stride)
    idx = np.asarray(starts)[:, None] + np.arange(W)[None, :]          # (nw, W)
    windows = x[:, idx].reshape(S * len(starts), W, NUM_JOINTS, 3)      # (S*nw, W, 17, 3)
    preds = np.empty_like(windows)
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
        with _torch_threads(1), ThreadPoolExecutor(workers, thread_name_prefix="posemoe-lift") as pool:
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


#: Torch threads per op for CPU lifting. The network's ops are small: two intra-op threads on
#: a 2-core machine that is also decoding or detecting make every op wait for a descheduled
#: thread (measured 40x slower, docs/benchmarks-speed.md), so each op runs on one thread ...
CPU_THREADS = int(os.environ.get("POSEMOE_LIFT_THREADS", "1"))
#: ... and the windows are shared by this many worker threads instead (1.5-1.9x on 2 cores,
#: and no barrier to wait on when another process takes a core).
CPU_WORKERS = int(os.environ.get("POSEMOE_LIFT_WORKERS", str(min(4, os.cpu_count() or 1))))


class _torch_threads:
    """Context manager: ``torch.set_num_threads(n)`` inside, the previous value after."""

    def __init__(self, n: int):
        self.n = max(1, n)

    def __enter__(self):
        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)


def mirror(x: np.ndarray) -> np.ndarray:
    """Mirror joints ``(..., 17, C)`` left-right: swap the sides and negate x. The same for the
    normalised network input (x about the image centre) and for a camera-space prediction, and
    its own inverse."""
    out = x[..., list(MIRROR), :].copy()
    out[..., 0] *= -1
    return out


def lift_keypoints(keypoints2d, width: int, height: int, device: str = "auto",
                   weights: str | os.PathLike | None = None, batch_size: int = 16,
                   flip: bool = False) -> np.ndarray:
    """Lift ``(T, 17, 3)`` pixel keypoints + confidence to ``(T, 17, 3)`` metres.

    Output: float32, root-relative (Pelvis = 0), camera coordinates (x right, y down,
    z forward). Deterministic. Raises :class:`PoseMoEError` for bad input, an unusable
    device or unusable weights. On the CPU it runs small batches (``batch_size`` windows) on
    :data:`CPU_WORKERS` threads of one torch thread each (:data:`CPU_THREADS` torch threads
    when there is a single worker), which measured fastest on this machine. ``flip``:
    test-time mirroring, the mean of the prediction and the un-mirrored prediction of the
    mirrored input (the networks are trained with mirroring; twice the lifting work).
    """
    kp = np.asarray(keypoints2d, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_JOINTS, 3) or kp.shape[0] < 1:
        raise PoseMoEError(f"keypoints2d has shape {kp.shape}, expected (T, {NUM_JOINTS}, 3) with T >= 1")
    if not np.all(np.isfinite(kp)):
        raise PoseMoEError("keypoints2d contains NaN or infinite values")
    if not (width and height) or width <= 0 or height <= 0:
        raise PoseMoEError(f"invalid image size {width}x{height}")
    if batch_size < 1:
        raise PoseMoEError(f"batch size must be >= 1, got {batch_size}")
    dev = resolve_device(device)
    model, _cfg = _get_model(weights, dev)
    x = normalize_keypoints(kp, float(width), float(height))[None]
    if flip:
        x = np.concatenate([x, mirror(x)], axis=0)              # (2, T, 17, 3)
    if dev.type == "cpu":
        with _torch_threads(CPU_THREADS):
            pred = predict_sequences(model, x, batch_size=batch_size, device=dev, workers=CPU_WORKERS)
    else:
        pred = predict_sequences(model, x, batch_size=max(batch_size, 256), device=dev)
    out = 0.5 * (pred[0] + mirror(pred[1])) if flip else pred[0]
    out = out - out[:, :1]
    return np.ascontiguousarray(out, dtype=np.float32)
