"""Unpack a mocap archive (``.tar.xz``) once, all or nothing.

Every source archive holds one top folder (``Bandai-Namco-Research-Motiondataset-1``,
``hdm05-subset``, ``reactidle``, ...). :func:`extract_once` unpacks it into a hidden staging
folder beside its destination and renames the top folder into place only when the whole
archive was read, so an interrupted or failed unpack never leaves a folder that a later run
would take for a complete one. An archive that is not a readable ``.tar.xz`` (empty, cut
short, another format) or lacks the top folder is a one-line :class:`PoseMoEError`.
"""

from __future__ import annotations

import lzma
import tarfile
import tempfile
from pathlib import Path

from posemoe_blender.errors import PoseMoEError


def extract_once(archive: Path, dest: Path, top: str, motion: str, what: str) -> Path:
    """``dest / top``, unpacked from ``archive`` unless it is there already.

    ``motion`` is the glob (below ``top``) of the motion files the archive must hold, e.g.
    ``"*/*.bvh"``; ``what`` names the archive's content in the errors (``"the HDM05 subset"``).
    Raises :class:`PoseMoEError` when ``archive`` is missing or unreadable or holds no motion
    file; nothing is left under ``dest`` then.
    """
    archive, dest = Path(archive), Path(dest)
    final = dest / top
    if final.is_dir():
        return final
    if not archive.is_file():
        raise PoseMoEError(f"{archive}: no such file ({what})")
    dest.mkdir(parents=True, exist_ok=True)
    print(f"unpacking {archive} ...", flush=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=f".{top}.partial-") as staging:
        try:
            with tarfile.open(archive, "r:xz") as tar:
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, lzma.LZMAError, EOFError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise PoseMoEError(f"{archive}: not a readable .tar.xz archive ({reason})") from None
        unpacked = Path(staging) / top
        if not any(unpacked.glob(motion)):
            raise PoseMoEError(f"{archive}: no motion files in the archive (expected {top}/{motion}: {what})")
        unpacked.rename(final)
    return final
