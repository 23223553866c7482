"""Where the finger angles come from (issue #15 experiment): the same ``finger_flexion`` /
``solve_hands`` on three 3D sources of a detected hand.

* **A** (the default): MediaPipe's hand *world* landmarks (``hands3d``, metres).
* **B**: MediaPipe's *image* landmarks as an isotropic 3D: ``(x * w, y * h, z * w)`` pixels of
  the crop (``z`` is relative depth at about the scale of ``x``, MediaPipe's docs), wrist-relative.
* **C1** (hybrid): x, y from the image landmarks (``hands2d`` pixels), depth from the world
  landmarks' z in pixels (``s`` = pixels per metre, the least-squares weak-perspective scale of
  the palm's world x, y onto its pixels: wrist, thumb CMC and the four knuckles).
* **C2** (bone lengths): x, y from the image landmarks; along each finger chain, each segment's
  depth step ``|dz| = sqrt(max((s L)^2 - l^2, 0))`` so its 3D length is the world segment's
  length ``L`` (``l``: its pixel length), the sign from the world landmarks' dz (C2w) or from
  the image landmarks' dz (C2i).

Protocol: the 45-degree clips decide, the front clips report. Real footage (no truth): the
fraction of PIP/DIP joints read hyperextended (> 5 degrees backwards, unclipped) on the looked
and found hand-frames of the six clips of ``shared/data/videos``.

    .venv/bin/python -m posemoe_lab.evaluation.hands_finger_sources renders [--dir .cache/render_hands]
    .venv/bin/python -m posemoe_lab.evaluation.hands_finger_sources real [--videos /work/shared/data/videos]
"""

from __future__ import annotations

from posemoe_lab import REPO_ROOT

import argparse
import glob
import json
import os
import sys
import time

import numpy as np

REPO = str(REPO_ROOT)

from posemoe_blender.detection import hands as H  # noqa: E402
from posemoe_blender.solving import fingers as F  # noqa: E402

PALM = (0, 1, 5, 9, 13, 17)
#: parent of each landmark in MediaPipe's hand tree (the wrist: itself)
PARENT = np.array([0, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19])
VARIANTS = ("A", "B", "C1", "C2w", "C2i")


def _scale(px: np.ndarray, w3: np.ndarray) -> np.ndarray:
    """(...,) pixels per metre: least squares of the palm's world x, y (centred) onto its pixels."""
    p = px[..., PALM, :2] - px[..., PALM, :2].mean(axis=-2, keepdims=True)
    q = w3[..., PALM, :2] - w3[..., PALM, :2].mean(axis=-2, keepdims=True)
    return np.sum(p * q, axis=(-1, -2)) / np.maximum(np.sum(q * q, axis=(-1, -2)), 1e-12)


def hybrid(h2: np.ndarray, h3: np.ndarray) -> np.ndarray:
    """C1: (..., 21, 3) pixels: x, y of ``h2`` (wrist-relative), z of ``h3`` times the scale."""
    s = _scale(h2, h3)
    out = np.zeros(h3.shape)
    out[..., :2] = h2[..., :2] - h2[..., :1, :2]
    out[..., 2] = h3[..., 2] * s[..., None]
    return np.where((h2[..., :1, 2:3] > 0), out, 0.0)


def bone_depth(h2: np.ndarray, h3: np.ndarray, sign_from: np.ndarray | None = None) -> np.ndarray:
    """C2: (..., 21, 3) pixels: x, y of ``h2``; each segment's depth step makes its length the
    world segment's (scaled), signed like ``sign_from``'s dz (default ``h3``)."""
    s = _scale(h2, h3)[..., None]
    sign_from = h3 if sign_from is None else sign_from
    out = np.zeros(h3.shape)
    out[..., :2] = h2[..., :2] - h2[..., :1, :2]
    for k in range(1, 21):
        p = PARENT[k]
        L = np.linalg.norm(h3[..., k, :] - h3[..., p, :], axis=-1) * s[..., 0]
        l = np.linalg.norm(out[..., k, :2] - out[..., p, :2], axis=-1)
        dz = np.sqrt(np.maximum(L * L - l * l, 0.0))
        sg = np.where(sign_from[..., k, 2] - sign_from[..., p, 2] < 0, -1.0, 1.0)
        out[..., k, 2] = out[..., p, 2] + sg * dz
    return np.where((h2[..., :1, 2:3] > 0), out, 0.0)


