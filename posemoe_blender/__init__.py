"""posemoe-blender: video of a person -> PoseMoE 3D lifting -> animated armature -> FBX.

The package is importable without Blender: ``posemoe_blender.core`` and
``posemoe_blender.model`` never import ``bpy``; the Blender layer lives in
``posemoe_blender.blender`` and is imported only where it is used.
"""

__version__ = "0.1.0"
