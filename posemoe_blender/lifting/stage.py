"""The pipeline's lifting stage: detected 2D (and MediaPipe's 3D) -> root-relative 3D joints.

The networks live in :mod:`~posemoe_blender.lifting.networks`, named by
:mod:`~posemoe_blender.lifting.registry`; a backend runs one over a sequence
(:mod:`~posemoe_blender.lifting.backend`: torch, :mod:`~posemoe_blender.lifting.inference`, or
ONNX Runtime, :mod:`~posemoe_blender.lifting.onnx_backend`, where torch cannot be imported or
``POSEMOE_LIFT_BACKEND=onnx``). This stage resolves a conversion's lifter (its network,
weights file, label and backend), loads the chosen weights once per process (:data:`MODELS`),
checks the pipeline's arrays and gives the network the inputs its config asks for, or takes
MediaPipe's own world landmarks when no network lifts. It imports neither torch nor ONNX
Runtime itself: the backend that lifts is imported when a network is loaded.

Public API::

    resolve_device("auto" | "cpu" | "cuda") -> torch.device (torch) | CpuDevice (ONNX Runtime)
    default_weights_path() -> pathlib.Path
    weights_available(path=None, backend=None) -> bool (the .pt, or its .onnx export unless torch lifts)
    lifter_weights(options) -> pathlib.Path | None (the file resolve_lifter loads; no loading)
    resolve_lifter(options) -> Lifter (network entry, weights, label, device; loads and caches it)
    prepare_lifter(options) -> (device, use_network)
    lift_keypoints(keypoints2d, width, height, device="auto", weights=None, batch_size=16,
                   flip=False, world3d=None, backend=None) -> (T, 17, 3) float32 metres
    detected_world(dets, fps, max_gap_s) -> (T, 17, 3) metres
    hold_person_gaps(joints3d, gaps) -> (T, 17, 3)
    lift(keypoints2d, gaps, dets, fps, options, lifter) -> Lifted

``keypoints2d`` is ``(T, 17, 3)`` = pixels (x right, y down, origin top-left of the upright
image) + confidence; ``world3d`` ``(T, 17, 3)`` MediaPipe's world landmarks (metres,
root-relative, camera axes), read only by networks trained to fuse them (``hint3d`` in their
config).

The networks, their registry, weights files and inference import no other stage; this stage
module alone applies two helpers of the stages around it: the gap filling
(:func:`posemoe_blender.smoothing.filters.fill_gaps`) and the landmark correction
(:func:`posemoe_blender.detection.landmarks.to_training_convention`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..detection.landmarks import to_training_convention
from ..errors import PoseMoEError
from ..joints import NUM_JOINTS
from ..options import ConvertOptions, check_lifter
from ..smoothing.filters import fill_gaps
from .backend import ModelCache, lift_backend, resolve_device
from .registry import DEFAULT_WEIGHTS, NETWORKS, Network, network_for
from .windows import network_inputs, uses_hint3d

__all__ = ["MODELS", "Lifted", "Lifter", "default_weights_path", "detected_world", "hold_person_gaps",
           "lift", "lift_keypoints", "lifter_weights", "needs_world3d", "prepare_lifter",
           "resolve_device", "resolve_lifter", "weights_available"]

#: The networks this process has loaded (one file and device at a time).
MODELS = ModelCache()


def default_weights_path() -> Path:
    """The shipped PoseMoE weights (``weights/posemoe_default.pt``)."""
    return DEFAULT_WEIGHTS


def weights_available(path: str | os.PathLike | None = None, backend: str | None = None) -> bool:
    """True when the weights file exists and is non-empty (not validated: see ``load_model``).
    Its ``.onnx`` export beside it counts too (a build that ships only the exports) unless
    ``backend`` is ``"torch"``, which reads the ``.pt`` itself."""
    p = Path(path) if path is not None else default_weights_path()
    found = p.is_file() and p.stat().st_size > 0
    if not found and backend != "torch":
        from .onnx_backend import onnx_file
        q = onnx_file(p)
        found = q.is_file() and q.stat().st_size > 0
    return found


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
                   flip: bool = False, world3d=None, backend: str | None = None) -> np.ndarray:
    """Lift ``(T, 17, 3)`` pixel keypoints + confidence to ``(T, 17, 3)`` metres.

    Output: float32, root-relative (Pelvis = 0), camera coordinates (x right, y down,
    z forward). Deterministic. ``world3d``: MediaPipe's world landmarks of the same frames,
    required by a network that fuses them, ignored by the others. ``flip``: test-time
    mirroring (see :func:`~posemoe_blender.lifting.inference.lift_sequence`). ``backend``:
    ``torch`` or ``onnx``, default :func:`~.backend.lift_backend`'s choice. Raises
    :class:`PoseMoEError` for bad input, an unusable device or unusable weights.
    """
    kp = _check("keypoints2d", keypoints2d)
    if not (width and height) or width <= 0 or height <= 0:
        raise PoseMoEError(f"invalid image size {width}x{height}")
    if batch_size < 1:
        raise PoseMoEError(f"batch size must be >= 1, got {batch_size}")
    weights = weights if weights is not None else default_weights_path()
    backend = backend or lift_backend(device, weights)
    dev = resolve_device(device, backend)
    model, config = MODELS.get(weights, dev, backend)
    world = _check("world3d", world3d, kp.shape[0]) if (world3d is not None and uses_hint3d(config)) else None
    x = network_inputs(kp, width, height, world, config)
    if backend == "onnx":
        from .onnx_backend import lift_sequence as onnx_lift
        return onnx_lift(model, x, batch_size=batch_size, flip=flip)
    from .inference import lift_sequence
    return lift_sequence(model, x, dev, batch_size=batch_size, flip=flip)


@dataclass(frozen=True)
class Lifter:
    """What lifts a conversion's 2D, and where (:func:`resolve_lifter`).

    ``network``: the registry entry of the network loaded from ``weights`` (the one its
    file's config names, whatever lifter was asked for), None when MediaPipe's world
    landmarks are the lifter; ``label``: :attr:`~posemoe_blender.pipeline.ClipResult.lifter`,
    the network's name or ``mediapipe-world`` (with the reason when a network was asked for
    but its shipped weights file is missing); ``device``: where the network runs (a
    ``torch.device``, or :class:`~.backend.CpuDevice` for ONNX Runtime); ``backend``: what runs
    it, ``torch`` or ``onnx`` (:func:`~.backend.lift_backend`).
    """

    network: Optional[Network]
    weights: Optional[Path]
    label: str
    device: object
    backend: str = "torch"


def lifter_weights(options: ConvertOptions) -> Optional[Path]:
    """The weights file a network lifter loads: ``options.weights`` when given (it wins for
    any network), else the lifter's shipped file (:data:`~.registry.NETWORKS`); None for
    ``mediapipe``. Checks the lifter's name, loads nothing."""
    if check_lifter(options.lifter) not in NETWORKS:
        return None
    if options.weights:
        return Path(options.weights)
    return Path(NETWORKS[options.lifter].weights)


