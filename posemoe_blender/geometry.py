"""Vector and rotation helpers shared by the solver, the feet, the hands and retargeting (no bpy).

Vectors lie along the last axis (``(..., 3)``), rotation matrices are ``(..., 3, 3)`` acting
on column vectors, angles are in radians, quaternions are ``(..., 4)`` in whichever order the
caller uses (:func:`continuous_quaternions` only flips signs). Results are float64.

Only numpy is imported here: retargeting applies these in Blender's own Python, which may have
no SciPy (see :mod:`.retargeting.solve`); the helpers built on
``scipy.spatial.transform.Rotation`` import it when called.
"""

from __future__ import annotations

import numpy as np

#: The unit axes (3,) X, Y and Z.
X_AXIS, Y_AXIS, Z_AXIS = np.eye(3)
#: Vectors shorter than this count as zero (no direction).
EPS = 1e-9


def norm(v: np.ndarray) -> np.ndarray:
    """(...,) Euclidean lengths of vectors ``v`` (..., 3)."""
    return np.linalg.norm(v, axis=-1)


def unit(v: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
    """(..., 3) vectors ``v`` (..., 3) scaled to length 1; those of length ``<=`` :data:`EPS`
    become ``fallback`` (broadcast to ``v``'s shape), or zero without one."""
    n = norm(v)[..., None]
    out = np.divide(v, n, out=np.zeros_like(v, dtype=np.float64), where=n > EPS)
    if fallback is not None:
        out = np.where(n > EPS, out, np.broadcast_to(fallback, out.shape))
    return out


def smoothstep(x: np.ndarray, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """(...) the cubic ease ``3 s^2 - 2 s^3`` of ``s = clip((x - lo) / (hi - lo), 0, 1)``:
    0 at or below ``lo``, 1 at or above ``hi`` (``lo > hi`` ramps down), flat at both ends."""
    s = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return s * s * (3 - 2 * s)


def _principal_rotation(angle: np.ndarray, axis: int) -> np.ndarray:
    """(..., 3, 3) rotations by ``angle`` (...) radians about coordinate axis ``axis`` (0 X, 1 Y,
    2 Z), counter-clockwise looking down the axis (right-handed)."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    j, k = (axis + 1) % 3, (axis + 2) % 3
    out = np.zeros(angle.shape + (3, 3))
    out[..., axis, axis] = 1
    out[..., j, j], out[..., j, k], out[..., k, j], out[..., k, k] = c, -s, s, c
    return out


def rot_x(angle: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations by ``angle`` (...) radians about X."""
    return _principal_rotation(angle, 0)


def rot_y(angle: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations by ``angle`` (...) radians about Y."""
    return _principal_rotation(angle, 1)


def rot_z(angle: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations by ``angle`` (...) radians about Z."""
    return _principal_rotation(angle, 2)


def axis_rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations by ``angle`` (T,) radians about unit ``axis``, one (3,) or one per
    frame (T, 3) (``scipy.spatial.transform.Rotation.from_rotvec``)."""
    from scipy.spatial.transform import Rotation
    return Rotation.from_rotvec(np.asarray(angle, dtype=np.float64)[:, None] * axis).as_matrix()


def rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations of rotation vectors (..., 3) (unit axis times angle in radians),
    by Rodrigues' formula in numpy."""
    v = np.asarray(rotvec, float)
    angle = np.linalg.norm(v, axis=-1)
    axis = unit(v)
    K = np.zeros(v.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2] = -axis[..., 2], axis[..., 1]
    K[..., 1, 0], K[..., 1, 2] = axis[..., 2], -axis[..., 0]
    K[..., 2, 0], K[..., 2, 1] = -axis[..., 1], axis[..., 0]
    s, c = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def min_rotation(a: np.ndarray, b: np.ndarray, *, exact_parallel: bool = False,
                 numpy_only: bool = False) -> np.ndarray:
    """(..., 3, 3) the smallest rotations taking unit vectors ``a`` (..., 3) onto unit vectors
    ``b`` (..., 3): about ``a x b`` by the angle between them.

    Where ``a`` and ``b`` are (anti)parallel (``|a x b| < 1e-9``) the axis is one perpendicular
    to ``a`` (``a x X``, or ``a x Y`` when ``a`` is along X), the angle still
    ``atan2(|a x b|, a . b)``; ``exact_parallel``: exactly the identity for parallel vectors and
    a half turn for opposite ones instead. The matrices come from
    ``scipy.spatial.transform.Rotation.from_rotvec``, or with ``numpy_only`` from
    :func:`rotvec_to_matrix` (for Blender's Python without SciPy)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    axis = np.cross(a, b)
    sin = norm(axis)
    cos = np.einsum("...i,...i->...", a, b)
    angle = np.arctan2(sin, cos)
    parallel = sin < 1e-9
    perp = np.cross(a, X_AXIS)
    perp = np.where((norm(perp) < 1e-6)[..., None], np.cross(a, Y_AXIS), perp)
    axis = np.where(parallel[..., None], perp, axis)
    if exact_parallel:
        angle = np.where(parallel, np.where(cos > 0, 0.0, np.pi), angle)
    rotvec = unit(axis) * angle[..., None]
    if numpy_only:
        return rotvec_to_matrix(rotvec)
    from scipy.spatial.transform import Rotation
    return Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix().reshape(rotvec.shape + (3,))


def continuous_quaternions(q: np.ndarray) -> np.ndarray:
    """(T, ..., 4) quaternions of rotations in time order (axis 0), each sign flipped where
    needed so that consecutive ones lie in the same hemisphere (``q`` and ``-q`` are the same
    rotation), ready to be filtered or keyed; a new float64 array (one quaternion (4,) is
    returned as it is)."""
    q = np.array(q, dtype=np.float64, copy=True)
    if q.ndim > 1 and q.shape[0] > 1:
        dots = np.sum(q[1:] * q[:-1], axis=-1)
        q[1:] *= np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)[..., None]
    return q
