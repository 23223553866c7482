"""Rigs nobody here hand-built, for the retargeting tests (run inside bpy).

* :func:`rigify_metarig` / :func:`rigify_rig`: Rigify's own human meta-rig
  (``bpy.ops.object.armature_human_metarig_add``) and the rig Rigify generates from it
  (``bpy.ops.pose.rigify_generate``); Rigify ships inside bpy.
* :func:`mixamo_fbx`: a character with Mixamo's bone names and hierarchy (``mixamorig:`` prefix,
  three spine bones, shoulders, toes, ``HeadTop_End``) in Mixamo's T-pose, written as an FBX in
  centimetres (scene unit scale 0.01, Y up as Mixamo exports); :func:`import_fbx_rig` then reads
  it back with Blender's FBX importer, which gives the armature object the 0.01 scale and 90
  degree axis rotation such imports bring.

And the checks: :func:`effector_positions` (world positions of feet, hands and head on the posed
rig) and :func:`facing` (the horizontal direction a pair of left/right points faces).
"""

from __future__ import annotations

import numpy as np

#: The 17 joints (``posemoe_blender.joints.JOINT_NAMES``, spelled out: this module also runs in
#: the Blender-like Python, where the package is only importable under the extension's name).
JOINT_NAMES = ("Pelvis", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Spine", "Thorax",
               "Neck", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist")
J = {name: i for i, name in enumerate(JOINT_NAMES)}

#: Mixamo's bones (name without the ``mixamorig:`` prefix, parent, head in cm with Z up and the
#: character facing -Y; a Y Bot's proportions). Tails point at the first child's head.
MIXAMO_BONES = [
    ("Hips", None, (0, 0, 104)),
    ("Spine", "Hips", (0, 0, 114)),
    ("Spine1", "Spine", (0, 0, 126)),
    ("Spine2", "Spine1", (0, 0, 139)),
    ("Neck", "Spine2", (0, 0, 155)),
    ("Head", "Neck", (0, -1, 164)),
    ("HeadTop_End", "Head", (0, -1, 183)),
]
for _side, _x in (("Left", 1), ("Right", -1)):
    MIXAMO_BONES += [
        (f"{_side}Shoulder", "Spine2", (_x * 6, 0, 149)),
        (f"{_side}Arm", f"{_side}Shoulder", (_x * 18, 0, 149)),
        (f"{_side}ForeArm", f"{_side}Arm", (_x * 45, 0, 149)),
        (f"{_side}Hand", f"{_side}ForeArm", (_x * 71, 0, 149)),
        (f"{_side}HandMiddle1", f"{_side}Hand", (_x * 80, 0, 149)),
        (f"{_side}HandMiddle4", f"{_side}HandMiddle1", (_x * 89, 0, 149)),
        (f"{_side}UpLeg", "Hips", (_x * 9, 0, 99)),
        (f"{_side}Leg", f"{_side}UpLeg", (_x * 9, 0, 55)),
        (f"{_side}Foot", f"{_side}Leg", (_x * 9, 2, 9)),
        (f"{_side}ToeBase", f"{_side}Foot", (_x * 9, -11, 2)),
        (f"{_side}Toe_End", f"{_side}ToeBase", (_x * 9, -19, 2)),
    ]


def _fresh():
    """An empty scene; the preferences (enabled add-ons) are kept."""
    import bpy
    bpy.ops.wm.read_homefile(use_empty=True)


def rigify_metarig():
    """A fresh scene with Rigify's human meta-rig; returns it (bones ``spine``, ``thigh.L``...)."""
    import addon_utils
    import bpy
    _fresh()
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    return bpy.context.active_object


def rigify_rig():
    """A fresh scene with the rig Rigify generates from its human meta-rig (meta-rig removed),
    as generated (limbs in IK); returns the rig."""
    import bpy
    meta = rigify_metarig()
    bpy.ops.pose.rigify_generate()
    rig = bpy.context.active_object
    bpy.data.objects.remove(meta)
    return rig


def mixamo_fbx(path: str) -> str:
    """Write the Mixamo-style character (armature only) as an FBX in centimetres; returns ``path``.

    The scene's unit scale is 0.01 and the bones are laid out in centimetres (the Hips 104
    units up), so the FBX says 1 unit = 1 cm, the way Mixamo's files do; the armature's own
    axes are Y up (the object is turned 90 degrees about X to stand), as in Mixamo's files."""
    import bpy
    _fresh()
    bpy.context.scene.unit_settings.scale_length = 0.01
    arm = bpy.data.armatures.new("Armature")
    obj = bpy.data.objects.new("Armature", arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    bpy.ops.object.mode_set(mode='EDIT')
    obj.rotation_euler = (np.pi / 2, 0.0, 0.0)
    # armature space (x, y, z) = world (X, Z, -Y): the object's rotation stands it up
    heads = {name: np.array((h[0], h[2], -h[1]), float) for name, _, h in MIXAMO_BONES}
    children = {}
    for name, parent, _ in MIXAMO_BONES:
        children.setdefault(parent, []).append(name)
    ebones = {}
    for name, parent, _ in MIXAMO_BONES:
        eb = arm.edit_bones.new("mixamorig:" + name)
        eb.head = heads[name]
        kids = children.get(name)
        if kids:
            eb.tail = heads[kids[0]]
        else:  # a leaf: continue the parent's direction
            d = heads[name] - heads[parent]
            eb.tail = heads[name] + d / np.linalg.norm(d) * 5.0
        eb.roll = 0.0
        if parent is not None:
            eb.parent = ebones[parent]
            eb.use_connect = bool(np.allclose(heads[parent], ebones[parent].tail))
        ebones[name] = eb
    bpy.ops.object.mode_set(mode='OBJECT')
    bpy.ops.export_scene.fbx(filepath=str(path), use_selection=True, object_types={'ARMATURE'},
                             add_leaf_bones=False, apply_unit_scale=True,
                             apply_scale_options='FBX_SCALE_NONE', axis_forward='-Z', axis_up='Y')
    return str(path)


def import_fbx_rig(path: str):
    """A fresh scene with the FBX imported by Blender's importer (default settings); returns the
    armature object."""
    import bpy
    _fresh()
    bpy.ops.import_scene.fbx(filepath=str(path))
    return next(o for o in bpy.context.scene.objects if o.type == 'ARMATURE')


def world_point(obj, bone: str, end: str = "head") -> np.ndarray:
    """World position of a posed bone's head or tail (the current frame)."""
    pb = obj.pose.bones[bone]
    p = pb.head if end == "head" else pb.tail
    mw = np.array(obj.matrix_world)
    return mw[:3, :3] @ np.array(p) + mw[:3, 3]


def rest_point(obj, bone: str, end: str = "head") -> np.ndarray:
    b = obj.data.bones[bone]
    p = b.head_local if end == "head" else b.tail_local
    mw = np.array(obj.matrix_world)
    return mw[:3, :3] @ np.array(p) + mw[:3, 3]


def facing(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The unit horizontal direction a body faces, from a left and a right point (Z up)."""
    f = np.cross(np.asarray(left) - np.asarray(right), [0.0, 0.0, 1.0])
    f[2] = 0.0
    return f / np.linalg.norm(f)


def chain_points(mapping) -> dict:
    """Our joint -> (target bone, "head" | "tail") where the mapped target rig has that joint."""
    b, t = mapping.bones, mapping.tips
    out = {"Pelvis": (b["Hips"], "head"), "Thorax": (b["Neck"], "head"), "Neck": (b["Head"], "head"),
           "Head": (t["Head"], "head") if "Head" in t else (b["Head"], "tail")}
    for s, side in (("L", "Left"), ("R", "Right")):
        thigh, shin, upper, fore = (side + n for n in ("UpperLeg", "LowerLeg", "UpperArm", "LowerArm"))
        out.update({f"{s}Hip": (b[thigh], "head"), f"{s}Knee": (b[shin], "head"),
                    f"{s}Ankle": (t[shin], "head") if shin in t else (b[shin], "tail"),
                    f"{s}Shoulder": (b[upper], "head"), f"{s}Elbow": (b[fore], "head"),
                    f"{s}Wrist": (t[fore], "head") if fore in t else (b[fore], "tail")})
        if side + "Foot" in b and side + "Toes" in b:  # the ball of the foot: the toes' head
            out[f"{s}Ball"] = (b[side + "Toes"], "head")
    return out


#: End effector -> (limb root, middle joint, end): feet, hands and the top of the head.
CHAINS = {"LAnkle": ("LHip", "LKnee", "LAnkle"), "RAnkle": ("RHip", "RKnee", "RAnkle"),
          "LWrist": ("LShoulder", "LElbow", "LWrist"), "RWrist": ("RShoulder", "RElbow", "RWrist"),
          "Head": ("Thorax", "Neck", "Head")}


def check_posed_rig(obj, mapping, anim, scale: float, start_frame: int = 1) -> dict:
    """Compare the posed ``obj`` (its Action, frame by frame as Blender evaluates it) with the
    solved joints ``anim.joints_world`` (T, 17, 3) it was retargeted from. Distances are in
    centimetres of a 1.75 m person (divided by the rig's standing height / 1.75 m).

    * ``chain_cm``: per end effector (feet, hands, head top), the worst distance from where the
      solved bone directions put it, starting at the rig's own posed limb root (hip, shoulder,
      thorax) with the rig's own segment lengths;
    * ``root_cm``: the worst difference between the rig's pelvis travel and the solved
      pelvis travel times ``scale`` (the leg ratio);
    * ``floor_cm``: (min, max) over frames of (the rig's lower ankle above its rest height)
      minus (the solved lower ankle above its rest height, times ``scale``);
    * ``foot_deg``: the worst angle between the rig's feet (ankle -> ball of the foot, the
      toes' head) and the solved rig's, where the map has feet and toes;
    * ``facing_deg``: the worst angle between the rig's and the solved body's facing
      (left -> right hip line); ``facing``: the rig's facing at the first frame.
    """
    import bpy
    pts = chain_points(mapping)
    rest = {k: rest_point(obj, *v) for k, v in pts.items()}
    height = rest["Head"][2] - min(rest["LAnkle"][2], rest["RAnkle"][2])
    unit = height / 1.75 / 100.0
    floor = min(rest["LAnkle"][2], rest["RAnkle"][2])
    jw = np.asarray(anim.joints_world, float)
    ours_floor = min(anim.rest_tails[list(anim.bone_names).index(s + "LowerLeg")][2] for s in ("Left", "Right"))
    import importlib  # the package under whatever name it is installed (an extension's too)
    package = type(anim).__module__.rsplit(".", 2)[0]
    POINT_INDEX = importlib.import_module(package + ".solving.skeleton").POINT_INDEX
    ours_pts = importlib.import_module(package + ".solving.kinematics").rig_points_world(anim)
    foot = 0.0
    chain = {k: 0.0 for k in CHAINS}
    root, floor_d, face = 0.0, [], 0.0
    first_facing, p0 = None, None
    scene = bpy.context.scene
    keep = scene.frame_current
    for f in range(jw.shape[0]):
        scene.frame_set(start_frame + f)
        pos = {n: world_point(obj, *v) for n, v in pts.items()}
        for n, (a, b, c) in CHAINS.items():
            l1, l2 = np.linalg.norm(rest[b] - rest[a]), np.linalg.norm(rest[c] - rest[b])
            d1, d2 = jw[f, J[b]] - jw[f, J[a]], jw[f, J[c]] - jw[f, J[b]]
            expected = pos[a] + l1 * d1 / np.linalg.norm(d1) + l2 * d2 / np.linalg.norm(d2)
            chain[n] = max(chain[n], float(np.linalg.norm(pos[c] - expected)) / unit)
        if p0 is None:
            p0 = pos["Pelvis"]
        root = max(root, float(np.linalg.norm((pos["Pelvis"] - p0) - scale * (jw[f, 0] - jw[0, 0]))) / unit)
        rig_low = min(pos["LAnkle"][2], pos["RAnkle"][2]) - floor
        ours_low = jw[f, [J["LAnkle"], J["RAnkle"]], 2].min() - ours_floor
        floor_d.append((rig_low - scale * ours_low) / unit)
        for s in "LR":  # the feet (ankle -> ball) point where ours point
            if f"{s}Ball" in pos:
                d_rig = pos[f"{s}Ball"] - pos[f"{s}Ankle"]
                d_ours = ours_pts[f, POINT_INDEX[f"{s}Ball"]] - ours_pts[f, POINT_INDEX[f"{s}Ankle"]]
                cos = d_rig @ d_ours / np.linalg.norm(d_rig) / np.linalg.norm(d_ours)
                foot = max(foot, float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))))
        fr, fo = facing(pos["LHip"], pos["RHip"]), facing(jw[f, J["LHip"]], jw[f, J["RHip"]])
        first_facing = fr if first_facing is None else first_facing
        face = max(face, float(np.degrees(np.arccos(np.clip(fr @ fo, -1.0, 1.0)))))
    scene.frame_set(keep)
    return {"chain_cm": chain, "root_cm": root, "floor_cm": (min(floor_d), max(floor_d)), "foot_deg": foot,
            "facing_deg": face, "facing": first_facing.tolist(), "height_m": float(height)}
