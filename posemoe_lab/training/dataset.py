"""On-the-fly virtual-camera training samples (numpy, seeded).

Every sample is a window of ``T`` frames cut from a mocap clip, with:

* playback rate 24-60 fps (the 30 fps clip is linearly resampled),
* per-segment bone-length scaling (legs, arms, torso, head independently, +-12 %) and an
  overall body height of 1.50-1.95 m,
* left-right mirroring (``MIRROR`` swap + flip of world x) with probability 1/2,
* a static virtual phone camera: random azimuth (full circle), height 0.5-2.5 m, horizontal
  distance 2-8 m from the subject, looking at the subject (jittered aim point, +-5 deg roll),
  35 mm-equivalent focal length 22-32 mm, portrait or landscape image sizes,
* detector-like 2D noise: per-joint Gaussian jitter of a few pixels relative to the person
  size, a small per-window bias, occasional large outliers and dropouts (confidence ~0,
  position jittered around the truth); the confidence is a noisy decreasing function of the
  actual 2D error so a network can learn to trust it.

Outputs: ``inputs`` (B, T, 17, 3) = :func:`normalize_keypoints` of the noisy 2D pixels +
confidence (``(B, T, 17, 6)`` with simulated MediaPipe 3D landmarks appended, for networks
that fuse them: ``hint=`` a :class:`~.mpnoise.MPNoiseModel`); ``target`` (B, T, 17, 3) root-relative joints in camera coordinates (x right,
y down, z forward), metres. :func:`sample_windows` also returns the camera, clean/noisy
pixels and the root so the evaluation can measure reprojection errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posemoe_blender.errors import PoseMoEError
from posemoe_blender.joints import MIRROR, NUM_JOINTS, PARENTS
from posemoe_blender.camera import FOCAL_MM, IMAGE_SIZES, focal_pixels, look_at, normalize_keypoints, project

# Segment of each joint's parent bone, for the bone-length augmentation.
_SEGMENTS = {"torso": (1, 4, 7, 8, 11, 14), "legs": (2, 3, 5, 6), "arms": (12, 13, 15, 16),
             "head": (9, 10)}
SEGMENT_OF_JOINT = np.zeros(NUM_JOINTS, dtype=np.int64)
for _k, (_name, _js) in enumerate(_SEGMENTS.items()):
    SEGMENT_OF_JOINT[list(_js)] = _k
REFERENCE_HEIGHT_M = 1.70


@dataclass
class Mocap:
    joints: np.ndarray        # (N, 17, 3) world metres, Y up, 30 fps
    clip_start: np.ndarray    # (C,)
    clip_len: np.ndarray      # (C,)
    clip_name: np.ndarray
    style: np.ndarray
    dataset: np.ndarray
    split: np.ndarray
    source: np.ndarray | None = None     # (C,) source name per clip (``prepare.SOURCES``)
    sample_p: np.ndarray | None = None   # (C,) clip sampling probabilities (None: by length)

    @classmethod
    def load(cls, folder: str | Path, split: str | None = None) -> "Mocap":
        """``<folder>/mocap.npz`` (written by prepare), only ``split``'s clips when given; a missing,
        unreadable or inconsistent file is a PoseMoEError."""
        path = Path(folder) / "mocap.npz"
        if not path.is_file():
            raise PoseMoEError(f"{path}: no such file (run `python -m posemoe_lab prepare` first)")
        try:
            with np.load(path, allow_pickle=False) as d:
                arrays = {k: d[k] for k in d.files}
        except Exception as exc:  # noqa: BLE001 - zip/format/OS errors all mean "unreadable"
            raise PoseMoEError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
        missing = [k for k in ("joints", "clip_start", "clip_len", "clip_name", "style", "dataset", "split")
                   if k not in arrays]
        if missing:
            raise PoseMoEError(f"{path}: not a prepared mocap file (no {', '.join(missing)})")
        d = arrays
        n = len(d["clip_len"])
        j, start, length = d["joints"], d["clip_start"], d["clip_len"]
        per_clip = ("clip_start", "clip_name", "style", "dataset", "split")
        if (j.ndim != 3 or j.shape[1:] != (NUM_JOINTS, 3) or any(len(d[k]) != n for k in per_clip)
                or (n and (start.min() < 0 or length.min() < 0 or (start + length).max() > len(j)))):
            raise PoseMoEError(f"{path}: inconsistent mocap arrays (joints {j.shape}, {n} clips)")
        if not np.all(np.isfinite(j)):
            raise PoseMoEError(f"{path}: joints contain NaN or infinite values")
        source = d["source"] if "source" in d else np.array(
            [{"dataset-1": "bandai-1", "dataset-2": "bandai-2"}.get(x, str(x)) for x in d["dataset"]])
        m = cls(j, start, length, d["clip_name"], d["style"], d["dataset"], d["split"], source)
        return m.subset(m.split == split) if split else m

    def with_source_weights(self, weights: dict) -> "Mocap":
        """A copy whose windows are drawn so that source ``s`` gets a ``weights[s] / sum``
        share (clips of a source in proportion to their length; a source missing from
        ``weights`` is not drawn). Unknown source names are a PoseMoEError."""
        names = set(self.source.tolist())
        unknown = sorted(set(weights) - names)
        if unknown:
            raise PoseMoEError(f"source weights: unknown source(s) {', '.join(unknown)} (have {', '.join(sorted(names))})")
        p = np.zeros(len(self.clip_len))
        for name, w in weights.items():
            sel = self.source == name
            p[sel] = float(w) * self.clip_len[sel] / max(self.clip_len[sel].sum(), 1)
        p[self.clip_len < 2] = 0.0
        if p.sum() <= 0:
            raise PoseMoEError("source weights select no clip")
        return Mocap(self.joints, self.clip_start, self.clip_len, self.clip_name, self.style,
                     self.dataset, self.split, self.source, p / p.sum())

    def subset(self, mask: np.ndarray) -> "Mocap":
        idx = np.flatnonzero(mask)
        parts = [self.joints[s:s + n] for s, n in zip(self.clip_start[idx], self.clip_len[idx])]
        lens = self.clip_len[idx]
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        return Mocap(np.concatenate(parts) if parts else self.joints[:0], starts, lens,
                     self.clip_name[idx], self.style[idx], self.dataset[idx], self.split[idx],
                     None if self.source is None else self.source[idx],
                     None if self.sample_p is None else self.sample_p[idx] / max(self.sample_p[idx].sum(), 1e-12))

    def __len__(self) -> int:
        return len(self.clip_len)


@dataclass
class AugmentConfig:
    fps_range: tuple[float, float] = (24.0, 60.0)
    height_range: tuple[float, float] = (1.50, 1.95)
    segment_scale: float = 0.12
    mirror_prob: float = 0.5
    cam_height: tuple[float, float] = (0.5, 2.5)
    cam_distance: tuple[float, float] = (2.0, 8.0)
    roll_deg: float = 5.0
    noise_px_rel: tuple[float, float] = (0.003, 0.02)   # Gaussian sigma / person height (px)
    bias_rel: float = 0.006
    outlier_prob: tuple[float, float] = (0.0, 0.03)
    dropout_prob: tuple[float, float] = (0.0, 0.05)
    # the simulated MediaPipe landmarks' noise strength per window (1 = as fitted): a range
    # trains for MediaPipe outputs noisier or cleaner than the renders the model was fitted on
    hint_strength: tuple[float, float] = (1.0, 1.0)


def _resample(joints: np.ndarray, starts: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Linear interpolation of world joints at fractional frame positions ``pos`` (B, T)."""
    i0 = np.floor(pos).astype(np.int64)
    a = (pos - i0)[..., None, None].astype(np.float32)
    g0 = starts[:, None] + i0
    return joints[g0] * (1 - a) + joints[g0 + 1] * a


