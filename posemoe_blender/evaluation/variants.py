"""What is evaluated: the pipeline variants, built from the project's lifter list.

Kinds of variant:

* ``mediapipe_raw``: MediaPipe's world landmarks as they come (only the frames where nobody
  was found filled), no smoothing, no solver; the root from the 2D
  (``core.solving.estimate_root``), unsmoothed. Every other row is also reported as a ratio to
  this one.
* a *pipeline* variant: :func:`posemoe_blender.core.pipeline.process_clip` with some
  :class:`~posemoe_blender.options.ConvertOptions`, scored on the final animation's joints
  (``Animation.joints_world``: smoothed, solved, foot-locked, what is keyed).
* a *lifted* variant (``<lifter>_lifted``): the same run with smoothing and foot lock off,
  scored on the lifting stage's output plus its root (the network before smoothing).
* a *mean* variant (``mean:A+B``): the per-joint mean of two pipeline variants' joints, B moved
  onto A by one rigid transform for the clip first.

:func:`default_variants`: ``mediapipe_raw``; for every lifter of ``options.LIFTERS`` that
can run (a network lifter needs its shipped weights): the lifter as ``convert`` runs it
(``<lifter>``) and, for network lifters, without the landmark correction
(``<lifter>_nocorr``); then ``mean:entangled_nocorr+mediapipe`` when both exist.
:func:`parse_variants` reads ``--variants``: names from :func:`catalogue` (adds
``<lifter>_nolock``, ``<lifter>_lifted``), ``mean:A+B``, and ``NAME=LIFTER[,weights=FILE][,nocorr]
[,nolock][,smoothing=S][,flip]`` for anything else (another weights file, say).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Optional

from .. import options as opts
from ..errors import PoseMoEError

RAW = "mediapipe_raw"
#: The per-joint mean the issue's filer found best (entangled without correction + MediaPipe
#: through the pipeline).
DEFAULT_MEAN = ("entangled_nocorr", "mediapipe")


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    kind: str                                   # "raw" | "pipeline" | "lifted" | "mean"
    options: Optional[opts.ConvertOptions] = None
    parts: tuple[str, ...] = ()                 # mean: the two variants averaged

    @property
    def is_default(self) -> bool:
        """The pipeline exactly as ``convert`` runs it by default (apart from the device)."""
        if self.kind != "pipeline" or self.options is None:
            return False
        return replace(self.options, device="auto") == opts.ConvertOptions()


def _runs(lifter: str) -> bool:
    """A network lifter needs its shipped weights file; MediaPipe always runs."""
    if lifter not in opts.NETWORK_LIFTERS:
        return True
    from ..core import lifting
    from ..model.weights import SHIPPED_WEIGHTS
    return lifter in SHIPPED_WEIGHTS and lifting.weights_available(SHIPPED_WEIGHTS[lifter])


def _pipeline(name: str, label: str, **kw) -> Variant:
    return Variant(name, label, "pipeline", opts.ConvertOptions(device="cpu", **kw))


def catalogue(weights: Optional[str] = None, flip: bool = False) -> dict[str, Variant]:
    """Every named variant that can run here. ``weights``: the default lifter's network file
    instead of the shipped one; ``flip``: test-time mirroring for the network lifters."""
    out = {RAW: Variant(RAW, "MediaPipe world landmarks (raw)", "raw")}
    for lifter in opts.LIFTERS:
        own = weights if (weights and lifter == opts.DEFAULT_LIFTER) else None
        if own is None and not _runs(lifter):
            continue
        name = opts.LIFTER_NAMES.get(lifter, lifter)
        network = lifter in opts.NETWORK_LIFTERS
        kw = dict(lifter=lifter, weights=own, flip=flip and network)
        out[lifter] = _pipeline(lifter, f"{name}, full pipeline" + (" (convert default)" if lifter == opts.DEFAULT_LIFTER else ""), **kw)
        if network:
            out[f"{lifter}_nocorr"] = _pipeline(f"{lifter}_nocorr", f"{name}, no landmark correction",
                                                landmark_correction=False, **kw)
        out[f"{lifter}_nolock"] = _pipeline(f"{lifter}_nolock", f"{name}, foot lock off", foot_lock=False, **kw)
        out[f"{lifter}_lifted"] = Variant(f"{lifter}_lifted", f"{name}, lifted (before smoothing)", "lifted",
                                          opts.ConvertOptions(device="cpu", smoothing=0.0, foot_lock=False, **kw))
    return out


def mean_variant(a: str, b: str) -> Variant:
    return Variant(f"mean:{a}+{b}", f"per-joint mean of {a} and {b}", "mean", parts=(a, b))


def default_variants(weights: Optional[str] = None, flip: bool = False,
                     landmark_correction: bool = True) -> list[Variant]:
    """The rows every evaluation reports (see the module's docstring). ``landmark_correction``
    False keeps only the network lifters' ``_nocorr`` rows."""
    cat = catalogue(weights, flip)
    out = [cat[RAW]]
    for lifter in opts.LIFTERS:
        names = [lifter, f"{lifter}_nocorr"] if lifter in opts.NETWORK_LIFTERS else [lifter]
        if not landmark_correction and lifter in opts.NETWORK_LIFTERS:
            names = names[1:]
        out += [cat[n] for n in names if n in cat]
    have = {v.name for v in out}
    if all(p in have for p in DEFAULT_MEAN):
        out.append(mean_variant(*DEFAULT_MEAN))
    return out


def _custom(spec: str) -> Variant:
    name, _, rest = spec.partition("=")
    parts = rest.split(",")
    o = opts.ConvertOptions(device="cpu", lifter=opts.check_lifter(parts[0]))
    for p in parts[1:]:
        if p.startswith("weights="):
            o.weights = p[len("weights="):]
        elif p == "nocorr":
            o.landmark_correction = False
        elif p == "nolock":
            o.foot_lock = False
        elif p == "flip":
            o.flip = True
        elif p.startswith("smoothing="):
            o.smoothing = float(p[len("smoothing="):])
        else:
            raise PoseMoEError(f"variant {spec!r}: unknown part {p!r} (weights=FILE, nocorr, nolock, flip, smoothing=S)")
    return Variant(name, f"{name} ({rest})", "pipeline", o)


def parse_variants(spec: str, weights: Optional[str] = None, flip: bool = False) -> list[Variant]:
    """``--variants``: names separated by commas, spaces or ``;``
    (``posemoe,entangled_nocorr,mean:entangled_nocorr+mediapipe``); a custom item
    (``NAME=LIFTER,weights=FILE``) is one ``;``-separated chunk of its own.
    ``mediapipe_raw`` (the ratios' reference) and the parts of a mean are always added."""
    cat = catalogue(weights, flip)
    items = []
    for chunk in spec.split(";"):
        chunk = chunk.strip()
        items += [chunk] if "=" in chunk else re.split(r"[,\s]+", chunk)
    out = {RAW: cat[RAW]}
    for item in filter(None, items):
        if "=" in item:
            v = _custom(item)
        elif item.startswith("mean:"):
            a, _, b = item[len("mean:"):].partition("+")
            v = mean_variant(a, b)
        elif item in cat:
            v = cat[item]
        else:
            raise PoseMoEError(f"unknown variant {item!r} (known here: {', '.join(cat)}, mean:A+B, NAME=LIFTER,...)")
        out[v.name] = v
    for v in list(out.values()):
        for part in v.parts:
            if part not in out:
                if part not in cat:
                    raise PoseMoEError(f"{v.name}: {part!r} is not a variant")
                out[part] = cat[part]
    return order(list(out.values()))


def order(variants: list[Variant]) -> list[Variant]:
    """Pipeline and lifted variants before the means that use them (stable otherwise)."""
    return sorted(variants, key=lambda v: v.kind == "mean")
