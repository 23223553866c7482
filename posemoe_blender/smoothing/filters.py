"""Confidence- and frame-rate-aware gap filling, smoothing and resampling of joint tracks.

Everything works in physical units (seconds, Hz), so a 24 fps and a 60 fps clip of the same
motion are treated alike. No NaN ever comes out.

* :func:`fill_gaps`: low-confidence samples are missing; short gaps are interpolated (natural
  cubic spline through the valid samples), long gaps and clip edges are held, long gaps are reported as :class:`Gap`.
* :func:`smooth_joints`: zero-phase Butterworth low-pass (``scipy.signal.sosfiltfilt``) with
  the cutoff in Hz; low-confidence samples are first pulled towards a confidence-weighted
  estimate of the signal from their neighbours (see the function).
* :func:`cutoff_for_strength`: the UI's 0..1 "smoothing strength" -> cutoff in Hz.
* :func:`resample`: change the frame rate (PCHIP interpolation in time).
* :func:`regular_grid` / :func:`resample_detections`: put variable-frame-rate samples (phone
  clips) on a regular time base.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline, PchipInterpolator
from scipy.ndimage import gaussian_filter1d
from scipy.signal import butter, sosfiltfilt

from ..errors import PoseMoEError
from ..joints import MIRROR, NUM_JOINTS

#: Butterworth order (doubled by the forward-backward pass).
FILTER_ORDER = 4
#: Cutoffs of :func:`cutoff_for_strength` at strength -> 0 and strength 1 (Hz).
CUTOFF_LIGHT_HZ = 24.0
CUTOFF_STRONG_HZ = 1.5


@dataclass(frozen=True)
class Gap:
    """Frames ``start <= t < end`` in which ``joints`` (joint indices) were missing for longer
    than ``max_gap_s`` and were held at the nearest valid value instead of interpolated.
    A whole-person absence (nobody detected) is a gap with all 17 joints."""

    start: int
    end: int
    joints: tuple[int, ...]

    @property
    def whole_person(self) -> bool:
        return len(self.joints) == NUM_JOINTS

    def __len__(self) -> int:
        return self.end - self.start


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) ranges of the True runs of a 1D bool array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _check(name: str, arr, fps: float) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[0] == 0:
        raise PoseMoEError(f"{name}: empty array, expected (T, ...) with T > 0")
    if not (np.isfinite(fps) and fps > 0):
        raise PoseMoEError(f"{name}: frame rate must be positive, got {fps}")
    return arr


def fill_gaps(keypoints2d: np.ndarray, fps: float, min_confidence: float = 0.3,
              max_gap_s: float = 0.5) -> tuple[np.ndarray, list[Gap]]:
    """Fill missing samples of ``(T, 17, C)`` tracks whose last channel is a confidence.

    Per joint, samples with confidence < ``min_confidence`` (or non-finite coordinates) are
    missing. Interior gaps of at most ``max_gap_s`` seconds are interpolated with a natural
    cubic spline through all valid samples of that joint (PCHIP would flatten a gap that
    falls on a turning point of the motion); longer gaps are held (each missing frame takes
    the value of the nearest valid frame) and gaps at the clip edges are held at the first /
    last valid value. A joint that is never valid copies its mirror joint (left/right), else
    the Pelvis, else stays at zero. Coordinates keep their units (pixels or metres).

    Returns:
        ``(filled, gaps)``: ``filled`` (T, 17, C) float32, the confidence channel unchanged
        (filled samples keep their low confidence, 0 for undetected frames, so later
        weighting knows); ``gaps``: list of :class:`Gap`, sorted by start, one per frame
        range longer than ``max_gap_s`` (edge runs included) that was held rather than
        interpolated, listing the joints held over exactly that range.
    """
    kp = _check("keypoints2d", keypoints2d, fps)
    if kp.ndim != 3 or kp.shape[1] != NUM_JOINTS or kp.shape[2] < 2:
        raise PoseMoEError(f"keypoints2d: shape {kp.shape}, expected (T, {NUM_JOINTS}, C>=2)")
    T = kp.shape[0]
    coords = np.nan_to_num(kp[..., :-1], nan=0.0, posinf=0.0, neginf=0.0)
    conf = np.nan_to_num(kp[..., -1], nan=0.0)
    valid = (conf >= min_confidence) & np.all(np.isfinite(kp[..., :-1]), axis=-1)
    max_gap = max(0, int(math.floor(max_gap_s * fps + 1e-9)))
    frames = np.arange(T)
    out = coords.copy()
    held: dict[tuple[int, int], list[int]] = {}
    never = []
    for j in range(NUM_JOINTS):
        ok = valid[:, j]
        idx = frames[ok]
        if idx.size == 0:
            never.append(j)
            continue
        miss = ~ok
        if not miss.any():
            continue
        if idx.size >= 2:
            interp = CubicSpline(idx, coords[idx, j], axis=0, bc_type="natural")
            # nearest valid frame for every frame
            pos = np.clip(np.searchsorted(idx, frames), 1, idx.size - 1)
            left, right = idx[pos - 1], idx[pos]
            nearest = np.where(frames - left <= right - frames, left, right)
            nearest = np.where(frames < idx[0], idx[0], np.where(frames > idx[-1], idx[-1], nearest))
        else:
            interp = None
            nearest = np.full(T, idx[0])
        for s, e in _runs(miss):
            interior = s > 0 and e < T
            if interior and (e - s) <= max_gap and interp is not None:
                out[s:e, j] = interp(frames[s:e])
            else:
                out[s:e, j] = coords[nearest[s:e], j]
                if (e - s) > max_gap:
                    held.setdefault((s, e), []).append(j)
    for j in never:  # never valid: borrow the mirror joint, else the Pelvis
        src = MIRROR[j] if MIRROR[j] not in never else (0 if 0 not in never else None)
        if src is not None:
            out[:, j] = out[:, src]
        held.setdefault((0, T), []).append(j)
    gaps = [Gap(s, e, tuple(sorted(js))) for (s, e), js in sorted(held.items())]
    filled = np.concatenate([out, conf[..., None]], axis=-1).astype(np.float32)
    return filled, gaps


def cutoff_for_strength(strength: float) -> float:
    """Map a smoothing strength in [0, 1] to a low-pass cutoff in Hz.

    0 -> ``0.0``, meaning "no filtering" (falsy, and :func:`smooth_joints` treats a cutoff
    <= 0 or infinite as off); otherwise log-linear from ``CUTOFF_LIGHT_HZ`` (24 Hz,
    strength near 0) to ``CUTOFF_STRONG_HZ`` (1.5 Hz, strength 1): 0.5 -> 6 Hz.
    """
    s = float(strength)
    if not (0.0 <= s <= 1.0):
        raise PoseMoEError(f"smoothing strength must be between 0 and 1, got {strength}")
    if s == 0.0:
        return 0.0
    return CUTOFF_LIGHT_HZ * (CUTOFF_STRONG_HZ / CUTOFF_LIGHT_HZ) ** s


def _lowpass(x: np.ndarray, fps: float, cutoff_hz: float) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0; input returned when not applicable."""
    T = x.shape[0]
    if not (cutoff_hz > 0) or not math.isfinite(cutoff_hz) or T < 3:
        return x
    wn = cutoff_hz / (fps / 2.0)
    if wn >= 1.0:  # cutoff at or above Nyquist: nothing to remove
        return x
    sos = butter(FILTER_ORDER, wn, btype="low", output="sos")
    default_pad = 3 * (2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
    padlen = min(default_pad, T - 1)
    return sosfiltfilt(sos, x, axis=0, padlen=padlen)


def smooth_joints(joints: np.ndarray, fps: float, cutoff_hz: float = 6.0,
                  confidence: np.ndarray | None = None) -> np.ndarray:
    """Zero-phase, confidence-aware low-pass of coordinate tracks.

    Args:
        joints: ``(T, ...)`` coordinates, e.g. (T, 17, 3) metres or (T, 17, 2) pixels (pass
            coordinates only, not a confidence channel); time is axis 0.
        fps: frame rate of the samples.
        cutoff_hz: -3 dB cutoff of the Butterworth filter in Hz (``inf`` or <= 0: none).
        confidence: optional weights in [0, 1] broadcastable to ``joints.shape[:-1]``
            (e.g. (T, 17)).

    Method: with a confidence, each sample ``x`` is first replaced by
    ``c * x + (1 - c) * x_w`` where ``x_w`` is a confidence-weighted local mean (normalised
    Gaussian convolution ``G*(c x) / G*(c)``, Gaussian -3 dB point at ``cutoff_hz / 2``):
    unreliable samples are pulled towards what their reliable neighbours say, reliable ones are
    kept. The result is filtered forward and backward with an order-4 Butterworth (no lag).
    The padding is shortened for short clips; clips of fewer than 3 frames are returned as is.

    Returns:
        ``(T, ...)`` float64 array, same shape, never NaN for finite input.
    """
    x = _check("joints", joints, fps)
    if x.shape[0] < 2:
        return x.copy()
    if confidence is not None and math.isfinite(cutoff_hz) and cutoff_hz > 0:
        c = np.clip(np.nan_to_num(np.asarray(confidence, dtype=np.float64)), 0.0, 1.0)
        c = np.broadcast_to(c, x.shape[:-1])[..., None] if x.ndim > 1 else np.broadcast_to(c, x.shape)
        c = np.broadcast_to(c, x.shape)
        sigma = math.sqrt(math.log(2)) / (2 * math.pi * (cutoff_hz / 2.0)) * fps  # frames
        num = gaussian_filter1d(c * x, sigma, axis=0, mode="nearest")
        den = gaussian_filter1d(c, sigma, axis=0, mode="nearest")
        # where no confident neighbour exists, keep the sample itself
        xw = np.where(den > 1e-6, num / np.maximum(den, 1e-6), x)
        x = c * x + (1.0 - c) * xw
    return _lowpass(x, fps, cutoff_hz)


def resample(joints: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Resample ``(T, ...)`` tracks from ``fps_in`` to ``fps_out`` (PCHIP in time).

    Output frame ``k`` is at time ``k / fps_out``; the output covers the input's duration
    ``(T - 1) / fps_in``, so ``T' = floor((T - 1) * fps_out / fps_in) + 1``. A single frame
    stays a single frame.
    """
    x = _check("joints", joints, fps_in)
    if not (np.isfinite(fps_out) and fps_out > 0):
        raise PoseMoEError(f"output frame rate must be positive, got {fps_out}")
    T = x.shape[0]
    if T == 1 or fps_in == fps_out:
        return x.copy()
    n_out = int(math.floor((T - 1) * fps_out / fps_in + 1e-9)) + 1
    t_in = np.arange(T) / fps_in
    t_out = np.minimum(np.arange(n_out) / fps_out, t_in[-1])
    return PchipInterpolator(t_in, x, axis=0)(t_out)


def nearest_frames(n_out: int, fps_in: float, fps_out: float, n_in: int) -> np.ndarray:
    """(n_out,) int: for each frame ``k`` of an ``fps_out`` track, the nearest of ``n_in`` frames
    at ``fps_in`` (for tracks that must not be interpolated: detections with confidences)."""
    return np.clip(np.round(np.arange(n_out) * fps_in / fps_out).astype(int), 0, n_in - 1)


def nearest_kept(kept: np.ndarray) -> np.ndarray:
    """(T,) int: for each of the T frames the nearest frame where ``kept`` (T,) bool is True
    (a frame half-way between two takes the later one); ``kept`` must hold at least one True."""
    idx = np.flatnonzero(np.asarray(kept, bool))
    frames = np.arange(len(kept))
    pos = np.clip(np.searchsorted(idx, frames), 0, len(idx) - 1)
    prv = np.clip(pos - 1, 0, len(idx) - 1)
    return np.where(np.abs(idx[prv] - frames) < np.abs(idx[pos] - frames), idx[prv], idx[pos])


#: Frame intervals may deviate this much (fraction of 1 / fps) before a clip counts as variable rate.
VFR_TOLERANCE = 0.25


def regular_grid(times, fps: float, tolerance: float = VFR_TOLERANCE) -> np.ndarray | None:
    """Times of a regular ``fps`` grid over ``times`` (seconds, one per decoded frame) when the
    frames are *not* evenly spaced (variable frame rate), else None.

    None too when the timestamps are unusable (missing, NaN or not increasing): the frames are
    then taken as evenly spaced at ``fps``.
    """
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.size < 3 or not np.all(np.isfinite(t)) or not (fps > 0):
        return None
    dt = np.diff(t)
    if np.any(dt <= 0):
        return None
    if np.max(np.abs(dt * fps - 1.0)) <= tolerance:
        return None
    n = int(math.floor((t[-1] - t[0]) * fps + 1e-6)) + 1
    return t[0] + np.arange(n) / fps


def resample_detections(values: np.ndarray, times, grid, valid) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``(T, ...)`` per-frame ``values`` taken at ``times`` at the ``grid`` times.

    Linear interpolation between the two neighbouring frames when both are ``valid`` (T,)
    (a person was detected), else the nearer frame's value. Returns ``(resampled (N, ...),
    valid (N,))``.
    """
    v = np.asarray(values)
    t = np.asarray(times, dtype=np.float64)
    g = np.asarray(grid, dtype=np.float64)
    ok = np.asarray(valid, bool)
    right = np.clip(np.searchsorted(t, g, side="left"), 1, len(t) - 1)
    left = right - 1
    span = np.maximum(t[right] - t[left], 1e-12)
    w = np.clip((g - t[left]) / span, 0.0, 1.0)
    both = ok[left] & ok[right]
    nearest = np.where(w < 0.5, left, right)
    wb = w.reshape((-1,) + (1,) * (v.ndim - 1))
    lin = (1.0 - wb) * v[left] + wb * v[right]
    out = np.where(both.reshape(wb.shape), lin, v[nearest])
    return out.astype(v.dtype), np.where(both, True, ok[nearest])
