"""``python -m posemoe_lab bench CLIP``: where the time of a conversion goes.

One run does three passes over the same frames of the clip:

1. **decode alone**: the streaming reader, frames thrown away;
2. **decode+detect alone**: :func:`~posemoe_blender.detection.body.detect_video`, nothing else;
3. **whole convert**: :func:`~posemoe_blender.convert.convert_clip` writing an FBX into a
   temporary folder (deleted afterwards), its stages timed by the pipeline's own
   instrumentation (``ClipResult.timings`` / ``convert_clip()["timings"]``), not re-implemented.

Per stage it reports seconds, frames per second (frames of the clip / stage seconds) and the
share of the whole convert's wall time; then decode+detect-alone vs whole-convert throughput
(the goal is convert >= 0.8 x decode+detect) and the process's peak resident memory. The
whole convert also writes ``--preview`` (:mod:`~posemoe_blender.output.preview`); that stage is
reported on its own (``preview``: seconds, frames/s, cost relative to the convert) and left out
of the convert's time, so the throughput figures mean what they meant before.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from typing import Optional

from posemoe_blender.options import DEFAULT_LIFTER, ConvertOptions

#: Stages of the whole convert in pipeline order: (timings key, label).
STAGES = (
    ("lift_setup", "load lifter weights"),
    ("decode", "decode (reader thread, overlaps detect)"),
    ("detect_setup", "BlazePose start-up"),
    ("decode_wait", "waiting for decoded frames"),
    ("detect", "detect (BlazePose + person following)"),
    ("hands_setup", "MediaPipe Hands start-up"),
    ("hands", "hands (MediaPipe Hands at the wrists)"),
    ("hands_solve", "hands smoothing + finger flexion"),
    ("lift", "lift (2D -> 3D)"),
    ("smooth", "smooth (gaps, filter, root)"),
    ("foot_lock", "foot locking (contacts, pinned feet)"),
    ("solve", "solve (placement, root trajectory, bone rotations)"),
    ("blender_import", "import bpy (once per process)"),
    ("keyframes", "keyframe writing (rig + Action)"),
    ("export", "FBX export"),
)
#: Stages that run one after another on the main thread (their shares add up to ~100%).
SERIAL = ("lift_setup", "detect_setup", "decode_wait", "detect", "hands_setup", "hands", "hands_solve", "lift", "smooth", "foot_lock", "solve",
          "blender_import", "keyframes", "export")
#: One-off costs per clip or per process (no frames/s).
ONCE = ("lift_setup", "detect_setup", "hands_setup", "blender_import")
#: The hands' stages (their share of the convert: target <= HANDS_TARGET, issue #15).
HANDS = ("hands_setup", "hands", "hands_solve")
HANDS_TARGET = 0.30
#: Target of issue #6: whole-convert throughput >= this x decode+detect-alone throughput.
TARGET_RATIO = 0.8


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2 ** 20


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_bench(video: str, device: str = "auto", start: int = 0, end: Optional[int] = None,
              lifter: str = DEFAULT_LIFTER, weights: Optional[str] = None, flip: bool = ConvertOptions.flip,
              landmark_correction: bool = ConvertOptions.landmark_correction,
              hands: bool = ConvertOptions.hands) -> dict:
    """Benchmark ``video`` (frames ``[start, end)``) converted with ``lifter`` (``weights``:
    its weights file, default the shipped one); returns the report dict (see module doc)."""
    from posemoe_blender.convert import Outputs, convert_clip
    from posemoe_blender.detection import body as detection
    from posemoe_blender.detection.clip import check_range as _check_range
    from posemoe_blender.options import ConvertOptions, check_lifter
    from posemoe_blender.video.reader import open_video
    from posemoe_blender.quiet import native_output_silenced

    from posemoe_blender.lifting import stage as lifting
    check_lifter(lifter)  # fail now, not after the first passes
    resolved = str(lifting.resolve_device(device))
    report: dict = {"video": os.path.abspath(video), "device": resolved, "cpu": cpu_model(),
                    "cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
                    "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    with open_video(video) as reader:
        start, stop = _check_range(start, end, reader.frame_count, video)
        report.update(width=reader.width, height=reader.height, fps=reader.fps)
        t0 = time.perf_counter()
        n_decoded = sum(1 for _ in reader.frames(start, stop))
        decode_s = time.perf_counter() - t0
    with native_output_silenced():  # warm-up: import MediaPipe once, outside every timing
        detection.PoseDetector().close()
    with open_video(video) as reader, native_output_silenced():
        t0 = time.perf_counter()
        dets = detection.detect_video(reader, start=start, end=stop)
        dd_s = time.perf_counter() - t0
    frames = dets.num_frames
    report["frames"] = frames
    report["decode_alone"] = {"seconds": decode_s, "fps": n_decoded / decode_s if decode_s else 0.0}
    report["decode_detect_alone"] = {"seconds": dd_s, "fps": frames / dd_s if dd_s else 0.0}

    folder = tempfile.mkdtemp(prefix="posemoe-bench-")
    try:
        options = ConvertOptions(device=device, start=start, end=stop, lifter=lifter, weights=weights,
                                 flip=flip, landmark_correction=landmark_correction, hands=hands)
        with native_output_silenced():
            info = convert_clip(video, Outputs(fbx=os.path.join(folder, "bench.fbx"), overwrite=True,
                                               preview=os.path.join(folder, "bench.mp4")),
                                options)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    timings = info["timings"]
    preview_s = float(timings.get("preview", 0.0))
    total = info["seconds"] - preview_s  # the convert without the preview
    stages = []
    for key, label in STAGES:
        seconds = float(timings.get(key, 0.0))
        stages.append({"stage": key, "label": label, "seconds": seconds,
                       "fps": frames / seconds if seconds > 0 and key not in ONCE else None,
                       "share": seconds / total if total > 0 else 0.0})
    serial = sum(float(timings.get(k, 0.0)) for k in SERIAL)
    stages.append({"stage": "other", "label": "other (opening, checks, renames)",
                   "seconds": max(0.0, total - serial), "fps": None,
                   "share": max(0.0, total - serial) / total if total > 0 else 0.0})
    convert_fps = frames / total if total > 0 else 0.0
    dd_fps = report["decode_detect_alone"]["fps"]
    report.update(
        lifter=info["lifter"], stages=stages,
        convert={"seconds": total, "fps": convert_fps},
        ratio=convert_fps / dd_fps if dd_fps > 0 else 0.0, target_ratio=TARGET_RATIO,
        peak_rss_mb=peak_rss_mb())
    report["meets_target"] = report["ratio"] >= TARGET_RATIO
    hands_s = sum(float(timings.get(k, 0.0)) for k in HANDS)
    report["hands"] = {"on": bool(hands), "seconds": hands_s, "share": hands_s / total if total > 0 else 0.0,
                       "target_share": HANDS_TARGET}
    report["preview"] = {"seconds": preview_s, "fps": frames / preview_s if preview_s > 0 else 0.0,
                         "share_of_convert": preview_s / total if total > 0 else 0.0}
    return report


def format_report(r: dict) -> str:
    """The human-readable table ``bench`` prints."""
    lines = [f"{os.path.basename(r['video'])}: {r['frames']} frames, {r['width']}x{r['height']} at "
             f"{r['fps']:.3g} fps; device {r['device']}; lifter: {r['lifter']}",
             f"machine: {r['cpu']} ({r['cpus']} CPUs), load average {r['load_average'][0]:.2f} "
             f"at start; {r['date']}", "",
             f"{'stage':<42} {'seconds':>8} {'frames/s':>9} {'share':>6}",
             f"{'-' * 42} {'-' * 8} {'-' * 9} {'-' * 6}"]
    for s in r["stages"]:
        fps = f"{s['fps']:9.1f}" if s["fps"] else f"{'-':>9}"
        lines.append(f"{s['label']:<42} {s['seconds']:8.2f} {fps} {100 * s['share']:5.1f}%")
    lines += [f"{'whole convert':<42} {r['convert']['seconds']:8.2f} {r['convert']['fps']:9.1f} 100.0%", "",
              f"decode alone:        {r['decode_alone']['fps']:7.1f} frames/s",
              f"decode+detect alone: {r['decode_detect_alone']['fps']:7.1f} frames/s",
              f"whole convert:       {r['convert']['fps']:7.1f} frames/s = {r['ratio']:.2f} x decode+detect "
              f"(target >= {r['target_ratio']:.1f}: {'met' if r['meets_target'] else 'NOT met'})",
              f"peak memory (RSS):   {r['peak_rss_mb']:7.0f} MiB"]
    h = r.get("hands")
    if h and h.get("on"):
        lines.append(f"hands:               {h['seconds']:7.2f} s = {100 * h['share']:.0f}% of the convert "
                     f"(target <= {100 * h['target_share']:.0f}%: "
                     f"{'met' if h['share'] <= h['target_share'] else 'NOT met'})")
    if r.get("preview"):
        p = r["preview"]
        lines.append(f"--preview video:     {p['fps']:7.1f} frames/s ({p['seconds']:.2f} s, "
                     f"+{100 * p['share_of_convert']:.0f}% on top of the convert)")
    return "\n".join(lines)


def main(args) -> int:
    """The ``bench`` subcommand (``args`` from :mod:`posemoe_blender.cli`)."""
    report = run_bench(args.video, device=args.device, start=args.start, end=args.end,
                       lifter=getattr(args, "lifter", DEFAULT_LIFTER), weights=getattr(args, "weights", None),
                       flip=getattr(args, "flip", ConvertOptions.flip),
                       landmark_correction=getattr(args, "landmark_correction", ConvertOptions.landmark_correction),
                       hands=getattr(args, "hands", ConvertOptions.hands))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0
