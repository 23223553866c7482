"""The lifting networks by lifter name, declared once.

Each entry of :data:`NETWORKS` ties a lifter of :data:`~posemoe_blender.options.NETWORK_LIFTERS`
(its name, how messages name it, its help line and the default stay in :mod:`posemoe_blender.options`) to its
network class, its config dataclass and its shipped weights files. A network's config dict
(the ``config`` of a weights file) names its lifter in ``"model"``.

Public API::

    NETWORKS: {lifter name: Network}           # in options.NETWORK_LIFTERS order
    network_for(config) -> Network             # the entry of a config dict's "model"
    build_model(config) -> torch.nn.Module     # a fresh (untrained) network for a config dict
    DEFAULT_WEIGHTS: pathlib.Path              # what load_model()/lift_keypoints() load without a file

The registry imports no torch: a :class:`Network` names its module and classes, imported (with
torch) when ``module`` or ``config`` is first read, so the ONNX backend can look networks up
in a Python without torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from ..options import NETWORK_NAMES

if TYPE_CHECKING:
    from torch import nn

__all__ = ["DEFAULT_WEIGHTS", "NETWORKS", "Network", "WEIGHTS_DIR", "build_model", "network_for"]

#: The shipped weights files (the repository's ``weights/``).
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"


@dataclass(frozen=True)
class Network:
    """One lifting network.

    ``weights``: the shipped file for 2D + MediaPipe's 3D landmarks (what ``convert`` has; the
    network may or may not fuse the landmarks: its config's ``hint3d`` says); ``weights_2d``:
    the shipped file for 2D alone (``lift`` of keypoints without ``world3d``). ``source``:
    the network's module in :mod:`~posemoe_blender.lifting.networks`, ``classes``: the names of
    its network class and its config dataclass there (:attr:`module`, :attr:`config`).
    """

    name: str
    source: str
    classes: tuple[str, str]
    weights: Path
    weights_2d: Path

    def _class(self, i: int) -> type:
        return getattr(importlib.import_module(f".networks.{self.source}", __package__), self.classes[i])

    @property
    def module(self) -> type[nn.Module]:
        """The network class (a ``torch.nn.Module``; imports torch)."""
        return self._class(0)

    @property
    def config(self) -> type:
        """The network's config dataclass (imports torch, with its module)."""
        return self._class(1)

    @property
    def title(self) -> str:
        """How messages name the network (``options.NETWORK_NAMES``)."""
        return NETWORK_NAMES[self.name]

    def shipped(self, world3d: bool) -> Path:
        """The shipped weights file for 2D + MediaPipe's 3D (``world3d``) or for 2D alone."""
        return self.weights if world3d else self.weights_2d


NETWORKS: dict[str, Network] = {n.name: n for n in (
    Network("tcn", "tcn", ("TemporalConvLifter", "TCNConfig"),
            WEIGHTS_DIR / "tcn_fused.pt", WEIGHTS_DIR / "tcn_alt.pt"),
    Network("posemoe", "posemoe", ("PoseMoE", "PoseMoEConfig"),
            WEIGHTS_DIR / "posemoe_fused.pt", WEIGHTS_DIR / "posemoe_default.pt"),
    Network("entangled", "entangled", ("EntangledTransformer", "EntangledConfig"),
            WEIGHTS_DIR / "entangled_fused.pt", WEIGHTS_DIR / "entangled.pt"),
)}

#: The 2D-only PoseMoE (T=27): the weights file ``load_model()`` loads by default.
DEFAULT_WEIGHTS = NETWORKS["posemoe"].weights_2d


def network_for(config: dict) -> Network:
    """The entry of the network a config dict describes (``config["model"]``, default
    ``"posemoe"``); ValueError for an unknown one."""
    kind = config.get("model", "posemoe")
    if kind not in NETWORKS:
        raise ValueError(f"unknown model {kind!r}")
    return NETWORKS[kind]


def build_model(config: dict) -> nn.Module:
    """Build any lifter from its config dict (``config["model"]`` selects the class); ValueError
    (or TypeError for a bad value) when the config does not describe a network."""
    net = network_for(config)
    unknown = set(config) - {f.name for f in fields(net.config)}
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)} for {net.name}")
    return net.module(net.config(**config))
