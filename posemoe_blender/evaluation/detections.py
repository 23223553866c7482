"""BlazePose detections of a video, computed once and cached next to it.

``cached_detections(video) -> core.detection.Detections``: the pipeline's own detection
(:func:`posemoe_blender.core.detection.detect_video` with its person follower) over the whole
video, saved as ``<video>.det.npz`` beside it (``keypoints2d`` (T, 17, 3), ``world3d``
(T, 17, 3) MediaPipe world landmarks mapped to the 17 joints, root-relative, camera axes,
``detected`` (T,), ``frame_indices``, ``times``, ``fps``, ``width``, ``height``) with a key of the
video's size and modification time and the detector's settings: a stale or foreign cache is
recomputed. Videos outside the repository (the shared footage, read-only) are cached under
``.cache/detections/`` instead. ``python -m posemoe_blender.evaluation.detections SET_DIR...`` fills the caches
of every ``*.mp4`` in the folders.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys

import numpy as np

from ..errors import PoseMoEError

#: Bump when the detector's settings or the joint mapping change (invalidates every cache).
DETECTOR_VERSION = "blazepose-0.10.21-complexity1-follower/1"


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cache_path(video: str) -> str:
    """``<video>.det.npz`` for a video inside the repository (rendered sets under ``.cache``);
    ``.cache/detections/<name>-<hash of its path>.det.npz`` for one elsewhere (the shared,
    read-only footage is never written to)."""
    video = os.path.abspath(os.fspath(video))
    if os.path.commonpath([video, REPO]) == REPO:
        return video + ".det.npz"
    digest = hashlib.sha1(video.encode()).hexdigest()[:10]
    return os.path.join(REPO, ".cache", "detections", f"{os.path.basename(video)}-{digest}.det.npz")


def _key(video: str) -> str:
    st = os.stat(video)
    return json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "detector": DETECTOR_VERSION})


def cached_detections(video: str):
    """The :class:`~posemoe_blender.core.detection.Detections` of a whole video (cached)."""
    from ..core import detection
    from ..core.video import open_video
    from ..joints import save_npz

    video = os.fspath(video)
    path = cache_path(video)
    key = _key(video)
    if os.path.isfile(path):
        d = np.load(path, allow_pickle=False)
        if "key" in d.files and str(d["key"]) == key:
            return detection.Detections(
                keypoints2d=d["keypoints2d"], world3d=d["world3d"], detected=d["detected"].astype(bool),
                fps=float(d["fps"]), width=int(d["width"]), height=int(d["height"]),
                frame_indices=d["frame_indices"], followed=json.loads(str(d["followed"])),
                times=d["times"])
    with open_video(video) as reader:
        dets = detection.detect_video(reader)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_npz(path, keypoints2d=dets.keypoints2d, world3d=dets.world3d, detected=dets.detected,
             fps=np.float64(dets.fps), width=np.int64(dets.width), height=np.int64(dets.height),
             frame_indices=dets.frame_indices, times=dets.times, key=np.array(key),
             followed=np.array(json.dumps(dets.followed, default=str)))
    return dets


def main(argv=None) -> int:
    folders = sys.argv[1:] if argv is None else argv
    for folder in folders:
        for video in sorted(glob.glob(os.path.join(folder, "*.mp4"))):
            try:
                dets = cached_detections(video)
            except PoseMoEError as exc:
                print(f"{video}: {exc}", flush=True)
                continue
            print(f"{video}: {int(dets.detected.sum())}/{dets.num_frames} frames detected", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
