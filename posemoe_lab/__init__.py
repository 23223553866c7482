"""The lab beside the product: training, evaluation, render sets and experiments.

Nothing here ships in the Blender extension. Run its commands from the repository root:
``python -m posemoe_lab prepare|train|evaluate|evaluate-render|bench ...`` and
``python -m posemoe_lab.renders.<set>`` / ``python -m posemoe_lab.experiments.<name>``.
"""

from pathlib import Path

#: The repository root (the lab reads ``weights/``, ``docs/``, ``benchmarks/`` and ``samples/`` there).
REPO_ROOT = Path(__file__).resolve().parents[1]
