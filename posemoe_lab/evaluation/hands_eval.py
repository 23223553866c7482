"""Hands on real footage (issue #15): found rate per clip and side, cost per frame, and
wrong-person hands on the two-people clips.

    .venv/bin/python -m posemoe_lab.evaluation.hands_eval [FOLDER ...] [--end N] [--json OUT]
        [--settings current|before|both] [--bench VIDEO ...]

``--settings before``: the hands' settings before the palm-search back-off (looks at up to
30 Hz, skipped frames only interpolated, no back-off, the two sides one after the other); ``both``: each clip with the previous
and the current settings, one after the other in the same run (comparable timings).
``--bench VIDEO ...``: instead of the found rates, the hands' share of ``bench`` (the whole
convert) on each video with the chosen settings.

Each clip goes through ``core.detection.detect_video(..., hands=True)``, the pass ``convert``
makes (BlazePose following one person, MediaPipe Hands in crops at that person's wrists). A
hand-frame is a frame and side where the followed person was detected.

Wrong-person check (clips whose name starts with ``two_people``): in every frame the followed
person is masked out (their box, 1.2 x) and a static BlazePose looks for somebody else; a hand
kept for the followed person counts as wrong when its wrist landmark is nearer to the other
person's wrist than to the followed person's own wrist of that side.
"""

from __future__ import annotations

from posemoe_lab import REPO_ROOT

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = REPO_ROOT

from posemoe_blender.detection import body as detection, hands  # noqa: E402
from posemoe_blender.video.reader import open_video  # noqa: E402
from posemoe_blender.joints import JOINT_INDEX as J  # noqa: E402
from posemoe_blender.quiet import native_output_silenced  # noqa: E402


def _other_people(video: str, dets, end) -> np.ndarray:
    """(T, 2, 3) the wrists ([left, right]: pixels + confidence) of somebody other than the
    followed person, zeros where nobody else was found."""
    out = np.zeros((dets.num_frames, 2, 3))
    with open_video(video) as reader, detection.PoseDetector(static_image_mode=True) as det:
        for index, rgb in reader.frames(0, end):
            t = index
            if t >= dets.num_frames:
                break
            if dets.detected[t]:
                box = detection.person_box(dets.keypoints2d[t])
                x0, y0, x1, y1 = detection._crop_region(box, reader.width, reader.height, 1.2)
                rgb = rgb.copy()
                rgb[y0:y1, x0:x1] = np.uint8(rgb.mean())
            found = det.detect(rgb)
            if found is not None:
                out[t] = found[0][[J["LWrist"], J["RWrist"]]]
    return out


#: The settings compared: the current defaults and those before the palm-search back-off.
SETTINGS = {
    "current": {"HAND_RATE_HZ": hands.HAND_RATE_HZ, "HOLD_FILL": hands.HOLD_FILL,
                "BACKOFF_AFTER_S": hands.BACKOFF_AFTER_S, "BACKOFF_RATE_HZ": hands.BACKOFF_RATE_HZ,
                "PARALLEL_SIDES": hands.PARALLEL_SIDES},
    "before": {"HAND_RATE_HZ": 30.0, "HOLD_FILL": False, "BACKOFF_AFTER_S": float("inf"),
               "BACKOFF_RATE_HZ": hands.BACKOFF_RATE_HZ, "PARALLEL_SIDES": False},
}


def use_settings(name: str) -> None:
    for key, value in SETTINGS[name].items():
        setattr(hands, key, value)


def bench_share(video: str) -> dict:
    from posemoe_lab.evaluation import bench
    with native_output_silenced():
        r = bench.run_bench(video)
    st = {s["stage"]: s["seconds"] for s in r["stages"]}
    return {"video": os.path.basename(video), "fps": r["fps"], "frames": r["frames"],
            "hands_s": r["hands"]["seconds"], "convert_s": r["convert"]["seconds"],
            "share": r["hands"]["share"], "detect_s": st.get("detect", 0.0), "load": r["load_average"][0]}


