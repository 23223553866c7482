"""``batch``: many clips, one FBX each.

:mod:`.plan` decides what a batch converts and keeps its report (imported by both runners and
by the add-on's batch, importing neither); :mod:`.core` runs the batch here and hands it to
:mod:`.ray_cluster` for ``batch --ray auto|ADDRESS``.

Ray is optional: only :mod:`.ray_cluster` imports it, and only ``batch --ray`` imports that
module (``convert``, the add-on and the local batch never do; tests/test_batch.py checks it).
"""

#: The Ray release the project pins (requirements.txt); a cluster must run the same one.
RAY_VERSION = "2.60.0"
