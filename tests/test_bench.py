"""``python -m posemoe_lab bench``: per-stage timings from the pipeline's own instrumentation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from posemoe_lab.evaluation.bench import SERIAL, STAGES, format_report

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report(sample_clip_path=REPO / "samples" / "demo.mp4"):
    if not sample_clip_path.is_file():
        pytest.skip("samples/demo.mp4 is missing")
    proc = subprocess.run([sys.executable, "-m", "posemoe_lab", "bench", str(sample_clip_path),
                           "--end", "20", "--device", "cpu", "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_bench_reports_every_stage(report):
    assert report["frames"] == 20
    names = [s["stage"] for s in report["stages"]]
    assert names == [k for k, _ in STAGES] + ["other"]
    by = {s["stage"]: s for s in report["stages"]}
    for key in ("decode", "detect", "lift", "smooth", "solve", "keyframes", "export"):
        assert by[key]["seconds"] > 0, key
        assert by[key]["fps"] > 0, key
    # serial stages + "other" make up the whole convert
    total = sum(by[k]["share"] for k in SERIAL) + by["other"]["share"]
    assert total == pytest.approx(1.0, abs=0.02)
    assert report["convert"]["fps"] > 0 and report["decode_detect_alone"]["fps"] > 0
    assert report["decode_alone"]["fps"] > report["decode_detect_alone"]["fps"]
    assert report["ratio"] == pytest.approx(report["convert"]["fps"] / report["decode_detect_alone"]["fps"])
    assert 100 < report["peak_rss_mb"] < 4000
    # the --preview video: timed on its own, outside the convert's figures
    assert report["preview"]["seconds"] > 0 and report["preview"]["fps"] > 0
    assert report["preview"]["share_of_convert"] == pytest.approx(
        report["preview"]["seconds"] / report["convert"]["seconds"])
    assert report["cpus"] >= 1 and report["cpu"]


def test_bench_text_report(report):
    text = format_report(report)
    for label in ("FBX export", "keyframe writing", "decode+detect alone", "whole convert", "peak memory",
                  "--preview video"):
        assert label in text


def test_bench_bad_input_is_one_line_error(tmp_path):
    bad = tmp_path / "nope.mp4"
    bad.write_text("not a video")
    proc = subprocess.run([sys.executable, "-m", "posemoe_lab", "bench", str(bad)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "nope.mp4: not a readable video" in proc.stderr


def test_bench_cuda_without_gpu_fails_first(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    proc = subprocess.run([sys.executable, "-m", "posemoe_lab", "bench", str(REPO / "samples" / "demo.mp4"),
                           "--device", "cuda"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no CUDA GPU is available" in proc.stderr
