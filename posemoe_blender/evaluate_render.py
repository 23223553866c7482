"""``python -m posemoe_blender evaluate-render SET_DIR``: motion quality against rendered truth.

``SET_DIR`` is a set rendered by ``scripts/render_eval_set.py`` (``make render-set``):
``manifest.json``, ``<clip>_<view>.mp4`` and ``<clip>_<view>_truth.npz`` (true joints per frame,
Blender world, Z up, and the camera). Every video goes through the pipeline in-process
(:func:`posemoe_blender.core.pipeline.process_clip`, BlazePose run once per video and shared by
all variants) and these outputs are compared with the truth:

* ``mediapipe_raw``: MediaPipe's 3D world landmarks as they come (what BlendArMocap users get),
  short gaps filled; no smoothing, no solver. Its trajectory (for the root and foot metrics)
  is our per-frame root estimate (``core.solving.estimate_root``), unsmoothed.
* ``posemoe_raw``: the lifting network's output (PoseMoE or ``--weights``) before smoothing (``smoothing=0``) with the
  unsmoothed root estimate; only when trained weights exist (``core.lifting.weights_available``).
* ``full_mp_lifter`` (only when PoseMoE weights exist): the full pipeline (smoothing, solver,
  foot lock) on MediaPipe's world landmarks, as it runs without weights.
* ``full_nolock``: the full pipeline without foot locking: the final animation's joints
  (``Animation.joints_world``: smoothed, solved, forward kinematics of the keyed rig).
* ``full``: the full pipeline as ``convert`` runs it (foot locking on).

Alignment (ours -> the truth's world frame; no method gets more help than another):

* one rotation per video (Kabsch over all frames of the root-relative joints) maps a method's
  axes onto the truth's; MPJPE, acceleration error and the world-space metrics use it;
* PA-MPJPE: a similarity transform per frame (Procrustes);
* root trajectory: the rotated Pelvis track translated so that the first frame coincides.

Metrics (means over frames and joints): MPJPE and PA-MPJPE (mm); root trajectory error (mm);
foot sliding: mean horizontal ankle speed over frame pairs where the *truth* says the foot is
in contact (cm/s; the truth's own value is reported as a reference); acceleration error
against the truth (mm/frame^2, root-relative); bone-length variation: mean over the 16 bones
of each bone's standard deviation over the clip (mm); contact height error (solved outputs
only): mean |ankle height - ANKLE_HEIGHT| in their own floor frame during truth contacts (cm).

Foot locks (methods with the lock on; the locked frames are ``Animation.contacts``),
per foot-frame against the truth contacts: lock precision (% of our locked foot-frames the
truth has in contact: a false lock glues a swinging foot to the floor) and lock recall (% of
the truth's contact foot-frames we lock: a missed one slides); locks mid-swing (% of our locked
foot-frames where the truth ankle is more than 8 cm above its lowest level: the false locks an
animator sees at once, as opposed to heel-strike / heel-off frames next to a contact, which the
strict truth definition also leaves out); swing height error (solved outputs): mean |our ankle
height above our floor - the truth's above its lowest level| over foot-frames where the truth
foot is *not* in contact (cm: a foot kept on the floor while the truth lifts it costs its
height).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import replace
from typing import Optional

import numpy as np

from .errors import PoseMoEError
from .joints import BONES, JOINT_INDEX as J, NUM_JOINTS

METHODS = ("mediapipe_raw", "posemoe_raw", "full_mp_lifter", "full_nolock", "full")
METHOD_LABELS = {
    "mediapipe_raw": "MediaPipe world landmarks (raw)",
    "posemoe_raw": "network before smoothing",
    "full_mp_lifter": "full pipeline on MediaPipe's 3D (no weights)",
    "full_nolock": "full pipeline, foot lock off",
    "full": "full pipeline (convert defaults)",
}
METRICS = ("mpjpe_mm", "pa_mpjpe_mm", "root_error_mm", "foot_slide_cm_s", "accel_error_mm_f2",
           "bone_std_mm", "contact_height_err_cm", "contact_precision_pct", "contact_recall_pct",
           "locks_in_air_pct", "swing_height_err_cm")
METRIC_LABELS = {
    "mpjpe_mm": "MPJPE (mm)", "pa_mpjpe_mm": "PA-MPJPE (mm)", "root_error_mm": "root traj. (mm)",
    "foot_slide_cm_s": "foot slide (cm/s)", "accel_error_mm_f2": "accel. err (mm/f²)",
    "bone_std_mm": "bone-length SD (mm)", "contact_height_err_cm": "contact height err (cm)",
    "contact_precision_pct": "lock precision (%)", "contact_recall_pct": "lock recall (%)",
    "locks_in_air_pct": "locks mid-swing (%)",
    "swing_height_err_cm": "swing height err (cm)",
}
ANKLES = (J["LAnkle"], J["RAnkle"])
#: Truth contact: ankle within this height (m) of the clip's lowest ankle level ...
CONTACT_HEIGHT_M = 0.02
#: ... and slower than this horizontally (m/s, median over 5 frames: mocap ankles twitch).
CONTACT_SPEED_M_S = 0.3
#: A lock where the truth ankle is higher than this above its lowest level is mid-swing (m;
#: the walks' ankles peak at 12-15 cm, heel-off and toe-roll stay below ~7 cm).
IN_AIR_HEIGHT_M = 0.08


# ------------------------------------------------------------------------------ alignment

def kabsch(src: np.ndarray, dst: np.ndarray, scale: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
    """Best ``s R src + t ~ dst`` for (N, 3) point sets; returns (R, t, s)."""
    src = np.asarray(src, np.float64).reshape(-1, 3)
    dst = np.asarray(dst, np.float64).reshape(-1, 3)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    U, S, Vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(Vt.T @ U.T)) or 1.0
    D = np.diag([1.0, 1.0, d])
    R = Vt.T @ D @ U.T
    s = float((S * np.diag(D)).sum() / max((a ** 2).sum(), 1e-12)) if scale else 1.0
    return R, md - s * R @ ms, s


def root_relative(joints: np.ndarray) -> np.ndarray:
    return joints - joints[:, :1]


def clip_rotation(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """One rotation for the whole clip taking ``pred``'s root-relative joints onto ``gt``'s."""
    R, _, _ = kabsch(root_relative(pred), root_relative(gt))
    return R


def align_world(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` (T, 17, 3) in the truth's frame: clip rotation from the root-relative poses,
    translation making the first frame's Pelvis coincide."""
    R = clip_rotation(pred, gt)
    out = pred @ R.T
    return out + (gt[0, 0] - out[0, 0])