def scale_bones(x: np.ndarray, seg_scale: np.ndarray) -> np.ndarray:
    """Rescale each bone of ``x`` (B, T, 17, 3) by ``seg_scale`` (B, 17) (per child joint)."""
    out = np.empty_like(x)
    out[:, :, 0] = x[:, :, 0]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        out[:, :, j] = out[:, :, p] + seg_scale[:, None, j, None] * (x[:, :, j] - x[:, :, p])
    return out


def sample_windows(data: Mocap, rng: np.random.Generator, batch: int, T: int,
                   aug: AugmentConfig | None = None, fixed_fps: float | None = None,
                   clip_ids: np.ndarray | None = None, starts_frac: np.ndarray | None = None,
                   augment_body: bool = True, noise: bool = True, hint=None) -> dict:
    """Draw ``batch`` windows of ``T`` frames (see module docstring). Deterministic given ``rng``.

    ``hint``: a :class:`~.mpnoise.MPNoiseModel`; the inputs then carry simulated MediaPipe
    world landmarks of the true joints as three more channels, ``(B, T, 17, 6)`` (without
    ``noise``: the model's bias and body size only).
    """
    aug = aug or AugmentConfig()
    B = batch
    lens = data.clip_len
    if clip_ids is None:
        ok = np.flatnonzero(lens >= 2)
        p = lens[ok].astype(np.float64) if data.sample_p is None else data.sample_p[ok]
        clip_ids = rng.choice(ok, size=B, p=p / p.sum())
    L = lens[clip_ids].astype(np.float64)
    fps = np.full(B, fixed_fps) if fixed_fps else rng.uniform(*aug.fps_range, size=B)
    step = 30.0 / fps
    step = np.minimum(step, (L - 1.001) / max(T - 1, 1))
    span = step * (T - 1)
    frac = rng.uniform(size=B) if starts_frac is None else starts_frac
    t0 = frac * np.maximum(L - 1.001 - span, 0.0)
    pos = t0[:, None] + step[:, None] * np.arange(T)[None, :]
    world = _resample(data.joints, data.clip_start[clip_ids], pos).astype(np.float64)

    # --- body: bone lengths, height, mirroring --------------------------------------------
    root_w = world[:, :, :1].copy()
    rel = world - root_w
    if augment_body:
        seg = rng.uniform(1 - aug.segment_scale, 1 + aug.segment_scale, size=(B, 4))
        s = seg[:, SEGMENT_OF_JOINT]
        rel = scale_bones(rel, s)
        # current height ~ head-top to ankle extent at the first frame, rescale to target
        h_now = np.ptp(rel[:, 0, :, 1], axis=-1) + 0.10
        h_now = np.maximum(h_now, 0.8)
        g = rng.uniform(*aug.height_range, size=B) / np.clip(h_now, 1.3, 2.0)
        rel = rel * g[:, None, None, None]
        root_w = root_w * np.array([g, g, g]).T[:, None, None, :]
        mirror = rng.uniform(size=B) < aug.mirror_prob
        if mirror.any():
            rel[mirror] = rel[mirror][:, :, list(MIRROR)]
            rel[mirror, :, :, 0] *= -1
            root_w[mirror, :, :, 0] *= -1
    world = rel + root_w

    # --- camera ---------------------------------------------------------------------------
    mid = T // 2
    target = root_w[:, mid, 0].copy()
    target[:, 0] += rng.normal(0, 0.15, size=B)
    target[:, 2] += rng.normal(0, 0.15, size=B)
    target[:, 1] += rng.uniform(-0.35, 0.35, size=B)
    az = rng.uniform(0, 2 * np.pi, size=B)
    horiz = root_w[:, :, 0, [0, 2]] - root_w[:, mid:mid + 1, 0, [0, 2]]
    travel = np.linalg.norm(horiz, axis=-1).max(axis=1)
    dist = np.maximum(rng.uniform(*aug.cam_distance, size=B), travel + 1.2)
    cam = np.stack([target[:, 0] + dist * np.cos(az),
                    rng.uniform(*aug.cam_height, size=B),
                    target[:, 2] + dist * np.sin(az)], axis=-1)
    roll = np.deg2rad(rng.uniform(-aug.roll_deg, aug.roll_deg, size=B))
    R = look_at(cam, target, roll)                                    # (B, 3, 3)
    cam_pts = np.einsum("bij,btkj->btki", R, world - cam[:, None, None, :])
    cam_pts[..., 2] = np.maximum(cam_pts[..., 2], 0.2)
    size_idx = rng.integers(0, len(IMAGE_SIZES), size=B)
    wh = np.array(IMAGE_SIZES, dtype=np.float64)[size_idx]
    f = focal_pixels(rng.uniform(*FOCAL_MM, size=B), wh[:, 0], wh[:, 1])
    cx = wh[:, 0] / 2 + rng.normal(0, 0.01, size=B) * wh[:, 0]
    cy = wh[:, 1] / 2 + rng.normal(0, 0.01, size=B) * wh[:, 1]
    bc = lambda a: a[:, None, None]  # noqa: E731
    uv = project(cam_pts, bc(f), bc(cx), bc(cy))                     # (B, T, 17, 2)
    target3d = cam_pts - cam_pts[:, :, :1]

    # --- detector-like noise ----------------------------------------------------------------
    person = np.ptp(uv[..., 1], axis=-1).mean(axis=1)
    person = np.maximum(np.maximum(person, np.ptp(uv[..., 0], axis=-1).mean(axis=1)), 20.0)
    noisy = uv.copy()
    conf = np.ones(uv.shape[:-1])
    if noise:
        sig = rng.uniform(*aug.noise_px_rel, size=B) * person
        sig_j = bc(sig) * np.exp(rng.normal(0, 0.5, size=(B, 1, NUM_JOINTS)))
        err = rng.normal(size=uv.shape) * sig_j[..., None]
        err += rng.normal(0, aug.bias_rel, size=(B, 1, NUM_JOINTS, 2)) * bc(person)[..., None]
        p_out = bc(rng.uniform(*aug.outlier_prob, size=B))
        out = rng.uniform(size=uv.shape[:-1]) < p_out
        ang = rng.uniform(0, 2 * np.pi, size=uv.shape[:-1])
        mag = rng.uniform(0.08, 0.4, size=uv.shape[:-1]) * bc(person)
        err += (out * mag)[..., None] * np.stack([np.cos(ang), np.sin(ang)], axis=-1)
        # dropouts: single frames or short runs (a joint lost for a few frames)
        p_drop = bc(rng.uniform(*aug.dropout_prob, size=B))
        seed_drop = rng.uniform(size=uv.shape[:-1]) < p_drop / 3
        drop = seed_drop.copy()
        for k in (1, 2):
            drop[:, k:] |= seed_drop[:, :-k]
        err += (drop * 1.0)[..., None] * rng.normal(0, 0.06, size=uv.shape) * bc(person)[..., None]
        noisy = uv + err
        rel_err = np.linalg.norm(err, axis=-1) / bc(person)
        conf = np.exp(-(rel_err / 0.05) ** 2) * 0.5 + 0.5 * np.exp(-rel_err / 0.1)
        conf = conf + rng.normal(0, 0.05, size=conf.shape)
        conf = np.where(drop, rng.uniform(0.0, 0.1, size=conf.shape), conf)
        # joints outside the image: the detector is less sure
        outside = ((noisy[..., 0] < 0) | (noisy[..., 0] > bc(wh[:, 0])) |
                   (noisy[..., 1] < 0) | (noisy[..., 1] > bc(wh[:, 1])))
        conf = np.where(outside, conf * 0.5, conf)
        conf = np.clip(conf, 0.0, 1.0)
    kp = np.concatenate([noisy, conf[..., None]], axis=-1)
    inputs = normalize_keypoints(kp.astype(np.float32), bc(wh[:, 0]), bc(wh[:, 1]))
    if hint is not None:
        lo, hi = aug.hint_strength
        strength = (rng.uniform(lo, hi, size=target3d.shape[0]) if lo != hi else lo) if noise else 0.0
        world = hint.sample(target3d, rng, strength=strength)
        inputs = np.concatenate([inputs, world], axis=-1)
    return {
        "inputs": inputs.astype(np.float32),
        "target": target3d.astype(np.float32),
        "keypoints_px": kp.astype(np.float32),
        "clean_px": uv.astype(np.float32),
        "root_cam": cam_pts[:, :, 0].astype(np.float32),
        "f": f.astype(np.float32), "cx": cx.astype(np.float32), "cy": cy.astype(np.float32),
        "width": wh[:, 0].astype(np.int64), "height": wh[:, 1].astype(np.int64),
        "clip_ids": clip_ids,
    }


