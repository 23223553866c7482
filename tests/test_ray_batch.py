"""``batch --ray`` (issue #14) on a local Ray cluster: a head node and a second worker node,
each a separate set of Ray processes with one CPU, on 127.0.0.1 only, started by this module
and always stopped by it; every test is bounded in time (SIGALRM).

Three good clips and a broken file convert as the local batch does (the same joints, the broken
file's one-line reason); a rerun skips the converted clips; a worker killed in the middle of a
clip leads to one retry and a complete FBX, a clip whose workers die twice is reported failed.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from posemoe_blender.batch import core as batch_mod  # noqa: E402

# Ray reads its switch between 127.0.0.1 and the network address when it is first imported:
# every node and driver of these tests stays on the loopback address, as `batch --ray auto` does.
for _key, _value in batch_mod.ray_environment("auto").items():
    os.environ.setdefault(_key, _value)
ray = pytest.importorskip("ray", reason="Ray is not installed (requirements.txt pins it)")

from test_batch import broken_clip, cut_clips, read_report  # noqa: E402

from posemoe_blender.batch import plan  # noqa: E402
from posemoe_blender.cli import main  # noqa: E402
from posemoe_blender.options import ConvertOptions  # noqa: E402

#: Seconds one test may take before it is stopped (a hung cluster must not hang CI).
TEST_LIMIT_S = 240


@pytest.fixture
def time_limit():
    def expired(signum, frame):
        raise TimeoutError(f"Ray test took longer than {TEST_LIMIT_S} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_LIMIT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ray_trace")


@pytest.fixture(scope="module")
def cluster(trace_dir):
    """``(address, cluster)``: a head node and one worker node, one CPU each, on 127.0.0.1."""
    from ray.cluster_utils import Cluster
    saved = {k: os.environ.get(k) for k in ("POSEMOE_RAY_TRACE_DIR", "RAY_USAGE_STATS_ENABLED")}
    os.environ["POSEMOE_RAY_TRACE_DIR"] = str(trace_dir)  # inherited by the nodes' workers
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    c = None
    try:
        c = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False})
        c.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        c.wait_for_nodes(timeout=60)
        yield c.address, c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if c is not None:
            c.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray_clips")
    cut_clips(folder, ["a.mp4", "b.mp4", "c.mp4"], frames=12)
    broken_clip(folder / "broken.mp4")
    return folder


def _joints(path: Path) -> np.ndarray:
    with np.load(path) as data:
        return data["joints3d"]


def test_ray_auto_starts_and_stops_a_local_instance(clips, tmp_path, capfd, time_limit):
    """``--ray auto``: a private instance on 127.0.0.1 for the run, gone afterwards."""
    out = tmp_path / "out"
    assert main(["batch", str(clips / "a.mp4"), "-o", str(out), "--ray", "auto", "--workers", "1"]) == 0
    captured = capfd.readouterr()
    assert "ray: 1 worker on a local Ray instance (1 node" in captured.err
    assert "1 converted, 0 skipped, 0 failed" in captured.out
    assert not ray.is_initialized()
    assert read_report(out)["rows"][0]["status"] == "ok"


def test_ray_batch_matches_the_local_batch_and_a_rerun_skips(cluster, clips, tmp_path, capfd, time_limit):
    address, _ = cluster
    out = tmp_path / "ray_out"
    assert main(["batch", str(clips), "-o", str(out), "--ray", address, "--save-joints"]) == 1
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err
    assert f"ray: 2 workers on the Ray cluster at {address} (2 nodes, 2 CPUs)" in captured.err
    table = captured.out
    assert "3 converted, 0 skipped, 1 failed" in table
    assert "broken.mp4" in table and "not a readable video" in table
    assert sorted(p.name for p in out.iterdir()) == ["a.fbx", "a.npz", "a.png", "b.fbx", "b.npz", "b.png",
                                                     "c.fbx", "c.npz", "c.png", "report.json"]  # no staging file left
    report = read_report(out)
    assert report["finished"] and report["ray"] == address
    by_name = {Path(r["video"]).name: r for r in report["rows"]}
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        row = by_name[name]
        assert row["status"] == "ok" and row["frames"] == 12 and row["attempts"] == 1
        assert row["fbx"] == str(out / name.replace(".mp4", ".fbx")) and row["node"]
    broken = by_name["broken.mp4"]
    assert broken["status"] == "failed" and broken["fbx"] is None
    assert broken["error"] == f"{clips / 'broken.mp4'}: not a readable video (unknown format or corrupt file)"

    # a rerun skips every converted clip (decided by the driver: no worker converts them)
    assert main(["batch", str(clips / "[abc].mp4"), "-o", str(out), "--ray", address]) == 0
    captured = capfd.readouterr()
    assert "0 converted, 3 skipped, 0 failed" in captured.out and "ray:" not in captured.err

    # the same joints as the local batch
    local = tmp_path / "local_out"
    assert main(["batch", str(clips), "-o", str(local), "--save-joints"]) == 1
    assert "3 converted, 0 skipped, 1 failed" in capfd.readouterr().out
    for name in ("a", "b", "c"):
        np.testing.assert_array_equal(_joints(out / f"{name}.npz"), _joints(local / f"{name}.npz"))
        assert (out / f"{name}.fbx").stat().st_size == (local / f"{name}.fbx").stat().st_size


def test_a_worker_killed_mid_clip_is_retried_once(cluster, trace_dir, tmp_path, time_limit):
    """k1's worker is killed once in the middle of the clip: retried on another worker, complete.
    k2's workers are killed at both attempts: reported failed, nothing written for it."""
    address, _ = cluster
    clips = cut_clips(tmp_path / "clips", ["k1.mp4", "k2.mp4"], frames=40, start_step=30)
    out = tmp_path / "out"
    victims = {"k1.1.pid", "k2.1.pid", "k2.2.pid"}
    killed, stop = [], threading.Event()

    def killer():  # kills a worker as soon as it has detected the first frame of a victim clip
        while not stop.is_set() and victims:
            for name in sorted(victims):
                mark = trace_dir / name
                if mark.exists() and mark.read_text():
                    os.kill(int(mark.read_text()), signal.SIGKILL)
                    killed.append(name)
                    victims.discard(name)
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        rows = batch_mod.run_batch([str(c) for c in clips], str(out), ConvertOptions(), save_joints=True,
                                   ray=address)
    finally:
        stop.set()
        thread.join(5)
    assert sorted(killed) == ["k1.1.pid", "k2.1.pid", "k2.2.pid"]
    # the killed workers' private folders: removed by the workers that replaced them
    for name in ("k1.1.pid", "k2.1.pid"):
        pid = (trace_dir / name).read_text()
        assert glob.glob(os.path.join(tempfile.gettempdir(), f"posemoe-ray-{pid}-*")) == [], name
    k1, k2 = rows
    assert (k1["status"], k1["attempts"], k1["frames"]) == ("ok", 2, 40)
    assert (k2["status"], k2["attempts"], k2["fbx"]) == ("failed", 2, None)
    assert k2["error"].startswith("its Ray worker died 2 times")
    assert sorted(p.name for p in out.iterdir()) == ["k1.fbx", "k1.npz", "k1.png", "report.json"]
    assert json.loads((out / "report.json").read_text())["totals"]["failed"] == 1
    # the retried clip is complete: the joints of a local conversion
    local = tmp_path / "local"
    assert batch_mod.run_batch([str(clips[0])], str(local), ConvertOptions(), save_joints=True)[0]["status"] == "ok"
    np.testing.assert_array_equal(_joints(out / "k1.npz"), _joints(local / "k1.npz"))


