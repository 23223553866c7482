"""Summaries, targets and the markdown/JSON report of an evaluated set.

Means are over videos (every video counts once, whatever its length); a row's ratio is its
mean divided by ``mediapipe_raw``'s mean over the same videos (MediaPipe's world landmarks in
the same run). Breakdowns: per HDM05 actor (cross-source set), per camera view.
"""

from __future__ import annotations

import math
import os
from typing import Optional

import numpy as np

from posemoe_lab.evaluation import metrics
from posemoe_lab.evaluation.variants import RAW, Variant, weights_of

#: Issue #16's targets for the default pipeline, each against ``mediapipe_raw`` in the same
#: run, over the 12 limb joints: (flat metric, kind, limit). "ratio": mean / raw <= limit;
#: "value": mean < limit.
TARGETS = (
    ("limbs/pa_mpjpe_frame_mm", "ratio", 0.70),
    ("limbs/pa_mpjpe_seq_mm", "ratio", 0.75),
    ("limbs/mpjpe_mm", "ratio", 0.80),
    ("limbs/accel_error_mm_f2", "ratio", 0.50),
    ("foot_slide_cm_s", "value", 2.0),
)
LABELS = {
    "pa_mpjpe_frame_mm": "PA-MPJPE/frame", "pa_mpjpe_seq_mm": "PA-MPJPE/seq", "mpjpe_mm": "MPJPE",
    "accel_error_mm_f2": "accel. err", "group_error_mm": "error", "root_error_mm": "root traj. (mm)",
    "foot_slide_cm_s": "foot slide (cm/s)", "bone_std_mm": "bone-length SD (mm)",
    "contact_height_err_cm": "contact height err (cm)", "swing_height_err_cm": "swing height err (cm)",
    "lock_precision_pct": "lock precision (%)", "lock_recall_pct": "lock recall (%)",
    "locks_mid_swing_pct": "locks mid-swing (%)",
}


def label(flat: str) -> str:
    joints, _, metric = flat.rpartition("/")
    text = LABELS.get(metric, metric)
    return f"{joints} {text}" if joints else text


def _mean(values) -> float:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def means(rows: list[dict], names: list[str]) -> dict:
    """{variant: {flat metric: mean over the rows}}."""
    keys = metrics.all_keys()
    return {n: {k: _mean([r["methods"][n][k] for r in rows if n in r["methods"]]) for k in keys}
            for n in names if any(n in r["methods"] for r in rows)}


def ratios(table: dict) -> dict:
    """Each variant's means divided by ``mediapipe_raw``'s (NaN where that is 0 or missing)."""
    base = table.get(RAW, {})
    out = {}
    for n, vals in table.items():
        out[n] = {k: (v / base[k] if base.get(k) and np.isfinite(base[k]) and base[k] != 0 else float("nan"))
                  for k, v in vals.items()}
    return out


def targets(table: dict, default: Optional[str]) -> list[dict]:
    """Issue #16's targets for the ``default`` variant (the pipeline as ``convert`` runs it)."""
    if not default or default not in table or RAW not in table:
        return []
    out = []
    rat = ratios(table)[default]
    for k, kind, limit in TARGETS:
        value = rat[k] if kind == "ratio" else table[default][k]
        text = (f"{label(k)} <= {limit:.2f}x MediaPipe raw" if kind == "ratio"
                else f"{label(k)} < {limit:g}")
        out.append({"metric": k, "kind": kind, "limit": limit, "value": value, "target": text,
                    "met": bool(np.isfinite(value) and (value <= limit if kind == "ratio" else value < limit))})
    return out


