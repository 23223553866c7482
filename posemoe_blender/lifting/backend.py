"""Which runtime lifts, on which device, and the loaded networks (imports neither torch nor
ONNX Runtime until one is asked for).

Two backends run the same networks with the same windows
(:mod:`~posemoe_blender.lifting.windows`): ``torch`` (:mod:`~.inference`: the ``.pt`` weights
files, CUDA, training) and ``onnx`` (:mod:`~.onnx_backend`: the ``.onnx`` export beside each
``.pt``, ONNX Runtime on the CPU; what a Python without torch, such as the bundled add-on's,
lifts with). :envvar:`POSEMOE_LIFT_BACKEND` (``auto``, ``torch`` or ``onnx``, read at each
call) picks one for measurement; ``auto`` takes torch where it can be imported, else ONNX
Runtime. ``--device cuda`` always lifts with torch.

Public API::

    BACKENDS = ("torch", "onnx")
    lift_backend(device="auto", weights=None) -> "torch" | "onnx"
    resolve_device(name="auto", backend=None) -> torch.device | CpuDevice
    ModelCache().get(weights, device, backend="torch") -> (network, config dict)
    CPU_THREADS, CPU_WORKERS      # threads per op and worker threads of CPU lifting
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import PoseMoEError

__all__ = ["BACKENDS", "CPU_THREADS", "CPU_WORKERS", "CpuDevice", "ModelCache", "lift_backend",
           "resolve_device"]

#: The lifting runtimes (:envvar:`POSEMOE_LIFT_BACKEND` also takes ``auto``).
BACKENDS = ("torch", "onnx")
#: The Python module each backend needs.
_RUNTIME = {"torch": "torch", "onnx": "onnxruntime"}

#: Threads per op for CPU lifting: the network's ops are small, and two intra-op threads
#: on a machine that is also decoding or detecting make every op wait for a descheduled
#: thread (docs/benchmarks.md), so each op runs on one thread ...
CPU_THREADS = int(os.environ.get("POSEMOE_LIFT_THREADS", "1"))
#: ... and the windows are shared by this many worker threads instead.
CPU_WORKERS = int(os.environ.get("POSEMOE_LIFT_WORKERS", str(min(4, os.cpu_count() or 1))))


@dataclass(frozen=True)
class CpuDevice:
    """The device of the ONNX backend (the CPU); reads like a ``torch.device("cpu")``
    (``.type``, ``str()``) for the code that reports or passes it on."""

    type: str = "cpu"

    def __str__(self) -> str:
        return self.type


def _importable(module: str) -> bool:
    """True when ``module`` imports (a missing or broken install: False)."""
    try:
        importlib.import_module(module)
    except (ImportError, OSError):
        return False
    return True


def _need(backend: str, why: str) -> str:
    if not _importable(_RUNTIME[backend]):
        raise PoseMoEError(f"{why} needs {_RUNTIME[backend]}, which cannot be imported here")
    return backend


def lift_backend(device: str = "auto", weights: str | os.PathLike | None = None) -> str:
    """The backend that lifts on ``device`` (``auto``, ``cpu``, ``cuda[:n]``) with ``weights``.

    ``cuda``: torch. A ``.onnx`` weights file: ONNX Runtime. Otherwise
    :envvar:`POSEMOE_LIFT_BACKEND`: ``torch``, ``onnx``, or ``auto`` (the default): torch when
    it can be imported, else ONNX Runtime. PoseMoEError when the chosen runtime cannot be
    imported, for an unknown backend name, or a ``.onnx`` file on CUDA.
    """
    choice = os.environ.get("POSEMOE_LIFT_BACKEND", "auto").strip().lower() or "auto"
    if choice not in BACKENDS + ("auto",):
        raise PoseMoEError(f"POSEMOE_LIFT_BACKEND={choice}: unknown lifting backend (use auto, torch or onnx)")
    onnx_file = weights is not None and Path(weights).suffix.lower() == ".onnx"
    if (device or "auto").lower().startswith("cuda"):
        if onnx_file:
            raise PoseMoEError(f"{weights}: an ONNX file lifts on the CPU only (use --device cpu, or its .pt on CUDA)")
        return _need("torch", "--device cuda")
    if onnx_file:
        return _need("onnx", f"lifting with {weights}")
    if choice != "auto":
        return _need(choice, f"POSEMOE_LIFT_BACKEND={choice}")
    for backend in BACKENDS:
        if _importable(_RUNTIME[backend]):
            return backend
    raise PoseMoEError("lifting needs torch or onnxruntime, and neither can be imported here")


def resolve_device(name: str = "auto", backend: str | None = None):
    """The device ``backend`` (default :func:`lift_backend`'s for ``name``) lifts on: a
    ``torch.device`` for torch (``auto`` -> CUDA when available), :class:`CpuDevice` for ONNX
    Runtime. PoseMoEError for an unknown name or a missing GPU."""
    name = (name or "auto").lower()
    backend = backend or lift_backend(name)
    if backend == "torch":
        from .inference import resolve_device as torch_device
        return torch_device(name)
    if name in ("auto", "cpu"):
        return CpuDevice()
    if name.startswith("cuda"):
        raise PoseMoEError("--device cuda lifts with torch; ONNX Runtime lifts on the CPU only")
    raise PoseMoEError(f"--device {name}: unknown device (use auto, cpu or cuda)")


def _load(path: Path, device, backend: str):
    if backend == "onnx":
        from .onnx_backend import load_network
        return load_network(path)
    from .weights import load_model
    return load_model(path, device=device)


class ModelCache:
    """Loaded networks by (file, modification time, size, device, backend): one entry at a
    time, so a batch of clips loads its network once and a changed file is reloaded.
    Thread-safe. ``get(weights, device, backend)`` returns ``(network, config)``: a torch
    module in eval mode on ``device`` (``backend="torch"``) or an
    :class:`~.onnx_backend.OnnxNetwork` of the ``.onnx`` file beside ``weights`` (``"onnx"``)."""

    def __init__(self):
        self._entries: dict[tuple, tuple] = {}
        self._lock = threading.Lock()

    def get(self, weights: str | os.PathLike, device, backend: str = "torch") -> tuple:
        path = Path(weights)
        if backend == "onnx":
            from .onnx_backend import onnx_file
            source = path
            path = onnx_file(path)
            if not path.is_file() and source.is_file():
                raise PoseMoEError(f"{source}: lifting without torch needs its ONNX export {path.name} "
                                   f"(python -m posemoe_lab.export_onnx {source})")
        try:
            st = path.stat()
        except OSError:
            raise PoseMoEError(f"{path}: weights file not found") from None
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size, str(device), backend)
        with self._lock:
            if key not in self._entries:
                self._entries.clear()
                self._entries[key] = _load(path, device, backend)
            return self._entries[key]

    def __bool__(self) -> bool:
        return bool(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
