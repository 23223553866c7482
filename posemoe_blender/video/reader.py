"""Streaming video reading with OpenCV (decode on a background thread).

:func:`open_video` checks that a path is a readable video and returns a :class:`VideoReader`
whose :meth:`VideoReader.frames` yields ``(index, rgb)`` pairs, ``rgb`` being an
``(H, W, 3)`` uint8 RGB image of the *upright* picture (the container's rotation metadata
already applied by OpenCV's auto-orientation). ``width``/``height`` are measured on the first
decoded frame, so they always match the frames that are yielded.

Decoding runs in a daemon thread feeding a small bounded queue, so decoding overlaps the
consumer's work (pose detection) while never holding more than a few frames in memory.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Iterator

import cv2
import numpy as np

from ..errors import PoseMoEError

#: Frame rate assumed when the container reports none or an implausible one.
DEFAULT_FPS = 30.0
#: Frames buffered between the decoder thread and the consumer.
QUEUE_SIZE = 8

# Still-image signatures: FFmpeg happily opens these as one-frame "videos".
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)

_END = object()


def _image_kind(path: str) -> str | None:
    with open(path, "rb") as fh:
        head = fh.read(16)
    for magic, kind in _IMAGE_MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return None


def _open_capture(path: str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        cap = cv2.VideoCapture(path)
    if cap.isOpened():
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # upright frames (OpenCV >= 4.5 default)
    return cap


class VideoReader:
    """An opened, checked video. Use :func:`open_video` to create one.

    Attributes:
        path: the file path (str).
        fps: frames per second (float); ``DEFAULT_FPS`` when the file gives none/implausible,
            in which case ``fps_guessed`` is True.
        frame_count: number of frames (int) as reported by the container (counted by decoding
            only when the container reports none). :meth:`frames` copes with files that
            hold fewer frames than announced.
        width, height: pixels of the upright image (after rotation), as yielded.
        rotation: 0, 90, 180 or 270, the container's rotation metadata (already applied).
        decode_seconds: time the decoder thread(s) spent decoding and converting frames
            (float, accumulated over every :meth:`frames` call; for timing reports).
        frames_decoded: frames decoded so far (int, same accounting).
        timestamps: ``{index: seconds}`` presentation time of every frame decoded so far (from
            the container; lets variable-frame-rate phone clips be put on a regular time base).
    """

    def __init__(self, path: str, fps: float, fps_guessed: bool, frame_count: int,
                 width: int, height: int, rotation: int):
        self.path = path
        self.fps = fps
        self.fps_guessed = fps_guessed
        self.frame_count = frame_count
        self.width = width
        self.height = height
        self.rotation = rotation
        self.decode_seconds = 0.0
        self.frames_decoded = 0
        self.timestamps: dict[int, float] = {}
        self._threads: list[tuple[threading.Thread, threading.Event]] = []

    def __repr__(self) -> str:
        return (f"VideoReader({self.path!r}, {self.width}x{self.height}, fps={self.fps:g}, "
                f"frames={self.frame_count}, rotation={self.rotation})")

    def frames(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, rgb)`` for frames ``start <= index < end`` (``end=None``: to the end).

        ``rgb`` is a fresh ``(height, width, 3)`` uint8 RGB array. Decoding happens on a
        background thread with a queue of ``QUEUE_SIZE`` frames; closing the generator early
        (``break``, ``close()``, an exception or KeyboardInterrupt in the consumer) stops
        the thread. Stops quietly if the file ends before ``end``.
        """
        start = max(0, int(start))
        if end is not None and int(end) <= start:
            return
        q: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        stop = threading.Event()
        thread = threading.Thread(target=self._decode, args=(start, end, q, stop),
                                  name="posemoe-video-decoder", daemon=True)
        self._threads.append((thread, stop))
        thread.start()
        try:
            while True:
                try:
                    item = q.get(timeout=0.1)  # short timeout keeps Ctrl-C responsive
                except queue.Empty:
                    if not thread.is_alive() and q.empty():
                        return
                    continue
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            # a decoder stuck on a lock we hold is a daemon thread: do not wait long for it
            thread.join(timeout=5.0 if self._drain(q) else 0.2)
            self._threads = [(t, s) for t, s in self._threads if t is not thread]

    @staticmethod
    def _drain(q: queue.Queue) -> bool:
        """Drop buffered frames (frees memory, unblocks the decoder) without ever blocking.

        A KeyboardInterrupt can land inside ``Queue.get`` after it took the queue's lock and
        before the ``with`` that would release it (CPython issue 29988), leaving the lock held by
        this very thread; a blocking ``get_nowait`` here would then deadlock the Ctrl-C path.
        """
        for _ in range(20):
            if q.mutex.acquire(blocking=False):
                break
            time.sleep(0.005)  # the decoder may hold it for a moment
        else:
            return False  # still held: by us after such an interrupt
        try:
            q.queue.clear()
            q.not_full.notify_all()
        finally:
            q.mutex.release()
        return True

    def _decode(self, start: int, end: int | None, q: queue.Queue, stop: threading.Event) -> None:
        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        cap = _open_capture(self.path)
        try:
            if not cap.isOpened():
                put(PoseMoEError(f"{self.path}: cannot be opened any more"))
                return
            index = 0
            if start > 0:
                if cap.set(cv2.CAP_PROP_POS_FRAMES, start) and \
                        int(round(cap.get(cv2.CAP_PROP_POS_FRAMES))) == start:
                    index = start
                while index < start and not stop.is_set():  # fallback: skip by grabbing
                    if not cap.grab():
                        put(_END)
                        return
                    index += 1
            while not stop.is_set() and (end is None or index < end):
                t0 = time.perf_counter()
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    break
                if bgr.ndim == 2:
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
                else:
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                self.decode_seconds += time.perf_counter() - t0
                self.frames_decoded += 1
                msec = cap.get(cv2.CAP_PROP_POS_MSEC)
                self.timestamps[index] = msec / 1000.0 if np.isfinite(msec) else float("nan")
                if not put((index, rgb)):
                    return
                index += 1
            put(_END)
        except Exception as exc:  # surface decoder failures to the consumer
            put(PoseMoEError(f"{self.path}: decoding failed ({exc})"))
        finally:
            cap.release()

    def close(self) -> None:
        """Stop any decoder thread still running (generators not exhausted)."""
        for thread, stop in self._threads:
            stop.set()
        for thread, _ in self._threads:
            thread.join(timeout=5.0)
        self._threads = []

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_video(path: str | os.PathLike) -> VideoReader:
    """Open and check a video file; return a :class:`VideoReader`.

    Decodes the first frame to prove the file is readable and to measure the upright size.
    Raises :class:`PoseMoEError` (one line naming the file) when the path is missing, a
    directory, empty, a still image, or not a decodable video.
    """
    path = os.fspath(path)
    name = path
    if not os.path.exists(path):
        raise PoseMoEError(f"{name}: no such file")
    if os.path.isdir(path):
        raise PoseMoEError(f"{name}: is a directory, not a video file")
    try:
        size = os.path.getsize(path)
        kind = _image_kind(path)
    except OSError as exc:
        raise PoseMoEError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise PoseMoEError(f"{name}: empty file, not a video")
    if kind:
        raise PoseMoEError(f"{name}: is a {kind} image, not a video")

    cap = _open_capture(path)
    try:
        if not cap.isOpened():
            raise PoseMoEError(f"{name}: not a readable video (unknown format or corrupt file)")
        ok, bgr = cap.read()
        if not ok or bgr is None or bgr.size == 0:
            raise PoseMoEError(f"{name}: not a readable video (no frames could be decoded)")
        height, width = bgr.shape[:2]

        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        fps_guessed = not (np.isfinite(fps) and 1.0 <= fps <= 1000.0)
        if fps_guessed:
            fps = DEFAULT_FPS

        rotation = int(round(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0)) % 360
        if rotation not in (0, 90, 180, 270):
            rotation = 0

        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        if np.isfinite(count) and 0 < count < 1e8:
            frame_count = int(round(count))
        else:  # container gives no count: count by grabbing (rare, slower)
            frame_count = 1
            while cap.grab():
                frame_count += 1
    finally:
        cap.release()
    return VideoReader(path, fps, fps_guessed, frame_count, int(width), int(height), rotation)
