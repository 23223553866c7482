"""The batch's plan and record: which clips it converts and where, one row per clip, and
``OUT/report.json``. Both runners (:mod:`.core` here, :mod:`.ray_cluster` on a Ray cluster) and
the add-on's batch import this module; it imports neither runner, nor Ray.

The plan (:func:`plan_batch`) is decided on the machine that runs the command (the *driver*):
every clip gets ``OUT/<clip name>.fbx`` (and ``OUT/<clip name>.npz`` with ``save_joints``, and
``OUT/<clip name>.png``, its contact sheet, unless ``sheets`` is off); a clip whose FBX exists is
skipped (outputs are renamed into place only when complete, so an existing FBX is always whole),
two clips that would write the same FBX are refused.

:class:`BatchReport` rewrites ``OUT/report.json`` atomically as rows are added
(:func:`~posemoe_blender.fileio.atomic_output`), so a run that is killed keeps the record of what
finished; its rows (in clip order, made by :func:`row_for`) hold ``video``, ``status`` (``ok`` /
``skipped`` / ``failed``), ``fbx``, ``frames``, ``seconds``, ``error`` and ``node`` (the machine
that converted the clip).
"""

from __future__ import annotations

import glob
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import PoseMoEError
from ..fileio import atomic_output

REPORT_NAME = "report.json"
REPORT_VERSION = 1
#: The files a folder given to ``batch`` contributes (by extension, any case).
VIDEO_EXTENSIONS = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


@dataclass
class Job:
    """One clip of a batch: where its outputs go (``joints`` None: no .npz; ``sheet`` None: no
    contact sheet .png)."""

    index: int
    video: str
    fbx: str
    joints: Optional[str] = None
    sheet: Optional[str] = None


def expand_clips(pattern: str) -> list[str]:
    """The clips a ``batch`` pattern names: a glob, or a folder (its video files), sorted."""
    if os.path.isdir(pattern):
        names = sorted(os.listdir(pattern))
        clips = [os.path.join(pattern, n) for n in names if os.path.splitext(n)[1].lower() in VIDEO_EXTENSIONS]
    else:
        clips = sorted(glob.glob(os.path.expanduser(pattern)))
    clips = [c for c in clips if os.path.isfile(c)]
    if not clips:
        raise PoseMoEError(f"{pattern}: no video files match")
    return clips


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


def convert_job(job: Job, options, preset: str, node: str = "",
                progress: Optional[Callable[[int, int], None]] = None) -> dict:
    """Convert one clip (``options``: a :class:`~posemoe_blender.options.ConvertOptions`) into
    its final outputs (all appear together, atomically); a row. User-facing problems (a broken
    file, nobody in the picture) make a ``failed`` row. ``progress(done, total)``: after each
    detected frame."""
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


class BatchReport:
    """``OUT/report.json``: rewritten atomically each time a row is added.

    ``{"version", "output", "started", "updated", "finished", "ray", "totals": {"clips", "ok",
    "skipped", "failed", "pending"}, "rows": [...]}``; rows in clip order, only for clips
    that are decided (pending clips are counted, not listed)."""

    #: Up to ALWAYS_ROWS rows the file is rewritten after every clip. Past that, a rewrite
    #: follows the last one only after SECONDS_PER_ROW per row (ten times what writing a row
    #: costs, so at most every half second with 10,000 rows), so that with thousands of rows
    #: and many workers the driver does not spend its time rewriting the report.
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
        (see :attr:`ALWAYS_ROWS`; :meth:`finish` and :meth:`flush` always write)."""
        self.rows[index] = row
        self.dirty = True
        if write and time.monotonic() >= self._next_write:
            self.write()

    def data(self) -> dict:
        rows = [self.rows[i] for i in sorted(self.rows)]
        totals = {"clips": self.total}
        totals.update(count_rows(rows))
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


def count_rows(rows: list[dict]) -> dict:
    """``{"ok": n, "skipped": n, "failed": n}`` over ``rows`` (other statuses are not counted)."""
    return {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "failed")}


def totals_line(rows: list[dict]) -> str:
    """``"N converted, N skipped, N failed"``: the last line of :func:`format_table`."""
    counts = count_rows(rows)
    return f"{counts['ok']} converted, {counts['skipped']} skipped, {counts['failed']} failed"


def format_table(rows: list[dict]) -> str:
    """The table ``batch`` prints at the end: one line per clip, then the totals."""
    width = max([len(os.path.basename(r["video"])) for r in rows] + [4])
    lines = [f"{'clip':<{width}}  {'result':<7}  {'frames':>6}  {'time':>7}  detail",
             f"{'-' * width}  {'-' * 7}  {'-' * 6}  {'-' * 7}  {'-' * 6}"]
    for r in rows:
        detail = r["error"] if r["status"] == "failed" else (r["fbx"] or "")
        lines.append(f"{os.path.basename(r['video']):<{width}}  {r['status']:<7}  {r['frames']:>6}  "
                     f"{r['seconds']:>6.1f}s  {detail}")
    lines.append(totals_line(rows))
    return "\n".join(lines)
