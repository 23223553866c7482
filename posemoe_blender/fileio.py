"""Staging files for atomic outputs (write a hidden temporary file, then ``os.replace``)."""

from __future__ import annotations

import os
import tempfile

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
