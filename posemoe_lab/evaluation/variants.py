"""What is evaluated: the pipeline variants, built from the project's lifter list.

Kinds of variant:

* ``mediapipe_raw``: MediaPipe's world landmarks as they come (only the frames where nobody
  was found filled), no smoothing, no solver; the root from the 2D
  (``core.solving.estimate_root``), unsmoothed. Every other row is also reported as a ratio to
  this one.
* a *pipeline* variant: :func:`posemoe_blender.pipeline.process_clip` with some
  :class:`~posemoe_blender.options.ConvertOptions`, scored on the final animation's joints
  (``Animation.joints_world``: smoothed, solved, foot-locked, what is keyed).
* a *lifted* variant (``<lifter>_lifted``): the same run with smoothing and foot lock off,
  scored on the lifting stage's output plus its root (the network before smoothing).
* a *mean* variant (``mean:A+B``): the per-joint mean of two pipeline variants' joints, B moved
  onto A by one rigid transform for the clip first.

Names say what runs, whatever the current defaults are: for every network lifter of
``options.NETWORK_LIFTERS`` (with its shipped weights, ``lifting.registry.NETWORKS``' ``weights``)
``<lifter>_corr`` (BlazePose's 2D moved by the landmark correction first) and
``<lifter>_nocorr`` (the 2D as detected); ``<lifter>2d_corr`` / ``<lifter>2d_nocorr`` the same
with the lifter's 2D-only network (``weights_2d``) where that is another file; ``mediapipe`` is MediaPipe's world landmarks through
the pipeline; the other options are ``convert``'s defaults. The row that is exactly ``convert``'s
default is marked (``default``, bold in the report). :func:`default_variants`: ``mediapipe_raw``,
those rows for every lifter of ``options.LIFTERS`` that can run, then
``mean:entangled_nocorr+mediapipe``.

:func:`parse_variants` reads ``--variants``: those names; a bare lifter name (``posemoe``) for
that lifter with ``convert``'s defaults; ``<lifter>_nolock`` (foot lock off) and
``<lifter>_lifted``; ``mean:A+B``; and ``NAME=LIFTER[,weights=FILE][,corr|nocorr][,nolock]
[,smoothing=S][,flip|noflip]`` for anything else (another weights file, say). The network
rows mirror (``flip``) as ``convert`` does by default unless ``--flip``/``--no-flip`` says otherwise;
a custom item starts from ``convert``'s defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Optional

from posemoe_blender import options as opts
from posemoe_blender.errors import PoseMoEError

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
    from posemoe_blender.lifting import stage as lifting
    from posemoe_blender.lifting.registry import NETWORKS
    return lifter in NETWORKS and lifting.weights_available(NETWORKS[lifter].weights)


def _pipeline(name: str, label: str, **kw) -> Variant:
    return Variant(name, label, "pipeline", opts.ConvertOptions(device="cpu", **kw))


def catalogue(weights: Optional[str] = None, flip: Optional[bool] = None) -> dict[str, Variant]:
    """Every named variant that can run here. ``weights``: the default lifter's network file
    instead of the shipped one; ``flip``: test-time mirroring for the network lifters (None:
    as ``convert`` does by default)."""
    flip = opts.ConvertOptions().flip if flip is None else flip
    out = {RAW: Variant(RAW, "MediaPipe world landmarks (raw)", "raw")}
    for lifter in opts.LIFTERS:
        own = weights if (weights and lifter == opts.DEFAULT_LIFTER) else None
        if own is None and not _runs(lifter):
            continue
        name = opts.LIFTER_NAMES.get(lifter, lifter)
        network = lifter in opts.NETWORK_LIFTERS
        kw = dict(lifter=lifter, weights=own, flip=flip and network)
        if network:
            out[f"{lifter}_corr"] = _pipeline(f"{lifter}_corr", f"{name}, landmark correction on",
                                              landmark_correction=True, **kw)
            out[f"{lifter}_nocorr"] = _pipeline(f"{lifter}_nocorr", f"{name}, landmark correction off",
                                                landmark_correction=False, **kw)
        else:
            out[lifter] = _pipeline(lifter, f"{name} through the pipeline", **kw)
        if network and own is None:  # the lifter's 2D-only network, when another file ships for that
            from posemoe_blender.lifting.registry import NETWORKS
            entry = NETWORKS.get(lifter)  # a lifter the registry does not know yet has no 2D-only file
            two_d = entry.weights_2d if entry is not None else None
            if two_d is not None and two_d != entry.weights and two_d.is_file():
                for corr in (True, False):
                    n = f"{lifter}2d_{'corr' if corr else 'nocorr'}"
                    out[n] = _pipeline(n, f"{name}, 2D-only network ({two_d.name}), landmark correction "
                                          f"{'on' if corr else 'off'}", lifter=lifter, weights=str(two_d),
                                       landmark_correction=corr, flip=flip)
        out[f"{lifter}_nolock"] = _pipeline(f"{lifter}_nolock", f"{name}, foot lock off", foot_lock=False, **kw)
        out[f"{lifter}_lifted"] = Variant(f"{lifter}_lifted", f"{name}, lifted (before smoothing)", "lifted",
                                          opts.ConvertOptions(device="cpu", smoothing=0.0, foot_lock=False, **kw))
    return out


def weights_of(v: Variant) -> Optional[dict]:
    """The network file a pipeline or lifted variant loads and its SHA-256 (first 16 hex
    digits); None for MediaPipe's landmarks and the means."""
    if v.options is None:
        return None
    from posemoe_blender.lifting.stage import lifter_weights
    from posemoe_blender.lifting.weights import sha256_file
    path = lifter_weights(v.options)
    if path is None or not path.is_file():
        return None
    return {"file": str(path), "sha256": sha256_file(path)[:16]}


