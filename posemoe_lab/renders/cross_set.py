"""Render the cross-source benchmark: motion from another lab (HDM05's held-out actors ``mm``
and ``tr``, never trained on) on a second figure, seen by three cameras that differ in height,
distance and focal length.

Usage (headless, from the repository root; ``make render-cross``)::

    .venv/bin/python -m posemoe_lab.renders.cross_set --out .cache/render_cross [--frames 90]
    .venv/bin/python -m posemoe_lab.renders.cross_set --manifest-only   # benchmarks/cross_source/manifest.json

Clips: for each actor (``mm``, ``tr``) the longest take of each of HDM05's 11 motion classes
(squat, hop, deposit on floor, kick, grab high, elbow-to-knee, lie down, jog in a circle,
rotate arms, sneak, throw): 22 clips, a window of ``--frames`` frames (3 s) from the middle of
the take at 30 fps, or the whole take when it is shorter (``posemoe_lab/training/asf.py`` reads and maps the
ASF/AMC files; 120 fps -> 30 fps). HDM05's takes are single repetitions: in this subset 7 of
the 22 actor/class pairs have a take of 3 s or more, the shortest longest-take is 0.8 s
(``tr`` rotating his arms, a hop), so the clips run 0.8-3 s (the manifest has each length).

The figure: the first figure's construction (``posemoe_lab/renders/sample.py``) on each actor's own
skeleton (HDM05's bone lengths, hip and shoulder width), with other body widths (torso and
pelvis 15 % broader, limbs 15 % slimmer) and other colours (green shirt, beige trousers, white
shoes, darker skin, a wooden floor).

Cameras (:data:`VIEWS`): ``phone24`` (24 mm-equivalent, 1.0 m high, 25 degrees off the actor's
facing, 3 m away), ``lens50`` (50 mm, 1.7 m, -70 degrees, 5.5 m), ``high35`` (35 mm, 2.5 m,
120 degrees, 4 m), each moved back in 0.25 m steps until the whole motion is in the 640x480
picture. The focal length in pixels is stored with the truth (``K``); the pipeline is not told
it (it assumes 27 mm for unknown cameras, as it does for a user's clip).

Writes ``<clip>_<view>.mp4`` and ``<clip>_<view>_truth.npz`` (``render_sample.truth_arrays`` +
``clip``, ``view``, ``source_clip``, ``source_frames``, ``actor``, ``motion_class``) and
``manifest.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np


from posemoe_lab.renders import eval_set as res  # noqa: E402  (imports bpy)
from posemoe_lab.renders import sample as rs  # noqa: E402
from posemoe_lab.training import asf  # noqa: E402
from posemoe_lab.training.sources import HDM05_HELD_OUT_ACTORS, to_30fps  # noqa: E402

import bpy  # noqa: E402

DATA = Path(os.environ.get("POSEMOE_DATA", os.path.join(res.REPO, "..", "shared", "data"))) / "mocap"
RAW = Path(res.REPO) / ".cache" / "hdm05"
REPO_MANIFEST = os.path.join(res.REPO, "benchmarks", "cross_source", "manifest.json")
#: (name, azimuth from the actor's facing (degrees), height (m), distance (m), 35 mm-equivalent focal length)
VIEWS = (("phone24", 25.0, 1.0, 3.0, 24.0), ("lens50", -70.0, 1.7, 5.5, 50.0), ("high35", 120.0, 2.5, 4.0, 35.0))
COLORS = {
    "skin": (0.55, 0.38, 0.26), "shirt": (0.15, 0.52, 0.25), "trousers": (0.72, 0.64, 0.46),
    "shoes": (0.92, 0.92, 0.90), "hair": (0.05, 0.04, 0.03), "floor_a": (0.58, 0.42, 0.26),
    "floor_b": (0.46, 0.33, 0.20),
}
#: Radius factors of the figure's parts (the rest keep the first figure's).
WIDTH_FACTOR = {"Pelvis": 1.15, "Torso": 1.15, "Shoulders": 1.15}
LIMB_FACTOR = 0.85


def second_figure() -> None:
    """Switch ``render_sample``'s figure to the second figure's colours and widths."""
    rs.COLORS.update(COLORS)
    original = rs.add_part

    def add_part(name, material, bone_weights, arm_obj, p0, p1, radii, cap, **kw):
        if name in WIDTH_FACTOR:
            f = WIDTH_FACTOR[name]
            radii, cap = tuple(r * f for r in radii), cap * f
        elif name.endswith(("ArmPart", "ForearmPart", "ThighPart", "ShinPart")):
            radii, cap = tuple(r * LIMB_FACTOR for r in radii), cap * LIMB_FACTOR
        return original(name, material, bone_weights, arm_obj, p0, p1, radii, cap, **kw)

    rs.add_part = add_part


def take_frames(take: asf.AmcTake) -> int:
    """Frames of an AMC take (its numbered frame lines), without running the kinematics."""
    with open(take.amc, encoding="latin-1") as fh:
        return sum(1 for line in fh if line.strip().isdigit())


def cross_clips() -> list[asf.AmcTake]:
    """The longest take of every motion class for each held-out actor (the first of equals),
    in a fixed order (actor, class)."""
    takes = asf.list_takes(DATA / "hdm05-subset.tar.xz", RAW, actors=HDM05_HELD_OUT_ACTORS)
    best: dict = {}
    for t in sorted(takes, key=lambda t: (t.actor, t.motion_class, t.name)):
        n = take_frames(t)
        key = (t.actor, t.motion_class)
        if key not in best or n > best[key][0]:
            best[key] = (n, t)
    return [best[k][1] for k in sorted(best)]


def place_cameras(P: np.ndarray, views) -> list:
    """Like ``render_eval_set.place_cameras`` with a focal length per view."""
    pad = P.copy()
    pad[..., 2] = np.where(P[..., 2] < 0.2, 0.0, P[..., 2])
    head = P[:, [res.J["Head"]]] + [0.0, 0.0, 0.05]
    pts = np.concatenate([pad, head], axis=1)
    out = []
    for name, az, h, dist, focal in views:
        f_px = focal / 43.267 * np.hypot(res.WIDTH, res.HEIGHT)
        lens = f_px * 24.0 / res.HEIGHT
        for step in range(60):
            d = dist + 0.25 * step
            loc, rot = res.camera_placement(az, h, d)
            cam = rs.add_camera(loc, rot, lens=lens, name=f"Cam_{name}")
            K, R, t = rs.camera_matrices(cam, res.WIDTH, res.HEIGHT)
            if res.fits(K, R, t, pts):
                break
            bpy.data.objects.remove(cam)
        out.append({"name": name, "object": cam, "K": K, "R": R, "t": t, "azimuth_deg": az,
                    "height_m": h, "distance_m": d, "location": [round(v, 4) for v in loc],
                    "look_at": list(res.LOOK_AT), "lens_mm": round(lens, 4)})
    return out


def write_manifest(path: str, rows: list) -> None:
    manifest = {
        "description": "Cross-source benchmark: HDM05 held-out actors mm and tr on the second figure "
                       "(posemoe_lab/renders/cross_set.py); never trained, tuned or fitted on",
        "source": "HDM05 (Müller et al., CG-2007-2), CC BY-SA 3.0: the data used in this project was obtained from HDM05",
        "renderer": f"Blender {bpy.app.version_string} Workbench, AA FXAA",
        "width": res.WIDTH, "height": res.HEIGHT, "fps": res.FPS,
        "views": [{"name": v[0], "azimuth_deg": v[1], "height_m": v[2], "distance_m": v[3], "focal_35mm": v[4]}
                  for v in VIEWS],
        "videos": rows,
    }
    res.write_manifest_file(path, manifest)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(res.REPO, ".cache", "render_cross"))
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--clips", nargs="*", help="clip names (default: all 22)")
    ap.add_argument("--manifest-only", action="store_true")
    args = ap.parse_args(argv)
    second_figure()
    os.makedirs(args.out, exist_ok=True)
    rows, t0 = [], time.time()
    for take in cross_clips():
        short = f"{take.actor}_{take.motion_class}"
        if args.clips and short not in args.clips:
            continue
        joints, fps = take.load()
        whole = to_30fps(joints, fps).astype(np.float64)
        n = min(args.frames, whole.shape[0] - 1)
        start = (whole.shape[0] - n) // 2
        P, meta = res.place_clip(whole, start, n)
        meta.update(file=str(take.amc.relative_to(RAW)), actor=take.actor, motion_class=take.motion_class,
                    source_len=int(whole.shape[0]))
        done = all(os.path.isfile(os.path.join(args.out, f"{short}_{v[0]}_truth.npz")) for v in VIEWS)
        extra = {"actor": np.array(take.actor), "motion_class": np.array(take.motion_class)}
        rows += res.render_clip(args.out, short, take.name, start, n, VIEWS, "FXAA",
                                render=not (done or args.manifest_only), clip=(P, meta),
                                place=place_cameras, extra=extra)
        for r in rows[-len(VIEWS):]:
            r.update(actor=take.actor, motion_class=take.motion_class)
        write_manifest(REPO_MANIFEST if args.manifest_only else os.path.join(args.out, "manifest.json"), rows)
    print(f"{len(rows)} videos into {args.out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
