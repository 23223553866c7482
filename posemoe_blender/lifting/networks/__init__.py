"""The lifting networks, one per module (:mod:`.tcn`, :mod:`.posemoe`, :mod:`.entangled`),
and the building blocks they share (:mod:`.layers`). No network module imports another;
:mod:`posemoe_blender.lifting.registry` names them and builds them from a config."""