def variant(name: str, h2: np.ndarray, h3w: np.ndarray, h3i: np.ndarray) -> np.ndarray:
    h2, h3w, h3i = (np.asarray(a, np.float64) for a in (h2, h3w, h3i))
    return {"A": lambda: h3w, "B": lambda: h3i, "C1": lambda: hybrid(h2, h3w),
            "C2w": lambda: bone_depth(h2, h3w), "C2i": lambda: bone_depth(h2, h3w, h3i)}[name]()


_IMAGE = {"on": False}
_orig_detect = H._SideDetector.detect


def _detect(self, crop, offset):
    """``_SideDetector.detect`` that, with ``_IMAGE['on']``, returns the image landmarks as an
    isotropic wrist-relative 3D (crop pixels) in place of the world landmarks (variant B)."""
    out = _orig_detect(self, crop, offset)
    if out is None or not _IMAGE["on"]:
        return out
    px, wl, label = out
    res = self._last
    h, w = crop.shape[:2]
    im = np.array([[p.x * w, p.y * h, p.z * w] for p in res.multi_hand_landmarks[0].landmark])
    return px, im - im[0], label


def _patch():
    H._SideDetector.detect = _detect
    orig_init = H._SideDetector.__init__

    def init(self, *a, **k):
        orig_init(self, *a, **k)
        inner = self._hands

        class Wrap:
            def __init__(s2):
                s2.inner = inner

            def process(s2, img):
                self._last = inner.process(img)
                return self._last

            def close(s2):
                inner.close()
        self._hands = Wrap()
    H._SideDetector.__init__ = init


CAPTURED: dict = {}


def _capture_solve():
    orig = F.solve_hands

    def solve(hands2d, hands3d, fps, cutoff_hz=0.0, frames=None):
        CAPTURED.update(h2=None if hands2d is None else np.array(hands2d), h3=None if hands3d is None else np.array(hands3d),
                        fps=fps, cutoff=cutoff_hz, frames=frames)
        return orig(hands2d, hands3d, fps, cutoff_hz=cutoff_hz, frames=frames)
    F.solve_hands = solve
    return orig


def renders(args) -> dict:
    from posemoe_lab.evaluation import hands_render_eval as E
    from posemoe_blender.pipeline import process_clip
    from posemoe_blender.options import ConvertOptions

    _patch()
    solve = _capture_solve()
    with open(os.path.join(args.dir, "manifest.json")) as fh:
        meta = {c["clip"]: c for c in json.load(fh)["clips"]}
    scores = {v: {} for v in VARIANTS}
    for name, m in meta.items():
        with np.load(os.path.join(args.dir, name + "_truth.npz")) as d:
            truth = {k: d[k] for k in d.files}
        runs = {}
        for mode in ("world", "image"):
            _IMAGE["on"] = mode == "image"
            t0 = time.perf_counter()
            process_clip(os.path.join(args.dir, name + ".mp4"), ConvertOptions())
            runs[mode] = dict(CAPTURED)
            print(f"{name} {mode}: {time.perf_counter() - t0:.0f} s", flush=True)
        _IMAGE["on"] = False
        w, i = runs["world"], runs["image"]
        same = np.abs(w["h2"] - i["h2"]).max()
        for v in VARIANTS:
            h3 = variant(v, w["h2"], w["h3"], i["h3"])
            res = solve(w["h2"], h3, w["fps"], cutoff_hz=w["cutoff"], frames=w["frames"])
            E.LAST_BASES.clear()
            E.LAST_BASES.update(flexion=np.asarray(res.base_flexion), spread=np.asarray(res.spread))
            scores[v][name] = E.score(truth, res.fingers, res.hands2d, None)
        print(name, "h2 world vs image run max diff", f"{same:.2f} px",
              {v: round(E.summarise([scores[v][name]])["error_deg"], 1) for v in VARIANTS}, flush=True)
    out = {}
    groups = {"decide: close-up 45": ("close_45_a", "close_45_b"), "decide: full-body 45": ("full_45",),
              "report: close-up front": ("close_front_a", "close_front_b"), "report: full-body front": ("full_front",),
              "all close-up": ("close_front_a", "close_front_b", "close_45_a", "close_45_b"),
              "all full-body": ("full_front", "full_45")}
    for g, clips in groups.items():
        out[g] = {}
        for v in VARIANTS:
            s = E.summarise([scores[v][c] for c in clips if c in scores[v]])
            out[g][v] = {k: s[k] for k in ("error_deg", "error_found_deg", "baseline_deg", "rig_mcp_flex_deg",
                                            "rig_mcp_spread_deg", "per_joint_found_deg", "signed_found_deg")
                         if k in s}
    # fists: the index .. little MCP / PIP signed error on the found frames, per group
    for g, clips in groups.items():
        for v in VARIANTS:
            a = [s_["signed"][t, sd] for c in clips for s_ in [scores[v][c]]
                 for t, sd in zip(*np.nonzero(s_["shown"] & s_["found"])) if s_["poses"][t, sd] == "fist"]
            if a:
                out[g][v]["fist_signed_mcp_pip_dip"] = np.array(a)[:, 1:].mean(axis=(0, 1)).round(1).tolist()
    return out


