"""Build the generated rig (an armature object) from an :class:`~posemoe_blender.solving.skeleton.Animation`.

Thin Blender layer: reads the rest layout (heads, tails, 3x3 rest orientations) and the bone
hierarchy from the animation, creates the edit bones and returns the armature object. No
pipeline logic lives here.
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

#: Custom property on each bone holding its length in metres (exported to FBX, which has no
#: bone lengths; read back by inspect_fbx).
LENGTH_PROP = "posemoe_length"


def _edit_matrix(rest_matrix: np.ndarray, head: np.ndarray) -> Matrix:
    """4x4 ``EditBone.matrix`` from a (3, 3) rest orientation (columns X, Y, Z) and a (3,) head."""
    m = Matrix.Identity(4)
    for r in range(3):
        for c in range(3):
            m[r][c] = float(rest_matrix[r, c])
        m[r][3] = float(head[r])
    return m


def build_armature(animation, name: str, collection=None) -> bpy.types.Object:
    """Create an armature object whose rest pose is exactly ``animation``'s rest layout.

    * ``animation.rest_heads`` / ``rest_tails``: (B, 3) metres in armature space; each bone's
      length is ``|tail - head|``.
    * ``animation.rest_matrices``: (B, 3, 3) rest orientation (columns = local X, Y along the
      bone, Z); written through ``EditBone.matrix`` so the roll matches exactly.
    * ``animation.bone_names`` / ``bone_parents``: names and parent index (-1 = root), parents
      listed before their children. A child whose head coincides with its parent's tail is
      connected.

    The object is linked to ``collection`` (default: the active scene's collection), placed at
    the origin, displayed as octahedral bones in front. Every bone deforms; pose bones use
    ``rotation_mode = 'QUATERNION'``. Each bone gets a ``posemoe_length`` custom property
    (metres). Leaves the object active and in Object mode.
    """
    heads = np.asarray(animation.rest_heads, dtype=np.float64)
    tails = np.asarray(animation.rest_tails, dtype=np.float64)
    mats = np.asarray(animation.rest_matrices, dtype=np.float64)
    names = list(animation.bone_names)
    parents = list(animation.bone_parents)

    arm = bpy.data.armatures.new(name)
    arm.display_type = 'OCTAHEDRAL'
    obj = bpy.data.objects.new(name, arm)
    obj.show_in_front = True
    (collection or bpy.context.scene.collection).objects.link(obj)

    view_layer = bpy.context.view_layer
    if bpy.context.object and bpy.context.object.mode != 'OBJECT':
        bpy.ops.object.mode_set(mode='OBJECT')
    for other in view_layer.objects:
        other.select_set(False)
    view_layer.objects.active = obj
    obj.select_set(True)
    bpy.ops.object.mode_set(mode='EDIT')
    try:
        ebones = []
        for i, bname in enumerate(names):
            eb = arm.edit_bones.new(bname)
            length = float(np.linalg.norm(tails[i] - heads[i]))
            eb.head = (0.0, 0.0, 0.0)
            eb.tail = (0.0, length, 0.0)
            eb.matrix = _edit_matrix(mats[i], heads[i])
            eb.use_deform = True
            ebones.append(eb)
        for i, p in enumerate(parents):
            if p >= 0:
                ebones[i].parent = ebones[p]
                ebones[i].use_connect = bool(np.allclose(heads[i], tails[p], atol=1e-6))
    finally:
        bpy.ops.object.mode_set(mode='OBJECT')

    for bone in arm.bones:  # FBX keeps no bone lengths: exported as a custom property
        bone[LENGTH_PROP] = float(bone.length)
    for pb in obj.pose.bones:
        pb.rotation_mode = 'QUATERNION'
    return obj
