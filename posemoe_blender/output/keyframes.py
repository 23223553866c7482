"""Write an :class:`~posemoe_blender.solving.skeleton.Animation` as one Action on an armature.

Uses Blender 5.0's layered/slotted Actions: a new Action with one slot, a keyframe strip and a
channelbag whose F-curves are filled in bulk (``keyframe_points.add`` + ``foreach_set``), never
frame by frame.
"""

from __future__ import annotations

import math

import bpy
import numpy as np
from bpy_extras.anim_utils import action_ensure_channelbag_for_slot


def fps_settings(fps: float) -> tuple[int, float]:
    """Blender's ``(render.fps, render.fps_base)`` for a frame rate (frames per second).

    Integer rates give ``(fps, 1.0)``; NTSC-style rates such as 29.97 or 23.976 give
    ``(30, 1.001)`` / ``(24, 1.001)``; any other rate ``(round(fps), round(fps) / fps)``.
    """
    fps = float(fps)
    if fps <= 0 or not math.isfinite(fps):
        raise ValueError(f"invalid fps {fps}")
    nearest = round(fps)
    if nearest >= 1 and abs(fps - nearest) < 1e-6:
        return int(nearest), 1.0
    ntsc = round(fps * 1.001)
    if ntsc >= 1 and abs(fps - ntsc / 1.001) < 1e-3:
        return int(ntsc), 1.001
    nearest = max(1, nearest)
    return int(nearest), nearest / fps


def fill_fcurve(channelbag, data_path: str, index: int, group: str,
                frames: np.ndarray, values: np.ndarray):
    """Create one F-curve and fill it with ``len(frames)`` LINEAR keys in bulk; returns it.

    ``frames`` and ``values``: (N,) arrays. Uses ``keyframe_points.foreach_set``, never one
    ``keyframe_insert`` per frame.
    """
    linear = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value
    fc = channelbag.fcurves.new(data_path, index=index, group_name=group)
    n = len(frames)
    fc.keyframe_points.add(n)
    co = np.empty((n, 2), dtype=np.float32)
    co[:, 0] = frames
    co[:, 1] = values
    fc.keyframe_points.foreach_set("co", co.ravel())
    fc.keyframe_points.foreach_set("interpolation", np.full(n, linear, dtype=np.int32))
    fc.update()
    return fc


def write_action(obj: bpy.types.Object, animation, action_name: str,
                 start_frame: int = 1) -> bpy.types.Action:
    """Key ``animation`` on armature ``obj`` as a new Action and assign it; returns the Action.

    * One key per frame ``start_frame .. start_frame + T - 1`` for
      ``pose.bones["<bone>"].rotation_quaternion`` [0..3] (w, x, y, z from
      ``animation.rotations`` (T, B, 4)) of every bone, and ``location`` [0..2] of the root
      bone (``animation.root_location`` (T, 3), metres, bone-local), all LINEAR.
    * The Action is always new: if ``action_name`` is taken, Blender picks a unique name
      (``name.001``); use the returned Action's ``name``.
    * Sets the scene frame range to the keyed frames and ``render.fps``/``fps_base`` from
      ``animation.fps`` (29.97 -> 30 / 1.001).
    """
    rot = np.asarray(animation.rotations, dtype=np.float64)
    loc = np.asarray(animation.root_location, dtype=np.float64)
    names = list(animation.bone_names)
    parents = list(animation.bone_parents)
    T = rot.shape[0]
    if T == 0:
        raise ValueError("animation has no frames")
    frames = np.arange(start_frame, start_frame + T, dtype=np.float64)

    action = bpy.data.actions.new(action_name)
    slot = action.slots.new(id_type='OBJECT', name=obj.name)
    bag = action_ensure_channelbag_for_slot(action, slot)
    for b, bname in enumerate(names):
        path = f'pose.bones["{bname}"]'
        for k in range(4):
            fill_fcurve(bag, path + ".rotation_quaternion", k, bname, frames, rot[:, b, k])
        if parents[b] < 0:
            for k in range(3):
                fill_fcurve(bag, path + ".location", k, bname, frames, loc[:, k])

    if obj.animation_data is None:
        obj.animation_data_create()
    obj.animation_data.action = action
    obj.animation_data.action_slot = slot
    for pb in obj.pose.bones:
        pb.rotation_mode = 'QUATERNION'

    scene = bpy.context.scene
    scene.frame_start = int(start_frame)
    scene.frame_end = int(start_frame + T - 1)
    scene.render.fps, scene.render.fps_base = fps_settings(animation.fps)
    return action