def summarize(rows: list[dict], variants: list[Variant]) -> dict:
    """Means and ratios over all videos, per actor, per view; the targets."""
    names = [v.name for v in variants]
    default = next((v.name for v in variants if v.is_default), None)
    overall = means(rows, names)
    out = {"videos": len(rows), "frames": int(sum(r["frames"] for r in rows)), "default": default,
           "means": overall, "ratios": ratios(overall), "targets": targets(overall, default),
           "by_actor": {}, "by_view": {},
           "truth_slide_cm_s": _mean([r["truth_slide_cm_s"] for r in rows]),
           "keyed_rig_max_dev_mm": max([r.get("keyed_rig_max_dev_mm", float("nan")) for r in rows],
                                       key=lambda v: -1 if not np.isfinite(v) else v)}
    for field, bucket in (("actor", "by_actor"), ("view", "by_view")):
        groups = sorted({r[field] for r in rows if r[field]})
        if len(groups) > 1:
            for g in groups:
                sub = [r for r in rows if r[field] == g]
                m = means(sub, names)
                out[bucket][g] = {"videos": len(sub), "means": m, "ratios": ratios(m), "targets": targets(m, default)}
    return out


def jsonable(obj):
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    return obj


def report_dict(set_dir: str, manifest: dict, rows: list[dict], variants: list[Variant], generated: str,
                command: str) -> dict:
    """The whole report: every variant, the summary and every video's numbers (no tracks)."""
    return {"set": os.path.abspath(set_dir), "description": manifest.get("description", ""),
            "generated": generated, "command": command,
            "variants": [{"name": v.name, "label": v.label, "kind": v.kind, "default": v.is_default,
                          "parts": list(v.parts),
                          "options": None if v.options is None else {k: getattr(v.options, k) for k in
                                                                     ("lifter", "weights", "landmark_correction",
                                                                      "foot_lock", "smoothing", "flip")},
                          "weights": weights_of(v)}
                         for v in variants],
            "summary": summarize(rows, variants),
            "videos": [{k: v for k, v in r.items() if k != "tracks"} for r in rows]}


# ------------------------------------------------------------------------------ text

def _fmt(v, digits: int = 1) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _digits(flat: str) -> int:
    return 2 if flat.endswith(("_f2", "_cm_s", "_cm", "bone_std_mm")) else 1


def _cell(value, ratio, flat) -> str:
    if ratio is None or not np.isfinite(ratio):
        return _fmt(value, _digits(flat))
    return f"{_fmt(value, _digits(flat))} ({ratio:.2f}x)"


def table(summary_part: dict, variants: list[Variant], keys: tuple[str, ...], with_ratio: bool = True,
          title: str = "variant") -> list[str]:
    """Markdown table: one row per variant, ``keys`` as columns (mean, and ratio to raw)."""
    m, r = summary_part["means"], summary_part["ratios"]
    lines = [f"| {title} | " + " | ".join(label(k) for k in keys) + " |", "|---|" + "---:|" * len(keys)]
    for v in variants:
        if v.name not in m:
            continue
        name = f"**{v.name}**" if v.is_default else v.name
        lines.append(f"| {name} | " + " | ".join(
            _cell(m[v.name][k], r[v.name][k] if with_ratio else None, k) for k in keys) + " |")
    return lines


LIMB_KEYS = tuple(metrics.key("limbs", k) for k in metrics.POSE_METRICS) + ("foot_slide_cm_s",)
ALL_KEYS = tuple(metrics.key("all", k) for k in metrics.POSE_METRICS)
GROUP_KEYS = tuple(metrics.key(g, "group_error_mm") for g in metrics.GROUPS)
BODY_KEYS = metrics.BODY_METRICS + metrics.FLOOR_METRICS + metrics.LOCK_METRICS


def targets_lines(tg: list[dict]) -> list[str]:
    lines = ["| target (default pipeline) | measured | met |", "|---|---:|:---:|"]
    for t in tg:
        v = f"{t['value']:.2f}x" if t["kind"] == "ratio" else f"{t['value']:.2f}"
        lines.append(f"| {t['target']} | {v} | {'yes' if t['met'] else '**no**'} |")
    return lines


