"""Rotation math on plain numbers and numpy arrays (the spatial types build on it).

Conventions used throughout :mod:`retriever.types`:

* **Quaternion component order** is ``(x, y, z, w)``: vector part first, scalar last,
  as in ROS and Eigen's storage order. ``w`` is the cosine of half the angle.
* Quaternions are **Hamilton** quaternions: ``q1 * q2`` rotates by ``q2`` first, then by
  ``q1``, and ``R(q1 * q2) = R(q1) @ R(q2)``.
* Rotations are **active** and act on column vectors: ``p' = R @ p``.
* **Euler angles** are ``(roll, pitch, yaw)`` in radians: rotate about the fixed X axis by
  roll, then about the fixed Y axis by pitch, then about the fixed Z axis by yaw
  (extrinsic X-Y-Z). This is the same rotation as intrinsic Z-Y'-X'' (yaw about Z, then
  pitch about the new Y, then roll about the newest X): ``R = Rz(yaw) @ Ry(pitch) @
  Rx(roll)``. Pitch comes back in ``[-pi/2, pi/2]``; roll and yaw in ``(-pi, pi]``. At
  gimbal lock (pitch = +-pi/2) roll is reported as 0 and yaw absorbs the rest.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from .errors import ShapeError

__all__ = ["euler_from_quat", "matrix_from_quat", "quat_from_euler", "quat_from_matrix",
           "quat_multiply", "rotate_vectors"]

Quat = tuple[float, float, float, float]
FloatArray = npt.NDArray[np.float64]

#: Largest accepted deviation of ``R.T @ R`` from the identity in :func:`quat_from_matrix`.
ROTATION_TOLERANCE = 1e-6


def quat_multiply(a: Quat, b: Quat) -> Quat:
    """Hamilton product ``a * b`` of two ``(x, y, z, w)`` quaternions."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz)


def matrix_from_quat(q: Quat) -> FloatArray:
    """The 3x3 rotation matrix of a unit ``(x, y, z, w)`` quaternion."""
    x, y, z, w = q
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    return np.array([
        [1.0 - 2.0 * (yy + zz), 2.0 * (xy - wz), 2.0 * (xz + wy)],
        [2.0 * (xy + wz), 1.0 - 2.0 * (xx + zz), 2.0 * (yz - wx)],
        [2.0 * (xz - wy), 2.0 * (yz + wx), 1.0 - 2.0 * (xx + yy)],
    ], dtype=np.float64)


def quat_from_matrix(m: npt.ArrayLike, field: str = "matrix",
                     tolerance: float = ROTATION_TOLERANCE) -> Quat:
    """The unit quaternion (``w >= 0``) of a 3x3 rotation matrix.

    Raises :class:`ShapeError` if ``m`` is not 3x3 or not a proper rotation (orthonormal
    with determinant +1, within ``tolerance``).
    """
    r = np.asarray(m, dtype=np.float64)
    if r.shape != (3, 3):
        raise ShapeError(field, f"shape {r.shape}", "expected a 3x3 rotation matrix")
    if not np.all(np.isfinite(r)):
        raise ShapeError(field, r.tolist(), "contains NaN or inf")
    err = float(np.max(np.abs(r.T @ r - np.eye(3))))
    if err > tolerance or np.linalg.det(r) < 0.0:
        raise ShapeError(field, r.tolist(), "is not a rotation matrix "
                         f"(orthonormality error {err:.3g}, det {np.linalg.det(r):.6g})",
                         hint="orthonormalise it first (e.g. via an SVD)")
    trace = r[0, 0] + r[1, 1] + r[2, 2]
    if trace > 0.0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = ((r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, s / 4)
    elif r[0, 0] >= r[1, 1] and r[0, 0] >= r[2, 2]:
        s = 2.0 * math.sqrt(max(1.0 + r[0, 0] - r[1, 1] - r[2, 2], 0.0))
        q = (s / 4, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s)
    elif r[1, 1] >= r[2, 2]:
        s = 2.0 * math.sqrt(max(1.0 + r[1, 1] - r[0, 0] - r[2, 2], 0.0))
        q = ((r[0, 1] + r[1, 0]) / s, s / 4, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s)
    else:
        s = 2.0 * math.sqrt(max(1.0 + r[2, 2] - r[0, 0] - r[1, 1], 0.0))
        q = ((r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, s / 4, (r[1, 0] - r[0, 1]) / s)
    x, y, z, w = (float(c) for c in q)
    if w < 0.0:
        x, y, z, w = -x, -y, -z, -w
    n = math.sqrt(x * x + y * y + z * z + w * w)
    return (x / n, y / n, z / n, w / n)


def quat_from_euler(roll: float, pitch: float, yaw: float) -> Quat:
    """Quaternion of extrinsic X-Y-Z rotations (see the module docstring)."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy)


def euler_from_quat(q: Quat) -> tuple[float, float, float]:
    """``(roll, pitch, yaw)`` of a unit quaternion (see the module docstring)."""
    r = matrix_from_quat(q)
    sp = -float(r[2, 0])
    if abs(sp) >= 1.0 - 1e-12:
        pitch = math.copysign(math.pi / 2, sp)
        # gimbal lock: only yaw - roll (pitch > 0) or yaw + roll (pitch < 0) is defined
        yaw = math.atan2(-float(r[0, 1]), float(r[1, 1]))
        return (0.0, pitch, yaw)
    pitch = math.asin(sp)
    roll = math.atan2(float(r[2, 1]), float(r[2, 2]))
    yaw = math.atan2(float(r[1, 0]), float(r[0, 0]))
    return (roll, pitch, yaw)


def rotate_vectors(q: Quat, points: npt.ArrayLike) -> FloatArray:
    """Rotate one point ``(3,)`` or many ``(N, 3)`` by the unit quaternion ``q``."""
    p = np.asarray(points, dtype=np.float64)
    if p.shape[-1:] != (3,) or p.ndim > 2:
        raise ShapeError("points", f"shape {p.shape}", "expected shape (3,) or (N, 3)")
    return p @ matrix_from_quat(q).T