def test_a_bad_option_fails_each_clip_with_the_local_batchs_line(cluster, clips, tmp_path, capfd, time_limit):
    """A worker that cannot load the lifter (--weights missing) reports it per clip, as locally."""
    address, _ = cluster
    missing = tmp_path / "nope.pt"
    tables = []
    for extra in (["--ray", address], []):
        assert main(["batch", str(clips / "a.mp4"), "-o", str(tmp_path / f"out{len(tables)}"),
                     "--weights", str(missing)] + extra) == 1
        captured = capfd.readouterr()
        assert "Traceback" not in captured.err
        tables.append(captured.out.replace(f"out{len(tables)}", "OUT"))
    assert f"{missing}: no such weights file" in tables[0] and "0 converted, 0 skipped, 1 failed" in tables[0]
    assert [line.split()[:2] + line.split()[4:] for line in tables[0].splitlines()] == \
        [line.split()[:2] + line.split()[4:] for line in tables[1].splitlines()]  # all but the seconds


def test_joining_a_cluster_started_with_ray_start(clips, tmp_path, time_limit):
    """The documented flow: `ray start --head` (its token authentication on, as Ray's default),
    then `python -m posemoe_blender batch --ray 127.0.0.1:PORT` in a fresh process, which stays on
    the loopback address and uses the head's token (batch.core.ray_environment, set before Ray is
    imported). The head runs in its own process group, stopped here."""
    import socket
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_AUTH_MODE", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "POSEMOE_RAY_TRACE_DIR")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_cli = Path(sys.executable).with_name("ray")
    head = subprocess.Popen([str(ray_cli), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                             "--num-cpus=1", "--include-dashboard=false", "--block"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None and time.monotonic() < deadline, "ray start --head did not come up"
                time.sleep(0.5)
        time.sleep(2)  # the head's raylet registers just after its control service answers
        out = tmp_path / "out"
        proc = subprocess.run([sys.executable, "-m", "posemoe_blender", "batch", str(clips / "b.mp4"), "-o", str(out),
                               "--ray", f"127.0.0.1:{port}"], cwd=Path(__file__).resolve().parents[1], env=env,
                              capture_output=True, text=True, timeout=200)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"ray: 1 worker on the Ray cluster at 127.0.0.1:{port} (1 node, 1 CPU)" in proc.stderr
        assert "WARNING" not in proc.stderr and "1 converted" in proc.stdout
        assert read_report(out)["rows"][0]["status"] == "ok"
    finally:
        head.terminate()  # `ray start --block` stops the head's processes on SIGTERM
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)


def test_the_driver_writes_returned_bytes_atomically(tmp_path):
    """Outputs come back as bytes and the driver writes them (the .npz, then the FBX) into OUT;
    an OUT that cannot be written makes that clip fail with one line."""
    from posemoe_blender.batch.ray_cluster import _write_outputs
    out = tmp_path / "out"
    out.mkdir()
    job = plan.Job(0, "/v/walk.mp4", str(out / "walk.fbx"), str(out / "walk.npz"))
    row = plan.row_for(job, "ok", frames=3, node="n1")
    assert _write_outputs(job, row, {"fbx": b"FBX", "joints": b"NPZ"}) == row
    assert (out / "walk.fbx").read_bytes() == b"FBX" and (out / "walk.npz").read_bytes() == b"NPZ"
    assert sorted(p.name for p in out.iterdir()) == ["walk.fbx", "walk.npz"]
    gone = tmp_path / "gone"  # OUT removed (or its disk unmounted) while the clip was converting
    job = plan.Job(1, "/v/run.mp4", str(gone / "run.fbx"))
    failed = _write_outputs(job, plan.row_for(job, "ok", frames=3), {"fbx": b"FBX"})
    assert failed["status"] == "failed" and failed["fbx"] is None
    assert failed["error"].startswith(f"cannot write {gone / 'run.fbx'}") and "\n" not in failed["error"]
    assert not gone.exists()


def test_a_ray_run_stopped_mid_batch_keeps_what_finished(cluster, clips, tmp_path, time_limit):
    """Ctrl-C (here: raised as the first clip is reported) disconnects from the cluster; the
    report keeps the finished clip, OUT holds only complete files, a rerun converts the rest."""
    address, _ = cluster
    out = tmp_path / "out"
    videos = [str(clips / n) for n in ("a.mp4", "b.mp4", "c.mp4")]

    def stop(row):
        if row["status"] == "ok":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        batch_mod.run_batch(videos, str(out), ConvertOptions(), ray=address, workers=1, on_result=stop)
    assert not ray.is_initialized()
    report = read_report(out)
    assert not report["finished"] and report["totals"]["ok"] == 1 and report["totals"]["pending"] == 2
    done = Path(report["rows"][0]["fbx"])
    assert sorted(p.name for p in out.iterdir()) == sorted([done.name, done.with_suffix(".png").name, "report.json"])
    rows = batch_mod.run_batch(videos, str(out), ConvertOptions(), ray=address)
    assert sorted(r["status"] for r in rows) == ["ok", "ok", "skipped"]