# ------------------------------------------------------------------------------ metrics

def mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """mm, root-relative, after one rotation per clip."""
    R = clip_rotation(pred, gt)
    return float(np.linalg.norm(root_relative(pred) @ R.T - root_relative(gt), axis=-1).mean() * 1000)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """mm, after a similarity alignment per frame."""
    from .model.metrics import p_mpjpe
    return p_mpjpe(np.asarray(pred, np.float64), np.asarray(gt, np.float64))


def root_trajectory_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """mm: Pelvis track after :func:`align_world`."""
    return float(np.linalg.norm(align_world(pred, gt)[:, 0] - gt[:, 0], axis=-1).mean() * 1000)


def accel_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """mm / frame^2, root-relative joints after the clip rotation."""
    from .model.metrics import accel_error as sequence_accel_error
    R = clip_rotation(pred, gt)
    return sequence_accel_error((root_relative(pred) @ R.T)[None], root_relative(gt)[None])


def bone_length_std(joints: np.ndarray) -> float:
    """mm: mean over bones of the standard deviation of the bone's length over the clip."""
    lengths = np.stack([np.linalg.norm(joints[:, c] - joints[:, p], axis=-1) for p, c in BONES], axis=1)
    return float(lengths.std(axis=0).mean() * 1000)


def truth_contacts(world: np.ndarray, fps: float, height_m: float = CONTACT_HEIGHT_M,
                   speed_m_s: float = CONTACT_SPEED_M_S) -> np.ndarray:
    """(T, 2) bool (left, right ankle) contacts of Z-up truth joints: low and still."""
    from scipy.ndimage import median_filter
    ankles = world[:, list(ANKLES)]
    low = truth_floor(world)
    speed = np.zeros(ankles.shape[:2])
    if len(world) > 1:
        step = np.linalg.norm(np.diff(ankles[..., :2], axis=0), axis=-1) * fps
        speed[1:-1] = 0.5 * (step[1:] + step[:-1])
        speed[0], speed[-1] = step[0], step[-1]
        speed = median_filter(speed, size=(5, 1), mode="nearest")
    return (ankles[..., 2] < low + height_m) & (speed < speed_m_s)


def foot_sliding(world: np.ndarray, contacts: np.ndarray, fps: float) -> float:
    """cm/s: mean horizontal ankle speed over frame pairs where both frames are contacts;
    ``world`` Z-up (T, 17, 3). NaN when there are no contacts."""
    speeds = []
    for k, a in enumerate(ANKLES):
        both = contacts[1:, k] & contacts[:-1, k]
        step = np.linalg.norm(np.diff(world[:, a, :2], axis=0), axis=-1) * fps
        speeds.append(step[both])
    speeds = np.concatenate(speeds)
    return float(speeds.mean() * 100) if speeds.size else float("nan")


