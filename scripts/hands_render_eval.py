"""Hands on renders with truth: found rate, finger angle error, left/right swaps, against the
relaxed-hand (no fingers) baseline (issue #15).

Usage (from the repository root, after ``scripts/render_hand_set.py``)::

    .venv/bin/python scripts/hands_render_eval.py                        # .cache/render_hands, table
    .venv/bin/python scripts/hands_render_eval.py --markdown             # + docs/benchmarks-hands.md
    .venv/bin/python scripts/hands_render_eval.py --clips close_front_a --draw /tmp/look

Each clip goes through what ``convert`` runs (``core.pipeline.process_clip`` with the default
``ConvertOptions``: one video pass of BlazePose + MediaPipe Hands, the left/right un-flip, the
smoothing, ``core.hands.solve_hands`` at the clip's fps with convert's cutoff); the fingers
compared are ``ClipResult.hands.fingers``, the (T, 2, 5, 3) flexion ``convert`` keys on the rig.

Per clip and side, over the frames where the truth shows the hand (``hands_visible``):

* **found**: the hand was detected there (confidence of the detected wrist > 0);
* **swaps**: found hands whose wrist pixel is nearer the other side's true wrist than its own;
* **error**: mean absolute difference (degrees) between the solved flexion and the truth
  (``core.hands.finger_flexion`` of the true landmarks) over the 15 joints, on every shown frame
  (where the hand was not found the rig shows the relaxed hand, so that counts too); also on
  the found frames only;
* **baseline**: the same with the relaxed hand (``core.hands.relaxed_flexion``) everywhere:
  what the rig showed before fingers were solved.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from posemoe_blender.core.hands import FINGER_NAMES, relaxed_flexion  # noqa: E402

DOC = os.path.join(REPO, "docs", "benchmarks-hands.md")
SECTION = "## Renders with articulated fingers"
JOINTS = (("CMC", "MCP", "IP"), ("MCP", "PIP", "DIP"))


def run_clip(video: str):
    """``(fingers (T, 2, 5, 3), hands2d (T, 2, 21, 3), seconds)`` as ``convert`` computes them."""
    from posemoe_blender.core.pipeline import process_clip
    from posemoe_blender.options import ConvertOptions

    t0 = time.perf_counter()
    res = process_clip(video, ConvertOptions())
    return res.hands.fingers, res.hands.hands2d, time.perf_counter() - t0


def score(truth: dict, fingers: np.ndarray, hands2d: np.ndarray) -> dict:
    """Per-side arrays over the shown frames (see the module docstring)."""
    T = min(len(truth["flexion"]), len(fingers))
    shown = truth["hands_visible"][:T]
    true = truth["flexion"][:T].astype(np.float64)
    found = hands2d[:T, :, 0, 2] > 0
    err = np.degrees(np.abs(fingers[:T] - true))                       # (T, 2, 5, 3)
    base = np.degrees(np.abs(relaxed_flexion((T, 2)) - true))
    wrist_true = truth["hands2d"][:T, :, 0, :2]
    swaps = np.zeros(2, int)
    for s in range(2):
        for t in np.flatnonzero(found[:, s] & shown[:, s]):
            own = np.linalg.norm(hands2d[t, s, 0, :2] - wrist_true[t, s])
            other = np.linalg.norm(hands2d[t, s, 0, :2] - wrist_true[t, 1 - s])
            swaps[s] += int(other < own)
    return dict(T=T, shown=shown, found=found, err=err, base=base, swaps=swaps)


def summarise(scores: list) -> dict:
    """Pooled numbers over a list of :func:`score` results (both sides)."""
    shown = sum(int(s["shown"].sum()) for s in scores)
    found = sum(int((s["found"] & s["shown"]).sum()) for s in scores)
    e = np.concatenate([s["err"][s["shown"]] for s in scores]) if shown else np.zeros((0, 5, 3))
    b = np.concatenate([s["base"][s["shown"]] for s in scores]) if shown else np.zeros((0, 5, 3))
    ef = np.concatenate([s["err"][s["shown"] & s["found"]] for s in scores]) if found else np.zeros((0, 5, 3))
    bf = np.concatenate([s["base"][s["shown"] & s["found"]] for s in scores]) if found else np.zeros((0, 5, 3))
    nan = float("nan")
    return dict(hand_frames=int(sum(s["T"] * 2 for s in scores)), shown=shown, found=found,
                found_rate=found / shown if shown else nan,
                swaps=int(sum(s["swaps"].sum() for s in scores)),
                error_deg=float(e.mean()) if len(e) else nan, baseline_deg=float(b.mean()) if len(b) else nan,
                error_found_deg=float(ef.mean()) if len(ef) else nan,
                baseline_found_deg=float(bf.mean()) if len(bf) else nan,
                per_joint_deg=e.mean(axis=0).round(1).tolist() if len(e) else None,
                per_joint_found_deg=ef.mean(axis=0).round(1).tolist() if len(ef) else None,
                per_joint_baseline_deg=b.mean(axis=0).round(1).tolist() if len(b) else None,
                signed_found_deg=None)


def draw(video: str, truth: dict, hands2d: np.ndarray, out_dir: str, frames) -> None:
    """PNGs of ``frames`` with the true (green) and detected (red) hand landmarks."""
    import cv2
    import mediapipe as mp

    os.makedirs(out_dir, exist_ok=True)
    cap = cv2.VideoCapture(video)
    name = os.path.splitext(os.path.basename(video))[0]
    t, want = 0, set(frames)
    while want:
        ok, bgr = cap.read()
        if not ok:
            break
        if t in want:
            for s in range(2):
                for pts, col, ok_ in ((truth["hands2d"][t, s], (0, 200, 0), truth["hands_visible"][t, s]),
                                      (hands2d[t, s], (0, 0, 255), hands2d[t, s, 0, 2] > 0)):
                    if not ok_:
                        continue
                    p = [tuple(int(round(v)) for v in q[:2]) for q in pts]
                    for a, b in mp.solutions.hands.HAND_CONNECTIONS:
                        cv2.line(bgr, p[a], p[b], col, 1, cv2.LINE_AA)
            cv2.imwrite(os.path.join(out_dir, f"{name}_{t:03d}.png"), bgr)
            want.discard(t)
        t += 1
    cap.release()


def _pct(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{100 * x:.0f}%"


def _deg(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{x:.1f}"


def tables(per_clip: dict, per_framing: dict, meta: dict) -> str:
    lines = ["| clip | framing | camera | frames | hands shown | found | swaps | finger error | found frames: error | relaxed baseline |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in per_clip.items():
        m = meta[name]
        lines.append(f"| {name} | {m['framing']} | {m['camera']} | {m['frames']} | {r['shown']} of {r['hand_frames']} "
                     f"| {_pct(r['found_rate'])} | {r['swaps']} | {_deg(r['error_deg'])}° | {_deg(r['error_found_deg'])}° "
                     f"| {_deg(r['baseline_deg'])}° |")
    for name, r in per_framing.items():
        lines.append(f"| **{name}** | | | | {r['shown']} of {r['hand_frames']} | **{_pct(r['found_rate'])}** "
                     f"| **{r['swaps']}** | **{_deg(r['error_deg'])}°** | {_deg(r['error_found_deg'])}° "
                     f"| {_deg(r['baseline_deg'])}° |")
    lines += ["", "Per finger and joint (degrees, mean absolute error; solved / relaxed baseline, all shown frames):", ""]
    hdr = "| framing | " + " | ".join(FINGER_NAMES) + " |"
    lines += [hdr, "|---" * 6 + "|"]
    for name, r in per_framing.items():
        if r["per_joint_deg"] is None:
            continue
        cells = []
        for f in range(5):
            j = JOINTS[0 if f == 0 else 1]
            cells.append(" ".join(f"{j[k]} {r['per_joint_deg'][f][k]:.0f}/{r['per_joint_baseline_deg'][f][k]:.0f}"
                                  for k in range(3)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def update_doc(section_body: str, path: str = DOC) -> None:
    """Replace (or append) the :data:`SECTION` section of ``path``, keeping the other sections."""
    text = open(path).read() if os.path.exists(path) else ""
    block = SECTION + "\n\n" + section_body.strip() + "\n"
    pat = re.compile(r"^" + re.escape(SECTION) + r"\n.*?(?=^## |\Z)", re.S | re.M)
    if pat.search(text):
        text = pat.sub(lambda _m: block + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(path, "w") as fh:
        fh.write(text.rstrip("\n") + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=os.path.join(REPO, ".cache", "render_hands"))
    ap.add_argument("--clips", nargs="*", default=None)
    ap.add_argument("--markdown", action="store_true", help=f"write the tables into {os.path.relpath(DOC, REPO)}")
    ap.add_argument("--json", default=os.path.join(REPO, "benchmarks", "hands", "results.json"))
    ap.add_argument("--draw", default=None, help="write a few frames with the landmarks drawn here")
    args = ap.parse_args(argv)
    with open(os.path.join(args.dir, "manifest.json")) as fh:
        manifest = json.load(fh)
    meta = {c["clip"]: c for c in manifest["clips"] if args.clips is None or c["clip"] in args.clips}
    per_clip, scores, seconds = {}, {}, 0.0
    for name, m in meta.items():
        video = os.path.join(args.dir, name + ".mp4")
        with np.load(os.path.join(args.dir, name + "_truth.npz")) as d:
            truth = {k: d[k] for k in d.files}
        fingers, hands2d, sec = run_clip(video)
        seconds += sec
        s = score(truth, fingers, hands2d)
        scores[name] = s
        per_clip[name] = summarise([s])
        r = per_clip[name]
        print(f"{name}: shown {r['shown']}/{r['hand_frames']}, found {_pct(r['found_rate'])}, swaps {r['swaps']}, "
              f"error {_deg(r['error_deg'])} (found frames {_deg(r['error_found_deg'])}), baseline "
              f"{_deg(r['baseline_deg'])}  [{sec:.0f} s]", flush=True)
        if args.draw:
            sh = np.flatnonzero(truth["hands_visible"].any(axis=1))
            draw(video, truth, hands2d, args.draw, sh[np.linspace(0, len(sh) - 1, 3).astype(int)] if len(sh) else [])
    per_framing = {}
    for fr in ("close", "full"):
        group = [scores[n] for n in scores if meta[n]["framing"] == fr]
        if group:
            per_framing[fr] = summarise(group)
    per_framing["all"] = summarise(list(scores.values()))
    md = tables(per_clip, per_framing, meta)
    print(md)
    if args.clips is None:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "clips": per_clip,
                       "framings": per_framing, "seconds": round(seconds, 1)}, fh, indent=1)
            fh.write("\n")
    if args.markdown:
        update_doc(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
