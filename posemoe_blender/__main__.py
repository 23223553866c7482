"""Entry point: ``python -m posemoe_blender ...`` (see :mod:`posemoe_blender.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
