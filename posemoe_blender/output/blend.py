"""Turn an :class:`~posemoe_blender.solving.skeleton.Animation` into output files.

``write_outputs`` is the one entry point the CLI uses: an empty factory scene (or the
``--target-rig`` file) -> rig + Action (:func:`~.retarget.build_rig_action`) -> the source
video recorded on the Action and, when asked, shown behind the rig (:mod:`.footage`) -> FBX
and/or .blend, each written atomically.
"""

from __future__ import annotations

import os
from typing import Optional

import bpy

from ..errors import PoseMoEError
from ..fileio import atomic_output
from .fbx import export_fbx

#: Name of the armature object (and its data) in the written scene.
ARMATURE_NAME = "PoseMoE_Rig"


def save_blend(filepath: str | os.PathLike, compress: bool = True) -> str:
    """Save the current file as a copy at ``filepath`` atomically; returns the absolute path.

    Saved with ``copy=True`` (the session's own file path is not changed) and ``compress``
    (zstd in Blender 5) to a temporary name in the same folder, then renamed into place.
    Raises :class:`PoseMoEError` if the folder is not writable or saving fails.
    """
    path = os.path.abspath(os.fspath(filepath))
    with atomic_output(path, ".blend", precreate=False) as tmp:
        try:
            bpy.ops.wm.save_as_mainfile(filepath=tmp, copy=True, compress=compress,
                                        relative_remap=False, check_existing=False)
        except RuntimeError as exc:
            raise PoseMoEError(f"cannot write {path}: {str(exc).strip().splitlines()[-1]}") from None
        if not os.path.isfile(tmp):
            raise PoseMoEError(f"cannot write {path}: Blender did not save the file")
    return path


def write_outputs(animation, action_name: str, fbx_path: str | os.PathLike | None = None,
                  blend_path: str | os.PathLike | None = None, preset: str = "unity", *,
                  video: str = "", target_rig: Optional[str] = None, mapping=None,
                  armature: Optional[str] = None, match_rest: bool = True,
                  footage=None, show_footage: bool = False) -> dict:
    """Put ``animation`` on a rig and write the outputs.

    Without ``target_rig``: resets Blender to empty factory settings (anything open is
    discarded) and builds the generated rig :data:`ARMATURE_NAME`. With ``target_rig`` (a
    ``.blend`` or ``.fbx``): opens it (:func:`~.retarget.load_target_rig`; ``mapping`` None:
    the shipped bone map that fits) and retargets onto its armature (``armature``: which one).
    Either way :func:`~.retarget.build_rig_action` keys the Action ``action_name`` (frames
    1..T, scene range and fps from the clip), then ``fbx_path`` is exported with ``preset``
    (``"unity"``, ``"unreal"`` or ``"blender"``) and ``blend_path`` saved (both optional, both
    atomic). ``footage``: a :class:`~.footage.FootageInfo` (the source video, its first
    converted frame and frame rate) recorded on the Action; with ``show_footage`` the video is
    also shown behind the rig through the solve's camera (:func:`~.footage.attach_footage`; the
    FBX holds the armature only). A video Blender cannot read adds a warning to
    ``"warnings"``, it does not fail the conversion. Returns build_rig_action's summary plus
    ``"fbx"``, ``"blend"``, ``"frames"``, ``"mapping"`` (the bone map's name, or None) and
    ``"footage"`` (the footage camera's name, or None). Raises :class:`PoseMoEError` for
    unwritable outputs or a rig that cannot be read or does not fit.
    """
    from ..retargeting.rig import RigRequest, build_rig_action, load_target_rig
    if animation.num_frames == 0:
        raise PoseMoEError("the animation has no frames")
    source = video or action_name
    if target_rig is None:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        request = RigRequest(video=source, action_name=action_name, rig_name=ARMATURE_NAME)
    else:
        obj, mapping = load_target_rig(target_rig, mapping, armature)
        request = RigRequest(video=source, action_name=action_name, target='EXISTING',
                             armature=obj.name, mapping=mapping, match_rest=match_rest,
                             root_motion=animation.camera is None or bool(animation.camera.root_motion))
    out = build_rig_action(bpy.context, request, animation)
    obj = bpy.data.objects[out["object"]]
    scene = bpy.context.scene
    scene.frame_set(scene.frame_start)
    out.update(fbx=None, blend=None, frames=animation.num_frames,
               mapping=mapping.name if target_rig is not None else None, footage=None)
    if footage is not None:
        from .footage import apply_footage, footage_cameras
        warning = apply_footage(bpy.context, out, footage, attach=show_footage)
        if warning:
            out["warnings"] = list(out.get("warnings", [])) + [warning]
        cams = footage_cameras(obj) if show_footage else []
        out["footage"] = cams[0].name if cams else None
    if fbx_path is not None:
        out["fbx"] = export_fbx(fbx_path, obj, preset=preset)
    if blend_path is not None:
        out["blend"] = save_blend(blend_path)
    return out