def evaluate(video: str, end=None) -> dict:
    timings: dict = {}
    with native_output_silenced():
        detection.PoseDetector().close()  # warm-up outside the timing
        t0 = time.perf_counter()
        with open_video(video) as reader:
            dets = detection.detect_video(reader, end=end, hands=True, timings=timings)
        wall = time.perf_counter() - t0
    T = dets.num_frames
    found = dets.hands2d[..., 0, 2] > 0                      # (T, 2)
    person = dets.detected
    row = {"clip": os.path.basename(video), "frames": T, "person_frames": int(person.sum()),
           "found_left": float(found[person, 0].mean()), "found_right": float(found[person, 1].mean()),
           "found": float(found[person].mean()),
           "hands_ms_per_frame": 1000 * timings.get("hands", 0.0) / T,
           "blazepose_ms_per_frame": 1000 * timings.get("detect", 0.0) / T,
           "hands_setup_s": timings.get("hands_setup", 0.0), "pass_s": wall,
           "looks": int(sum(dets.hand_looks["looks"])), "searches": int(sum(dets.hand_looks["searches"]))}
    if os.path.basename(video).startswith("two_people"):
        with native_output_silenced():
            other = _other_people(video, dets, end)
        wrong = seen_other = 0
        for s, side in enumerate("LR"):
            own = dets.keypoints2d[:, J[side + "Wrist"], :2]
            for t in np.flatnonzero(found[:, s]):
                w = dets.hands2d[t, s, 0, :2]
                cand = other[t][other[t, :, 2] >= 0.3]
                if len(cand) == 0:
                    continue
                seen_other += 1
                if np.min(np.linalg.norm(cand[:, :2] - w, axis=-1)) < np.linalg.norm(own[t] - w):
                    wrong += 1
        row.update(other_person_frames=int((other[..., 2].max(axis=1) >= 0.3).sum()),
                   hand_frames_with_other_person=seen_other, wrong_person_hands=wrong)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="*", default=[str(REPO.parent / "shared" / "data" / "videos")])
    ap.add_argument("--end", type=int, default=None, help="frames per clip (default: all)")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--settings", choices=("current", "before", "both"), default="current",
                    help="the hands' settings: the current defaults, those before the palm-search "
                         "back-off, or both one after the other (default: current)")
    ap.add_argument("--bench", nargs="+", metavar="VIDEO", help="the hands' share of bench on these videos instead")
    args = ap.parse_args()
    names = ["before", "current"] if args.settings == "both" else [args.settings]
    rows = []
    if args.bench:
        for video in args.bench:
            for name in names:
                use_settings(name)
                r = dict(bench_share(video), settings=name)
                rows.append(r)
                print(f"{r['video']:<24} {r['fps']:4.0f} fps {r['frames']:>4} frames  {name:<8} hands "
                      f"{r['hands_s']:5.2f} s of {r['convert_s']:5.2f} s = {100 * r['share']:4.1f}% "
                      f"(BlazePose {r['detect_s']:.2f} s, load {r['load']:.1f})", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2))
        return 0
    clips = sorted(str(p) for folder in args.folders for p in Path(folder).glob("*.mp4"))
    if not clips:
        print(f"error: {' '.join(args.folders)}: no .mp4 files", file=sys.stderr)
        return 1
    for clip in clips:
        for name in names:
            use_settings(name)
            rows.append(dict(evaluate(clip, args.end), settings=name, folder=str(Path(clip).parent)))
            r = rows[-1]
            print(f"{r['clip']:<24} {r['frames']:>4} frames {name:<8} found L {100 * r['found_left']:5.1f}%  "
                  f"R {100 * r['found_right']:5.1f}%  hands {r['hands_ms_per_frame']:5.1f} ms/frame  "
                  f"BlazePose {r['blazepose_ms_per_frame']:5.1f} ms/frame  searches {r['searches']}/{r['looks']}"
                  + (f"  wrong-person hands {r['wrong_person_hands']}/{r['hand_frames_with_other_person']}"
                     if "wrong_person_hands" in r else ""), flush=True)
    for folder in args.folders:
        for name in names:
            sel = [r for r in rows if r["settings"] == name and Path(r["folder"]) == Path(folder)]
            if not sel:
                continue
            person = sum(r["person_frames"] for r in sel)
            total = sum(r["found"] * r["person_frames"] for r in sel) / max(person, 1)
            wrong = [(r["wrong_person_hands"], r["hand_frames_with_other_person"]) for r in sel if "wrong_person_hands" in r]
            print(f"{folder} {name}: hands found in {100 * total:.1f}% of {2 * person} hand-frames; "
                  f"hands {np.mean([r['hands_ms_per_frame'] for r in sel]):.1f} ms/frame, "
                  f"BlazePose {np.mean([r['blazepose_ms_per_frame'] for r in sel]):.1f} ms/frame; "
                  f"MediaPipe ran at {sum(r['searches'] for r in sel)} of {sum(r['looks'] for r in sel)} looks"
                  + (f"; wrong-person hands {sum(w for w, _ in wrong)} of {sum(n for _, n in wrong)}" if wrong else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
