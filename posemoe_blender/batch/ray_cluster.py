"""``batch --ray auto|ADDRESS``: the clips of a batch converted by long-lived Ray actors.

* ``auto`` starts a private Ray instance on this machine for the run (loopback only, one
  worker per CPU unless ``--workers``) and stops it at the end; an address (``HOST:PORT`` of a
  cluster started with ``ray start --head``) joins that cluster, with one worker per CPU of
  the cluster (or ``--workers``), spread over its nodes.
* A worker (:class:`ClipWorker`, one CPU) loads the lifter's weights, MediaPipe's BlazePose
  (its libraries and model; each clip then starts its own tracker in milliseconds, since
  tracking state belongs to one video, as in the local batch) and bpy once when it starts, then
  converts one clip per task; the driver (the machine that runs the command) hands a clip to
  each idle worker and takes results as they finish.
* Inputs are read by path: the videos must be at the same path on every node (a shared or
  mounted archive); a node that cannot see one reports it as that clip's error.
* Outputs come back as bytes: a worker converts into a private temporary folder on its node and
  returns the FBX (and .npz) bytes; the driver writes them into ``OUT`` with
  :func:`~posemoe_blender.fileio.atomic_output` (the .npz first, the FBX last: an FBX in
  ``OUT`` means the clip is complete). So ``OUT`` needs to exist only on the driver, one process
  writes it, and a worker that dies leaves nothing behind in it.
* A worker that dies (killed, out of memory, its node lost) is replaced; its clip is retried
  once on another worker, and reported ``failed`` if that worker dies too.

``POSEMOE_RAY_TRACE_DIR``: when set on the nodes, a worker writes ``<dir>/<clip name>.<attempt>.pid``
(its process id) when it has decoded and detected the first frame of a clip (used by the tests
to kill a worker in the middle of a clip).
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import socket
import tempfile
import time
from collections import deque
from typing import Callable, Optional

import ray
from ray.exceptions import RayError, RayTaskError

from ..errors import PoseMoEError
from ..fileio import atomic_output
from ..options import ConvertOptions
from .plan import Job, convert_job, row_for

#: Seconds the driver waits for a worker to start when none is running or converting.
START_TIMEOUT_S = 600.0
#: Attempts per clip: the first, and one retry after its worker died.
MAX_ATTEMPTS = 2
#: A worker converts in ``<tmp>/posemoe-ray-<pid>-XXXX`` on its node (removed after each clip).
STAGING_PREFIX = "posemoe-ray-"


@ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)
class ClipWorker:
    """One long-lived conversion process on a Ray node: models and bpy load once."""

    def __init__(self, options: ConvertOptions, preset: str):
        t0 = time.perf_counter()
        from ..detection.body import PoseDetector
        from ..lifting.stage import prepare_lifter
        self.options, self.preset = options, preset
        self.setup_error = ""
        try:
            prepare_lifter(options)  # the lifter's weights, cached in this process
        except PoseMoEError as exc:  # a bad --weights or --device: every clip fails with it, as locally
            self.setup_error = str(exc)
        import bpy  # noqa: F401  (on the worker's main thread, before any clip)
        from ..output import fbx as export, blend as scene  # noqa: F401
        PoseDetector().close()  # MediaPipe's libraries and BlazePose's model, loaded once
        self.node = f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}"
        remove_stale_folders()
        self.startup = time.perf_counter() - t0

    def ready(self) -> dict:
        return {"node": self.node, "pid": os.getpid(), "startup": self.startup}

    def convert(self, job: Job, attempt: int) -> tuple[dict, dict]:
        """``(row, files)``: the report row and ``{"fbx": bytes, "joints": bytes, "sheet": bytes}``
        (ok only)."""
        if self.setup_error:
            return row_for(job, "failed", node=self.node, error=self.setup_error), {}
        if not os.path.isfile(job.video):
            return row_for(job, "failed", node=self.node,
                                     error=f"{job.video}: no such file on node {self.node} (the videos "
                                           f"must be at the same path on every node)"), {}
        trace = os.environ.get("POSEMOE_RAY_TRACE_DIR")
        progress = None
        if trace:
            mark = os.path.join(trace, f"{os.path.splitext(os.path.basename(job.fbx))[0]}.{attempt}.pid")

            def progress(done: int, total: int) -> None:
                if done == 1:
                    with open(mark, "w") as f:
                        f.write(str(os.getpid()))
        folder = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-")
        try:
            local = Job(job.index, job.video, os.path.join(folder, os.path.basename(job.fbx)),
                                  os.path.join(folder, os.path.basename(job.joints)) if job.joints else None,
                                  os.path.join(folder, os.path.basename(job.sheet)) if job.sheet else None)
            row = convert_job(local, self.options, self.preset, node=self.node, progress=progress)
            files = {}
            if row["status"] == "ok":
                for key, path in (("joints", local.joints), ("sheet", local.sheet), ("fbx", local.fbx)):
                    if path:
                        with open(path, "rb") as f:
                            files[key] = f.read()
            row["fbx"] = job.fbx if row["status"] == "ok" else None
            row["error"] = row["error"].replace(folder + os.sep, os.path.dirname(job.fbx) + os.sep)
            return row, files
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def remove_stale_folders() -> list:
    """Remove the private folders of this node's dead workers (a killed worker cannot clean
    up): ``<tmp>/posemoe-ray-<pid>-*`` whose process is gone. Returns the folders removed."""
    removed = []
    for path in glob.glob(os.path.join(tempfile.gettempdir(), STAGING_PREFIX + "*")):
        pid = os.path.basename(path)[len(STAGING_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive
        except ProcessLookupError:
            pass
        except OSError:  # alive, another user's
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def check_address(address: str) -> None:
    """``auto``, or a ``HOST:PORT`` that answers: a wrong one fails here, in seconds, not
    after Ray's retries."""
    if address == "auto" or address.startswith("ray://"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise PoseMoEError(f"--ray {address!r}: give auto or a cluster's HOST:PORT (as `ray start --head` prints)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise PoseMoEError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def connect(address: str, workers: Optional[int]) -> None:
    """``ray.init`` for ``auto`` (a private loopback instance) or a cluster's address."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        ray.shutdown()
    common = dict(logging_level=logging.ERROR, log_to_driver=False, namespace="posemoe-batch")
    try:
        if address == "auto":  # loopback only: core.ray_environment set Ray's switch before its import
            ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, include_dashboard=False,
                     _node_ip_address="127.0.0.1", **common)
        else:
            check_address(address)
            ray.init(address=address, **common)
    except PoseMoEError:
        raise
    except Exception as exc:  # Ray's own errors: one line, never a traceback
        where = "start a local Ray instance" if address == "auto" else f"join the Ray cluster at {address}"
        chain = f"{exc} {exc.__cause__ or ''}"
        if "InvalidAuthToken" in chain or "AuthenticationError" in chain:
            raise PoseMoEError(f"cannot {where}: the cluster wants its authentication token (set "
                               f"RAY_AUTH_MODE=token and RAY_AUTH_TOKEN, or copy the head's "
                               f"~/.ray/auth_token here)") from None
        raise PoseMoEError(f"cannot {where}: {_one_line(exc)}") from None


def _kill(actor) -> None:
    try:
        ray.kill(actor)
    except Exception:  # already gone
        pass


def _write_outputs(job: Job, row: dict, files: dict) -> dict:
    """Write the returned bytes into OUT (the .npz and the contact sheet, then the FBX), each
    atomically."""
    try:
        for key, path in (("joints", job.joints), ("sheet", job.sheet), ("fbx", job.fbx)):
            if path:
                with atomic_output(path) as tmp:
                    with open(tmp, "wb") as f:
                        f.write(files[key])
    except (PoseMoEError, KeyError) as exc:
        return dict(row, status="failed", fbx=None, error=f"{job.fbx}: {exc}" if isinstance(exc, KeyError) else str(exc))
    return row


def run(jobs: list, options: ConvertOptions, preset: str, address: str, *, workers: Optional[int] = None,
        on_row: Callable, on_start: Optional[Callable[[str], None]] = None,
        start_timeout: float = START_TIMEOUT_S) -> None:
    """Convert ``jobs`` (:class:`~posemoe_blender.batch.plan.Job`) on Ray; ``on_row(job, row)`` as
    each clip is decided (rows carry ``attempts``). Disconnects (and stops an ``auto``
    instance) at the end, also on Ctrl-C."""
    connect(address, workers)
    try:
        _run(jobs, options, preset, address, workers, on_row, on_start, start_timeout)
    except RayError as exc:  # the cluster itself failed (its head lost, ...): one line
        raise PoseMoEError(f"the Ray cluster failed: {type(exc).__name__}: {_one_line(exc)}") from None
    finally:
        ray.shutdown()


def _run(jobs, options, preset, address, workers, on_row, on_start, start_timeout) -> None:
    resources = ray.cluster_resources()
    cpus = int(resources.get("CPU", 0))
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    if cpus < 1:
        raise PoseMoEError(f"the Ray cluster at {address} has no CPU to run a worker on")
    target = max(1, min(workers or cpus, cpus, len(jobs)))  # one worker per CPU at most
    if on_start:
        where = "a local Ray instance" if address == "auto" else f"the Ray cluster at {address}"
        on_start(f"ray: {target} worker{'s' if target > 1 else ''} on {where} "
                 f"({nodes} node{'s' if nodes > 1 else ''}, {cpus} CPU{'s' if cpus > 1 else ''})")
    options_ref, spread = ray.put(options), "SPREAD"
    pending = deque((job, 1, "") for job in jobs)  # (job, attempt, node to avoid)
    starting: dict = {}   # ready() ref -> actor
    in_flight: dict = {}  # convert() ref -> (actor, job, attempt)
    idle: list = []
    node_of: dict = {}    # actor -> its node's name (from ready())
    start_failures: list = []
    last_progress = time.monotonic()

    def start_worker() -> None:
        actor = ClipWorker.options(scheduling_strategy=spread).remote(options_ref, preset)
        starting[actor.ready.remote()] = actor

    def started(ref) -> None:
        actor = starting.pop(ref)
        try:
            node_of[actor] = ray.get(ref)["node"]
            idle.append(actor)
        except RayError as exc:  # could not start (e.g. the project missing on that node)
            start_failures.append(_one_line(exc.cause if isinstance(exc, RayTaskError) and exc.cause else exc))
            _kill(actor)
            if len(start_failures) < 2 * target:
                start_worker()

    def finished(ref) -> None:
        actor, job, attempt = in_flight.pop(ref)
        node = node_of.get(actor, "")
        try:
            row, files = ray.get(ref)
        except RayTaskError as exc:  # an unexpected exception in the conversion: that clip fails
            cause = exc.cause if exc.cause is not None else exc
            row, files = row_for(job, "failed", error=f"{type(cause).__name__}: {_one_line(cause)}"), {}
            idle.append(actor)
        except RayError as exc:  # the worker died (killed, out of memory, node lost)
            node_of.pop(actor, None)
            _kill(actor)
            if pending or attempt < MAX_ATTEMPTS:
                start_worker()  # a new process (on any node with a free CPU)
            if attempt < MAX_ATTEMPTS:
                pending.appendleft((job, attempt + 1, node))  # another worker, on another node if one is idle
                return
            row, files = row_for(job, "failed", error=f"its Ray worker died {attempt} times "
                                                                f"({type(exc).__name__})"), {}
        else:
            idle.append(actor)
            if row["status"] == "ok":
                row = _write_outputs(job, row, files)
        row["attempts"] = attempt
        on_row(job, row)

    for _ in range(target):
        start_worker()
    while pending or in_flight:
        while idle and pending:
            job, attempt, avoid = pending.popleft()
            elsewhere = [i for i, a in enumerate(idle) if node_of.get(a) != avoid] if avoid else []
            actor = idle.pop(elsewhere[-1] if elsewhere else -1)
            in_flight[actor.convert.remote(job, attempt)] = (actor, job, attempt)
        if not in_flight and not starting:
            if len(start_failures) >= 2 * target:
                raise PoseMoEError(f"no Ray worker could start ({start_failures[-1]})")
            start_worker()
        refs = list(in_flight) + list(starting)
        ready, _ = ray.wait(refs, num_returns=1, timeout=5.0)
        if not ready:
            if not in_flight and time.monotonic() - last_progress > start_timeout:
                raise PoseMoEError(f"no Ray worker started in {start_timeout:.0f} s (does the cluster "
                                   f"have a free CPU, and the project installed on its nodes?)")
            continue
        last_progress = time.monotonic()
        if len(refs) > 1:  # everything else that is ready too: one pass over the refs per batch of results
            ready = ray.wait(refs, num_returns=len(refs), timeout=0)[0] or ready
        for ref in ready:
            if ref in starting:
                started(ref)
            else:
                finished(ref)