def contact_height_error(armature_joints: np.ndarray, contacts: np.ndarray,
                         ankle_height: float) -> float:
    """cm: mean |ankle Z - ankle_height| during contacts (floor at Z = 0 of ``armature_joints``)."""
    z = armature_joints[:, list(ANKLES), 2]
    return float(np.abs(z[contacts] - ankle_height).mean() * 100) if contacts.any() else float("nan")


def contact_precision_recall(locks: np.ndarray, contacts: np.ndarray) -> tuple[float, float]:
    """(precision, recall) in % of our foot locks against the truth contacts, per foot-frame.

    ``locks`` and ``contacts``: (T, 2) bool (left, right). Precision: of the foot-frames we
    pinned, the share the truth has in contact (a false lock glues a swinging foot to the
    floor); recall: of the truth's contact foot-frames, the share we pinned (a missed one
    slides at the estimate's speed). NaN where the denominator is empty."""
    locks = np.asarray(locks, bool)
    contacts = np.asarray(contacts, bool)
    if locks.shape != contacts.shape:
        raise PoseMoEError(f"locks {locks.shape} and contacts {contacts.shape} differ")
    hit = int((locks & contacts).sum())
    precision = 100.0 * hit / locks.sum() if locks.any() else float("nan")
    recall = 100.0 * hit / contacts.sum() if contacts.any() else float("nan")
    return float(precision), float(recall)


def truth_floor(world: np.ndarray) -> float:
    """Z of the truth's lowest ankle level (2nd percentile of the lower ankle per frame)."""
    return float(np.percentile(world[:, list(ANKLES), 2].min(axis=1), 2))


def swing_height_error(armature_joints: np.ndarray, gt_world: np.ndarray, contacts: np.ndarray,
                       ankle_height: float) -> float:
    """cm: mean |our ankle height - the truth's| over foot-frames where the truth foot is *not*
    in contact (swing). Ours: Z - ``ankle_height`` (floor at Z = 0 of ``armature_joints``);
    the truth's: Z above its lowest ankle level (:func:`truth_floor`). A foot we keep on the
    floor while the truth lifts it costs the truth's swing height; NaN without swing frames."""
    ours = armature_joints[:, list(ANKLES), 2] - ankle_height
    truth = gt_world[:, list(ANKLES), 2] - truth_floor(gt_world)
    swing = ~np.asarray(contacts, bool)
    return float(np.abs(ours - truth)[swing].mean() * 100) if swing.any() else float("nan")


def locks_in_air(locks: np.ndarray, gt_world: np.ndarray, height_m: float = IN_AIR_HEIGHT_M) -> float:
    """%: share of our lock foot-frames where the truth ankle is more than ``height_m`` above
    its lowest level (:func:`truth_floor`): a foot glued to the floor mid-swing, not the
    heel-strike / heel-off frames next to a contact that the strict truth also leaves out.
    NaN without locks."""
    locks = np.asarray(locks, bool)
    if not locks.any():
        return float("nan")
    high = gt_world[:, list(ANKLES), 2] - truth_floor(gt_world) > height_m
    return float(100.0 * (locks & high).sum() / locks.sum())


def evaluate_joints(pred: np.ndarray, gt_world: np.ndarray, fps: float,
                    contacts: Optional[np.ndarray] = None, floor_frame: bool = False,
                    locks: Optional[np.ndarray] = None) -> dict:
    """All metrics of one method on one clip. ``pred`` (T, 17, 3) in any right-handed metric
    frame (camera or armature); ``gt_world`` (T, 17, 3) Z-up truth. ``floor_frame``: ``pred``
    has its floor at Z = 0 (solved outputs): adds the contact height and swing height errors.
    ``locks``: (T, 2) bool foot locks of the method (foot lock on): adds their precision and
    recall against the truth contacts."""
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt_world, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[1:] != (NUM_JOINTS, 3):
        raise PoseMoEError(f"prediction {pred.shape} and truth {gt.shape} differ")
    if contacts is None:
        contacts = truth_contacts(gt, fps)
    world = align_world(pred, gt)
    out = {
        "mpjpe_mm": mpjpe(pred, gt),
        "pa_mpjpe_mm": pa_mpjpe(pred, gt),
        "root_error_mm": root_trajectory_error(pred, gt),
        "foot_slide_cm_s": foot_sliding(world, contacts, fps),
        "accel_error_mm_f2": accel_error(pred, gt),
        "bone_std_mm": bone_length_std(pred),
        "contact_height_err_cm": float("nan"),
        "contact_precision_pct": float("nan"),
        "contact_recall_pct": float("nan"),
        "locks_in_air_pct": float("nan"),
        "swing_height_err_cm": float("nan"),
    }
    if floor_frame:
        from .core.solving import ANKLE_HEIGHT
        out["contact_height_err_cm"] = contact_height_error(pred, contacts, ANKLE_HEIGHT)
        out["swing_height_err_cm"] = swing_height_error(pred, gt, contacts, ANKLE_HEIGHT)
    if locks is not None:
        p, r = contact_precision_recall(locks, contacts)
        out["contact_precision_pct"], out["contact_recall_pct"] = p, r
        out["locks_in_air_pct"] = locks_in_air(locks, gt)
    return out


