"""A noise model of MediaPipe's 3D world landmarks, fitted on renders with known joints.

Motion capture was never filmed, so a network that fuses MediaPipe's per-frame 3D (the
``hint3d`` input, :mod:`.inference`) learns from *simulated* MediaPipe outputs: the true
root-relative joints in camera axes, distorted the way BlazePose's world landmarks are. The
model (:class:`MPNoiseModel`) has six parts, each fitted by :func:`fit` from pairs of
(BlazePose world landmarks, true joints) of rendered videos:

1. **Body size**: MediaPipe reports a body of roughly fixed metric size whatever the person's
   height. Per video, the truth is scaled by the one factor that best explains the landmarks
   (least squares) and its size ``L`` (sum of the 16 bone lengths, median over frames) is
   recorded; a sample rescales the truth to a size drawn from ``N(size_mean, size_std)``.
2. **Axis scale**: per video, a least-squares scale per camera axis (after the size); depth is
   compressed or stretched against x, y. Drawn per window from the fitted log-normal.
3. **Per-joint bias** ``(17, 3)`` in a body frame (x: the right hip to the left hip, y: the
   pelvis to the thorax, z: their cross product): where BlazePose puts a joint relative to the
   mocap skeleton's joint (hips wider and lower, ankles higher, ...), rotated with the body.
4. **Jitter spectrum** ``(17, 3, W+1)``: the mean power of the remaining error per joint,
   camera axis and frequency bin over Hann-tapered windows of ``2W`` frames (the lowest bins
   carry the slowly varying, pose-dependent part). A sample is white complex noise shaped by
   it, ``2W`` (or ``2T``) frames long, of which the middle ``T`` are used, times a log-normal
   gain per window, joint and axis (the error is heavy-tailed: its mean magnitude is a smaller
   fraction of its standard deviation than a Gaussian's; ``tail_sigma`` per axis).
5. **Left/right swaps** of the legs and of the arms: a two-state Markov chain per limb pair
   (the per-frame probability that a swap starts, and that one ends), fitted on the frames
   where swapping the sides of the landmarks brings them closer to the truth.
6. **Dropouts**: frames where BlazePose found nobody, as a two-state chain too; a dropped
   frame's landmarks are interpolated between its neighbours (as the pipeline fills them).

Arrays: joints ``(..., T, 17, 3)`` float metres, root-relative (Pelvis = 0), camera axes
(x right, y down, z forward). :meth:`MPNoiseModel.sample` is deterministic given the
``numpy.random.Generator``. The fitted model is a JSON file (``weights/mediapipe_noise.json``)
with its provenance.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from posemoe_blender.errors import PoseMoEError
from posemoe_blender.fileio import staging_file
from posemoe_blender.joints import BONES, JOINT_INDEX as J, NUM_JOINTS

FORMAT = "posemoe-blender-mediapipe-noise/1"
LEGS = (J["RHip"], J["RKnee"], J["RAnkle"], J["LHip"], J["LKnee"], J["LAnkle"])
ARMS = (J["RShoulder"], J["RElbow"], J["RWrist"], J["LShoulder"], J["LElbow"], J["LWrist"])
#: A swap is counted when swapping the sides is this much closer to the truth (metres).
SWAP_MARGIN_M = 0.05


@dataclass
class MPNoiseModel:
    window: int = 27
    size_mean: float = 3.0                  # sum of the 16 bone lengths (m)
    size_std: float = 0.1
    axis_log_mean: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    axis_log_std: list = field(default_factory=lambda: [0.05, 0.05, 0.15])
    bias: list = field(default_factory=lambda: np.zeros((NUM_JOINTS, 3)).tolist())   # body frame, m
    psd: list = field(default_factory=lambda: np.full((NUM_JOINTS, 3, 14), 1e-4).tolist())
    tail_sigma: list = field(default_factory=lambda: [0.0, 0.0, 0.0])  # heavy tails per camera axis
    swap_start: list = field(default_factory=lambda: [0.0, 0.0])   # legs, arms: P(start) per frame
    swap_stop: list = field(default_factory=lambda: [1.0, 1.0])    # P(end) per frame inside a swap
    drop_start: float = 0.0
    drop_stop: float = 1.0
    provenance: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        payload = {"format": FORMAT, **asdict(self)}
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = staging_file(folder, ".json")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(payload, fh, indent=1)
                fh.write("\n")
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MPNoiseModel":
        try:
            with open(path) as fh:
                payload = json.load(fh)
        except (OSError, ValueError) as exc:
            raise PoseMoEError(f"{path}: unreadable MediaPipe noise model ({exc})") from None
        if payload.pop("format", None) != FORMAT:
            raise PoseMoEError(f"{path}: not a MediaPipe noise model (expected format {FORMAT})")
        return cls(**payload)

    # ------------------------------------------------------------------ sampling
    def sample(self, joints: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
        """Simulated MediaPipe world landmarks for true joints ``(B, T, 17, 3)``.

        ``strength`` scales every random part (0 = the deterministic bias and size only): one
        number, or one per window ``(B,)``.
        Windows longer than the fitted ``window`` get the spectrum of the fitted length
        (resampled by frequency). Returns float32 ``(B, T, 17, 3)``, root-relative.
        """
        g = np.asarray(joints, np.float64)
        B, T = g.shape[:2]
        g = g - g[:, :, :1]
        strength = np.broadcast_to(np.asarray(strength, np.float64), (B,))
        # 1. body size
        size = np.median(_skeleton_size(g), axis=1)                         # (B,)
        target = self.size_mean + strength * self.size_std * rng.standard_normal(B)
        m = g * (target / np.maximum(size, 1e-6))[:, None, None, None]
        # 3. bias in the body frame
        frame = body_frames(g)                                              # (B, T, 3, 3) rows = axes
        m = m + np.einsum("btai,ja->btji", frame, np.asarray(self.bias))
        # 2. axis scale
        logs = np.asarray(self.axis_log_mean) + strength[:, None] * np.asarray(self.axis_log_std) * rng.standard_normal((B, 3))
        m = m * np.exp(logs)[:, None, None, :]
        # 4. jitter with the fitted spectrum
        m = m + strength[:, None, None, None] * self._jitter(B, T, rng)
        # 5. left/right swaps
        for k, idx in enumerate((LEGS, ARMS)):
            on = _markov(rng, B, T, self.swap_start[k] * strength, self.swap_stop[k])
            if on.any():
                half = len(idx) // 2
                src = list(idx[half:]) + list(idx[:half])
                sw = m[:, :, src]
                m[:, :, list(idx)] = np.where(on[..., None, None], sw, m[:, :, list(idx)])
        # 6. dropouts: interpolate over the dropped frames
        drop = _markov(rng, B, T, self.drop_start * strength, self.drop_stop)
        if drop.any():
            m = _interpolate_dropped(m, drop)
        m = m - m[:, :, :1]
        return m.astype(np.float32)

    def _jitter(self, B: int, T: int, rng: np.random.Generator) -> np.ndarray:
        """(B, T, 17, 3) noise with the fitted spectrum: a periodic sequence of twice the
        fitted length's frequency grid (at least 2T frames), of which T frames are kept."""
        psd = np.asarray(self.psd)                                          # (17, 3, n//2+1), n = 2W
        n_fit = 2 * (psd.shape[-1] - 1)
        n = max(n_fit, 2 * T)
        nf = n // 2 + 1
        if n != n_fit:  # another length: the same spectrum by frequency
            src = np.linspace(0.0, 0.5, psd.shape[-1])
            dst = np.linspace(0.0, 0.5, nf)
            psd = np.stack([np.stack([np.interp(dst, src, psd[j, a]) for a in range(3)])
                            for j in range(NUM_JOINTS)]) * (n / n_fit)
        amp = np.sqrt(np.maximum(psd, 0.0))
        # heavy tails: a log-normal gain per window, joint and axis with E[gain^2] = 1
        sig = np.asarray(self.tail_sigma, np.float64)[None, None, :]
        gain = np.exp(sig * rng.standard_normal((B, NUM_JOINTS, 3)) - sig ** 2)
        spec = (rng.standard_normal((B, NUM_JOINTS, 3, nf)) + 1j * rng.standard_normal((B, NUM_JOINTS, 3, nf)))
        spec *= amp * gain[..., None] / np.sqrt(2.0)
        spec[..., 0] = spec[..., 0].real * np.sqrt(2.0)
        spec[..., -1] = spec[..., -1].real * np.sqrt(2.0)                   # n is even
        x = np.fft.irfft(spec, n=n, axis=-1)                                # (B, 17, 3, n)
        k = (n - T) // 2
        return x[..., k:k + T].transpose(0, 3, 1, 2)


