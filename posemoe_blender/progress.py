"""A small stderr progress bar: frames done, frames per second and time left."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressBar:
    """Callable ``progress(done, total)`` that redraws one line on stderr.

    On a terminal the line is redrawn in place at most every 0.1 s; elsewhere (logs, CI) a
    line is printed every 10% so logs stay short. ``quiet=True`` prints nothing.
    """

    def __init__(self, label: str, stream: TextIO | None = None, quiet: bool = False, width: int = 28):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1
        self.done = 0
        self.total = 0

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        total = max(self.total, 1)
        frac = min(1.0, self.done / total)
        filled = int(round(frac * self.width))
        rate = self.rate()
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        return (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{self.done}/{self.total} frames  {rate:5.1f} fps  {_fmt_seconds(left)} left")

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self.quiet:
            return
        now = time.perf_counter()
        if self.tty:
            if now - self._last_draw >= 0.1 or done >= total:
                self._last_draw = now
                self.stream.write("\r" + self.line())
                self.stream.flush()
        else:
            decile = int(10 * done / max(total, 1))
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(self.line() + "\n")
                self.stream.flush()

    def finish(self) -> None:
        if not self.quiet and self.tty:
            self.stream.write("\n")
            self.stream.flush()
