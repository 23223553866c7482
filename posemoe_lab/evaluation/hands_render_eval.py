"""Hands on renders with truth: found rate, finger angle error, left/right swaps, against the
relaxed-hand (no fingers) baseline (issue #15).

Usage (from the repository root, after ``posemoe_lab/renders/hand_set.py``)::

    .venv/bin/python -m posemoe_lab.evaluation.hands_render_eval                        # .cache/render_hands, table
    .venv/bin/python -m posemoe_lab.evaluation.hands_render_eval --markdown             # + benchmarks/hands/render_eval.md
    .venv/bin/python -m posemoe_lab.evaluation.hands_render_eval --clips close_front_a --draw /tmp/look

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

from posemoe_lab import REPO_ROOT

import argparse
import json
import os
import re
import sys
import time

import numpy as np

REPO = str(REPO_ROOT)

from typing import Optional  # noqa: E402

from posemoe_blender.joints import FINGER_NAMES  # noqa: E402
from posemoe_blender.solving.fingers import relaxed_flexion

DOC = os.path.join(REPO, "benchmarks", "hands", "render_eval.md")
SECTION = "## Renders with articulated fingers"
JOINTS = (("CMC", "MCP", "IP"), ("MCP", "PIP", "DIP"))


LAST_BASES: dict = {}


def run_clip(video: str):
    """``(fingers (T, 2, 5, 3), hands2d (T, 2, 21, 3), hands3d, seconds)`` as ``convert`` computes
    them (``ClipResult.hands``: the solved flexion, the smoothed detections). The finger bases
    (``HandSolve.base_flexion`` / ``spread``, (T, 2, 5), where the solver has them) are left in
    :data:`LAST_BASES`."""
    from posemoe_blender.pipeline import process_clip
    from posemoe_blender.options import ConvertOptions

    t0 = time.perf_counter()
    res = process_clip(video, ConvertOptions())
    LAST_BASES.clear()
    if getattr(res.hands, "base_flexion", None) is not None:
        LAST_BASES.update(flexion=np.asarray(res.hands.base_flexion), spread=np.asarray(res.hands.spread))
    return res.hands.fingers, res.hands.hands2d, res.hands.hands3d, time.perf_counter() - t0


def base_errors(truth: dict, bases: dict, shown: np.ndarray) -> Optional[dict]:
    """Degrees: the rig's proximal finger bones (``finger_bases``: MCP flexion out of the palm
    plane, spread in it; index .. little) against ``finger_bases`` of the true landmarks, and
    the relaxed bases' error, per (T, 2, 4) frame/side/finger (None without bases)."""
    try:
        from posemoe_blender.solving.fingers import finger_bases, relaxed_bases
    except ImportError:
        return None
    if not bases:
        return None
    T = len(shown)
    tf = np.stack([finger_bases(truth["hands_cam"][:T, s].astype(np.float64), s == 1)[0] for s in range(2)], 1)
    ts = np.stack([finger_bases(truth["hands_cam"][:T, s].astype(np.float64), s == 1)[1] for s in range(2)], 1)
    rf, rs_ = relaxed_bases((T, 2))
    d = lambda a, b: np.degrees(np.abs(a[..., 1:] - b[..., 1:]))  # noqa: E731
    return dict(flex=d(bases["flexion"][:T], tf), spread=d(bases["spread"][:T], ts),
                flex_base=d(rf, tf), spread_base=d(rs_, ts))