# ---------------------------------------------------------------------- helpers

def _skeleton_size(g: np.ndarray) -> np.ndarray:
    """Sum of the 16 bone lengths per frame ``(..., T)``."""
    return sum(np.linalg.norm(g[..., c, :] - g[..., p, :], axis=-1) for p, c in BONES)


def body_frames(g: np.ndarray) -> np.ndarray:
    """Per-frame body axes ``(..., 3, 3)`` (rows: x = right hip -> left hip, y = pelvis ->
    thorax made orthogonal to x, z = x cross y) of joints ``(..., 17, 3)``."""
    x = g[..., J["LHip"], :] - g[..., J["RHip"], :]
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)
    up = g[..., J["Thorax"], :] - g[..., J["Pelvis"], :]
    y = up - (up * x).sum(-1, keepdims=True) * x
    y = y / np.maximum(np.linalg.norm(y, axis=-1, keepdims=True), 1e-9)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-2)


def _markov(rng: np.random.Generator, B: int, T: int, p_start, p_stop: float) -> np.ndarray:
    """(B, T) bool runs from a two-state chain (stationary start); ``p_start`` one number or
    one per row ``(B,)``."""
    p_start = np.clip(np.broadcast_to(np.asarray(p_start, np.float64), (B,)), 0.0, 1.0)
    p_stop = float(np.clip(p_stop, 1e-6, 1.0))
    out = np.zeros((B, T), bool)
    if np.all(p_start <= 0.0):
        return out
    pi = p_start / (p_start + p_stop)
    state = rng.uniform(size=B) < pi
    u = rng.uniform(size=(B, T))
    for t in range(T):
        out[:, t] = state
        state = np.where(state, u[:, t] >= p_stop, u[:, t] < p_start)
    return out


