"""Run the variants (:mod:`.variants`) on every video of a set and score them (:mod:`.metrics`).

BlazePose runs at most once per video (:mod:`.detections` caches it on disk); each pipeline
variant is then :func:`posemoe_blender.pipeline.process_clip` with its options, so
evaluating every variant costs lifting and solving only.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np

from posemoe_blender.errors import PoseMoEError
from posemoe_lab.evaluation import alignment, metrics
from posemoe_lab.evaluation.detections import cached_detections, detections_from_cache
from posemoe_lab.evaluation.sets import SetVideo, load_set
from posemoe_lab.evaluation.variants import Variant


def mediapipe_world(dets, fps: float) -> np.ndarray:
    """MediaPipe's world landmarks (T, 17, 3) as they come, root-relative camera axes, the
    undetected frames filled like the pipeline's 2D (``smoothing.fill_gaps``)."""
    from posemoe_blender.smoothing import filters as smoothing
    world = np.concatenate([dets.world3d, dets.keypoints2d[..., 2:3]], axis=-1)
    return smoothing.fill_gaps(world, fps)[0][..., :3].astype(np.float64)


def mediapipe_raw_joints(dets, fps: float) -> np.ndarray:
    """:func:`mediapipe_world` placed on the per-frame root the pipeline estimates from the 2D
    (:func:`posemoe_blender.solving.root.estimate_root`, unsmoothed): the ``mediapipe_raw`` row."""
    from posemoe_blender.smoothing import filters as smoothing
    from posemoe_blender.solving.root import estimate_root
    kp2d = smoothing.fill_gaps(dets.keypoints2d, fps)[0]
    rel = mediapipe_world(dets, fps)
    return rel - rel[:, :1] + estimate_root(rel, kp2d, dets.width, dets.height)[:, None]


def lock_mask(animation) -> Optional[np.ndarray]:
    """(T, 2) bool foot locks (left, right) of a solved animation; None with the lock off."""
    mask = getattr(animation, "contacts", None)
    return None if mask is None else np.asarray(mask, bool).reshape(-1, 2)


def mean_joints(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-joint mean of two methods' joints, ``b`` moved onto ``a`` by one rigid transform for
    the whole clip first."""
    return 0.5 * (a + alignment.align_similarity(b, a, scale=False))


def run_video(video: SetVideo, variants: list[Variant], check_keyed: bool = False) -> dict:
    """Every variant on one video: ``{"methods": {name: metrics}, "tracks": {...}, ...}``.
    ``check_keyed``: also key the default variant's animation in Blender and report how far
    the keyed rig is from the scored joints (``keyed_rig_max_dev_mm``)."""
    from posemoe_blender.pipeline import process_clip

    gt = video.joints_world
    fps = video.fps
    contacts = metrics.truth_contacts(gt, fps)
    dets = cached_detections(video.path)
    if dets.num_frames != len(gt):
        raise PoseMoEError(f"{video.path}: {dets.num_frames} frames decoded, truth has {len(gt)}")
    t0 = time.perf_counter()
    methods, joints, tracks, info = {}, {}, {"truth": gt, "contacts": contacts}, {}
    keyed_dev = float("nan")
    with detections_from_cache():
        for v in variants:
            locks, floor = None, False
            if v.kind == "raw":
                j = mediapipe_raw_joints(dets, fps)
            elif v.kind == "mean":
                a, b = v.parts
                if a not in joints or b not in joints:
                    raise PoseMoEError(f"{v.name}: run {a} and {b} first")
                j = mean_joints(joints[a], joints[b])
                floor = True
            else:
                res = process_clip(video.path, v.options)
                info[v.name] = {"lifter": res.lifter}
                if v.kind == "lifted":
                    j = res.joints3d.astype(np.float64) + res.root[:, None].astype(np.float64)
                else:
                    j = res.animation.joints_world.astype(np.float64)
                    locks, floor = lock_mask(res.animation), True
                    if locks is not None:
                        tracks[v.name + "_locks"] = locks
                    tracks[v.name + "_armature"] = j
                    if check_keyed and v.is_default:
                        from posemoe_lab.evaluation.keyed import keyed_deviation_mm
                        keyed_dev = keyed_deviation_mm(res.animation)
            joints[v.name] = j
            methods[v.name] = metrics.score(j, gt, fps, contacts, floor_frame=floor, locks=locks)
            tracks[v.name] = alignment.align_world(j, gt)
    return {"video": video.name, "clip": video.clip, "view": video.view, "actor": video.actor,
            "frames": int(len(gt)), "fps": fps, "detected_frames": int(dets.detected.sum()),
            "truth_contact_frames": int(contacts.sum()),
            "truth_slide_cm_s": metrics.foot_slide_cm_s(gt, contacts, fps),
            "keyed_rig_max_dev_mm": keyed_dev, "seconds": time.perf_counter() - t0,
            "lifters": info, "methods": methods, "tracks": tracks}


def evaluate_set(set_dir: str, variants: list[Variant], limit: Optional[int] = None, actor: str = "",
                 check_keyed: bool = False, log: Optional[Callable[[str], None]] = None) -> tuple[dict, list[dict]]:
    """Every video of a set (only ``actor``'s when given); returns (manifest, rows with tracks)."""
    manifest, videos = load_set(set_dir, limit, actor)
    rows = []
    for i, video in enumerate(videos):
        row = run_video(video, variants, check_keyed=check_keyed)
        rows.append(row)
        if log:
            m = row["methods"]
            log(f"[{i + 1}/{len(videos)}] {video.name}: limbs PA-MPJPE/frame "
                + ", ".join(f"{k} {m[k]['limbs/pa_mpjpe_frame_mm']:.0f}" for k in m)
                + f" mm ({row['seconds']:.0f} s)")
    return manifest, rows
