"""``batch``: many clips, one FBX each, on this machine or on a Ray cluster.

The plan (:func:`plan_batch`) is decided on the machine that runs the command (the *driver*):
every clip gets ``OUT/<clip name>.fbx`` (and ``OUT/<clip name>.npz`` with ``save_joints``); a clip
whose FBX exists is skipped (outputs are renamed into place only when complete, so an existing
FBX is always whole), two clips that would write the same FBX are refused. Clips are then
converted here (:func:`run_local`, one process or ``workers`` spawned processes) or on a Ray
cluster (:mod:`posemoe_blender.batch`, imported only for ``--ray``).

Either way :class:`BatchReport` rewrites ``OUT/report.json`` atomically after each clip
(:func:`~posemoe_blender.fileio.atomic_output`), so a run that is killed keeps the record of
what finished; its rows (in clip order) hold ``video``, ``status`` (``ok`` / ``skipped`` /
``failed``), ``fbx``, ``frames``, ``seconds``, ``error`` and ``node`` (the machine that converted
the clip). This module never imports Ray.
"""

from __future__ import annotations

import json
import os
import socket
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import PoseMoEError
from ..fileio import atomic_output, ensure_output_folder
from ..options import DEFAULT_FBX_PRESET, ConvertOptions

REPORT_NAME = "report.json"
REPORT_VERSION = 1


@dataclass
class Job:
    """One clip of a batch: where its outputs go (``joints`` None: no .npz; ``sheet`` None: no
    contact sheet .png)."""

    index: int
    video: str
    fbx: str
    joints: Optional[str] = None
    sheet: Optional[str] = None


def node_name() -> str:
    """The name this machine goes by in a report row."""
    return socket.gethostname() or "localhost"


def row_for(job: Job, status: str, frames: int = 0, seconds: float = 0.0, error: str = "",
            node: str = "", **extra) -> dict:
    """A report / table row (``fbx`` is None for a failed clip)."""
    row = {"video": job.video, "status": status, "fbx": job.fbx if status != "failed" else None,
           "frames": int(frames), "seconds": float(seconds), "error": error, "node": node}
    row.update(extra)
    return row


def _action_stem(video: str) -> str:
    from ..convert import action_name_for  # the FBX is named as convert names the Action
    return action_name_for(video)


def plan_batch(clips: list[str], out_dir: str, save_joints: bool = False,
               previous: Optional[dict] = None, sheets: bool = True) -> tuple[list[Job], dict]:
    """``(jobs, done)``: the clips still to convert, and the rows already decided (by clip
    index): skipped (FBX exists; frames and node carried over from ``previous`` report rows)
    or failed (a clip whose FBX name another clip of the batch already has)."""
    previous = previous or {}
    jobs, done, owner = [], {}, {}
    for index, clip in enumerate(clips):
        video = os.path.abspath(clip)
        stem = _action_stem(video)
        fbx = os.path.join(out_dir, stem + ".fbx")
        job = Job(index, video, fbx, os.path.join(out_dir, stem + ".npz") if save_joints else None,
                  os.path.join(out_dir, stem + ".png") if sheets else None)
        if fbx in owner:
            done[index] = row_for(job, "failed", error=f"{os.path.basename(fbx)} is also the output of "
                                                       f"{owner[fbx]}: rename one of the two clips")
            continue
        owner[fbx] = video
        if os.path.exists(fbx):
            before = previous.get(video, {})
            same = before.get("status") in ("ok", "skipped") and before.get("fbx") == fbx
            done[index] = row_for(job, "skipped", frames=before.get("frames", 0) if same else 0,
                                  node=before.get("node", "") if same else "")
            continue
        jobs.append(job)
    return jobs, done