def lock_mask(animation) -> Optional[np.ndarray]:
    """(T, 2) bool foot locks (left, right) of a solved animation; None with the lock off."""
    mask = getattr(animation, "contacts", None)  # core.footlock's typed result, kept on the Animation
    return None if mask is None else np.asarray(mask, bool).reshape(-1, 2)


# ------------------------------------------------------------------------------ running

def keyed_joints(animation) -> np.ndarray:
    """(T, 17, 3) joints read back from Blender: the generated rig built and keyed exactly as
    ``convert`` does (``blender.armature`` + ``blender.keyframes``), posed frame by frame,
    joints = pose-bone heads/tails. Runs in a fresh factory scene."""
    import bpy
    from .blender.armature import build_armature
    from .blender.keyframes import write_action
    from .core.skeleton import BONE_HEAD_JOINT, BONE_NAMES, BONE_TAIL_JOINT
    from .quiet import python_stdout_silenced

    with python_stdout_silenced():
        bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = build_armature(animation, "EvalRig")
    write_action(obj, animation, "eval")
    scene = bpy.context.scene
    out = np.zeros((animation.num_frames, NUM_JOINTS, 3))
    for f in range(animation.num_frames):
        scene.frame_set(f + 1)
        mw = np.array(obj.matrix_world)
        for b, name in enumerate(BONE_NAMES):
            pb = obj.pose.bones[name]
            out[f, BONE_HEAD_JOINT[b]] = mw[:3, :3] @ np.array(pb.head) + mw[:3, 3]
            out[f, BONE_TAIL_JOINT[b]] = mw[:3, :3] @ np.array(pb.tail) + mw[:3, 3]
    return out


@contextlib.contextmanager
def shared_detections(cache: dict):
    """Run BlazePose once per video: ``core.detection.detect_video`` memoised by path/range
    while inside (every variant of :func:`process_clip` then sees the same detections)."""
    from .core import detection
    original = detection.detect_video

    def cached(reader, start=0, end=None, *args, **kwargs):
        key = (os.path.abspath(str(reader.path)), int(start), end)
        if key not in cache:
            cache[key] = original(reader, start, end, *args, **kwargs)
        return cache[key]

    detection.detect_video = cached
    try:
        yield
    finally:
        detection.detect_video = original