def markdown(report: dict, variants: list[Variant], rows: list[dict], plots: dict, title: str,
             intro: list[str], notes: str = "") -> str:
    """The report as markdown (headline: the 12 limb joints, each row vs MediaPipe raw)."""
    s = report["summary"]
    clips = sorted({r["clip"] for r in rows})
    views = sorted({r["view"] for r in rows})
    out = [f"# {title}", "", f"Generated by `{report['command']}` on {report['generated']} "
           f"({s['videos']} videos = {len(clips)} clips x {len(views)} views, {s['frames']} frames).", ""]
    out += intro
    if notes:
        out += [notes, ""]
    out += ["## The 12 limb joints (mean over videos; ratio to MediaPipe's world landmarks, raw)", ""]
    out += table(s, variants, LIMB_KEYS) + [""]
    if s["targets"]:
        out += targets_lines(s["targets"]) + [""]
    for bucket, name in (("by_actor", "actor"), ("by_view", "camera view")):
        for g, part in s[bucket].items():
            out += [f"### {name} {g} ({part['videos']} videos), 12 limb joints", ""]
            out += table(part, variants, LIMB_KEYS) + [""]
    out += ["## All 17 joints", ""] + table(s, variants, ALL_KEYS) + [""]
    out += ["## Joint groups (per-frame similarity on all 17 joints, error over the group, mm)", ""]
    out += table(s, variants, GROUP_KEYS) + [""]
    out += ["## Whole body: root, feet, bones, foot locks (values)", ""]
    out += table(s, variants, BODY_KEYS, with_ratio=False) + [""]
    out.append(f"Truth's own foot sliding during its contacts (mocap ankle joint): {_fmt(s['truth_slide_cm_s'], 2)} cm/s. "
               f"The default pipeline's scored joints against the keyed Blender rig: at most "
               f"{_fmt(s['keyed_rig_max_dev_mm'], 3)} mm apart.")
    names = [v.name for v in variants]
    out += ["", "## Per video: 12 limb joints, PA-MPJPE per frame / per sequence (mm)", "",
            "| video | actor | frames | detected | " + " | ".join(names) + " |",
            "|---|---|---:|---:|" + "---:|" * len(names)]
    for r in rows:
        cells = [f"{_fmt(r['methods'][n]['limbs/pa_mpjpe_frame_mm'])} / {_fmt(r['methods'][n]['limbs/pa_mpjpe_seq_mm'])}"
                 if n in r["methods"] else "" for n in names]
        out.append(f"| {r['video']} | {r['actor'] or '-'} | {r['frames']} | {r['detected_frames']} | " + " | ".join(cells) + " |")
    if plots:
        out += ["", "## Plots", ""]
        for t, rel in plots.items():
            out += [f"![{t}]({rel})", ""]
    out += ["", "## How it is measured", "", "Variants:", ""]
    for v in variants:
        w = weights_of(v)
        where = f" (`{os.path.relpath(w['file'])}`, sha256 {w['sha256']}...)" if w else ""
        out.append(f"* `{v.name}`: {v.label}{where}" + (" **= convert's default**" if v.is_default else ""))
    from posemoe_lab.evaluation import variants as variants_mod
    out += ["", variants_mod.__doc__.strip(), "", metrics.__doc__.strip(), "", __doc__.strip(), ""]
    return "\n".join(out)


def text_table(report: dict, variants: list[Variant]) -> str:
    """The headline numbers as plain text (stdout)."""
    s = report["summary"]
    keys = LIMB_KEYS
    lines = [f"{s['videos']} videos, 12 limb joints (foot slide: ankles); mean and ratio to {RAW}",
             f"{'variant':36s}" + "".join(f"{label(k):>26s}" for k in keys)]
    for v in variants:
        if v.name in s["means"]:
            m, r = s["means"][v.name], s["ratios"][v.name]
            lines.append(f"{v.name:36s}" + "".join(f"{_cell(m[k], r[k], k):>26s}" for k in keys))
    for g, part in s["by_actor"].items():
        lines.append(f"actor {g} ({part['videos']} videos): " + ", ".join(
            f"{v.name} {part['ratios'][v.name]['limbs/pa_mpjpe_frame_mm']:.2f}x" for v in variants if v.name in part["ratios"]))
    for t in s["targets"]:
        v = f"{t['value']:.2f}x" if t["kind"] == "ratio" else f"{t['value']:.2f}"
        lines.append(f"target {t['target']}: {v} -> {'met' if t['met'] else 'MISSED'}")
    return "\n".join(lines)
