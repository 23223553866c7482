"""Time writing a 10,000-frame Action on the 16-bone generated rig (issue #6's keyframe goal).

    .venv/bin/python scripts/bench_keyframes.py [--frames 10000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    args = ap.parse_args(argv)
    import bpy
    from posemoe_blender.blender.armature import build_armature
    from posemoe_blender.blender.keyframes import write_action
    from test_blender_layer import make_animation  # the tests' synthetic animation
    anim = make_animation(frames=args.frames, amplitude=0.2, seed=3)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = build_armature(anim, "Rig")
    t0 = time.perf_counter()
    write_action(obj, anim, "bench")
    dt = time.perf_counter() - t0
    keys = args.frames * (4 * len(anim.bone_names) + 3)
    print(f"{args.frames} frames x {len(anim.bone_names)} bones ({keys} keys): {dt:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
