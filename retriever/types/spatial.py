"""Spatial payload types, version 1 (``retriever/spatial/v1/...``).

Every type is an ``@io`` envelope (each field is a port), so it can be a flow's input
or output type directly (``Flow[PoseStamped, TwistStamped]``) or the type of a port in
your own envelope (``pose: Pose``). Fields have meaningful defaults - zero vectors, the
identity rotation, empty frame ids and arrays - so ``Pose()`` is the identity pose.

Conventions (see :mod:`retriever.types.rotation`): quaternions are stored ``(x, y, z, w)``;
Euler angles are extrinsic X-Y-Z ``(roll, pitch, yaw)``; a ``Transform`` named
``T_a_b`` maps points expressed in frame ``b`` into frame ``a``, and ``T_a_b @ T_b_c ==
T_a_c``. Times are integer nanoseconds (``stamp_ns``); distances metres; angles radians.

Values are not validated on construction (that would tax every message); call
``validate()`` at trust boundaries. It returns the value, so ``msg.validate().pose`` reads
well, and raises a :class:`~retriever.types.errors.PayloadError` subclass naming the
field and the bad value.
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from retriever.contract.envelope import io

from . import rotation as rot
from .checks import DEFAULT_UNIT_TOLERANCE, check_finite, check_frame_id, check_unit_norm
from .errors import FrameMismatchError, ShapeError
from .header import Header
from .joints import JointState
from .registry import register_type

__all__ = ["Header", "JointState", "Pose", "PoseStamped", "Quaternion", "Transform",
           "TransformStamped", "Twist", "TwistStamped", "Vector3", "Vector3Stamped", "Wrench",
           "WrenchStamped"]

FloatArray = npt.NDArray[np.float64]
_V1 = "retriever/spatial/v1/"


def _vec(values: npt.ArrayLike, n: int, field_name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ShapeError(field_name, f"shape {arr.shape}", f"expected shape ({n},)")
    return arr


@register_type(_V1 + "Vector3")
@io
class Vector3:
    """A 3-vector: a point, a translation, a velocity, a force..."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0

    def validate(self, field_name: str = "vector") -> Self:
        """Check every component is finite."""
        for name in ("x", "y", "z"):
            check_finite(f"{field_name}.{name}", getattr(self, name))
        return self

    def to_array(self) -> FloatArray:
        """``[x, y, z]`` as a float64 array."""
        return np.array((self.x, self.y, self.z), dtype=np.float64)

    @classmethod
    def from_array(cls, values: npt.ArrayLike) -> Self:
        """Build from three numbers (``ShapeError`` otherwise)."""
        a = _vec(values, 3, "Vector3")
        return cls(float(a[0]), float(a[1]), float(a[2]))

    def __add__(self, other: Vector3) -> Vector3:
        return Vector3(self.x + other.x, self.y + other.y, self.z + other.z)

    def __sub__(self, other: Vector3) -> Vector3:
        return Vector3(self.x - other.x, self.y - other.y, self.z - other.z)

    def __neg__(self) -> Vector3:
        return Vector3(-self.x, -self.y, -self.z)

    def scaled(self, k: float) -> Vector3:
        """This vector times the scalar ``k``."""
        return Vector3(self.x * k, self.y * k, self.z * k)

    def norm(self) -> float:
        """Euclidean length."""
        return math.sqrt(self.x * self.x + self.y * self.y + self.z * self.z)