def _interpolate_dropped(m: np.ndarray, drop: np.ndarray) -> np.ndarray:
    out = m.copy()
    t = np.arange(m.shape[1])
    for b in np.flatnonzero(drop.any(axis=1)):
        ok = ~drop[b]
        if not ok.any():
            continue
        flat = m[b].reshape(m.shape[1], -1)
        filled = np.stack([np.interp(t, t[ok], flat[ok, k]) for k in range(flat.shape[1])], axis=1)
        out[b] = filled.reshape(m[b].shape)
    return out


def _chain(mask_runs: list[np.ndarray]) -> tuple[float, float]:
    """Fitted (P(start), P(stop)) of a two-state chain from boolean sequences."""
    starts = stops = off = on = 0
    for m in mask_runs:
        a, b = m[:-1], m[1:]
        off += int((~a).sum())
        on += int(a.sum())
        starts += int((~a & b).sum())
        stops += int((a & ~b).sum())
    p_start = starts / off if off else 0.0
    p_stop = (stops + 1) / (on + 1) if on else 1.0
    return float(p_start), float(min(1.0, p_stop))


# ---------------------------------------------------------------------- fitting

def _align_scale(m: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Per camera axis least-squares scale ``a`` with ``m * a ~ g`` over all frames/joints."""
    return (m * g).sum(axis=(0, 1)) / np.maximum((m * m).sum(axis=(0, 1)), 1e-12)


def fit(pairs: list[dict], window: int = 27, provenance: dict | None = None) -> MPNoiseModel:
    """Fit the model from rendered videos.

    ``pairs``: one dict per video with ``world3d`` (T, 17, 3) BlazePose world landmarks
    (root-relative, camera axes), ``truth`` (T, 17, 3) true joints (root-relative, camera
    axes, metres) and ``found`` (T,) bool (frames where BlazePose found the person).
    """
    if not pairs:
        raise PoseMoEError("no videos to fit the MediaPipe noise model on")
    sizes, axis_logs, bias_acc, bias_n = [], [], np.zeros((NUM_JOINTS, 3)), 0
    residuals, swaps_l, swaps_a, drops = [], [], [], []
    for p in pairs:
        m = np.asarray(p["world3d"], np.float64)
        g = np.asarray(p["truth"], np.float64)
        found = np.asarray(p["found"], bool)
        g = g - g[:, :1]
        m = m - m[:, :1]
        drops.append(~found)
        if found.sum() < window:
            continue
        mv, gv = m[found], g[found]
        # the truth at the scale that best explains the landmarks (least squares): the size a
        # sample starts from before the bias and the axis scales distort it
        k = float((mv * gv).sum() / max((gv * gv).sum(), 1e-12))
        gs = gv * k
        sizes.append(float(np.median(_skeleton_size(gs))))
        # swaps first (they would spoil the other fits): per frame, legs / arms
        sw = []
        for idx in (LEGS, ARMS):
            half = len(idx) // 2
            src = list(idx[half:]) + list(idx[:half])
            e0 = np.linalg.norm(mv[:, list(idx)] - gs[:, list(idx)], axis=-1).mean(-1)
            e1 = np.linalg.norm(mv[:, src] - gs[:, list(idx)], axis=-1).mean(-1)
            sw.append(e1 + SWAP_MARGIN_M < e0)
        swaps_l.append(sw[0])
        swaps_a.append(sw[1])
        mu = mv.copy()                                   # the landmarks with the swaps undone
        for k, idx in enumerate((LEGS, ARMS)):
            half = len(idx) // 2
            mu[sw[k]] = mu[sw[k]][:, _perm(idx, list(idx[half:]) + list(idx[:half]))]
        # axis scale of the unswapped landmarks against the size-matched truth
        a = _align_scale(mu, gs)
        axis_logs.append(-np.log(np.maximum(a, 1e-6)))   # m ~ g * exp(log) (sampling direction)
        ms = mu * a                                      # landmarks in the truth's axes/scale
        frame = body_frames(gs)                          # (T, 3, 3)
        r_body = np.einsum("tai,tji->tja", frame, ms - gs)
        bias_acc += r_body.sum(axis=0)
        bias_n += r_body.shape[0]
        residuals.append((ms - gs, frame))
    if not sizes:
        raise PoseMoEError(f"no video has {window} frames with a detection")
    bias = bias_acc / max(bias_n, 1)
    # jitter spectrum: residual minus the body-frame bias, Hann-tapered windows of 2 x `window`
    # frames (the taper keeps the large slow error from leaking into the high frequencies)
    n = 2 * window
    taper = np.hanning(n + 2)[1:-1]
    norm = (taper ** 2).mean()
    power, count = np.zeros((NUM_JOINTS, 3, n // 2 + 1)), 0
    for r, frame in residuals:
        rr = r - np.einsum("tai,ja->tji", frame, bias)
        for s in range(0, rr.shape[0] - n + 1, window // 2):
            f = np.fft.rfft(rr[s:s + n] * taper[:, None, None], axis=0)   # (nf, 17, 3)
            power += (np.abs(f) ** 2).transpose(1, 2, 0) / norm
            count += 1
    if count == 0:
        raise PoseMoEError(f"no video has {n} consecutive frames to fit the jitter spectrum")
    psd = power / max(count, 1)
    # heavy tails: a Gaussian has mean|x| / std = sqrt(2 / pi); a log-normal gain exp(sN - s^2)
    # (E[gain^2] = 1) lowers the ratio by exp(-s^2 / 2)
    allr = np.concatenate([r - np.einsum("tai,ja->tji", fr, bias) for r, fr in residuals]).reshape(-1, 3)
    ratio = np.abs(allr).mean(axis=0) / np.maximum(allr.std(axis=0), 1e-9)
    tail = np.sqrt(np.maximum(2.0 * np.log(np.sqrt(2.0 / np.pi) / np.minimum(ratio, np.sqrt(2.0 / np.pi))), 0.0))
    axis_logs = np.asarray(axis_logs)
    sl, xl = _chain(swaps_l), _chain(swaps_a)
    ds, dp = _chain(drops)
    return MPNoiseModel(
        window=window, size_mean=float(np.mean(sizes)), size_std=float(np.std(sizes) + 1e-3),
        axis_log_mean=axis_logs.mean(axis=0).tolist(), axis_log_std=(axis_logs.std(axis=0) + 1e-3).tolist(),
        bias=bias.tolist(), psd=psd.tolist(), tail_sigma=tail.tolist(), swap_start=[sl[0], xl[0]], swap_stop=[sl[1], xl[1]],
        drop_start=ds, drop_stop=dp, provenance=dict(provenance or {}))


def _perm(idx, src) -> list[int]:
    """Index permutation of all joints that swaps ``idx`` with ``src`` (its own inverse)."""
    perm = list(range(NUM_JOINTS))
    for a, b in zip(idx, src):
        perm[a] = b
    return perm


def error_stats(m: np.ndarray, g: np.ndarray) -> dict:
    """Statistics that compare real and simulated landmarks ``m`` with truth ``g`` (T, 17, 3):
    mean joint error after matching the body size (mm), mean |error| per camera axis (mm),
    acceleration error (mm/frame^2), and the fraction of frames with swapped legs / arms."""
    g = g - g[:, :1]
    m = m - m[:, :1]
    gs = g * (np.median(_skeleton_size(m)) / np.median(_skeleton_size(g)))
    e = m - gs
    acc = np.linalg.norm((m[2:] - 2 * m[1:-1] + m[:-2]) - (gs[2:] - 2 * gs[1:-1] + gs[:-2]), axis=-1).mean()
    out = {"mpjpe_mm": float(np.linalg.norm(e, axis=-1).mean() * 1000),
           "abs_xyz_mm": (np.abs(e).mean(axis=(0, 1)) * 1000).round(1).tolist(),
           "accel_mm": float(acc * 1000)}
    for name, idx in (("legs", LEGS), ("arms", ARMS)):
        half = len(idx) // 2
        src = list(idx[half:]) + list(idx[:half])
        e0 = np.linalg.norm(m[:, list(idx)] - gs[:, list(idx)], axis=-1).mean(-1)
        e1 = np.linalg.norm(m[:, src] - gs[:, list(idx)], axis=-1).mean(-1)
        out[f"swapped_{name}"] = float((e1 + SWAP_MARGIN_M < e0).mean())
    return out


__all__ = ["MPNoiseModel", "body_frames", "error_stats", "fit"]