def lifter_default(cat: dict[str, Variant], lifter: str) -> Optional[Variant]:
    """The catalogue's row that runs ``lifter`` with ``convert``'s defaults (``<lifter>_corr``
    or ``_nocorr`` as the default correction says; ``mediapipe``)."""
    if lifter in cat:
        return cat[lifter]
    suffix = "_corr" if opts.ConvertOptions().landmark_correction else "_nocorr"
    return cat.get(lifter + suffix)


def mean_variant(a: str, b: str) -> Variant:
    return Variant(f"mean:{a}+{b}", f"per-joint mean of {a} and {b}", "mean", parts=(a, b))


def default_variants(weights: Optional[str] = None, flip: Optional[bool] = None,
                     landmark_correction: Optional[bool] = None) -> list[Variant]:
    """The rows every evaluation reports (see the module's docstring). ``landmark_correction``
    True or False keeps only the network lifters' rows with that setting."""
    cat = catalogue(weights, flip)
    out = [cat[RAW]]
    for lifter in opts.LIFTERS:
        if lifter in opts.NETWORK_LIFTERS:
            names = [f"{lifter}_corr", f"{lifter}_nocorr"]
            if landmark_correction is not None:
                names = names[:1] if landmark_correction else names[1:]
        else:
            names = [lifter]
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
        elif p in ("corr", "nocorr"):
            o.landmark_correction = p == "corr"
        elif p == "nolock":
            o.foot_lock = False
        elif p in ("flip", "noflip"):
            o.flip = p == "flip"
        elif p.startswith("smoothing="):
            o.smoothing = float(p[len("smoothing="):])
        else:
            raise PoseMoEError(f"variant {spec!r}: unknown part {p!r} (weights=FILE, corr, nocorr, nolock, flip, "
                               "noflip, smoothing=S)")
    return Variant(name, f"{name} ({rest})", "pipeline", o)


def parse_variants(spec: str, weights: Optional[str] = None, flip: Optional[bool] = None) -> list[Variant]:
    """``--variants``: names separated by commas, spaces or ``;``
    (``posemoe_nocorr,entangled_corr,mean:entangled_nocorr+mediapipe``); a custom item
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
        elif item in opts.LIFTERS and lifter_default(cat, item) is not None:
            v = lifter_default(cat, item)
        else:
            raise PoseMoEError(f"unknown variant {item!r} (known here: {', '.join(cat)}, a lifter name, "
                               "mean:A+B, NAME=LIFTER,...)")
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
