"""retriever.types.spatial: types, validators, algebra (property tests), codec, flows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retriever.contract.envelope import envelope_ports, is_envelope
from retriever.contract.errors import RetrieverError
from retriever.contract.wire import MessageCodec
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger
from retriever.types.errors import (
    EmptyFrameError,
    FrameMismatchError,
    LengthMismatchError,
    NonFiniteError,
    PayloadError,
    QuaternionNormError,
    ShapeError,
)
from retriever.types.spatial import (
    Header,
    JointState,
    Pose,
    PoseStamped,
    Quaternion,
    Transform,
    TransformStamped,
    Twist,
    TwistStamped,
    Vector3,
    Vector3Stamped,
    Wrench,
    WrenchStamped,
)

ALL = [Header, Vector3, Quaternion, Pose, Transform, Twist, Wrench, JointState,
       Vector3Stamped, PoseStamped, TransformStamped, TwistStamped, WrenchStamped]

coord = st.floats(-100.0, 100.0, allow_nan=False)
angle = st.floats(-math.pi, math.pi)


@st.composite
def quaternions(draw: st.DrawFn) -> Quaternion:
    c = [draw(st.floats(-1.0, 1.0)) for _ in range(4)]
    n = math.sqrt(sum(x * x for x in c))
    if n < 1e-3:
        return Quaternion()
    return Quaternion(*(x / n for x in c))


vectors = st.builds(Vector3, coord, coord, coord)
transforms = st.builds(Transform, vectors, quaternions())


def close_t(a: Transform, b: Transform, tol: float = 1e-6) -> bool:
    return bool(np.allclose(a.to_matrix(), b.to_matrix(), atol=tol))


# --------------------------------------------------------------------------- envelopes

@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_type_is_an_envelope_with_defaults_and_round_trips_the_codec(cls: type) -> None:
    assert is_envelope(cls)
    value = cls()
    assert envelope_ports(cls)
    codec = MessageCodec({"v": cls})
    back = codec.decode(codec.encode({"v": value}))["v"]
    assert type(back) is cls
    assert back == value


def test_defaults_are_zero_and_identity() -> None:
    assert Pose().to_array().tolist() == [0, 0, 0, 0, 0, 0, 1]
    assert Transform.identity() == Transform()
    assert Quaternion.identity() == Quaternion()
    assert Header() == Header("", 0)
    assert len(JointState()) == 0


def test_nested_values_round_trip_the_codec_exactly() -> None:
    ts = TransformStamped(Header("map", 1_700_000_000_123_456_789), "base",
                          Transform(Vector3(1.5, -2, 3), Quaternion.from_euler(0.1, 0.2, 0.3)))
    js = JointState.make(["a", "b", "c"], [1.0, 2.0, 3.0], [0.1, 0.2, 0.3], [],
                         Header("arm", 5))
    codec = MessageCodec({"ts": TransformStamped, "js": JointState})
    back = codec.decode(codec.encode({"ts": ts, "js": js}))
    assert back["ts"] == ts
    assert back["ts"].header.stamp_ns == 1_700_000_000_123_456_789
    assert back["js"] == js
    assert back["js"].positions.dtype == np.float64


def test_spatial_types_work_as_flow_inputs_and_outputs() -> None:
    class Odom(Flow[None, PoseStamped]):
        def reset(self) -> None:
            self.k = 0

        def step(self, _: None) -> PoseStamped:
            self.k += 1
            return PoseStamped(Header("odom", self.k * 100), Pose(Vector3(self.k, 0, 0)))

    class Controller(Flow[PoseStamped, TwistStamped]):
        def step(self, inp: PoseStamped) -> TwistStamped:
            x = inp.validate().pose.position.x
            return TwistStamped(inp.header, Twist(linear=Vector3(-x, 0, 0)))

    class Sink(Flow[TwistStamped, None]):
        def reset(self) -> None:
            self.seen: list[float] = []

        def step(self, inp: TwistStamped) -> None:
            self.seen.append(inp.twist.linear.x)

    pipe = Pipeline("spatial")
    odom = Odom() @ Rate(hz=10)
    ctl = Controller() @ Trigger("header", "pose")
    sink = Sink() @ Trigger("header", "twist")
    pipe.connect(odom, ctl, sync=Latest())
    pipe.connect(ctl, sink, sync=Latest())
    r = pipe.step(dt=0.1)
    assert r.outputs["controller"] == TwistStamped(Header("odom", 100),
                                                   Twist(linear=Vector3(-1, 0, 0)))
    pipe.step(dt=0.1)
    pipe.close_stepper()
    assert sink.flow.seen == [-1, -2]  # type: ignore[attr-defined]


def test_a_port_the_clock_does_not_sample_is_none() -> None:
    class Odom(Flow[None, PoseStamped]):
        def step(self, _: None) -> PoseStamped:
            return PoseStamped(Header("odom", 7), Pose(Vector3(1, 2, 3)))

    class Probe(Flow[PoseStamped, None]):
        def reset(self) -> None:
            self.seen: list[PoseStamped] = []

        def step(self, inp: PoseStamped) -> None:
            self.seen.append(inp)

    pipe = Pipeline("defaults")
    odom = Odom() @ Rate(hz=10)
    probe = Probe() @ Trigger("pose")  # samples only the triggering port
    pipe.connect(odom, probe, sync=Latest())
    pipe.step(dt=0.1)
    pipe.close_stepper()
    (seen,) = probe.flow.seen  # type: ignore[attr-defined]
    assert seen.pose == Pose(Vector3(1, 2, 3))
    assert seen.header is None  # not sampled: carried nothing, despite the class default


# --------------------------------------------------------------------------- validation

def test_non_finite_numbers_are_rejected_naming_field_and_value() -> None:
    with pytest.raises(NonFiniteError) as info:
        Pose(Vector3(1.0, math.nan, 0.0)).validate()
    err = info.value
    assert err.field == "pose.position.y" and math.isnan(err.value)
    assert err.code == "RET721" and isinstance(err, RetrieverError) and isinstance(err, ValueError)
    assert "pose.position.y" in str(err)
    with pytest.raises(NonFiniteError, match=r"wrench.torque.z = inf"):
        Wrench(torque=Vector3(0, 0, math.inf)).validate()
    with pytest.raises(NonFiniteError, match=r"twist\.angular\.x"):
        Twist(angular=Vector3(-math.inf)).validate()
    with pytest.raises(NonFiniteError, match=r"joint_state.velocities\[1\]"):
        JointState.make(["a", "b"], velocities=[0.0, math.nan]).validate()
    JointState.make(["a"], positions=[math.nan]).validate(finite=False)


def test_non_unit_quaternions_are_rejected_beyond_the_tolerance() -> None:
    q = Quaternion(0.0, 0.0, 0.0, 1.0 + 1e-4)
    with pytest.raises(QuaternionNormError) as info:
        q.validate()
    assert info.value.field == "quaternion" and info.value.code == "RET722"
    assert "normalized()" in info.value.hint
    q.validate(tolerance=1e-3)
    assert q.normalized().validate() == Quaternion()
    with pytest.raises(QuaternionNormError, match=r"pose\.orientation"):
        Pose(orientation=Quaternion(1, 1, 0, 0)).validate()
    with pytest.raises(QuaternionNormError):
        Quaternion(0, 0, 0, 0).normalized()
    with pytest.raises(NonFiniteError, match=r"quaternion\.x"):
        Quaternion(math.nan, 0, 0, 1).validate()
    n = Quaternion(1, 2, 3, 4).normalized()
    assert n.norm() == pytest.approx(1.0)
    assert n.to_array() == pytest.approx(np.array([1, 2, 3, 4]) / math.sqrt(30))


def test_joint_arrays_must_match_the_names() -> None:
    with pytest.raises(LengthMismatchError) as info:
        JointState.make(["a", "b"], [1.0, 2.0], efforts=[1.0]).validate()
    assert info.value.field == "joint_state.efforts"
    assert info.value.code == "RET723"
    assert "1 entries" in str(info.value) and "2" in str(info.value)
    JointState.make(["a", "b"], [1.0, 2.0]).validate()  # empty = not measured
    with pytest.raises(ShapeError, match="more than once"):
        JointState(names=["a", "a"]).validate()
    with pytest.raises(ShapeError, match="one-dimensional float"):
        JointState(names=["a"], positions=np.array([[1.0]])).validate()
    with pytest.raises(ShapeError, match=r"names\[0\]"):
        JointState(names=[""]).validate()


def test_frame_ids_are_required_on_stamped_types() -> None:
    with pytest.raises(EmptyFrameError) as info:
        PoseStamped().validate()
    assert info.value.field == "pose_stamped.header.frame_id" and info.value.code == "RET724"
    PoseStamped().validate(require_frame=False)
    with pytest.raises(EmptyFrameError, match="child_frame_id"):
        TransformStamped(Header("map"), "  ").validate()
    for cls in (Vector3Stamped, TwistStamped, WrenchStamped):
        with pytest.raises(EmptyFrameError):
            cls().validate()
        assert cls(Header("base")).validate() == cls(Header("base"))
    JointState().validate()  # optional for joint states
    with pytest.raises(EmptyFrameError):
        JointState().validate(require_frame=True)
    with pytest.raises(ShapeError, match="stamp_ns"):
        Header("map", 1.5).validate()  # type: ignore[arg-type]


def test_payload_errors_share_a_base_class() -> None:
    for cls in (NonFiniteError, QuaternionNormError, LengthMismatchError, EmptyFrameError,
                ShapeError, FrameMismatchError):
        assert issubclass(cls, PayloadError)
    assert len({c.code for c in (NonFiniteError, QuaternionNormError, LengthMismatchError,
                                 EmptyFrameError, ShapeError, FrameMismatchError)}) == 6


# --------------------------------------------------------------------------- operations

def test_rotation_conventions_are_as_documented() -> None:
    yaw90 = Quaternion.from_euler(0.0, 0.0, math.pi / 2)
    assert yaw90.to_array() == pytest.approx([0, 0, math.sin(math.pi / 4), math.cos(math.pi / 4)])
    assert yaw90.rotate(Vector3(1, 0, 0)).to_array() == pytest.approx([0, 1, 0])
    # extrinsic X then Z: roll 90 first, then yaw 90
    q = Quaternion.from_euler(math.pi / 2, 0.0, math.pi / 2)
    roll = Quaternion.from_axis_angle(Vector3(1, 0, 0), math.pi / 2)
    assert (yaw90 * roll).to_matrix() == pytest.approx(q.to_matrix())
    assert q.rotate(Vector3(0, 1, 0)).to_array() == pytest.approx([0, 0, 1], abs=1e-12)
    # Hamilton product: R(a*b) = R(a) R(b)
    assert (yaw90 * roll).to_matrix() == pytest.approx(yaw90.to_matrix() @ roll.to_matrix())


def test_transform_apply_and_pose_re_expression() -> None:
    t_map_base = Transform(Vector3(10, 0, 0), Quaternion.from_euler(0, 0, math.pi / 2))
    assert t_map_base.apply(Vector3(1, 0, 0)).to_array() == pytest.approx([10, 1, 0])
    pts = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    assert t_map_base.apply_points(pts) == pytest.approx(np.array([[10, 1, 0], [9, 0, 0]]))
    p = t_map_base.apply_pose(Pose(Vector3(1, 0, 0)))
    assert p.position.to_array() == pytest.approx([10, 1, 0])
    assert p.orientation.angle_to(t_map_base.rotation) == pytest.approx(0, abs=1e-7)
    assert t_map_base.as_pose().as_transform() == t_map_base
    with pytest.raises(ShapeError):
        t_map_base.apply_points(np.zeros((2, 2)))


def test_matrix_and_array_conversions_reject_bad_input() -> None:
    with pytest.raises(ShapeError, match="4x4"):
        Transform.from_matrix(np.eye(3))
    bad = np.eye(4)
    bad[3, 0] = 1.0
    with pytest.raises(ShapeError, match="last row"):
        Pose.from_matrix(bad)
    with pytest.raises(ShapeError, match="not a rotation"):
        Quaternion.from_matrix(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ShapeError, match="not a rotation"):
        Quaternion.from_matrix(np.eye(3) * 2)
    with pytest.raises(ShapeError):
        Vector3.from_array([1, 2])
    with pytest.raises(ShapeError):
        Quaternion.from_axis_angle(Vector3(), 1.0)
    assert Twist.from_array(range(6)).to_array().tolist() == list(range(6))
    assert Wrench.from_array(range(6)).to_array().tolist() == list(range(6))
    assert Transform.from_array(Pose().to_array()) == Transform()


def test_gimbal_lock_euler_angles_still_describe_the_rotation() -> None:
    for pitch in (math.pi / 2, -math.pi / 2):
        q = Quaternion.from_euler(0.3, pitch, 0.7)
        r, p, y = q.to_euler()
        assert p == pytest.approx(pitch) and r == 0.0
        assert Quaternion.from_euler(r, p, y).to_matrix() == pytest.approx(q.to_matrix())


def test_stamped_transforms_chain_only_when_frames_meet() -> None:
    a_b = TransformStamped(Header("a", 5), "b", Transform(Vector3(1, 0, 0)))
    b_c = TransformStamped(Header("b", 9), "c", Transform(Vector3(0, 2, 0)))
    a_c = a_b @ b_c
    assert (a_c.header.frame_id, a_c.child_frame_id, a_c.header.stamp_ns) == ("a", "c", 9)
    assert a_c.transform.translation.to_array() == pytest.approx([1, 2, 0])
    inv = a_c.inverse()
    assert (inv.header.frame_id, inv.child_frame_id) == ("c", "a")
    with pytest.raises(FrameMismatchError, match="child_frame_id"):
        b_c @ a_b


def test_vector_and_joint_helpers() -> None:
    v = Vector3(1, 2, 2)
    assert v.norm() == 3.0 and (v - v) == Vector3() and (-v).scaled(2) == Vector3(-2, -4, -4)
    js = JointState(names=["a", "b"], positions=(0.5, 1.5))  # type: ignore[arg-type]
    assert js.positions.dtype == np.float64 and js.position_of("b") == 1.5
    assert js.as_dict() == {"a": 0.5, "b": 1.5}
    with pytest.raises(KeyError, match="joints: a, b"):
        js.position_of("z")
    assert js != JointState.make(["a", "b"], (0.5, 2.0))
    assert JointState.make(["a"], [1]).positions.dtype == np.float64
    assert js != "not a joint state"
    assert Header("f", 1_500_000_000).stamp_s == 1.5


# --------------------------------------------------------------------------- algebra

@settings(max_examples=150, deadline=None)
@given(transforms)
def test_inverse_composes_to_identity(t: Transform) -> None:
    assert close_t(t @ t.inverse(), Transform.identity())
    assert close_t(t.inverse() @ t, Transform.identity())
    assert close_t(t.inverse().inverse(), t)


@settings(max_examples=150, deadline=None)
@given(transforms, transforms, transforms)
def test_composition_is_associative(a: Transform, b: Transform, c: Transform) -> None:
    assert close_t((a @ b) @ c, a @ (b @ c), tol=1e-6)


@settings(max_examples=150, deadline=None)
@given(transforms, transforms, vectors)
def test_composition_matches_matrices_and_application(a: Transform, b: Transform,
                                                      p: Vector3) -> None:
    assert np.allclose((a @ b).to_matrix(), a.to_matrix() @ b.to_matrix(), atol=1e-6)
    assert np.allclose(a.apply(b.apply(p)).to_array(), (a @ b).apply(p).to_array(), atol=1e-6)
    assert np.allclose(a.inverse().apply(a.apply(p)).to_array(), p.to_array(), atol=1e-6)


@settings(max_examples=150, deadline=None)
@given(transforms)
def test_matrix_and_array_round_trips(t: Transform) -> None:
    back = Transform.from_matrix(t.to_matrix())
    assert back.rotation.angle_to(t.rotation) < 1e-6  # q and -q are the same rotation
    assert close_t(back, t)
    assert Transform.from_array(t.to_array()) == t
    assert Pose.from_array(t.as_pose().to_array()) == t.as_pose()
    assert close_t(Pose.from_matrix(t.as_pose().to_matrix()).as_transform(), t)


@settings(max_examples=200, deadline=None)
@given(quaternions())
def test_quaternion_matrix_round_trip(q: Quaternion) -> None:
    m = q.to_matrix()
    assert np.allclose(m.T @ m, np.eye(3), atol=1e-9) and np.linalg.det(m) == pytest.approx(1)
    back = Quaternion.from_matrix(m)
    assert back.w >= 0 and back.angle_to(q) < 1e-6


@settings(max_examples=200, deadline=None)
@given(angle, st.floats(-1.5, 1.5), angle)
def test_euler_round_trip(roll: float, pitch: float, yaw: float) -> None:
    q = Quaternion.from_euler(roll, pitch, yaw)
    assert q.norm() == pytest.approx(1.0)
    r, p, y = q.to_euler()
    assert np.allclose(Quaternion.from_euler(r, p, y).to_matrix(), q.to_matrix(), atol=1e-9)
    assert p == pytest.approx(pitch, abs=1e-9)
    expected = (np.array([roll, yaw]) - np.array([r, y]) + math.pi) % (2 * math.pi) - math.pi
    assert np.allclose(expected, 0, atol=1e-7)
