"""Batch conversion on a Ray cluster (``batch --ray auto|ADDRESS``): :mod:`.ray_batch`.

Ray is optional: only :mod:`.ray_batch` imports it, and only ``batch --ray`` imports that
module (``convert``, the add-on and the local batch never do; tests/test_batch.py checks it).
"""

#: The Ray release the project pins (requirements.txt); a cluster must run the same one.
RAY_VERSION = "2.60.0"