@register_type(_V1 + "Quaternion")
@io
class Quaternion:
    """A rotation as a unit quaternion, stored ``(x, y, z, w)``; the default is no rotation."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    w: float = 1.0

    @classmethod
    def identity(cls) -> Self:
        """The rotation by zero."""
        return cls(0.0, 0.0, 0.0, 1.0)

    def as_tuple(self) -> rot.Quat:
        """``(x, y, z, w)``."""
        return (float(self.x), float(self.y), float(self.z), float(self.w))

    def validate(self, field_name: str = "quaternion",
                 tolerance: float = DEFAULT_UNIT_TOLERANCE) -> Self:
        """Check the components are finite and the norm is 1 within ``tolerance``."""
        for name in ("x", "y", "z", "w"):
            check_finite(f"{field_name}.{name}", getattr(self, name))
        check_unit_norm(field_name, self.as_tuple(), tolerance)
        return self

    def norm(self) -> float:
        """Euclidean norm of the four components."""
        return math.sqrt(sum(c * c for c in self.as_tuple()))

    def normalized(self, field_name: str = "quaternion") -> Quaternion:
        """This quaternion scaled to unit norm (zero or non-finite input raises)."""
        for name in ("x", "y", "z", "w"):
            check_finite(f"{field_name}.{name}", getattr(self, name))
        n = self.norm()
        if n == 0.0:
            check_unit_norm(field_name, self.as_tuple())  # raises with a hint
        return Quaternion(self.x / n, self.y / n, self.z / n, self.w / n)

    def conjugate(self) -> Quaternion:
        """The conjugate; for a unit quaternion, the inverse rotation."""
        return Quaternion(-self.x, -self.y, -self.z, self.w)

    inverse = conjugate

    def __mul__(self, other: Quaternion) -> Quaternion:
        """Hamilton product: ``(a * b)`` rotates by ``b`` first, then by ``a``."""
        return Quaternion(*rot.quat_multiply(self.as_tuple(), other.as_tuple()))

    def rotate(self, v: Vector3) -> Vector3:
        """Rotate the vector ``v``."""
        return Vector3.from_array(rot.rotate_vectors(self.as_tuple(), v.to_array()))

    def angle_to(self, other: Quaternion) -> float:
        """The angle (radians, in [0, pi]) of the rotation taking ``self`` to ``other``."""
        d = abs(sum(a * b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)))
        return 2.0 * math.acos(min(1.0, d))

    def to_array(self) -> FloatArray:
        """``[x, y, z, w]`` as a float64 array."""
        return np.array(self.as_tuple(), dtype=np.float64)

    @classmethod
    def from_array(cls, values: npt.ArrayLike) -> Self:
        """Build from ``[x, y, z, w]`` (not normalised; see :meth:`normalized`)."""
        a = _vec(values, 4, "Quaternion")
        return cls(float(a[0]), float(a[1]), float(a[2]), float(a[3]))

    def to_matrix(self) -> FloatArray:
        """The 3x3 rotation matrix (the quaternion must be unit)."""
        return rot.matrix_from_quat(self.as_tuple())

    @classmethod
    def from_matrix(cls, matrix: npt.ArrayLike) -> Self:
        """The quaternion (with ``w >= 0``) of a 3x3 rotation matrix."""
        return cls(*rot.quat_from_matrix(matrix))

    @classmethod
    def from_euler(cls, roll: float, pitch: float, yaw: float) -> Self:
        """From extrinsic X-Y-Z angles in radians (``R = Rz(yaw) Ry(pitch) Rx(roll)``)."""
        return cls(*rot.quat_from_euler(roll, pitch, yaw))

    def to_euler(self) -> tuple[float, float, float]:
        """``(roll, pitch, yaw)`` in radians, the inverse of :meth:`from_euler`."""
        return rot.euler_from_quat(self.as_tuple())

    @classmethod
    def from_axis_angle(cls, axis: Vector3, angle: float) -> Self:
        """The rotation by ``angle`` radians about ``axis`` (need not be unit length)."""
        n = axis.norm()
        if n == 0.0 or not math.isfinite(n):
            raise ShapeError("axis", axis, "needs a finite, non-zero rotation axis")
        s = math.sin(angle / 2) / n
        return cls(axis.x * s, axis.y * s, axis.z * s, math.cos(angle / 2))


def _se3_matrix(t: Vector3, q: Quaternion) -> FloatArray:
    m = np.eye(4)
    m[:3, :3] = q.to_matrix()
    m[:3, 3] = t.to_array()
    return m


def _se3_from_matrix(matrix: npt.ArrayLike, what: str) -> tuple[Vector3, Quaternion]:
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4):
        raise ShapeError(what, f"shape {m.shape}", "expected a 4x4 homogeneous matrix")
    if not np.allclose(m[3], (0.0, 0.0, 0.0, 1.0)):
        raise ShapeError(what, m[3].tolist(), "the last row of a rigid transform must be "
                         "[0, 0, 0, 1]")
    return Vector3.from_array(m[:3, 3]), Quaternion.from_matrix(m[:3, :3])


@register_type(_V1 + "Transform")
@io
class Transform:
    """A rigid transform (SE(3)): rotate by ``rotation``, then translate by ``translation``.

    ``T_a_b`` maps coordinates in frame ``b`` to frame ``a``: ``p_a = T_a_b.apply(p_b)``.
    """

    translation: Vector3 = field(default_factory=Vector3)
    rotation: Quaternion = field(default_factory=Quaternion)

    @classmethod
    def identity(cls) -> Self:
        """The transform that changes nothing."""
        return cls(Vector3(), Quaternion())

    def validate(self, field_name: str = "transform",
                 tolerance: float = DEFAULT_UNIT_TOLERANCE) -> Self:
        """Check the translation is finite and the rotation a unit quaternion."""
        self.translation.validate(f"{field_name}.translation")
        self.rotation.validate(f"{field_name}.rotation", tolerance)
        return self

    def compose(self, other: Transform) -> Transform:
        """``self`` after ``other``: ``T_a_b.compose(T_b_c) == T_a_c`` (also ``@``)."""
        return Transform(self.translation + self.rotation.rotate(other.translation),
                         self.rotation * other.rotation)

    def __matmul__(self, other: Transform) -> Transform:
        return self.compose(other)

    def inverse(self) -> Transform:
        """The transform undoing this one: ``T.compose(T.inverse())`` is the identity."""
        inv = self.rotation.conjugate()
        return Transform(-inv.rotate(self.translation), inv)

    def apply(self, point: Vector3) -> Vector3:
        """Transform a point (rotation, then translation)."""
        return self.rotation.rotate(point) + self.translation

    def apply_points(self, points: npt.ArrayLike) -> FloatArray:
        """Transform a ``(3,)`` point or an ``(N, 3)`` array of points at once."""
        return rot.rotate_vectors(self.rotation.as_tuple(), points) + self.translation.to_array()

    def apply_pose(self, pose: Pose) -> Pose:
        """Re-express ``pose`` (given in this transform's source frame) in its target frame."""
        t = self.compose(pose.as_transform())
        return Pose(t.translation, t.rotation)

    def as_pose(self) -> Pose:
        """The pose with the same position and orientation."""
        return Pose(self.translation, self.rotation)

    def to_matrix(self) -> FloatArray:
        """The 4x4 homogeneous matrix."""
        return _se3_matrix(self.translation, self.rotation)

    @classmethod
    def from_matrix(cls, matrix: npt.ArrayLike) -> Self:
        """From a 4x4 homogeneous matrix (its 3x3 block must be a rotation)."""
        return cls(*_se3_from_matrix(matrix, "Transform matrix"))

    def to_array(self) -> FloatArray:
        """``[tx, ty, tz, qx, qy, qz, qw]``."""
        return np.concatenate((self.translation.to_array(), self.rotation.to_array()))

    @classmethod
    def from_array(cls, values: npt.ArrayLike) -> Self:
        """From ``[tx, ty, tz, qx, qy, qz, qw]``."""
        a = _vec(values, 7, "Transform")
        return cls(Vector3.from_array(a[:3]), Quaternion.from_array(a[3:]))


@register_type(_V1 + "Pose")
@io
class Pose:
    """A position and orientation (SE(3)) of something in some frame."""

    position: Vector3 = field(default_factory=Vector3)
    orientation: Quaternion = field(default_factory=Quaternion)

    def validate(self, field_name: str = "pose",
                 tolerance: float = DEFAULT_UNIT_TOLERANCE) -> Self:
        """Check the position is finite and the orientation a unit quaternion."""
        self.position.validate(f"{field_name}.position")
        self.orientation.validate(f"{field_name}.orientation", tolerance)
        return self

    def as_transform(self) -> Transform:
        """The transform from the body's frame to the frame the pose is given in."""
        return Transform(self.position, self.orientation)

    def to_matrix(self) -> FloatArray:
        """The 4x4 homogeneous matrix."""
        return _se3_matrix(self.position, self.orientation)

    @classmethod
    def from_matrix(cls, matrix: npt.ArrayLike) -> Self:
        """From a 4x4 homogeneous matrix."""
        return cls(*_se3_from_matrix(matrix, "Pose matrix"))

    def to_array(self) -> FloatArray:
        """``[x, y, z, qx, qy, qz, qw]``."""
        return np.concatenate((self.position.to_array(), self.orientation.to_array()))

    @classmethod
    def from_array(cls, values: npt.ArrayLike) -> Self:
        """From ``[x, y, z, qx, qy, qz, qw]``."""
        a = _vec(values, 7, "Pose")
        return cls(Vector3.from_array(a[:3]), Quaternion.from_array(a[3:]))


@register_type(_V1 + "Twist")
@io
class Twist:
    """Velocity in free space: linear (m/s) and angular (rad/s) parts."""

    linear: Vector3 = field(default_factory=Vector3)
    angular: Vector3 = field(default_factory=Vector3)

    def validate(self, field_name: str = "twist") -> Self:
        """Check every component is finite."""
        self.linear.validate(f"{field_name}.linear")
        self.angular.validate(f"{field_name}.angular")
        return self

    def to_array(self) -> FloatArray:
        """``[vx, vy, vz, wx, wy, wz]``."""
        return np.concatenate((self.linear.to_array(), self.angular.to_array()))

    @classmethod
    def from_array(cls, values: npt.ArrayLike) -> Self:
        """From ``[vx, vy, vz, wx, wy, wz]``."""
        a = _vec(values, 6, "Twist")
        return cls(Vector3.from_array(a[:3]), Vector3.from_array(a[3:]))


@register_type(_V1 + "Wrench")
@io
class Wrench:
    """Force (N) and torque (N m) applied at a frame's origin."""

    force: Vector3 = field(default_factory=Vector3)
    torque: Vector3 = field(default_factory=Vector3)

    def validate(self, field_name: str = "wrench") -> Self:
        """Check every component is finite."""
        self.force.validate(f"{field_name}.force")
        self.torque.validate(f"{field_name}.torque")
        return self

    def to_array(self) -> FloatArray:
        """``[fx, fy, fz, tx, ty, tz]``."""
        return np.concatenate((self.force.to_array(), self.torque.to_array()))

    @classmethod
    def from_array(cls, values: npt.ArrayLike) -> Self:
        """From ``[fx, fy, fz, tx, ty, tz]``."""
        a = _vec(values, 6, "Wrench")
        return cls(Vector3.from_array(a[:3]), Vector3.from_array(a[3:]))


# ----------------------------------------------------------------------- stamped types

def _check_stamped(value: Any, field_name: str, require_frame: bool) -> None:
    value.header.validate(f"{field_name}.header", require_frame=require_frame)


@register_type(_V1 + "Vector3Stamped")
@io
class Vector3Stamped:
    """A vector with the frame and time it refers to."""

    header: Header = field(default_factory=Header)
    vector: Vector3 = field(default_factory=Vector3)

    def validate(self, field_name: str = "vector3_stamped", *,
                 require_frame: bool = True) -> Self:
        """Check the header (frame required by default) and the vector."""
        _check_stamped(self, field_name, require_frame)
        self.vector.validate(f"{field_name}.vector")
        return self


@register_type(_V1 + "PoseStamped")
@io
class PoseStamped:
    """A pose with the frame it is expressed in and its time."""

    header: Header = field(default_factory=Header)
    pose: Pose = field(default_factory=Pose)

    def validate(self, field_name: str = "pose_stamped", *, require_frame: bool = True,
                 tolerance: float = DEFAULT_UNIT_TOLERANCE) -> Self:
        """Check the header (frame required by default) and the pose."""
        _check_stamped(self, field_name, require_frame)
        self.pose.validate(f"{field_name}.pose", tolerance)
        return self


@register_type(_V1 + "TransformStamped")
@io
class TransformStamped:
    """The transform from ``child_frame_id`` to ``header.frame_id`` at a time."""

    header: Header = field(default_factory=Header)
    child_frame_id: str = ""
    transform: Transform = field(default_factory=Transform)

    def validate(self, field_name: str = "transform_stamped", *, require_frame: bool = True,
                 tolerance: float = DEFAULT_UNIT_TOLERANCE) -> Self:
        """Check both frame ids (required by default) and the transform."""
        _check_stamped(self, field_name, require_frame)
        if require_frame:
            check_frame_id(f"{field_name}.child_frame_id", self.child_frame_id)
        self.transform.validate(f"{field_name}.transform", tolerance)
        return self

    def compose(self, other: TransformStamped) -> TransformStamped:
        """Chain ``a <- b`` with ``b <- c`` into ``a <- c``; the frames must meet.

        The result carries the later of the two stamps. Also available as ``@``.
        """
        if self.child_frame_id != other.header.frame_id:
            raise FrameMismatchError(
                "child_frame_id", self.child_frame_id,
                f"cannot be chained with a transform from {other.header.frame_id!r}",
                hint="compose T_a_b with T_b_c: the first child frame must be the second "
                     "parent frame")
        stamp = max(self.header.stamp_ns, other.header.stamp_ns)
        return TransformStamped(Header(self.header.frame_id, stamp), other.child_frame_id,
                                self.transform.compose(other.transform))

    def __matmul__(self, other: TransformStamped) -> TransformStamped:
        return self.compose(other)

    def inverse(self) -> TransformStamped:
        """The transform the other way round (frames swapped, same stamp)."""
        return TransformStamped(Header(self.child_frame_id, self.header.stamp_ns),
                                self.header.frame_id, self.transform.inverse())


@register_type(_V1 + "TwistStamped")
@io
class TwistStamped:
    """A twist with the frame it is expressed in and its time."""

    header: Header = field(default_factory=Header)
    twist: Twist = field(default_factory=Twist)

    def validate(self, field_name: str = "twist_stamped", *,
                 require_frame: bool = True) -> Self:
        """Check the header (frame required by default) and the twist."""
        _check_stamped(self, field_name, require_frame)
        self.twist.validate(f"{field_name}.twist")
        return self


@register_type(_V1 + "WrenchStamped")
@io
class WrenchStamped:
    """A wrench with the frame it is expressed in and its time."""

    header: Header = field(default_factory=Header)
    wrench: Wrench = field(default_factory=Wrench)

    def validate(self, field_name: str = "wrench_stamped", *,
                 require_frame: bool = True) -> Self:
        """Check the header (frame required by default) and the wrench."""
        _check_stamped(self, field_name, require_frame)
        self.wrench.validate(f"{field_name}.wrench")
        return self
