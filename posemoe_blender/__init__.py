"""posemoe-blender: video of a person -> PoseMoE 3D lifting -> animated armature -> FBX.

The package is importable without Blender: ``posemoe_blender.core`` and
``posemoe_blender.model`` never import ``bpy``; the Blender layer lives in
``posemoe_blender.blender`` and is imported only where it is used.
"""

__version__ = "0.1.0"


def register():
    """Blender add-on entry point (the add-on code lives in :mod:`posemoe_blender.addon`)."""
    from . import addon
    addon.register()


def unregister():
    from . import addon
    addon.unregister()