def planar_flexion(x: np.ndarray, right: bool) -> np.ndarray:
    """Diagnostic, not the solver's definition: (..., 5, 3) the signed angle between
    consecutive segments *about the knuckles' line* (both segments projected on the plane normal
    to index MCP - little MCP), so sideways spread does not count and a straight finger reads 0
    whatever the sign noise; the solver's ``finger_flexion`` takes the unsigned 3D angle and
    signs it."""
    from posemoe_blender.joints import FINGERS
    x = np.asarray(x, np.float64)
    lat = (x[..., 5, :] - x[..., 17, :]) * (1.0 if right else -1.0)
    lat = lat / np.maximum(np.linalg.norm(lat, axis=-1, keepdims=True), 1e-12)
    out = np.zeros(x.shape[:-2] + (5, 3))
    for f, chain in enumerate(FINGERS):
        for j in range(3):
            u = x[..., chain[j + 1], :] - x[..., chain[j], :]
            v = x[..., chain[j + 2], :] - x[..., chain[j + 1], :]
            u = u - np.sum(u * lat, -1, keepdims=True) * lat
            v = v - np.sum(v * lat, -1, keepdims=True) * lat
            out[..., f, j] = np.arctan2(np.sum(np.cross(u, v) * lat, -1), np.sum(u * v, -1))
    return out


def score(truth: dict, fingers: np.ndarray, hands2d: np.ndarray, hands3d: np.ndarray | None = None) -> dict:
    """Per-side arrays over the shown frames (see the module docstring)."""
    T = min(len(truth["flexion"]), len(fingers))
    shown = truth["hands_visible"][:T]
    true = truth["flexion"][:T].astype(np.float64)
    found = hands2d[:T, :, 0, 2] > 0
    err = np.degrees(np.abs(fingers[:T] - true))                       # (T, 2, 5, 3)
    base = np.degrees(np.abs(relaxed_flexion((T, 2)) - true))
    wrist_true = truth["hands2d"][:T, :, 0, :2]
    px = np.linalg.norm(hands2d[:T, :, :, :2] - truth["hands2d"][:T, :, :, :2], axis=-1).mean(axis=-1)  # (T, 2)
    size = np.linalg.norm(truth["hands2d"][:T, :, 9, :2] - truth["hands2d"][:T, :, 0, :2], axis=-1)
    swaps = np.zeros(2, int)
    for s in range(2):
        for t in np.flatnonzero(found[:, s] & shown[:, s]):
            own = np.linalg.norm(hands2d[t, s, 0, :2] - wrist_true[t, s])
            other = np.linalg.norm(hands2d[t, s, 0, :2] - wrist_true[t, 1 - s])
            swaps[s] += int(other < own)
    planar = np.zeros_like(err)
    if hands3d is not None:  # the diagnostic definition on the detections vs on the truth
        for s in range(2):
            planar[:, s] = np.degrees(np.abs(planar_flexion(hands3d[:T, s], s == 1)
                                             - planar_flexion(truth["hands_cam"][:T, s], s == 1)))
    return dict(T=T, shown=shown, found=found, err=err, base=base, swaps=swaps, px=px, size=size, planar=planar,
                poses=np.asarray(truth["poses"][:T]).astype(str),
                bases=base_errors(truth, dict(LAST_BASES), shown),
                signed=np.degrees(fingers[:T] - true))


def _bases_summary(scores: list) -> dict:
    if any(s["bases"] is None for s in scores) or not scores:
        return {}
    out = {}
    for k in ("flex", "spread", "flex_base", "spread_base"):
        v = np.concatenate([s["bases"][k][s["shown"]] for s in scores])
        out["rig_mcp_" + k + "_deg"] = float(v.mean()) if len(v) else float("nan")
    return out


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
                signed_found_deg=(np.concatenate([s["signed"][s["shown"] & s["found"]] for s in scores]).mean(axis=0)
                                  .round(1).tolist() if found else None),
                **_bases_summary(scores),
                planar_found_deg=float(np.concatenate([s["planar"][s["shown"] & s["found"]] for s in scores]).mean())
                if found else nan,
                landmark_px=float(np.concatenate([s["px"][s["shown"] & s["found"]] for s in scores]).mean()) if found else nan,
                hand_px=float(np.concatenate([s["size"][s["shown"]] for s in scores]).mean()) if shown else nan)


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


