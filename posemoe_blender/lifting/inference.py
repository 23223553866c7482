"""Running a trained lifting network over whole sequences with torch (no ``bpy``, no pipeline
code): the backend of CUDA and training, and of the CPU where torch is installed
(:mod:`~posemoe_blender.lifting.onnx_backend` runs the same networks with ONNX Runtime).

Public API::

    resolve_device("auto" | "cpu" | "cuda") -> torch.device
    predict_sequences(model, inputs, batch_size, device, stride, workers) -> (S, T, 17, 3)
    lift_sequence(model, inputs, device, batch_size, flip) -> (T, 17, 3) root-relative metres

The inputs, the windows, their tapered blend and the mirrored pass are
:mod:`~posemoe_blender.lifting.windows`' (numpy, shared with the ONNX Runtime backend). Windows
run in batches under ``torch.inference_mode``; on CUDA in float32 from pinned memory. On the CPU the batches are spread over ``workers`` Python
threads with one torch thread each (independent windows, so a busy core slows only its own
share; the result does not depend on the number of workers).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..errors import PoseMoEError
from .backend import CPU_THREADS, CPU_WORKERS
from .windows import merge_flip, predict_windows, with_mirror

__all__ = ["lift_sequence", "predict_sequences", "resolve_device", "torch_threads"]


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
    cuda = device.type == "cuda"

    def predict(windows: np.ndarray) -> np.ndarray:
        preds = np.empty(windows.shape[:-1] + (3,), np.float32)
        size = batch_size
        if not cuda and workers > 1:  # short clips: give every worker a share
            size = max(1, min(size, -(-windows.shape[0] // workers)))
        begins = list(range(0, windows.shape[0], size))

        def run(batch_begins: list[int], threads: int | None = None) -> None:
            if threads is not None:
                torch.set_num_threads(threads)  # this worker thread's own intra-op setting
            with torch.inference_mode():
                for b in batch_begins:
                    chunk = torch.from_numpy(np.ascontiguousarray(windows[b:b + size]))
                    if cuda:
                        chunk = chunk.pin_memory().to(device, non_blocking=True)
                    out = model(chunk)
                    preds[b:b + size] = out.float().cpu().numpy()

        n = 1 if cuda else max(1, min(int(workers), len(begins)))
        if n == 1:
            run(begins)
        else:
            with torch_threads(1), ThreadPoolExecutor(n, thread_name_prefix="posemoe-lift") as pool:
                for f in [pool.submit(run, begins[k::n], 1) for k in range(n)]:
                    f.result()
        return preds

    return predict_windows(inputs, int(model.cfg.frames), predict, stride)


def lift_sequence(model: torch.nn.Module, inputs: np.ndarray, device: torch.device,
                  batch_size: int = 16, flip: bool = False) -> np.ndarray:
    """One sequence ``(T, 17, C)`` of network inputs -> ``(T, 17, 3)`` float32 metres,
    root-relative camera coordinates.

    On the CPU: batches of ``batch_size`` windows on :data:`CPU_WORKERS` threads of one torch
    thread each (:data:`CPU_THREADS` torch threads for a single worker). ``flip``: test-time
    mirroring, the mean of the prediction and the un-mirrored prediction of the mirrored
    input (twice the work).
    """
    x = with_mirror(inputs, flip)                                # (1 or 2, T, 17, C)
    if device.type == "cpu":
        with torch_threads(CPU_THREADS):
            pred = predict_sequences(model, x, batch_size=batch_size, device=device, workers=CPU_WORKERS)
    else:
        pred = predict_sequences(model, x, batch_size=max(batch_size, 256), device=device)
    return merge_flip(pred, flip)
