"""Turn an :class:`~posemoe_blender.core.skeleton.Animation` into output files in a fresh scene.

``write_outputs`` is the one entry point the CLI and the add-on's batch path use: empty factory
scene -> armature -> Action -> FBX and/or .blend, each written atomically.
"""

from __future__ import annotations

import os
import tempfile

import bpy

from ..errors import PoseMoEError
from .armature import build_armature
from .export import export_fbx
from .keyframes import write_action

#: Name of the armature object (and its data) in the written scene.
ARMATURE_NAME = "PoseMoE_Rig"


def save_blend(filepath: str | os.PathLike, compress: bool = True) -> str:
    """Save the current file as a copy at ``filepath`` atomically; returns the absolute path.

    Saved with ``copy=True`` (the session's own file path is not changed) and ``compress``
    (zstd in Blender 5) to a temporary name in the same folder, then renamed into place.
    Raises :class:`PoseMoEError` if the folder is not writable or saving fails.
    """
    path = os.path.abspath(os.fspath(filepath))
    folder = os.path.dirname(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".posemoe-", suffix=".blend", dir=folder)
        os.close(fd)
        os.unlink(tmp)  # Blender would keep an existing file as a .blend1 backup
    except OSError as exc:
        raise PoseMoEError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        bpy.ops.wm.save_as_mainfile(filepath=tmp, copy=True, compress=compress,
                                    relative_remap=False, check_existing=False)
        if not os.path.isfile(tmp):
            raise PoseMoEError(f"cannot write {path}: Blender did not save the file")
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        raise PoseMoEError(f"cannot write {path}: {str(exc).strip().splitlines()[-1]}") from None
    finally:
        for leftover in (tmp, tmp + "1"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return path


def write_outputs(animation, action_name: str, fbx_path: str | os.PathLike | None = None,
                  blend_path: str | os.PathLike | None = None, preset: str = "unity") -> dict:
    """Build the rig for ``animation`` in an empty factory scene and write the outputs.

    Resets Blender to empty factory settings (anything open is discarded), builds the armature
    (:func:`build_armature`), keys the Action ``action_name`` (:func:`write_action`, frames
    1..T, scene fps from ``animation.fps``), then exports ``fbx_path`` with ``preset``
    (``"unity"``, ``"unreal"`` or ``"blender"``) and saves ``blend_path`` (both optional,
    both atomic). Returns ``{"fbx": path or None, "blend": path or None, "action": the
    Action's real name, "frames": T}``. Raises :class:`PoseMoEError` for unwritable outputs.
    """
    if animation.num_frames == 0:
        raise PoseMoEError("the animation has no frames")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = build_armature(animation, ARMATURE_NAME)
    action = write_action(obj, animation, action_name, start_frame=1)
    scene = bpy.context.scene
    scene.frame_set(scene.frame_start)
    out = {"fbx": None, "blend": None, "action": action.name, "frames": animation.num_frames}
    if fbx_path is not None:
        out["fbx"] = export_fbx(fbx_path, obj, preset=preset)
    if blend_path is not None:
        out["blend"] = save_blend(blend_path)
    return out