def run_video(video: str, truth: dict, weights: Optional[str] = None, flip: bool = False,
              landmark_correction: bool = True) -> dict:
    """Every method on one video; returns ``{"lifter", "methods": {name: metrics}, "tracks"}``.
    ``flip`` and ``landmark_correction`` are the network lifters' options (ConvertOptions)."""
    from .core import detection, lifting, smoothing, solving
    from .core.pipeline import ConvertOptions, process_clip

    gt = truth["joints_world"].astype(np.float64)
    fps = float(truth["fps"])
    contacts = truth_contacts(gt, fps)
    cache: dict = {}
    base = ConvertOptions(device="cpu", weights=weights, flip=flip, landmark_correction=landmark_correction)
    results, tracks = {}, {"truth": gt, "contacts": contacts}
    t0 = time.perf_counter()
    with shared_detections(cache):
        full = process_clip(video, base)
        nolock = process_clip(video, replace(base, foot_lock=False))
        has_weights = lifting.weights_available(weights)
        raw = process_clip(video, replace(base, smoothing=0.0, foot_lock=False)) if has_weights else None
        mp_full = process_clip(video, replace(base, lifter="mediapipe")) if has_weights else None
    dets = next(iter(cache.values()))
    if len(dets.keypoints2d) != len(gt):
        raise PoseMoEError(f"{video}: {len(dets.keypoints2d)} frames decoded, truth has {len(gt)}")
    kp2d = smoothing.fill_gaps(dets.keypoints2d, fps)[0]
    world = np.concatenate([dets.world3d, dets.keypoints2d[..., 2:3]], axis=-1)
    mp_rel = smoothing.fill_gaps(world, fps)[0][..., :3].astype(np.float64)
    mp_root = solving.estimate_root(mp_rel, kp2d, dets.width, dets.height)
    mp = mp_rel - mp_rel[:, :1] + mp_root[:, None]
    results["mediapipe_raw"] = evaluate_joints(mp, gt, fps, contacts)
    tracks["mediapipe_raw"] = align_world(mp, gt)
    if raw is not None:
        pm = raw.joints3d.astype(np.float64) + raw.root[:, None].astype(np.float64)
        results["posemoe_raw"] = evaluate_joints(pm, gt, fps, contacts)
        tracks["posemoe_raw"] = align_world(pm, gt)
    for name, res in (("full_mp_lifter", mp_full), ("full_nolock", nolock), ("full", full)):
        if res is None:
            continue
        jw = res.animation.joints_world
        locks = lock_mask(res.animation)
        results[name] = evaluate_joints(jw, gt, fps, contacts, floor_frame=True, locks=locks)
        if locks is not None:
            tracks[name + "_locks"] = locks
        tracks[name] = align_world(jw, gt)
        tracks[name + "_armature"] = jw
    lock = full.animation.info.get("foot_lock") or {}
    try:  # the metrics use joints_world: check it is what the keyed Blender rig shows
        blend_dev = float(np.abs(keyed_joints(full.animation) - full.animation.joints_world).max() * 1000)
    except ImportError:  # no bpy
        blend_dev = float("nan")
    return {"lifter": full.lifter, "methods": results, "tracks": tracks, "fps": fps,
            "detected_frames": int(dets.detected.sum()), "frames": int(len(gt)),
            "foot_lock": lock, "seconds": time.perf_counter() - t0, "keyed_rig_max_dev_mm": blend_dev,
            "truth_contact_frames": int(contacts.sum()),
            "truth_slide_cm_s": foot_sliding(gt, contacts, fps)}


def _mean(values):
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def summarize(rows: list[dict]) -> dict:
    """Means over videos per method (and per view) of every metric, and the targets."""
    summary = {}
    for m in METHODS:
        have = [r for r in rows if m in r["methods"]]
        if have:
            summary[m] = {k: _mean([r["methods"][m][k] for r in have]) for k in METRICS}
            summary[m]["videos"] = len(have)
    by_view = {}
    for view in sorted({r["view"] for r in rows}):
        by_view[view] = {m: {k: _mean([r["methods"][m][k] for r in rows if r["view"] == view and m in r["methods"]])
                             for k in METRICS} for m in METHODS if any(m in r["methods"] for r in rows)}
    mp, full = summary.get("mediapipe_raw"), summary.get("full")
    targets = {}
    if mp and full:
        targets = {
            "pa_mpjpe": {"target": "PA-MPJPE: full <= 0.7 x MediaPipe raw", "ratio": full["pa_mpjpe_mm"] / mp["pa_mpjpe_mm"],
                         "limit": 0.7},
            "foot_slide": {"target": "foot sliding (foot lock on): full < 2 cm/s", "value": full["foot_slide_cm_s"], "limit": 2.0},
            "accel": {"target": "acceleration error: full <= 0.5 x MediaPipe raw", "ratio": full["accel_error_mm_f2"] / mp["accel_error_mm_f2"],
                      "limit": 0.5},
        }
        for t in targets.values():
            v = t.get("ratio", t.get("value"))
            t["met"] = bool(v <= t["limit"]) if "ratio" in t else bool(v < t["limit"])
    return {"methods": summary, "by_view": by_view, "targets": targets,
            "keyed_rig_max_dev_mm": max([r.get("keyed_rig_max_dev_mm", float("nan")) for r in rows]),
            "truth_slide_cm_s": _mean([r["truth_slide_cm_s"] for r in rows])}


# ------------------------------------------------------------------------------ report

def _fmt(v, digits=1):
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _table(summary_methods: dict, metrics=METRICS) -> list[str]:
    lines = ["| method | videos | " + " | ".join(METRIC_LABELS[k] for k in metrics) + " |",
             "|---|---:|" + "---:|" * len(metrics)]
    for m in METHODS:
        if m in summary_methods:
            s = summary_methods[m]
            lines.append(f"| {METHOD_LABELS[m]} | {s.get('videos', '')} | "
                         + " | ".join(_fmt(s[k], 2 if k in ("accel_error_mm_f2", "bone_std_mm", "contact_height_err_cm",
                                                         "swing_height_err_cm") else 1)
                                      for k in metrics) + " |")
    return lines


