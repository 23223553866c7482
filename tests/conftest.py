"""Shared pytest fixtures: paths to the project's sample clip and to ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


def data_root() -> Path:
    """``$POSEMOE_DATA`` or ``../shared/data`` next to the repository."""
    return Path(os.environ.get("POSEMOE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (set POSEMOE_DATA)")
    return root


@pytest.fixture
def real_video(shared_data) -> Path:
    path = shared_data / "videos" / "single_person_cam01.mp4"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture
def sample_clip() -> Path:
    path = SAMPLES / "demo.mp4"
    if not path.is_file():
        pytest.skip("samples/demo.mp4 has not been rendered yet (posemoe_lab/renders/sample.py)")
    return path
