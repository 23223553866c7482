"""Saving and loading lifting-network weights.

A weights file is a ``torch.save`` of a plain dict (loadable with ``weights_only=True``)::

    {"format": "posemoe-blender-weights/1", "config": {...model config...},
     "state_dict": {...tensors...}, "meta": {...training info, JSON-able...}}

:func:`load_model` refuses a missing, truncated or corrupted file, an unknown format, or a
state dict that does not match the config with a one-line :class:`PoseMoEError` naming the
file and the reason. torch is imported by the functions that read or write a ``.pt`` (this
module itself imports without it: :func:`sha256_file` serves the ONNX backend too).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PoseMoEError
from ..fileio import staging_file
from .registry import DEFAULT_WEIGHTS, build_model

if TYPE_CHECKING:
    import torch

FORMAT = "posemoe-blender-weights/1"


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_weights(path: str | os.PathLike, model: torch.nn.Module, config: dict,
                 meta: dict | None = None) -> str:
    """Write ``model``'s weights + ``config`` atomically; returns the file's sha256."""
    import torch
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "config": dict(config), "state_dict": state, "meta": dict(meta or {})}
    fd, tmp = staging_file(str(path.parent), ".pt")  # normal permissions, not mkstemp's 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return sha256_file(path)


def read_weights(path: str | os.PathLike) -> dict:
    """Load and validate the payload dict of a weights file (no model built)."""
    import torch
    path = Path(path)
    if not path.is_file():
        raise PoseMoEError(f"{path}: weights file not found")
    try:
        data = path.read_bytes()
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        reason = first if 0 < len(first) <= 120 else type(exc).__name__  # not torch's long advice cut mid-word
        raise PoseMoEError(f"{path}: corrupted or truncated weights file ({reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise PoseMoEError(f"{path}: not a posemoe-blender weights file (expected format {FORMAT})")
    if not isinstance(payload.get("config"), dict) or not isinstance(payload.get("state_dict"), dict):
        raise PoseMoEError(f"{path}: weights file lacks its config or state dict")
    return payload


def load_model(path: str | os.PathLike | None = None, device: str | torch.device = "cpu"):
    """Build the network described by a weights file and load its weights.

    Returns ``(model, config)`` with the model in eval mode on ``device``. ``path=None`` loads
    the shipped ``weights/posemoe_default.pt``. Raises :class:`PoseMoEError` (one line: path +
    reason) for a missing/corrupted/truncated file or a state dict that does not match the
    config.
    """
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    payload = read_weights(path)
    config = dict(payload["config"])
    try:
        model = build_model(config)
    except (TypeError, ValueError) as exc:
        raise PoseMoEError(f"{path}: invalid model config ({exc})") from None
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:160]
        raise PoseMoEError(f"{path}: state dict does not match its config ({first})") from None
    model.eval().to(device)
    return model, config
