"""``batch``: many clips, one FBX each, converted on this machine or, for ``--ray``, on a Ray
cluster.

:func:`run_batch` plans the batch and keeps ``OUT/report.json`` (:mod:`.plan`), then converts the
clips still to do here (:func:`run_local`: one process, or ``workers`` spawned processes) or hands
them to :mod:`.ray_cluster` (imported only for ``--ray``). This module never imports Ray.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import FIRST_COMPLETED, wait
from typing import Callable, Optional

from ..errors import PoseMoEError
from ..fileio import ensure_output_folder
from ..options import DEFAULT_FBX_PRESET, ConvertOptions
from .plan import BatchReport, Job, convert_job, node_name, plan_batch, row_for


def _convert_job_args(args) -> dict:  # top level: picklable for the process pool
    return convert_job(*args)


def run_local(jobs: list[Job], options: ConvertOptions, preset: str, workers: int,
              on_row: Callable[[Job, dict], None]) -> None:
    """Convert ``jobs`` here: in this process (``workers`` 1) or in ``workers`` spawned
    processes (each converts several clips in turn, so torch, MediaPipe and bpy load once per
    process); ``on_row(job, row)`` as each clip finishes."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            on_row(job, convert_job(job, options, preset))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
        futures = {pool.submit(_convert_job_args, (job, options, preset)): job for job in jobs}
        while futures:
            finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for future in finished:
                job = futures.pop(future)
                try:
                    row = future.result()
                except BrokenProcessPool:  # a worker process died (killed, out of memory)
                    row = row_for(job, "failed", node=node_name(),
                                  error="a batch worker process died while converting it or a clip "
                                        "beside it (out of memory?); run the batch again to retry")
                on_row(job, row)


def is_loopback(address: str) -> bool:
    """True for ``auto`` (a private instance on this machine) and a ``HOST:PORT`` on 127.x,
    ``localhost`` or ``::1``."""
    if address == "auto":
        return True
    host = address.rpartition(":")[0].strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


def ray_environment(address: str, home: Optional[str] = None) -> dict:
    """The settings Ray reads from the environment when it is first imported, for ``--ray
    address``: a private instance or a cluster on this machine stays on the loopback address
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, Ray's switch between 127.0.0.1 and the network
    address), and joining a cluster on this machine authenticates with the token that
    ``ray start --head`` keeps (``RAY_AUTH_MODE=token`` when ``RAY_AUTH_TOKEN_PATH`` or
    ``~/.ray/auth_token`` exists). Empty for a remote cluster. The caller applies them with
    ``os.environ.setdefault`` (what the user set wins) before Ray is imported."""
    if not is_loopback(address):
        return {}
    env = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    token = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.join(home or os.path.expanduser("~"), ".ray", "auth_token")
    if address != "auto" and (os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(token)):
        env["RAY_AUTH_MODE"] = "token"
    return env


def run_batch(clips: list[str], out_dir: str, options: ConvertOptions, *, workers: Optional[int] = None,
              preset: str = DEFAULT_FBX_PRESET, save_joints: bool = False, sheets: bool = True,
              ray: Optional[str] = None,
              on_result: Optional[Callable[[dict], None]] = None,
              on_start: Optional[Callable[[str], None]] = None) -> list[dict]:
    """Convert ``clips`` into ``out_dir``; returns the rows in clip order (also written to
    ``out_dir/report.json`` as each clip is decided). ``on_result(row)`` per clip, skipped
    ones first; ``ray``: ``"auto"`` (a local Ray instance for this run) or a cluster's address,
    None for this machine; ``on_start(message)``: a line about where the clips are converted."""
    if ray is not None:
        if "ray" not in sys.modules:  # Ray reads these when it is first imported
            for key, value in ray_environment(ray).items():
                os.environ.setdefault(key, value)
        from . import ray_cluster  # Ray only when asked for
        ray_cluster.check_address(ray)  # a wrong address fails before anything is written
    out_dir = ensure_output_folder(os.path.abspath(os.path.expanduser(out_dir)))
    jobs, done = plan_batch(clips, out_dir, save_joints, BatchReport.previous_rows(out_dir), sheets)
    report = BatchReport(out_dir, len(clips), ray=ray)
    for index in sorted(done):
        report.add(index, done[index], write=False)
        if on_result:
            on_result(done[index])
    report.write()

    def on_row(job: Job, row: dict) -> None:
        report.add(job.index, row)
        if on_result:
            on_result(row)

    try:
        if jobs and ray is None:
            run_local(jobs, options, preset, workers or 1, on_row)
        elif jobs:
            ray_cluster.run(jobs, options, preset, ray, workers=workers, on_row=on_row, on_start=on_start)
    except BaseException:  # Ctrl-C, a lost cluster: the report keeps every row decided so far
        try:
            report.flush()
        except PoseMoEError:
            pass
        raise
    return report.finish()
