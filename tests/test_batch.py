"""The local batch (issue #14): OUT/report.json rewritten after each clip, resumable skips,
clips that would share an FBX, bad --ray values, and Ray never imported without --ray."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from posemoe_blender.batch import core as batch_mod
from posemoe_blender.batch import plan
from posemoe_blender.cli import main
from posemoe_blender.errors import PoseMoEError
from posemoe_blender.options import ConvertOptions

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "posemoe_blender"
DEMO = REPO / "samples" / "demo.mp4"


def cut_clips(folder: Path, names, frames: int = 12, start_step: int = 25) -> list[Path]:
    """Short cuts of samples/demo.mp4 (``frames`` each, starting ``start_step`` frames apart)."""
    if not DEMO.is_file():
        pytest.skip("samples/demo.mp4 has not been rendered yet (posemoe_lab/renders/sample.py)")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, name in enumerate(names):
        cap = cv2.VideoCapture(str(DEMO))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        cap.set(cv2.CAP_PROP_POS_FRAMES, i * start_step)
        writer = None
        for _ in range(frames):
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(folder / name), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            writer.write(frame)
        cap.release()
        writer.release()
        out.append(folder / name)
    return out


def broken_clip(path: Path) -> Path:
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    return path


def read_report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


ROW_KEYS = {"video", "status", "fbx", "frames", "seconds", "error", "node"}


def test_report_after_each_clip_and_a_rerun_skips(tmp_path, capfd):
    clips = tmp_path / "clips"
    cut_clips(clips, ["a.mp4", "b.mp4"], frames=10)
    broken_clip(clips / "broken.mp4")
    out = tmp_path / "out"
    seen = []

    def on_result(row):  # the report on disk already holds this row and those before it
        seen.append(read_report(out))
        assert row in seen[-1]["rows"]

    rows = batch_mod.run_batch([str(p) for p in sorted(clips.iterdir())], str(out), ConvertOptions(),
                               save_joints=True, on_result=on_result)
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]  # a, b, broken (clip order)
    assert [s["totals"]["pending"] for s in seen] == [2, 1, 0] and not seen[-1]["finished"]
    report = read_report(out)
    assert report["finished"] and report["ray"] is None
    assert report["totals"] == {"clips": 3, "ok": 2, "skipped": 0, "failed": 1, "pending": 0}
    for row in report["rows"]:
        assert set(row) == ROW_KEYS
        assert row["node"] == plan.node_name()
    ok = report["rows"][0]
    assert ok["video"] == str(clips / "a.mp4") and ok["fbx"] == str(out / "a.fbx") and ok["frames"] == 10
    assert ok["seconds"] > 0 and ok["error"] == ""
    bad = report["rows"][2]
    assert bad["fbx"] is None and "not a readable video" in bad["error"] and "\n" not in bad["error"]
    assert sorted(p.name for p in out.iterdir()) == ["a.fbx", "a.npz", "a.png", "b.fbx", "b.npz", "b.png",
                                                     "report.json"]
    import cv2
    sheet = cv2.imread(str(out / "a.png"))   # the contact sheet: rows of footage | front | side
    assert sheet is not None and sheet.shape[0] >= 240 and sheet.shape[1] > 2 * sheet.shape[0] // 4

    # a rerun: the converted clips are skipped (their FBX untouched, frames carried over)
    stamp = (out / "a.fbx").stat().st_mtime_ns
    capfd.readouterr()
    assert main(["batch", str(clips), "-o", str(out), "--save-joints"]) == 1
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "0 converted, 2 skipped, 1 failed" in captured.out
    assert "[1/3] a.mp4: skipped" in captured.err
    report = read_report(out)
    assert [(r["status"], r["frames"]) for r in report["rows"]] == [("skipped", 10), ("skipped", 10), ("failed", 0)]
    assert (out / "a.fbx").stat().st_mtime_ns == stamp
    assert main(["batch", str(clips / "a.mp4"), "-o", str(out)]) == 0  # a third run: still carried over
    assert [(r["status"], r["frames"], r["node"]) for r in read_report(out)["rows"]] == \
        [("skipped", 10, plan.node_name())]


def test_a_run_stopped_mid_batch_keeps_the_report_of_what_finished(tmp_path, monkeypatch):
    clips = cut_clips(tmp_path / "clips", ["a.mp4", "b.mp4", "c.mp4"], frames=8)
    out = tmp_path / "out"
    real = batch_mod.convert_job
    calls = []

    def stop_at_second(job, *args, **kwargs):
        calls.append(job.video)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C (or a crash) in the middle of the second clip
        return real(job, *args, **kwargs)

    monkeypatch.setattr(batch_mod, "convert_job", stop_at_second)
    with pytest.raises(KeyboardInterrupt):
        batch_mod.run_batch([str(c) for c in clips], str(out), ConvertOptions())
    report = read_report(out)
    assert not report["finished"] and report["totals"]["pending"] == 2
    assert [(r["video"], r["status"]) for r in report["rows"]] == [(str(clips[0]), "ok")]
    assert sorted(p.name for p in out.iterdir()) == ["a.fbx", "a.png", "report.json"]  # nothing half-written
    monkeypatch.setattr(batch_mod, "convert_job", real)
    rows = batch_mod.run_batch([str(c) for c in clips], str(out), ConvertOptions())
    assert [r["status"] for r in rows] == ["skipped", "ok", "ok"]


def test_two_clips_with_one_fbx_name(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    cut_clips(one, ["walk.mp4"], frames=6)
    cut_clips(two, ["walk.mp4"], frames=6)
    out = tmp_path / "out"
    rows = batch_mod.run_batch([str(one / "walk.mp4"), str(two / "walk.mp4")], str(out), ConvertOptions())
    assert [r["status"] for r in rows] == ["ok", "failed"]
    assert rows[1]["error"] == f"walk.fbx is also the output of {one / 'walk.mp4'}: rename one of the two clips"


@pytest.mark.parametrize("value, message", [
    ("nonsense", "--ray 'nonsense': give auto or a cluster's HOST:PORT"),
    ("127.0.0.1:1", "cannot reach the Ray cluster at 127.0.0.1:1"),
    (" ", "--ray: give auto or a cluster's HOST:PORT"),
])
def test_bad_ray_address_is_one_line_before_any_work(tmp_path, capfd, value, message):
    pytest.importorskip("ray", reason="Ray is not installed (requirements.txt pins it)")
    broken_clip(tmp_path / "x.mp4")
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "*.mp4"), "-o", str(out), "--ray", value]) == 2
    err = capfd.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_ray_missing_is_one_line(tmp_path, capfd, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    broken_clip(tmp_path / "x.mp4")
    assert main(["batch", str(tmp_path / "x.mp4"), "-o", str(tmp_path / "out"), "--ray", "auto"]) == 2
    err = capfd.readouterr().err
    assert err == "error: --ray needs Ray: .venv/bin/pip install 'ray==2.60.0'\n"
    assert "ray==2.60.0" in (REPO / "requirements.txt").read_text().split()


def test_only_the_ray_module_imports_ray():
    """Statically: ray is imported by batch/ray_cluster.py only (cli's batch --ray check looks
    for it with ``find_spec``, so the extension's copy, which leaves that module out, has none)."""
    importers = []
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            if any(n == "ray" or n.startswith("ray.") for n in names):
                importers.append(str(path.relative_to(PKG)))
    assert sorted(set(importers)) == ["batch/ray_cluster.py"]


def test_convert_addon_and_local_batch_never_import_ray(tmp_path):
    """At run time: the CLI, convert, the add-on package and a local batch run leave ray unloaded."""
    broken_clip(tmp_path / "x.mp4")
    code = f"""
import sys
import posemoe_blender.cli, posemoe_blender.convert, posemoe_blender.batch.core, posemoe_blender.batch.plan
import posemoe_blender.addon
import posemoe_blender.addon.controller, posemoe_blender.addon.worker, posemoe_blender.addon.remote
import posemoe_blender.batch  # the package itself is Ray-free; only ray_cluster imports ray
from posemoe_blender.cli import main
from posemoe_blender.errors import PoseMoEError
rc = main(["batch", {str(tmp_path / 'x.mp4')!r}, "-o", {str(tmp_path / 'out')!r}])
assert rc == 1, rc
loaded = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))
print("RAY_MODULES", loaded)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "RAY_MODULES []" in proc.stdout


def test_report_rewrites_are_spaced_only_when_long(tmp_path, monkeypatch):
    report = plan.BatchReport(str(tmp_path), 3)
    jobs = [plan.Job(i, f"/v/{i}.mp4", f"/o/{i}.fbx") for i in range(3)]
    report.add(0, plan.row_for(jobs[0], "ok", 5))
    assert read_report(tmp_path)["totals"]["ok"] == 1  # cheap: every row is written at once
    monkeypatch.setattr(plan.BatchReport, "ALWAYS_ROWS", 1)  # as if the report were long
    monkeypatch.setattr(plan.BatchReport, "SECONDS_PER_ROW", 1e6)
    report.add(1, plan.row_for(jobs[1], "ok", 5))  # written (the last rewrite was of 1 row) ...
    report.add(2, plan.row_for(jobs[2], "failed", error="x"))  # ... this one waits
    assert read_report(tmp_path)["totals"] == {"clips": 3, "ok": 2, "skipped": 0, "failed": 0, "pending": 1}
    report.flush()  # what run_batch does when a run stops early
    assert read_report(tmp_path)["totals"]["failed"] == 1
    assert [r["status"] for r in report.finish()] == ["ok", "ok", "failed"] and read_report(tmp_path)["finished"]


def _batch_imports(name: str) -> set:
    """The modules of the batch package that ``batch/<name>.py`` imports (relatively)."""
    tree = ast.parse((PKG / "batch" / f"{name}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module] if node.module else [a.name for a in node.names])
    return found


def test_no_import_cycle_in_the_batch_package():
    """The plan and report module imports neither runner; the Ray runner imports the plan, never
    the local runner (which imports the Ray runner only for --ray)."""
    modules = {p.stem for p in (PKG / "batch").glob("*.py")} - {"__init__"}
    assert modules == {"plan", "core", "ray_cluster"}
    assert _batch_imports("plan") == set()
    assert _batch_imports("ray_cluster") == {"plan"}
    assert _batch_imports("core") == {"plan", "ray_cluster"}


def test_expand_clips_and_the_table(tmp_path):
    for name in ("b.MP4", "a.mov", "notes.txt", "c.webm"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.mp4").mkdir()  # a folder named like a video is not a clip
    assert [Path(c).name for c in plan.expand_clips(str(tmp_path))] == ["a.mov", "b.MP4", "c.webm"]
    assert [Path(c).name for c in plan.expand_clips(str(tmp_path / "*.mov"))] == ["a.mov"]
    with pytest.raises(PoseMoEError, match=r"\*\.mkv: no video files match"):
        plan.expand_clips(str(tmp_path / "*.mkv"))
    jobs = [plan.Job(i, f"/v/{n}.mp4", f"/o/{n}.fbx") for i, n in enumerate(("walk", "run", "jump"))]
    rows = [plan.row_for(jobs[0], "ok", 12, 1.25), plan.row_for(jobs[1], "skipped"),
            plan.row_for(jobs[2], "failed", 0, 0.5, error="/v/jump.mp4: not a readable video")]
    lines = plan.format_table(rows).splitlines()
    assert lines[0].split() == ["clip", "result", "frames", "time", "detail"]
    assert lines[2].split() == ["walk.mp4", "ok", "12", "1.2s", "/o/walk.fbx"]
    assert lines[3].split() == ["run.mp4", "skipped", "0", "0.0s", "/o/run.fbx"]
    assert lines[4].split()[:4] == ["jump.mp4", "failed", "0", "0.5s"] and lines[4].endswith("not a readable video")
    assert lines[-1] == plan.totals_line(rows) == "1 converted, 1 skipped, 1 failed"


def test_ray_environment_keeps_runs_on_this_machine_on_loopback(tmp_path, monkeypatch):
    """What Ray must read when it is first imported: ``auto`` and a cluster on 127.0.0.1 stay on
    the loopback address; joining one uses the token `ray start --head` keeps; a remote cluster
    gets nothing (Ray's defaults)."""
    from posemoe_blender.batch.core import is_loopback, ray_environment
    for key in ("RAY_AUTH_TOKEN_PATH", "RAY_AUTH_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    loopback = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    assert ray_environment("head-node:6379", home=str(tmp_path)) == {} and not is_loopback("head-node:6379")
    assert ray_environment("auto", home=str(tmp_path)) == loopback
    assert ray_environment("127.0.0.1:6379", home=str(tmp_path)) == loopback  # no token kept here
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("t")
    assert ray_environment("127.0.0.1:6379", home=str(tmp_path)) == dict(loopback, RAY_AUTH_MODE="token")
    assert ray_environment("localhost:6379", home=str(tmp_path))["RAY_AUTH_MODE"] == "token"
    assert ray_environment("auto", home=str(tmp_path)) == loopback  # a new instance makes its own
    assert ray_environment("head-node:6379", home=str(tmp_path)) == {}