def real(args) -> dict:
    from posemoe_blender.detection import body as detection
    from posemoe_blender.video.reader import open_video

    _patch()
    lim = dict(F.FLEX_LIMITS_DEG)
    counts = {v: [0, 0] for v in VARIANTS}
    per_clip = {}
    for video in sorted(glob.glob(os.path.join(args.videos, "*.mp4"))):
        runs = {}
        for mode in ("world", "image"):
            _IMAGE["on"] = mode == "image"
            t0 = time.perf_counter()
            with open_video(video) as reader:
                dets = detection.detect_video(reader, hands=True, end=args.end)
                stride = H.hand_stride(reader.fps)
            runs[mode] = (dets.hands2d.astype(np.float64), dets.hands3d.astype(np.float64))
            print(os.path.basename(video), mode, f"{time.perf_counter() - t0:.0f} s", flush=True)
        _IMAGE["on"] = False
        h2, h3w = runs["world"]
        h2i, h3i = runs["image"]
        T = min(len(h2), len(h2i))
        looked = (np.arange(T) % stride == 0)[:, None] & (h2[:T, :, 0, 2] > 0) & (h2i[:T, :, 0, 2] > 0)
        per_clip[os.path.basename(video)] = {"hands": int(looked.sum())}
        F.FLEX_LIMITS_DEG = {"Thumb": ((-180, 180),) * 3, "other": ((-180, 180),) * 3}
        try:
            for v in VARIANTS:
                x = variant(v, h2[:T], h3w[:T], h3i[:T])
                n = bad = 0
                for s in range(2):
                    f = np.degrees(F.finger_flexion(x[:, s], right=(s == 1)))[looked[:, s]][:, 1:, 1:]  # PIP, DIP
                    n += f.size
                    bad += int((f < -5).sum())
                counts[v][0] += bad
                counts[v][1] += n
                per_clip[os.path.basename(video)][v] = round(bad / max(n, 1), 3)
        finally:
            F.FLEX_LIMITS_DEG = lim
        print(per_clip[os.path.basename(video)], flush=True)
    return {"per_clip": per_clip, "hyperextended_pip_dip": {v: round(c[0] / max(c[1], 1), 3) for v, c in counts.items()},
            "joints": counts["A"][1]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("renders", "real"))
    ap.add_argument("--dir", default=os.path.join(REPO, ".cache", "render_hands"))
    ap.add_argument("--videos", default="/work/shared/data/videos")
    ap.add_argument("--end", type=int, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    res = renders(args) if args.what == "renders" else real(args)
    print(json.dumps(res, indent=1))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
