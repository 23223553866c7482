"""Keep native libraries' log noise (MediaPipe/TFLite, Blender's C code) off the user's terminal.

MediaPipe's C++ logging and Blender's C-level messages write straight to file descriptors 1 and
2, bypassing Python. :func:`native_output_silenced` points those descriptors at ``/dev/null``
while keeping Python's ``sys.stdout`` / ``sys.stderr`` on the real terminal, so our progress bar,
summaries, errors and any traceback of a real bug still show. Set ``POSEMOE_DEBUG=1`` to see
everything.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys


@contextlib.contextmanager
def native_output_silenced():
    """Redirect fds 1 and 2 to /dev/null; ``sys.stdout``/``sys.stderr`` keep the originals."""
    if os.environ.get("POSEMOE_DEBUG"):
        yield
        return
    saved_py = sys.stdout, sys.stderr
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        keep_out, keep_err = os.dup(1), os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptors (e.g. captured by a host)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stdout = io.TextIOWrapper(os.fdopen(keep_out, "wb", buffering=0), write_through=True,
                                      encoding=saved_py[0].encoding or "utf-8", errors="replace")
        sys.stderr = io.TextIOWrapper(os.fdopen(keep_err, "wb", buffering=0), write_through=True,
                                      encoding=saved_py[1].encoding or "utf-8", errors="replace")
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(sys.stdout.fileno(), 1)
        os.dup2(sys.stderr.fileno(), 2)
        sys.stdout.close()
        sys.stderr.close()
        sys.stdout, sys.stderr = saved_py
        os.close(devnull)


@contextlib.contextmanager
def python_stdout_silenced():
    """Swallow Python-level prints (e.g. io_scene_fbx's progress lines) to ``sys.stdout``."""
    if os.environ.get("POSEMOE_DEBUG"):
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield
