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
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from torch import nn

from ..options import NETWORK_NAMES
from .networks.entangled import EntangledConfig, EntangledTransformer
from .networks.posemoe import PoseMoE, PoseMoEConfig
from .networks.tcn import TCNConfig, TemporalConvLifter

__all__ = ["DEFAULT_WEIGHTS", "NETWORKS", "Network", "WEIGHTS_DIR", "build_model", "network_for"]

#: The shipped weights files (the repository's ``weights/``).
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"


@dataclass(frozen=True)
class Network:
    """One lifting network.

    ``weights``: the shipped file for 2D + MediaPipe's 3D landmarks (what ``convert`` has; the
    network may or may not fuse the landmarks: its config's ``hint3d`` says); ``weights_2d``:
    the shipped file for 2D alone (``lift`` of keypoints without ``world3d``).
    """

    name: str
    module: type[nn.Module]
    config: type
    weights: Path
    weights_2d: Path

    @property
    def title(self) -> str:
        """How messages name the network (``options.NETWORK_NAMES``)."""
        return NETWORK_NAMES[self.name]

    def shipped(self, world3d: bool) -> Path:
        """The shipped weights file for 2D + MediaPipe's 3D (``world3d``) or for 2D alone."""
        return self.weights if world3d else self.weights_2d


NETWORKS: dict[str, Network] = {n.name: n for n in (
    Network("tcn", TemporalConvLifter, TCNConfig,
            WEIGHTS_DIR / "tcn_fused.pt", WEIGHTS_DIR / "tcn_alt.pt"),
    Network("posemoe", PoseMoE, PoseMoEConfig,
            WEIGHTS_DIR / "posemoe_fused.pt", WEIGHTS_DIR / "posemoe_default.pt"),
    Network("entangled", EntangledTransformer, EntangledConfig,
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
