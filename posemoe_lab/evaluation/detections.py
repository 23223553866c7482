"""BlazePose detections of a video, computed once and cached next to it.

``cached_detections(video) -> core.detection.Detections``: the pipeline's own detection
(:func:`posemoe_blender.detection.body.detect_video` with its person follower) over the whole
video, saved as ``<video>.det.npz`` beside it (``keypoints2d`` (T, 17, 3), ``world3d``
(T, 17, 3) MediaPipe world landmarks mapped to the 17 joints, root-relative, camera axes,
``detected`` (T,), ``frame_indices``, ``times``, ``fps``, ``width``, ``height``) with a key of the
video's size and modification time and the detector's settings: a stale or foreign cache is
recomputed. Only videos under the repository's ``.cache/`` (the rendered sets) get their cache
beside them; any other video (the shared footage, read-only; ``samples/`` and ``tests/data/``,
which git tracks) is cached under ``.cache/detections/``.
``python -m posemoe_lab.evaluation.detections SET_DIR...`` fills the caches of every
``*.mp4`` in the folders.

While the pipeline runs several variants of one video, :func:`detections_from_cache` (the disk
cache) or :func:`memoised_detections` (in memory, for one process) answer its
``core.detection.detect_video`` calls, so every variant costs lifting and solving only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import os
import sys

import numpy as np

from posemoe_blender.errors import PoseMoEError

#: Bump when the detector's settings or the joint mapping change (invalidates every cache).
DETECTOR_VERSION = "blazepose-0.10.21-complexity1-follower/1"


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(REPO, ".cache")


def cache_path(video: str) -> str:
    """``<video>.det.npz`` for a video under the repository's ``.cache/`` (the rendered sets);
    ``.cache/detections/<name>-<hash of its path>.det.npz`` for any other (the shared,
    read-only footage and the files git tracks are never written beside)."""
    video = os.path.abspath(os.fspath(video))
    if os.path.commonpath([video, CACHE]) == CACHE:
        return video + ".det.npz"
    digest = hashlib.sha1(video.encode()).hexdigest()[:10]
    return os.path.join(REPO, ".cache", "detections", f"{os.path.basename(video)}-{digest}.det.npz")


def _key(video: str) -> str:
    st = os.stat(video)
    return json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "detector": DETECTOR_VERSION})


def cached_detections(video: str):
    """The :class:`~posemoe_blender.detection.body.Detections` of a whole video (cached)."""
    from posemoe_blender.detection import body as detection
    from posemoe_blender.video.reader import open_video
    from posemoe_blender.joints import save_npz

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


def _window(dets, start: int, end):
    stop = dets.num_frames if end is None else min(end, dets.num_frames)
    sl = slice(start, stop)
    return dataclasses.replace(dets, keypoints2d=dets.keypoints2d[sl], world3d=dets.world3d[sl],
                               detected=dets.detected[sl], frame_indices=dets.frame_indices[sl],
                               times=None if dets.times is None else dets.times[sl])


@contextlib.contextmanager
def detections_from_cache():
    """Inside, ``core.detection.detect_video`` answers from :func:`cached_detections` (the
    requested frame range of the whole video's cached detections)."""
    from posemoe_blender.detection import body as detection
    original = detection.detect_video

    def cached(reader, start=0, end=None, *args, **kwargs):
        return _window(cached_detections(reader.path), int(start), end)

    detection.detect_video = cached
    try:
        yield
    finally:
        detection.detect_video = original


@contextlib.contextmanager
def memoised_detections(cache: dict | None = None):
    """Inside, ``core.detection.detect_video`` runs once per video and frame range and is
    answered from memory (``cache``) afterwards; nothing is written to disk."""
    from posemoe_blender.detection import body as detection
    original = detection.detect_video
    cache = {} if cache is None else cache

    def memo(reader, start=0, end=None, *args, **kwargs):
        k = (os.path.abspath(str(reader.path)), int(start), end)
        if k not in cache:
            cache[k] = original(reader, start, end, *args, **kwargs)
        return cache[k]

    detection.detect_video = memo
    try:
        yield cache
    finally:
        detection.detect_video = original


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
