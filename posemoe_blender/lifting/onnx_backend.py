"""Running a shipped lifting network with ONNX Runtime on the CPU (numpy + onnxruntime; no torch).

Each weights file ``NAME.pt`` has an export ``NAME.onnx`` beside it (``python -m
posemoe_lab.export_onnx``): the same network in eval mode, input ``inputs`` ``(B, W, 17, C)``
float32 (``B`` free, ``W`` the config's ``frames``, ``C`` 3 or 6 with ``hint3d``), output
``joints3d`` ``(B, W, 17, 3)`` float32 metres, root-relative camera coordinates. The export's
metadata carries the network's config (JSON) and the SHA-256 of the ``.pt`` it was exported
from: a ``.onnx`` older than the ``.pt`` beside it is refused, not run.

Windows, tapering, padding and the mirrored pass are :mod:`~posemoe_blender.lifting.windows`',
as on the torch path; the batches are shared by :data:`~.backend.CPU_WORKERS` Python threads
calling one session, each run on :data:`~.backend.CPU_THREADS` ONNX Runtime threads (the
runtime releases the GIL while it runs).

Public API::

    FORMAT, CONFIG_KEY, SOURCE_KEY        # the export's metadata
    onnx_file(weights) -> pathlib.Path    # NAME.pt -> NAME.onnx (an .onnx path as it is)
    load_network(path) -> (OnnxNetwork, config dict)
    OnnxNetwork(windows (B, W, 17, C)) -> (B, W, 17, 3) float32
    predict_sequences(network, inputs (S, T, 17, C), batch_size, stride, workers) -> (S, T, 17, 3)
    lift_sequence(network, inputs (T, 17, C), batch_size, flip) -> (T, 17, 3) root-relative metres
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import PoseMoEError
from ..joints import NUM_JOINTS
from .backend import CPU_THREADS, CPU_WORKERS
from .weights import sha256_file
from .windows import merge_flip, predict_windows, with_mirror

__all__ = ["CONFIG_KEY", "FORMAT", "FORMAT_KEY", "OnnxNetwork", "SOURCE_KEY", "lift_sequence", "load_network",
           "onnx_file", "predict_sequences"]

#: The export's metadata: its format, the network's config (JSON) and the ``.pt``'s SHA-256.
FORMAT = "posemoe-blender-onnx/1"
FORMAT_KEY, CONFIG_KEY, SOURCE_KEY = "posemoe.format", "posemoe.config", "posemoe.source_sha256"
#: The graph's input and output names.
INPUT, OUTPUT = "inputs", "joints3d"


def onnx_file(weights: str | os.PathLike) -> Path:
    """The ONNX export of a weights file: ``NAME.pt`` -> ``NAME.onnx`` beside it."""
    path = Path(weights)
    return path if path.suffix.lower() == ".onnx" else path.with_suffix(".onnx")


class OnnxNetwork:
    """One exported network in an ONNX Runtime session on the CPU. ``config``: its config
    dict; ``frames``: its window length ``W``; ``channels``: 3, or 6 with ``hint3d``. Calling it
    maps windows ``(B, W, 17, C)`` float32 to ``(B, W, 17, 3)`` float32 metres. Thread-safe."""

    def __init__(self, session, config: dict):
        self.session, self.config = session, config
        self.frames = int(config.get("frames", 27))
        self.channels = 6 if config.get("hint3d", False) else 3

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        if windows.shape[1:] != (self.frames, NUM_JOINTS, self.channels):
            raise PoseMoEError(f"the network takes windows (B, {self.frames}, {NUM_JOINTS}, {self.channels}), "
                               f"got {tuple(windows.shape)}")
        x = np.ascontiguousarray(windows, dtype=np.float32)
        return self.session.run([OUTPUT], {INPUT: x})[0]


def session_options(threads: int = CPU_THREADS):
    """ONNX Runtime session options for lifting: ``threads`` per run, no spinning threads
    (the machine is busy decoding and detecting), sequential execution, warnings only."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def load_network(path: str | os.PathLike, threads: int = CPU_THREADS) -> tuple[OnnxNetwork, dict]:
    """Open an exported network; returns ``(network, config)``.

    PoseMoEError (one line: path + reason) for a missing, corrupted or truncated file, a file
    that is not a posemoe-blender export, or an export whose ``.pt`` beside it has changed
    since (its SHA-256 differs from the one recorded in the export).
    """
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise PoseMoEError(f"{path}: ONNX file not found")
    try:
        session = ort.InferenceSession(path.read_bytes(), sess_options=session_options(threads),
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf / InvalidGraph
        first = " ".join(str(exc).split())[:120]
        raise PoseMoEError(f"{path}: corrupted or truncated ONNX file ({first or type(exc).__name__})") from None
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get(FORMAT_KEY) != FORMAT:
        raise PoseMoEError(f"{path}: not a posemoe-blender ONNX export (expected format {FORMAT})")
    try:
        config = json.loads(meta[CONFIG_KEY])
    except (KeyError, ValueError):
        config = None
    if not isinstance(config, dict):
        raise PoseMoEError(f"{path}: ONNX export lacks its network config")
    source = path.with_suffix(".pt")
    if source.is_file() and sha256_file(source) != meta.get(SOURCE_KEY):
        raise PoseMoEError(f"{path}: exported from another {source.name} than the one beside it; "
                           f"export it again (python -m posemoe_lab.export_onnx {source})")
    inputs = session.get_inputs()
    channels = 6 if config.get("hint3d", False) else 3
    if len(inputs) != 1 or inputs[0].name != INPUT or list(inputs[0].shape[1:]) != [
            int(config.get("frames", 27)), NUM_JOINTS, channels]:
        raise PoseMoEError(f"{path}: ONNX graph's input does not match its config")
    return OnnxNetwork(session, config), config


def predict_sequences(network: OnnxNetwork, inputs: np.ndarray, batch_size: int = 16,
                      stride: int | None = None, workers: int = 1) -> np.ndarray:
    """Run ``network`` over input sequences ``(S, T, 17, C)`` with tapered sliding windows
    (:func:`~.windows.predict_windows`); returns ``(S, T, 17, 3)`` float32. ``workers`` > 1
    runs the batches of ``batch_size`` windows on that many threads."""

    def predict(windows: np.ndarray) -> np.ndarray:
        preds = np.empty(windows.shape[:-1] + (3,), np.float32)
        size = batch_size
        if workers > 1:  # short clips: give every worker a share
            size = max(1, min(size, -(-windows.shape[0] // workers)))
        begins = list(range(0, windows.shape[0], size))

        def run(batch_begins: list[int]) -> None:
            for b in batch_begins:
                preds[b:b + size] = network(windows[b:b + size])

        n = max(1, min(int(workers), len(begins)))
        if n == 1:
            run(begins)
        else:
            with ThreadPoolExecutor(n, thread_name_prefix="posemoe-lift") as pool:
                for f in [pool.submit(run, begins[k::n]) for k in range(n)]:
                    f.result()
        return preds

    return predict_windows(inputs, network.frames, predict, stride)


def lift_sequence(network: OnnxNetwork, inputs: np.ndarray, batch_size: int = 16,
                  flip: bool = False) -> np.ndarray:
    """One sequence ``(T, 17, C)`` of network inputs -> ``(T, 17, 3)`` float32 metres,
    root-relative camera coordinates: batches of ``batch_size`` windows on
    :data:`~.backend.CPU_WORKERS` threads; ``flip``: the mean with the un-mirrored prediction
    of the mirrored input (as :func:`~.inference.lift_sequence`)."""
    x = with_mirror(inputs, flip)                                # (1 or 2, T, 17, C)
    return merge_flip(predict_sequences(network, x, batch_size=batch_size, workers=CPU_WORKERS), flip)
