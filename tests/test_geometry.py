"""The shared vector and rotation helpers (posemoe_blender.geometry) against SciPy and known answers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posemoe_blender import geometry as g


def test_unit_and_norm():
    v = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1e-12, 0.0, 0.0]])
    assert np.allclose(g.norm(v), [5.0, 0.0, 1e-12])
    assert np.array_equal(g.unit(v), [[0.6, 0.8, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert np.array_equal(g.unit(v, g.Z_AXIS)[1:], [g.Z_AXIS, g.Z_AXIS])
    assert g.unit(np.array([0.0, 2.0, 0.0])).tolist() == [0.0, 1.0, 0.0]


def test_smoothstep():
    x = np.linspace(-1.0, 2.0, 31)
    s = g.smoothstep(x)
    assert s[x <= 0].max() == 0.0 and s[x >= 1].min() == 1.0
    assert np.all(np.diff(s) >= 0) and g.smoothstep(0.5) == 0.5
    assert g.smoothstep(0.35, 0.2, 0.5) == pytest.approx(0.5)
    assert g.smoothstep(0.3, 0.7, 0.3) == 1.0 and g.smoothstep(0.7, 0.7, 0.3) == 0.0  # lo > hi ramps down


@pytest.mark.parametrize("name, axis", [("rot_x", "x"), ("rot_y", "y"), ("rot_z", "z")])
def test_principal_rotations(name, axis):
    angle = np.array([[-2.0, -0.3], [0.0, 1.7]])
    R = getattr(g, name)(angle)
    assert R.shape == (2, 2, 3, 3)
    assert np.allclose(R.reshape(-1, 3, 3), Rotation.from_euler(axis, angle.ravel()[:, None]).as_matrix(), atol=1e-15)
    unit_axis = np.eye(3)["xyz".index(axis)]
    assert np.allclose(g.axis_rotation(unit_axis, angle.ravel()), R.reshape(-1, 3, 3), atol=1e-15)


def test_rotvec_to_matrix_matches_scipy():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 3)) * 2.0
    v[0] = 0.0
    assert np.allclose(g.rotvec_to_matrix(v), Rotation.from_rotvec(v).as_matrix(), atol=1e-14)
    assert np.array_equal(g.rotvec_to_matrix(np.zeros(3)), np.eye(3))


@pytest.mark.parametrize("numpy_only", [False, True])
def test_min_rotation(numpy_only):
    rng = np.random.default_rng(1)
    a, b = g.unit(rng.normal(size=(40, 3))), g.unit(rng.normal(size=(40, 3)))
    b[0], b[1] = a[0], -a[1]                       # parallel, opposite
    a[2], b[2] = g.X_AXIS, -g.X_AXIS                # opposite along X: the perpendicular is a x Y
    R = g.min_rotation(a, b, numpy_only=numpy_only)
    assert R.shape == (40, 3, 3)
    assert np.allclose(np.einsum("tij,tj->ti", R, a), b, atol=1e-12)
    assert np.allclose(np.einsum("tji,tjk->tik", R, R), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(R), 1.0)
    angle = np.degrees(Rotation.from_matrix(R).magnitude())
    between = np.degrees(np.arccos(np.clip(np.sum(a * b, -1), -1, 1)))
    assert np.allclose(angle, between, atol=1e-6)  # the smallest turn: by the angle between them
    assert np.allclose(R, g.min_rotation(a, b, numpy_only=not numpy_only), atol=1e-14)
    one = g.min_rotation(a[3], b[3], numpy_only=numpy_only)
    assert one.shape == (3, 3) and np.allclose(one, R[3], atol=1e-15)


def test_min_rotation_exact_parallel():
    a = g.unit(np.array([0.3, -0.2, 0.9]))
    assert np.array_equal(g.min_rotation(a, a, exact_parallel=True, numpy_only=True), np.eye(3))
    half = g.min_rotation(a, -a, exact_parallel=True, numpy_only=True)
    assert np.allclose(half @ a, -a) and np.allclose(np.trace(half), -1.0)


def test_continuous_quaternions():
    rng = np.random.default_rng(2)
    q = g.unit(rng.normal(size=(30, 5, 4)) * 0.05 + np.array([0.0, 0.0, 0.0, 1.0]))
    flipped = q * np.where(rng.random((30, 5, 1)) < 0.5, -1.0, 1.0)
    out = g.continuous_quaternions(flipped)
    assert out is not flipped and np.all(np.sum(out[1:] * out[:-1], axis=-1) > 0)
    assert np.allclose(np.abs(np.sum(out * q, axis=-1)), 1.0)  # the same rotations
    assert np.array_equal(out[0], flipped[0])
    single = np.array([0.0, 0.0, 0.0, -1.0])
    assert np.array_equal(g.continuous_quaternions(single), single)


def test_geometry_imports_numpy_only():
    """Retargeting runs these in Blender's Python, which may have no SciPy."""
    code = ("import sys; import posemoe_blender.geometry, posemoe_blender.retargeting.solve; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
