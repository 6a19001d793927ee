"""Composite inputs: the step's view is typed (aliases, unique fields, signals)."""
from retriever.flow import Flow, io


class left:
    @io
    class Reading:
        value: float


class right:
    @io
    class Reading:
        value: int


@io
class Imu:
    stamp: float
    x: float


@io
class Pose:
    x: float
    theta: int


@io
class Out:
    v: float


class Fuse(Flow[tuple[Imu, Pose], Out]):
    def step(self, inp: tuple[Imu, Pose]) -> Out:
        reveal_type(inp.Imu.stamp)
        reveal_type(inp.Pose)
        reveal_type(inp.theta)
        reveal_type(inp[1])
        first, second = inp
        reveal_type(second)
        reveal_type(inp._get_signal("Pose.x"))
        inp._set_signal("Imu.x", 1.0)
        bad: str = inp.theta
        return Out(v=inp.x)


class Twins(Flow[(left.Reading, right.Reading), Out]):
    def step(self, inp: tuple[left.Reading, right.Reading]) -> Out:
        reveal_type(inp.Reading__1.value)
        reveal_type(inp.Reading__2.value)
        return Out(v=inp.Reading__3.value)
