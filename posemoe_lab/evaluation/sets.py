"""Rendered sets with truth: what a set folder holds and how to read it.

A set folder (``make render-set``, ``make render-calib``, ``make render-cross``) holds
``manifest.json`` (one entry per video: ``video``, ``truth``, ``clip``, ``view``, and for the
cross-source set ``actor``), ``<clip>_<view>.mp4`` and ``<clip>_<view>_truth.npz``: the true
joints per frame (``joints_world`` (T, 17, 3) Blender world, Z up, metres; ``joints3d`` camera
axes; ``keypoints2d`` true 2D), the camera (``K``, ``R``, ``t``), ``fps``, ``width``, ``height``
and, for the cross-source set, ``actor`` and ``motion_class``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from posemoe_blender.errors import PoseMoEError


@dataclass
class SetVideo:
    """One video of a rendered set and its truth."""

    name: str          # the video's file name
    path: str
    clip: str
    view: str
    actor: str         # HDM05 actor of the cross-source set; "" elsewhere
    truth: dict = field(repr=False)

    @property
    def fps(self) -> float:
        return float(self.truth["fps"])

    @property
    def joints_world(self) -> np.ndarray:
        return np.asarray(self.truth["joints_world"], np.float64)


def read_manifest(set_dir: str) -> dict:
    path = os.path.join(set_dir, "manifest.json")
    if not os.path.isfile(path):
        raise PoseMoEError(f"{set_dir}: no manifest.json (render a set with `make render-set` "
                           "or `make render-cross`)")
    with open(path) as fh:
        return json.load(fh)


def load_set(set_dir: str, limit: Optional[int] = None, actor: str = "") -> tuple[dict, list[SetVideo]]:
    """The manifest and every video of it that is on disk with its truth (only ``actor``'s
    when given); ``limit`` keeps the first N."""
    if not os.path.isdir(set_dir):
        raise PoseMoEError(f"{set_dir}: no such folder")
    manifest = read_manifest(set_dir)
    videos = []
    for e in manifest.get("videos", []):
        path, truth_path = os.path.join(set_dir, e["video"]), os.path.join(set_dir, e["truth"])
        if not (os.path.isfile(path) and os.path.isfile(truth_path)):
            continue
        with np.load(truth_path) as d:
            truth = {k: d[k] for k in d.files}
        who = str(e.get("actor", truth.get("actor", "")))
        if actor and who != actor:
            continue
        videos.append(SetVideo(e["video"], path, str(e["clip"]), str(e["view"]), who, truth))
    if not videos:
        raise PoseMoEError(f"{set_dir}: none of the manifest's videos is there"
                           + (f" for actor {actor!r}" if actor else ""))
    return manifest, videos[:limit] if limit else videos