@dataclass
class RealPairs:
    """Windows of BlazePose's real outputs on rendered videos next to the true joints.

    ``inputs`` (N, 17, 6): the network inputs of every frame (normalised 2D + confidence as the
    pipeline gives them, then MediaPipe's world landmarks); ``target`` (N, 17, 3) true joints,
    root-relative camera axes (metres); ``video_start`` / ``video_len`` (V,) the rows of each
    video. Written by ``posemoe_lab/experiments/make_real_pairs.py``.
    """

    inputs: np.ndarray
    target: np.ndarray
    video_start: np.ndarray
    video_len: np.ndarray

    @classmethod
    def load(cls, path: str | Path) -> "RealPairs":
        path = Path(path)
        if not path.is_file():
            raise PoseMoEError(f"{path}: no such file (posemoe_lab/experiments/make_real_pairs.py writes it)")
        d = np.load(path, allow_pickle=False)
        return cls(d["inputs"], d["target"], d["video_start"], d["video_len"])

    def sample(self, rng: np.random.Generator, batch: int, T: int, mirror_prob: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """``batch`` windows of ``T`` consecutive frames (videos in proportion to their
        length), mirrored left-right with ``mirror_prob``: ``(inputs (B, T, 17, 6), target)``."""
        ok = np.flatnonzero(self.video_len >= T)
        if ok.size == 0:
            raise PoseMoEError(f"no rendered video has {T} frames")
        p = self.video_len[ok].astype(np.float64)
        vids = rng.choice(ok, size=batch, p=p / p.sum())
        starts = self.video_start[vids] + (rng.uniform(size=batch) * (self.video_len[vids] - T + 1)).astype(np.int64)
        idx = starts[:, None] + np.arange(T)[None, :]
        x = self.inputs[idx].copy()
        y = self.target[idx].copy()
        flip = rng.uniform(size=batch) < mirror_prob
        if flip.any():
            x[flip] = x[flip][:, :, list(MIRROR)]
            x[flip, ..., 0] *= -1
            x[flip, ..., 3] *= -1
            y[flip] = y[flip][:, :, list(MIRROR)]
            y[flip, ..., 0] *= -1
        return x.astype(np.float32), y.astype(np.float32)
