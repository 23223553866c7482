"""Atomic outputs: every writer stages a hidden temporary file next to the output and renames
it into place (``os.replace``) only when it is complete, so an interrupted or failed write
never leaves a half-written file. :func:`atomic_output` is the one helper for that; the
folder helpers below check and create output folders.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator

from .errors import PoseMoEError


def _default_mode() -> int:
    """The mode a normally created file gets here: 0o666 minus the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def staging_file(folder: str, suffix: str) -> tuple[int, str]:
    """``(fd, path)`` of a new hidden ``.posemoe-*<suffix>`` file in ``folder``.

    Unlike :func:`tempfile.mkstemp`'s private 0600, the file gets the permissions a normally
    created output would (so the renamed FBX/npz is readable by the user's group as usual).
    Raises OSError when ``folder`` is not writable.
    """
    fd, path = tempfile.mkstemp(prefix=".posemoe-", suffix=suffix, dir=folder)
    os.fchmod(fd, _default_mode())
    return fd, path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None, *,
                  precreate: bool = True) -> Iterator[str]:
    """Yield a hidden staging path in ``path``'s folder; when the block ends normally it is
    renamed onto ``path``, otherwise (or when the block created nothing) it is removed.

    ``precreate=False`` frees the staging name before yielding (for writers, such as
    Blender's ``save_as_mainfile``, that keep an existing file as a backup). Raises
    :class:`PoseMoEError` ("cannot write PATH: reason") when the folder is not writable or
    the rename fails; exceptions of the block propagate unchanged.
    """
    final = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(final)
    try:
        fd, tmp = staging_file(folder, suffix if suffix is not None else os.path.splitext(final)[1])
        os.close(fd)
        if not precreate:
            os.unlink(tmp)
    except OSError as exc:
        raise PoseMoEError(f"cannot write {final}: {exc.strerror or exc}") from None
    try:
        yield tmp
        if not os.path.isfile(tmp):
            raise PoseMoEError(f"cannot write {final}: nothing was written")
        try:
            os.replace(tmp, final)
        except OSError as exc:
            raise PoseMoEError(f"cannot write {final}: {exc.strerror or exc}") from None
    finally:
        for leftover in (tmp, tmp + "1"):  # tmp + "1": a backup Blender may have made
            if os.path.exists(leftover):
                os.unlink(leftover)


def missing_folders(folder: str) -> list[str]:
    """The folders ``ensure_output_folder(folder)`` would create, outermost first."""
    out = []
    folder = os.path.abspath(folder)
    while folder and not os.path.exists(folder):
        out.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return out[::-1]


def remove_empty_folders(folders) -> None:
    """Remove those of ``folders`` that exist and are empty, deepest first (what a failed run
    created before it failed); anything with content, or that cannot be removed, stays."""
    for folder in sorted(set(folders), key=lambda f: f.count(os.sep), reverse=True):
        try:
            os.rmdir(folder)
        except OSError:
            pass


def ensure_output_folder(folder: str) -> str:
    """Create ``folder`` if needed and check it is writable; raises a one-line PoseMoEError."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise PoseMoEError(f"{folder}: cannot create output folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise PoseMoEError(f"{folder}: output folder is not writable")
    return folder
