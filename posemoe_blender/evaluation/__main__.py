"""``python -m posemoe_blender.evaluation SET_DIR [--variants ...] [--actor mm] [--json] [--out FILE.md]``."""

import sys

from ..errors import PoseMoEError
from .command import build_parser, main

try:
    sys.exit(main(build_parser().parse_args()))
except PoseMoEError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
