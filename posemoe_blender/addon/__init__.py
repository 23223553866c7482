"""The Blender add-on: registration only (the logic lives in the sibling modules).

Nothing here imports ``bpy`` at module level, so ``python -m posemoe_blender.addon.worker``
runs in a Python without Blender. ``register()`` adds the add-on's own dependency folder
(see :mod:`.deps`) to ``sys.path`` when it exists, then registers the property groups,
preferences, operators and panels; ``unregister()`` undoes all of it.
"""

from __future__ import annotations


def _classes():
    from . import operators, panel, preferences, properties
    return (*properties.CLASSES, *preferences.CLASSES, *operators.CLASSES, *panel.CLASSES)


def register():
    import bpy
    from . import deps, properties
    from .controller import site_packages_dir
    deps.add_site_dir(site_packages_dir())
    for cls in _classes():
        bpy.utils.register_class(cls)
    properties.register_props()


def unregister():
    import bpy
    from . import deps, properties
    from .controller import site_packages_dir
    wm = bpy.context.window_manager
    state = getattr(wm, "posemoe_job", None)
    if state is not None and state.running:  # a worker still running: ask it to stop
        state.cancel_requested = True
    properties.unregister_props()
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
    deps.remove_site_dir(site_packages_dir())