NOTES_BEGIN, NOTES_END = "<!-- notes: kept when the report is regenerated -->", "<!-- /notes -->"


def _kept_notes(path: Optional[str]) -> str:
    """The hand-written block of an existing report (between the notes markers), if any."""
    if not path or not os.path.isfile(path):
        return ""
    text = open(path, encoding="utf-8").read()
    if NOTES_BEGIN in text and NOTES_END in text:
        return text[text.index(NOTES_BEGIN):text.index(NOTES_END) + len(NOTES_END)]
    return ""


def render_markdown(report: dict, plots: dict, command: str, notes: str = "") -> str:
    s = report["summary"]
    rows = report["videos"]
    lifters = sorted({r["lifter"] for r in rows})
    clips = sorted({r["clip"] for r in rows})
    views = sorted({r["view"] for r in rows})
    out = ["# Motion quality on rendered footage with ground truth", "",
           f"Generated by `{command}` on {report['generated']} "
           f"({len(rows)} videos = {len(clips)} held-out clips x {len(views)} views, "
           f"{sum(r['frames'] for r in rows)} frames; lifter: {', '.join(lifters)}).", "",
           "The set: `make render-set` (`scripts/render_eval_set.py`, cameras and sources in "
           "`benchmarks/render_set/manifest.json`) renders 3 s windows of motion-capture clips from the "
           "held-out split (never trained on) on the project's primitive-built figure, seen from "
           f"{', '.join(views)} cameras; clips: {', '.join(clips)}.", ""]
    if notes:
        out += [notes, ""]
    out += ["## Summary (means over all videos)", ""] + _table(s["methods"]) + [""]
    out.append(f"Truth's own foot sliding during its contacts (ankle joint, mocap heel-to-toe roll): "
               f"{_fmt(s['truth_slide_cm_s'], 2)} cm/s. The full pipeline's joints are the final animation: "
               f"re-read from the keyed Blender rig they differ from `Animation.joints_world` by at most "
               f"{_fmt(s.get('keyed_rig_max_dev_mm'), 3)} mm.")
    out += ["", "## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for key, t in s["targets"].items():
        if "ratio" in t:
            v = f"{t['ratio']:.2f}x"
            miss = "" if t["met"] else f" (missed by {t['ratio'] - t['limit']:.2f}x)"
        else:
            v = f"{t['value']:.2f} cm/s"
            miss = "" if t["met"] else f" (missed by {t['value'] - t['limit']:.1f} cm/s)"
        out.append(f"| {t['target']} | {v}{miss} | {'yes' if t['met'] else 'no'} |")
    out += ["", "## By camera view (PA-MPJPE mm / foot slide cm/s / accel. err mm/f²)", "",
            "| view | " + " | ".join(METHOD_LABELS[m] for m in METHODS if m in s["methods"]) + " |",
            "|---|" + "---:|" * len([m for m in METHODS if m in s["methods"]])]
    for view, per in s["by_view"].items():
        cells = [f"{_fmt(per[m]['pa_mpjpe_mm'])} / {_fmt(per[m]['foot_slide_cm_s'])} / {_fmt(per[m]['accel_error_mm_f2'], 2)}"
                 for m in METHODS if m in per]
        out.append(f"| {view} | " + " | ".join(cells) + " |")
    out += ["", "## Per video (full pipeline vs MediaPipe raw)", "",
            "| video | frames | detected | PA-MPJPE full / MP | MPJPE full / MP | root traj. full / MP | foot slide full / no lock / MP | accel. full / MP | contacts (truth frames / locks) | lock precision / recall / mid-swing % full | same, MP 3D | swing height err cm full / MP 3D |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        f, n, mp = r["methods"]["full"], r["methods"]["full_nolock"], r["methods"]["mediapipe_raw"]
        q = r["methods"].get("full_mp_lifter", {})
        out.append(f"| {r['video']} | {r['frames']} | {r['detected_frames']} | {_fmt(f['pa_mpjpe_mm'])} / {_fmt(mp['pa_mpjpe_mm'])} | "
                   f"{_fmt(f['mpjpe_mm'])} / {_fmt(mp['mpjpe_mm'])} | {_fmt(f['root_error_mm'])} / {_fmt(mp['root_error_mm'])} | "
                   f"{_fmt(f['foot_slide_cm_s'])} / {_fmt(n['foot_slide_cm_s'])} / {_fmt(mp['foot_slide_cm_s'])} | "
                   f"{_fmt(f['accel_error_mm_f2'], 2)} / {_fmt(mp['accel_error_mm_f2'], 2)} | "
                   f"{r['truth_contact_frames']} / {r['foot_lock'].get('contacts', 0)} | "
                   f"{_fmt(f['contact_precision_pct'], 0)} / {_fmt(f['contact_recall_pct'], 0)} / {_fmt(f['locks_in_air_pct'], 0)} | "
                   f"{_fmt(q.get('contact_precision_pct'), 0)} / {_fmt(q.get('contact_recall_pct'), 0)} / {_fmt(q.get('locks_in_air_pct'), 0)} | "
                   f"{_fmt(f['swing_height_err_cm'])} / {_fmt(q.get('swing_height_err_cm'))} |")
    if plots:
        out += ["", "## Plots", ""]
        for title, rel in plots.items():
            out += [f"![{title}]({rel})", ""]
    out += ["", "## How it is measured", "", __doc__.split("\n\n", 1)[1].strip(), ""]
    return "\n".join(out)


def make_plots(row: dict, folder: str, fps: float) -> dict:
    """Two PNGs for one video: joint tracks (truth, MediaPipe raw, ours) and foot heights
    with contacts; returns {title: path}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(folder, exist_ok=True)
    tr = row["tracks"]
    T = tr["truth"].shape[0]
    t = np.arange(T) / fps
    name = os.path.splitext(row["video"])[0]
    paths = {}

    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5), sharex=True)
    series = [("truth", "k", "truth", 2.0), ("mediapipe_raw", "tab:red", "MediaPipe world (raw)", 1.0),
              ("full", "tab:blue", "ours (full pipeline)", 1.4)]
    if "posemoe_raw" in tr:
        series.insert(2, ("posemoe_raw", "tab:orange", "network before smoothing", 0.8))
    for r_, joint in enumerate(("RAnkle", "LWrist")):
        for c, axis in enumerate("XYZ"):
            ax = axes[r_, c]
            for key, col, label, lw in series:
                rel = tr[key][:, J[joint]] - tr[key][:, 0]  # root-relative, truth axes
                ax.plot(t, rel[:, c], color=col, lw=lw, label=label)
            ax.set_title(f"{joint} {axis} (root-relative, m)", fontsize=9)
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"{row['video']}: joint tracks in the truth's frame (lifter: {row['lifter']})", fontsize=10)
    fig.tight_layout()
    p = os.path.join(folder, f"quality_tracks_{name}.png")
    fig.savefig(p, dpi=90)
    plt.close(fig)
    paths[f"{row['video']}: joint tracks (truth, MediaPipe, ours)"] = p

    from .core.solving import ANKLE_HEIGHT
    fig, axes = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    gt, contacts = tr["truth"], tr["contacts"]
    floor_truth = float(np.percentile(gt[:, list(ANKLES), 2].min(axis=1), 2))
    for k, (ax, side) in enumerate(zip(axes, ("left", "right"))):
        a = ANKLES[k]
        ax.fill_between(t, 0, 1, where=contacts[:, k], transform=ax.get_xaxis_transform(),
                        color="tab:green", alpha=0.15, label="truth contact")
        ax.plot(t, gt[:, a, 2] - floor_truth, "k", lw=2, label="truth (above its lowest contact)")
        for key, col, label in (("full_nolock_armature", "tab:orange", "ours, foot lock off"),
                                ("full_armature", "tab:blue", "ours, foot lock on")):
            z = tr[key][:, a, 2] - ANKLE_HEIGHT
            ax.plot(t, z, color=col, lw=1.3, label=label)
        arm = tr["full_armature"]
        still = np.zeros(T, bool)
        step = np.linalg.norm(np.diff(arm[:, a, :2], axis=0), axis=-1)
        still[1:] = step < 1e-7
        ax.plot(t[still], np.full(still.sum(), -0.02), "|", color="tab:blue", ms=8, label="ours: foot pinned")
        if "full_locks" in tr:  # locks the truth does not have (heel-off, or glued mid-swing)
            false = tr["full_locks"][:, k] & ~contacts[:, k]
            ax.plot(t[false], np.full(false.sum(), -0.035), "|", color="tab:red", ms=8,
                    label="ours: locked, truth not in contact")
        ax.set_ylabel(f"{side} ankle height (m)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=3, loc="upper right")
    axes[1].set_xlabel("time (s)")
    fig.suptitle(f"{row['video']}: ankle height above the floor, contacts marked", fontsize=10)
    fig.tight_layout()
    fig.subplots_adjust(left=max(fig.subplotpars.left, 0.08))  # keep the y labels in the image
    p = os.path.join(folder, f"quality_feet_{name}.png")
    fig.savefig(p, dpi=90)
    plt.close(fig)
    paths[f"{row['video']}: foot height with contacts"] = p
    return paths


def load_set(set_dir: str, limit: Optional[int] = None) -> tuple[dict, list[dict]]:
    path = os.path.join(set_dir, "manifest.json")
    if not os.path.isfile(path):
        raise PoseMoEError(f"{set_dir}: no manifest.json (render the set with `make render-set`)")
    with open(path) as fh:
        manifest = json.load(fh)
    entries = [e for e in manifest.get("videos", [])
               if os.path.isfile(os.path.join(set_dir, e["video"])) and os.path.isfile(os.path.join(set_dir, e["truth"]))]
    if not entries:
        raise PoseMoEError(f"{set_dir}: none of the manifest's videos is there")
    return manifest, entries[:limit] if limit else entries


def evaluate_set(set_dir: str, weights: Optional[str] = None, limit: Optional[int] = None, flip: bool = False,
                 plot_video: Optional[str] = None, log=None, landmark_correction: bool = True) -> tuple[dict, list[dict]]:
    """Evaluate every video of a set; returns (report, rows with tracks)."""
    _, entries = load_set(set_dir, limit)
    rows = []
    for i, e in enumerate(entries):
        with np.load(os.path.join(set_dir, e["truth"])) as d:
            truth = {k: d[k] for k in d.files}
        row = run_video(os.path.join(set_dir, e["video"]), truth, weights, flip, landmark_correction)
        row.update(video=e["video"], clip=e["clip"], view=e["view"], source_clip=e.get("source_clip"))
        rows.append(row)
        if log:
            m = row["methods"]
            log(f"[{i + 1}/{len(entries)}] {e['video']}: PA-MPJPE full {m['full']['pa_mpjpe_mm']:.1f} / "
                f"MediaPipe {m['mediapipe_raw']['pa_mpjpe_mm']:.1f} mm, foot slide full "
                f"{m['full']['foot_slide_cm_s']:.2f} cm/s, keyed rig vs joints_world "
                f"{row['keyed_rig_max_dev_mm']:.3f} mm ({row['seconds']:.0f} s)")
    report = {
        "set": os.path.abspath(set_dir),
        "generated": time.strftime("%Y-%m-%d %H:%M"),
        "summary": summarize(rows),
        "videos": [{k: v for k, v in r.items() if k != "tracks"} for r in rows],
    }
    return report, rows


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def main(args) -> int:
    set_dir = args.set_dir
    if not os.path.isdir(set_dir):
        raise PoseMoEError(f"{set_dir}: no such folder")
    log = (lambda msg: print(msg, file=sys.stderr, flush=True))
    report, rows = evaluate_set(set_dir, weights=args.weights, limit=args.limit, log=log,
                                flip=getattr(args, "flip", False),
                                landmark_correction=getattr(args, "landmark_correction", True))
    plots = {}
    if args.out or args.plots:
        folder = args.plots or os.path.join(os.path.dirname(os.path.abspath(args.out)), "img")
        pick = next((r for r in rows if r["video"].startswith("walk_side")), rows[0])
        for title, path in make_plots(pick, folder, pick["fps"]).items():
            rel = os.path.relpath(path, os.path.dirname(os.path.abspath(args.out))) if args.out else path
            plots[title] = rel
    if args.out:
        cmd = "python -m posemoe_blender evaluate-render " + " ".join(
            [os.path.relpath(set_dir)] + (["--weights", os.path.relpath(args.weights)] if args.weights else [])
            + (["--flip"] if getattr(args, "flip", False) else [])
            + ([] if getattr(args, "landmark_correction", True) else ["--no-landmark-correction"])
            + (["--out", os.path.relpath(args.out)]) + (["--plots", os.path.relpath(args.plots)] if args.plots else [])
            + (["--limit", str(args.limit)] if args.limit else []))
        text = render_markdown(report, plots, cmd, _kept_notes(args.out))
        tmp = args.out + ".part"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, args.out)
        log(f"wrote {args.out}")
    if args.json:
        print(json.dumps(_jsonable(report), indent=1))
    else:
        print("\n".join(_table(report["summary"]["methods"])))
        for t in report["summary"]["targets"].values():
            v = f"{t['ratio']:.2f}x" if "ratio" in t else f"{t['value']:.2f} cm/s"
            print(f"target {t['target']}: {v} -> {'met' if t['met'] else 'MISSED'}")
    return 0
