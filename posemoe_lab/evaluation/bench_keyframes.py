"""Time writing a 10,000-frame Action (issue #6's keyframe goal: 20 bones in under 2 s).

Two measurements: the 16-bone generated rig (``blender.keyframes.write_action``, what
``convert`` does), and an existing armature of ``--rig-bones`` bones keyed the way the add-on
retargets onto one (``fill_fcurve`` per quaternion channel + root location, as
``addon.apply.apply_to_rig``).

    .venv/bin/python -m posemoe_lab.evaluation.bench_keyframes [--frames 10000] [--rig-bones 20]
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--rig-bones", type=int, default=20)
    args = ap.parse_args(argv)
    import bpy
    from posemoe_blender.output.armature import build_armature
    from posemoe_blender.output.keyframes import write_action
    from posemoe_lab.synthetic import make_animation
    anim = make_animation(frames=args.frames, amplitude=0.2, seed=3)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = build_armature(anim, "Rig")
    t0 = time.perf_counter()
    write_action(obj, anim, "bench")
    dt = time.perf_counter() - t0
    keys = args.frames * (4 * len(anim.bone_names) + 3)
    print(f"generated rig: {args.frames} frames x {len(anim.bone_names)} bones ({keys} keys): {dt:.3f} s")

    import numpy as np
    from bpy_extras.anim_utils import action_ensure_channelbag_for_slot
    from posemoe_blender.output.keyframes import fill_fcurve
    arm = bpy.data.armatures.new("Chain")
    rig = bpy.data.objects.new("Chain", arm)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    parent = None
    for i in range(args.rig_bones):
        eb = arm.edit_bones.new(f"bone{i:02d}")
        eb.head, eb.tail, eb.parent = (0, 0, 0.1 * i), (0, 0, 0.1 * (i + 1)), parent
        parent = eb
    bpy.ops.object.mode_set(mode="OBJECT")
    rng = np.random.default_rng(0)
    quat = rng.normal(size=(args.frames, args.rig_bones, 4))
    quat /= np.linalg.norm(quat, axis=-1, keepdims=True)
    loc = rng.normal(size=(args.frames, 3))
    frames = np.arange(1, args.frames + 1, dtype=np.float64)
    t0 = time.perf_counter()
    action = bpy.data.actions.new("bench_rig")
    slot = action.slots.new(id_type="OBJECT", name=rig.name)
    bag = action_ensure_channelbag_for_slot(action, slot)
    for k, pb in enumerate(rig.pose.bones):
        pb.rotation_mode = "QUATERNION"
        for c in range(4):
            fill_fcurve(bag, f'pose.bones["{pb.name}"].rotation_quaternion', c, pb.name, frames, quat[:, k, c])
    for c in range(3):
        fill_fcurve(bag, 'pose.bones["bone00"].location', c, "bone00", frames, loc[:, c])
    rig.animation_data_create()
    rig.animation_data.action = action
    rig.animation_data.action_slot = slot
    dt = time.perf_counter() - t0
    keys = args.frames * (4 * args.rig_bones + 3)
    print(f"existing {args.rig_bones}-bone armature: {args.frames} frames ({keys} keys): {dt:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