def pose_rows(scores: dict, meta: dict) -> list:
    """Markdown rows: per pose (the nearer one in a transition) and framing, over the found shown
    frames: count, mean absolute error, signed error of the fingers' MCP/PIP/DIP (index .. little
    averaged) and of the thumb's CMC/MCP/IP."""
    rows = {}
    for name, s in scores.items():
        m = s["shown"] & s["found"]
        for t, side in zip(*np.nonzero(m)):
            rows.setdefault((s["poses"][t, side], meta[name]["framing"]), []).append(s["signed"][t, side])
    lines = ["| pose | framing | hand-frames | mean abs error | fingers MCP / PIP / DIP (signed) "
             "| thumb CMC / MCP / IP (signed) |", "|---|---|---|---|---|---|"]
    for (pose, fr) in sorted(rows, key=lambda k: (list(POSE_ORDER).index(k[0]) if k[0] in POSE_ORDER else 99, k[1])):
        a = np.array(rows[(pose, fr)])
        fm, th = a[:, 1:].mean(axis=(0, 1)), a[:, 0].mean(axis=0)
        lines.append(f"| {pose} | {fr} | {len(a)} | {np.abs(a).mean():.1f}° | {fm[0]:+.0f} / {fm[1]:+.0f} / {fm[2]:+.0f} "
                     f"| {th[0]:+.0f} / {th[1]:+.0f} / {th[2]:+.0f} |")
    return lines


def view_rows(scores: dict, meta: dict) -> list:
    """Markdown rows: fists and open hands per framing and camera, over the found shown frames:
    the 2D landmark error as a fraction of the hand's size (true wrist -> middle knuckle pixels)
    and the flexion error of index .. little (degrees): is a pose's error in the picture or in
    the depth?"""
    rows = {}
    for name, s in scores.items():
        m = s["shown"] & s["found"]
        for t, side in zip(*np.nonzero(m)):
            pose = s["poses"][t, side]
            if pose in ("fist", "relaxed", "spread"):
                key = (pose, meta[name]["framing"], meta[name]["camera"])
                rows.setdefault(key, []).append((s["px"][t, side] / max(s["size"][t, side], 1e-6),
                                                 s["err"][t, side, 1:].mean()))
    lines = ["| pose | framing | camera | hand-frames | 2D landmark error / hand size | index .. little error |",
             "|---|---|---|---|---|---|"]
    for key in sorted(rows, key=lambda k: (("fist", "relaxed", "spread").index(k[0]), k[1], k[2])):
        a = np.array(rows[key])
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {len(a)} | {100 * a[:, 0].mean():.0f}% | {a[:, 1].mean():.1f}° |")
    return lines


POSE_ORDER = ("relaxed", "spread", "count5", "count4", "count3", "count2", "count1", "point", "pinch", "fist")


def _wrap(lines: list) -> list:
    """Prose lines wrapped at 95 characters (table rows and blank lines as they are)."""
    import textwrap
    return [ln if not ln or ln.startswith("|") else textwrap.fill(ln, 95) for ln in lines]