def resolve_lifter(options: ConvertOptions) -> Lifter:
    """Resolve ``options``' lifter, weights and device, loading (and caching) the network.

    MediaPipe's world landmarks lift when asked for or when the network's *shipped* weights
    file is missing. Raises :class:`PoseMoEError` for an unknown lifter, an unusable device,
    an explicit ``options.weights`` that does not exist or a bad weights file, so a caller
    can check all of it before spending time on detection.
    """
    weights = lifter_weights(options)
    if weights is None:
        return Lifter(None, None, "mediapipe-world", _mediapipe_device(options.device))
    backend = lift_backend(options.device, weights)
    device = resolve_device(options.device, backend)
    if options.weights and not Path(options.weights).is_file():  # a typo must not silently change the lifter
        raise PoseMoEError(f"{options.weights}: no such weights file")
    if not weights_available(weights, backend):
        return Lifter(None, None, f"mediapipe-world (no trained {NETWORKS[options.lifter].title} weights found)",
                      device, backend)
    network = network_for(MODELS.get(weights, device, backend)[1])
    return Lifter(network, weights, network.name, device, backend)


def _mediapipe_device(name: str):
    """The device reported when MediaPipe's landmarks lift: the backend's, or the CPU where no
    lifting runtime is installed (a wrong name still fails)."""
    try:
        return resolve_device(name)
    except PoseMoEError:
        if (name or "auto").lower() in ("auto", "cpu"):
            from .backend import CpuDevice
            return CpuDevice()
        raise


def prepare_lifter(options: ConvertOptions) -> tuple[object, bool]:
    """Check the lifter options and load (and cache) the network's weights.

    Returns ``(device, use_network)``: ``use_network`` is False when the MediaPipe world
    landmarks are the lifter (asked for, or no trained weights for the chosen network). Raises
    PoseMoEError as :func:`resolve_lifter` does, before any detection work.
    """
    lifter = resolve_lifter(options)
    return lifter.device, lifter.weights is not None