class BatchReport:
    """``OUT/report.json``: rewritten atomically each time a row is added.

    ``{"version", "output", "started", "updated", "finished", "ray", "totals": {"clips", "ok",
    "skipped", "failed", "pending"}, "rows": [...]}``; rows in clip order, only for clips
    that are decided (pending clips are counted, not listed)."""

    #: Up to ALWAYS_ROWS rows the file is rewritten after every clip. Past that, a rewrite
    #: follows the last one only after SECONDS_PER_ROW per row (ten times what writing a row
    #: costs: 10,000 rows take about 50 ms, so at most every half second), so that with
    #: thousands of rows and many workers the driver does not spend its time rewriting the report.
    ALWAYS_ROWS = 500
    SECONDS_PER_ROW = 5e-5

    def __init__(self, out_dir: str, total: int, ray: Optional[str] = None):
        self.path = os.path.join(out_dir, REPORT_NAME)
        self.total = total
        self.ray = ray
        self.started = _utc_now()
        self.rows: dict[int, dict] = {}
        self.finished = False
        self._next_write = 0.0  # time.monotonic() before which add() does not rewrite
        self.dirty = False

    @staticmethod
    def previous_rows(out_dir: str) -> dict:
        """The rows of an earlier run's report, by video path ({} when there is none or it
        cannot be read: a report is a record, never needed to resume)."""
        try:
            with open(os.path.join(out_dir, REPORT_NAME), encoding="utf-8") as f:
                data = json.load(f)
            return {r["video"]: r for r in data.get("rows", []) if isinstance(r, dict) and "video" in r}
        except (OSError, ValueError, TypeError, KeyError):
            return {}

    def add(self, index: int, row: dict, write: bool = True) -> None:
        """Record ``row``; rewrite the file (``write``) unless the last rewrite was too recent
        (see :attr:`THROTTLE`; :meth:`finish` and :meth:`flush` always write)."""
        self.rows[index] = row
        self.dirty = True
        if write and time.monotonic() >= self._next_write:
            self.write()

    def data(self) -> dict:
        rows = [self.rows[i] for i in sorted(self.rows)]
        totals = {"clips": self.total}
        totals.update({s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "failed")})
        totals["pending"] = self.total - len(rows)
        return {"version": REPORT_VERSION, "output": os.path.dirname(self.path), "started": self.started,
                "updated": _utc_now(), "finished": self.finished, "ray": self.ray, "totals": totals,
                "rows": rows}

    def write(self) -> None:
        text = json.dumps(self.data(), indent=1)
        with atomic_output(self.path) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        self.dirty = False
        rows = len(self.rows)
        self._next_write = time.monotonic() + rows * self.SECONDS_PER_ROW if rows > self.ALWAYS_ROWS else 0.0

    def flush(self) -> None:
        """Write the rows not yet on disk (a run that stops early keeps them)."""
        if self.dirty:
            self.write()

    def finish(self) -> list[dict]:
        self.finished = True
        self.write()
        return [self.rows[i] for i in sorted(self.rows)]


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def convert_job(job: Job, options: ConvertOptions, preset: str, node: str = "",
                progress: Optional[Callable[[int, int], None]] = None) -> dict:
    """Convert one clip into its final outputs (both appear together, atomically); a row.
    User-facing problems (a broken file, nobody in the picture) make a ``failed`` row.
    ``progress(done, total)``: after each detected frame."""
    from ..convert import Outputs, convert_clip
    t0 = time.perf_counter()
    try:
        # overwrite: the FBX did not exist when the batch was planned; a .npz left without
        # its FBX (an older run with --save-joints, stopped between renames) is replaced
        info = convert_clip(job.video, Outputs(fbx=job.fbx, joints=job.joints, sheet=job.sheet, preset=preset,
                                               overwrite=True), options, progress=progress)
        return row_for(job, "ok", frames=info["frames"], seconds=time.perf_counter() - t0,
                       node=node or node_name())
    except PoseMoEError as exc:
        return row_for(job, "failed", seconds=time.perf_counter() - t0, error=str(exc), node=node or node_name())


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
        from . import ray_cluster as ray_batch  # Ray only when asked for
        ray_batch.check_address(ray)  # a wrong address fails before anything is written
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
            ray_batch.run(jobs, options, preset, ray, workers=workers, on_row=on_row, on_start=on_start)
    except BaseException:  # Ctrl-C, a lost cluster: the report keeps every row decided so far
        try:
            report.flush()
        except PoseMoEError:
            pass
        raise
    return report.finish()