def tables(per_clip: dict, per_framing: dict, meta: dict, scores: Optional[dict] = None) -> str:
    lines = ["| clip | framing | camera | frames | hand size | hands shown | found | swaps | 2D landmark error "
             "| finger error | found frames: error | relaxed baseline |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in per_clip.items():
        m = meta[name]
        lines.append(f"| {name} | {m['framing']} | {m['camera']} | {m['frames']} | {r['hand_px']:.0f} px "
                     f"| {r['shown']} of {r['hand_frames']} "
                     f"| {_pct(r['found_rate'])} | {r['swaps']} | {_deg(r['landmark_px'])} px | {_deg(r['error_deg'])}° | {_deg(r['error_found_deg'])}° "
                     f"| {_deg(r['baseline_deg'])}° |")
    for name, r in per_framing.items():
        lines.append(f"| **{name}** | | | | {r['hand_px']:.0f} px | {r['shown']} of {r['hand_frames']} "
                     f"| **{_pct(r['found_rate'])}** | **{r['swaps']}** | {_deg(r['landmark_px'])} px | **{_deg(r['error_deg'])}°** | {_deg(r['error_found_deg'])}° "
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
    if all("rig_mcp_flex_deg" in r for r in per_framing.values()):
        lines += ["", "The rig's proximal finger bones (index .. little) are keyed from `finger_bases` (MCP "
                  "flexion out of the palm plane, spread in it), compared here with `finger_bases` of the true "
                  "landmarks (degrees, all shown frames; solved / relaxed):", "",
                  "| framing | MCP flexion | spread |", "|---|---|---|"]
        for name, r in per_framing.items():
            lines.append(f"| {name} | {r['rig_mcp_flex_deg']:.1f} / {r['rig_mcp_flex_base_deg']:.1f} "
                         f"| {r['rig_mcp_spread_deg']:.1f} / {r['rig_mcp_spread_base_deg']:.1f} |")
    if scores:
        lines += ["", "Per pose (found frames; signed = solved - truth, degrees):", ""] + pose_rows(scores, meta)
        lines += ["", "Fists and open hands by camera (found frames): the 2D landmarks' error (mean over the 21, "
                  "as a fraction of the true wrist -> middle knuckle length) against the fingers' angle error:",
                  ""] + view_rows(scores, meta)
    lines += ["", "Signed error (solved - truth, degrees) on the found frames: the bias per joint:", "",
              hdr, "|---" * 6 + "|"]
    for name, r in per_framing.items():
        if r["signed_found_deg"] is None:
            continue
        cells = [" ".join(f"{JOINTS[0 if f == 0 else 1][k]} {r['signed_found_deg'][f][k]:+.0f}" for k in range(3))
                 for f in range(5)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(_wrap(lines)) + "\n"


TARGETS = {"found": 0.70, "close": 15.0, "full": 25.0}


def preamble(per_framing: dict, settings: dict) -> str:
    """The section's text around the tables: what was run, where, and the targets."""
    c, f, a = per_framing.get("close"), per_framing.get("full"), per_framing["all"]
    lines = [
        f"Measured {settings['date']} (code at {settings['commit']}) on this project's 2-core AMD EPYC "
        "machine (shared with other sessions), on the 6 clips of `posemoe_lab/renders/hand_set.py` (360 frames, 30 fps; close-ups "
        "960x720 landscape, full-body 720x960 portrait; front and 45-degree cameras; the figure's "
        "hands articulated: palm, thumb CMC/MCP/IP and three phalanges per finger, driven through "
        "relaxed, fist, spread, point, pinch and counting 1-5 with 0.2 s transitions; "
        "`benchmarks/hands/manifest.json`). Each clip goes through `convert`'s own computation "
        "(`core.pipeline.process_clip`, default options: hands looked for at "
        f"`HAND_RATE_HZ = {settings['hand_rate_hz']:g}`: "
        + ("every frame" if settings["stride_30fps"] == 1 else
           f"every {settings['stride_30fps']}{'nd' if settings['stride_30fps'] == 2 else 'th'} frame")
        + " of these 30 fps clips, the frames between filled by `fill_skipped`; smoothing 0.5); the fingers are `ClipResult.hands.fingers`, what the rig "
        "is keyed with. Truth: `finger_flexion` of the rendered hand's true 21 landmarks (equal to the "
        "driven angles except a spread finger's knuckle, which also holds the spread). A hand is "
        "*shown* when its 21 landmarks are inside the picture and at most 7 are hidden by the body or "
        "the other hand (ray casts); *found*: the saved hands2d confidence > 0 there; *swap*: a found "
        "wrist nearer the other side's true wrist. Errors are mean absolute degrees over the 15 "
        "joints of every shown frame (a hand not found counts as the relaxed hand the rig shows "
        "then); the baseline is the relaxed hand everywhere (no fingers solved).",
        "",
        "```",
        ".venv/bin/python -m posemoe_lab.renders.hand_set --out .cache/render_hands   # ~6 min",
        ".venv/bin/python -m posemoe_lab.evaluation.hands_render_eval --markdown                # ~1 min",
        "```",
        "",
    ]

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    lines.append("Targets (issue #15):")
    lines.append("")
    lines.append(f"* hands found in >= 70% of the frames that show them: {100 * a['found_rate']:.0f}% "
                 f"(close-up {100 * c['found_rate']:.0f}%, full-body {100 * f['found_rate']:.0f}%): "
                 f"{verdict(a['found_rate'] >= TARGETS['found'])}" if c and f else "")
    if c:
        d = c["error_deg"] - TARGETS["close"]
        lines.append(f"* finger angle error <= 15 degrees on close-ups: {c['error_deg']:.1f} "
                     f"({verdict(d <= 0)}{'' if d <= 0 else f' by {d:.1f} degrees'}; relaxed baseline "
                     f"{c['baseline_deg']:.1f})")
    if f:
        d = f["error_deg"] - TARGETS["full"]
        lines.append(f"* finger angle error <= 25 degrees full-body: {f['error_deg']:.1f} "
                     f"({verdict(d <= 0)}{'' if d <= 0 else f' by {d:.1f} degrees'}; relaxed baseline "
                     f"{f['baseline_deg']:.1f})")
    lines.append(f"* left/right swaps: {a['swaps']} of {a['found']} found hands")
    lines.append("")
    import textwrap
    out = []
    for ln in lines:
        if ln.startswith("* "):
            out.append(textwrap.fill(ln, 95, subsequent_indent="  "))
        elif ln and not ln.startswith(("```", ".venv")):
            out.append(textwrap.fill(ln, 95))
        else:
            out.append(ln)
    return "\n".join(out)


def _commit() -> str:
    """The last commit of posemoe_blender/ (short), and the files of it the working tree changes."""
    import subprocess
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%h", "--", "posemoe_blender"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--name-only", "HEAD", "--", "posemoe_blender"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.split()
        return head + (f" with uncommitted changes to {', '.join(dirty)}" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


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
        fingers, hands2d, hands3d, sec = run_clip(video)
        seconds += sec
        s = score(truth, fingers, hands2d, hands3d)
        scores[name] = s
        per_clip[name] = summarise([s])
        r = per_clip[name]
        print(f"{name}: shown {r['shown']}/{r['hand_frames']}, found {_pct(r['found_rate'])}, swaps {r['swaps']}, "
              f"error {_deg(r['error_deg'])} (found frames {_deg(r['error_found_deg'])}), baseline "
              f"{_deg(r['baseline_deg'])}, planar diagnostic {_deg(r['planar_found_deg'])}  [{sec:.0f} s]", flush=True)
        if args.draw:
            sh = np.flatnonzero(truth["hands_visible"].any(axis=1))
            draw(video, truth, hands2d, args.draw, sh[np.linspace(0, len(sh) - 1, 3).astype(int)] if len(sh) else [])
    per_framing = {}
    for fr in ("close", "full"):
        group = [scores[n] for n in scores if meta[n]["framing"] == fr]
        if group:
            per_framing[fr] = summarise(group)
    per_framing["all"] = summarise(list(scores.values()))
    from posemoe_blender.detection import hands as hands_mod
    settings = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "hand_rate_hz": hands_mod.HAND_RATE_HZ,
                "stride_30fps": hands_mod.hand_stride(30.0), "commit": _commit()}
    md = tables(per_clip, per_framing, meta, scores)
    print(md)
    if args.clips is None:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump({**settings, "clips": per_clip,
                       "framings": per_framing, "seconds": round(seconds, 1)}, fh, indent=1)
            fh.write("\n")
    if args.markdown:
        update_doc(preamble(per_framing, settings) + "\n" + md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