def hold_person_gaps(joints3d: np.ndarray, gaps: list) -> np.ndarray:
    """Freeze the 3D pose ``(T, 17, 3)`` over long whole-person gaps the way the 2D was frozen.

    The smoothing stage's ``fill_gaps`` holds the 2D keypoints of a long absence (each frame
    takes the nearest frame with a detection) but a temporal lifter still sees the absence
    (zero confidence, windows straddling its edges) and lets the 3D pose wander inside it.
    Each frame of such a gap (``gaps``: the smoothing stage's ``Gap`` list, frame numbers of
    ``joints3d``) gets the 3D pose of the same nearest detected frame instead.
    """
    out = np.array(joints3d, copy=True)
    T = out.shape[0]
    for g in gaps:
        if not g.whole_person:
            continue
        left = g.start - 1 if g.start > 0 else None
        right = g.end if g.end < T else None
        if left is None and right is None:
            continue
        for t in range(g.start, g.end):
            src = left if right is None or (left is not None and t - left <= right - t) else right
            out[t] = out[src]
    return out


def detected_world(dets, fps: float, max_gap_s: float) -> np.ndarray:
    """MediaPipe's world landmarks ``(T, 17, 3)`` metres with the frames where nobody was
    detected filled like the 2D (``fill_gaps``, whole frames only: every landmark of a
    detected frame is kept): the second input of a lifter that fuses them.

    ``dets``: the detection stage's result (``world3d`` (T, 17, 3), ``detected`` (T,) bool).
    """
    seen = np.repeat(dets.detected[:, None, None].astype(np.float32), dets.world3d.shape[1], axis=1)
    return fill_gaps(np.concatenate([dets.world3d, seen], axis=-1), fps, max_gap_s=max_gap_s)[0][..., :3]


@dataclass
class Lifted:
    """The lifting stage's result, on the 2D's time base (T frames).

    * ``joints3d``: (T, 17, 3) metres, root-relative camera coordinates (x right, y down,
      z forward), held over long whole-person gaps, not smoothed;
    * ``keypoints2d``: (T, 17, 3) pixels + confidence, the 2D the joints are meant to project
      onto (the root fit): the network's input (landmark-corrected when that is on), else
      the detected 2D;
    * ``world3d``: (T, 17, 3) metres, MediaPipe's world landmarks with the undetected frames
      filled (:func:`detected_world`);
    * ``label``: what lifted (:attr:`Lifter.label`).
    """

    joints3d: np.ndarray
    keypoints2d: np.ndarray
    world3d: np.ndarray
    label: str


def lift(keypoints2d: np.ndarray, gaps: list, dets, fps: float, options: ConvertOptions,
         lifter: Lifter) -> Lifted:
    """The lifting stage: gap-filled 2D -> root-relative 3D joints.

    ``keypoints2d``: (T, 17, 3) pixels + confidence, gaps filled; ``gaps``: the gaps
    ``fill_gaps`` reported for them; ``dets``: the detection stage's result (``world3d``,
    ``detected``, ``keypoints2d`` as detected, ``width``, ``height``), ``fps`` its frame rate;
    ``lifter``: :func:`resolve_lifter`'s. A network lifts the 2D (moved onto the training
    convention first (:func:`to_training_convention`) with ``options.landmark_correction``) with MediaPipe's
    world landmarks beside it, mirrored too with ``options.flip``; without a network MediaPipe's
    world landmarks are the joints, gaps filled per joint (:func:`fill_gaps`). Either way the 3D
    is then held over long whole-person gaps (:func:`hold_person_gaps`).
    """
    kp_lift = keypoints2d  # the 2D the 3D joints are meant to project onto (root fit)
    world3d = detected_world(dets, fps, options.max_gap_s)
    if lifter.weights is not None:
        if options.landmark_correction:
            kp_lift = to_training_convention(keypoints2d)
        joints3d = lift_keypoints(kp_lift, dets.width, dets.height, device=str(lifter.device),
                                  weights=lifter.weights, flip=options.flip, world3d=world3d,
                                  backend=lifter.backend)
    else:
        world = np.concatenate([dets.world3d, dets.keypoints2d[..., 2:3]], axis=-1)
        joints3d = fill_gaps(world, fps, max_gap_s=options.max_gap_s)[0][..., :3]
    return Lifted(hold_person_gaps(joints3d, gaps), kp_lift, world3d, lifter.label)
