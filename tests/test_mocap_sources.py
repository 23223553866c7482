"""Motion-capture sources beyond Bandai Namco: HDM05 (ASF/AMC) and ReActIdle (BVH).

Read from ``../shared/data/mocap`` (or ``$POSEMOE_DATA/mocap``); skipped when the archives are
absent. Each test reads a handful of takes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from posemoe_blender.joints import BONES, JOINT_INDEX as J
from posemoe_lab.training import asf, sources

DATA = Path(os.environ.get("POSEMOE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "mocap"
HDM05 = DATA / "hdm05-subset.tar.xz"
REACTIDLE = DATA / "reactidle-idle.tar.xz"


def _check_skeleton(j: np.ndarray, name: str) -> None:
    assert j.ndim == 3 and j.shape[1:] == (17, 3) and np.isfinite(j).all(), name
    lengths = np.stack([np.linalg.norm(j[:, c] - j[:, p], axis=-1) for p, c in BONES])
    assert lengths.std(axis=1).max() < 0.01, name                    # rigid bones
    height = j[:, J["Head"], 1] - j[:, [J["LAnkle"], J["RAnkle"]], 1].min(axis=1)
    assert 1.35 < height.max() < 1.95, (name, height.max())  # head top over the ankles (standing), Y up
    # the character's left is on its left: up x forward (feet-to-toe direction unknown here,
    # so use the torso: the chest is in front of the spine line less reliably) -> hips vs shoulders agree
    hips = j[:, J["LHip"]] - j[:, J["RHip"]]
    shoulders = j[:, J["LShoulder"]] - j[:, J["RShoulder"]]
    assert np.mean(np.sum(hips * shoulders, axis=-1) > 0) > 0.9, name


@pytest.mark.skipif(not HDM05.is_file(), reason=f"{HDM05} is absent")
def test_hdm05_takes_map_to_plausible_skeletons(tmp_path_factory):
    raw = Path(__file__).resolve().parents[1] / ".cache" / "hdm05"
    takes = asf.list_takes(HDM05, raw)
    assert {t.actor for t in takes} == {"bd", "bk", "dg", "mm", "tr"}
    assert {t.split for t in takes if t.actor in ("mm", "tr")} == {"test"}
    train = asf.list_takes(HDM05, raw, actors=sources.HDM05_TRAIN_ACTORS)
    assert train and not {t.actor for t in train} & set(sources.HDM05_HELD_OUT_ACTORS)
    for t in (takes[0], next(x for x in takes if "squat" in x.name), next(x for x in takes if "lieDown" in x.name)):
        j, fps = t.load()
        assert fps == 120.0
        _check_skeleton(j[::10], t.name)
        # the left hip is on the actor's left: left = up x forward, forward from the feet
        sk = asf.parse_asf(t.asf.read_text(errors="replace"))
        P, _ = asf.forward_kinematics(sk, asf.parse_amc(t.amc.read_text(errors="replace"), sk))
        fwd = (P["lfoot"] - P["ltibia"]) + (P["rfoot"] - P["rtibia"])
        fwd[:, 1] = 0
        left = np.cross(np.array([0.0, 1.0, 0.0]), fwd)
        assert np.mean(np.sum(left * (j[:, J["LHip"]] - j[:, J["RHip"]]), -1) > 0) > 0.9


@pytest.mark.skipif(not REACTIDLE.is_file(), reason=f"{REACTIDLE} is absent")
def test_reactidle_takes_map_to_plausible_skeletons(tmp_path):
    takes = sources.read_reactidle(DATA, Path(__file__).resolve().parents[1] / ".cache" / "raw")
    assert len(takes) == 22 and all(t.split == "train" for t in takes)
    for t in takes[:3]:
        _check_skeleton(t.joints[::10], t.name)


def test_to_30fps_keeps_time():
    t = np.arange(121) / 120.0
    x = np.zeros((121, 17, 3))
    x[..., 0] = t[:, None]
    y = sources.to_30fps(x, 120.0)
    assert y.shape[0] == 31 and np.allclose(y[:, 0, 0], np.arange(31) / 30.0, atol=1e-6)
