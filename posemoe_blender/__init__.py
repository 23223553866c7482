"""posemoe-blender: video of a person -> PoseMoE 3D lifting -> animated armature -> FBX.

One package per pipeline stage, in order: :mod:`.video`, :mod:`.detection` (body, hands),
:mod:`.lifting` (the stage and ``networks/``), :mod:`.smoothing`, :mod:`.solving` (root, body,
feet, foot lock, fingers), :mod:`.retargeting`, :mod:`.output` (rig, FBX, .blend, footage,
preview); :mod:`.pipeline` strings them together and :mod:`.convert` adds the outputs. The stages
never import ``bpy`` at module level; the Blender add-on (:mod:`.addon`) is thin and calls them.
Training, evaluation and render sets live in the ``posemoe_lab`` package beside this one.
"""

__version__ = "0.1.0"


def register():
    """Blender add-on entry point (the add-on code lives in :mod:`posemoe_blender.addon`)."""
    from . import addon
    addon.register()


def unregister():
    from . import addon
    addon.unregister()
