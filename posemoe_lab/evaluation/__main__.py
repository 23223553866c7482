"""``python -m posemoe_lab.evaluation SET_DIR [--variants ...] [--actor mm] [--json] [--out FILE.md]``."""

import sys

from posemoe_blender.errors import PoseMoEError
from posemoe_lab.evaluation.command import build_parser, main

try:
    sys.exit(main(build_parser().parse_args()))
except PoseMoEError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
