"""Collect BlazePose's real outputs on rendered videos with their true joints into one file for
``train --real-pairs`` (``posemoe_lab.training.dataset.RealPairs``).

Usage::

    .venv/bin/python -m posemoe_lab.experiments.make_real_pairs .cache/render_train [.cache/render_calib ...] \
        --out .cache/real_pairs.npz [--no-landmark-correction]

Per video: the cached detections (``posemoe_lab.evaluation.detections``), gaps filled as the
pipeline fills them (``core.smoothing.fill_gaps``; MediaPipe's landmarks of undetected frames
likewise), the 2D moved by the landmark correction unless ``--no-landmark-correction`` (as the
pipeline does before lifting), normalised, next to MediaPipe's world landmarks, and the true
root-relative joints in camera axes.
"""

from __future__ import annotations

from posemoe_lab import REPO_ROOT

import argparse
import glob
import os
import sys

import numpy as np

REPO = str(REPO_ROOT)

from posemoe_blender.detection import landmarks  # noqa: E402
from posemoe_blender.smoothing import filters as smoothing
from posemoe_blender.lifting.stage import detected_world  # noqa: E402
from posemoe_blender.errors import PoseMoEError  # noqa: E402
from posemoe_lab.evaluation.detections import cached_detections  # noqa: E402
from posemoe_blender.lifting.windows import network_inputs  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--no-landmark-correction", action="store_true")
    args = ap.parse_args(argv)
    inputs, targets, lens, names = [], [], [], []
    for folder in args.sets:
        for truth_path in sorted(glob.glob(os.path.join(folder, "*_truth.npz"))):
            video = truth_path[: -len("_truth.npz")] + ".mp4"
            if not os.path.isfile(video):
                continue
            try:
                dets = cached_detections(video)
            except PoseMoEError as exc:  # nobody found in the whole video: nothing to learn from
                print(f"skipped {exc}", file=sys.stderr)
                continue
            truth = np.load(truth_path)["joints3d"].astype(np.float32)
            n = min(len(truth), dets.num_frames)
            kp, _ = smoothing.fill_gaps(dets.keypoints2d, dets.fps)
            if not args.no_landmark_correction:
                kp = landmarks.to_training_convention(kp)
            world = detected_world(dets, dets.fps, 0.5)
            x = network_inputs(kp[:n], dets.width, dets.height, world[:n], {"hint3d": True})
            inputs.append(x)
            targets.append(truth[:n] - truth[:n, :1])
            lens.append(n)
            names.append(os.path.relpath(video, REPO))
    if not inputs:
        raise SystemExit("error: no rendered videos with truth")
    lens = np.array(lens, np.int64)
    np.savez(args.out, inputs=np.concatenate(inputs).astype(np.float32),
             target=np.concatenate(targets).astype(np.float32),
             video_start=np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64), video_len=lens,
             videos=np.array(names), landmark_correction=not args.no_landmark_correction)
    print(f"{args.out}: {len(lens)} videos, {int(lens.sum())} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
