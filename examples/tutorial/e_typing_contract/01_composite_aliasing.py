"""Composite signatures and aliasing: ``Flow[(A, B), C]`` and colliding class names.

Run: ``python -m examples.tutorial.e_typing_contract.01_composite_aliasing``
"""

from __future__ import annotations

from retriever.contract.errors import AmbiguousFieldError
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io

from . import left, right


@io
class Pose:
    """A planar pose."""

    x: float
    y: float


@io
class Velocity:
    """A planar velocity (also has an ``x``)."""

    x: float
    vy: float


@io
class Report:
    """What the fusion flow produces."""

    text: str


class PoseSource(Flow[None, Pose]):
    """A fixed pose."""

    def step(self, _: None) -> Pose:
        return Pose(x=1.0, y=2.0)


class VelSource(Flow[None, Velocity]):
    """A fixed velocity."""

    def step(self, _: None) -> Velocity:
        return Velocity(x=0.5, vy=-0.5)


class Fuse(Flow[tuple[Pose, Velocity], Report]):
    """Reads both envelopes: unique fields unqualified, shared ones qualified."""

    def step(self, input: tuple[Pose, Velocity]) -> Report:
        view = input
        try:
            _ = view.x  # type: ignore[attr-defined]
        except AmbiguousFieldError as err:
            print(f"    unqualified 'x' is ambiguous: {err.hint}")
        y = view.y  # type: ignore[attr-defined]   # unique: only Pose has y
        text = f"pose.x={view.Pose.x} vel.x={view._get_signal('Velocity.x')} y={y}"  # type: ignore[attr-defined]
        return Report(text=text)


class Twins(Flow[tuple[left.Reading, right.Reading], Report]):
    """Two classes named ``Reading`` from different modules: aliased Reading__1/__2."""

    def step(self, input: tuple[left.Reading, right.Reading]) -> Report:
        a = input.Reading__1.value  # type: ignore[attr-defined]
        b = input.Reading__2.value  # type: ignore[attr-defined]
        return Report(text=f"left={a} right={b}")


class LeftSrc(Flow[None, left.Reading]):
    """Left reading."""

    def step(self, _: None) -> left.Reading:
        return left.Reading(value=1)


class RightSrc(Flow[None, right.Reading]):
    """Right reading."""

    def step(self, _: None) -> right.Reading:
        return right.Reading(value=2)


def build() -> Pipeline:
    """Both composites wired with qualified port names where needed."""
    pipe = Pipeline("composites")
    fuse = Fuse() @ Rate(hz=10)
    pipe.connect(PoseSource() @ Rate(hz=10), fuse, sync=Latest(),
                 map={"x": "Pose.x", "y": "Pose.y"})
    pipe.connect(VelSource() @ Rate(hz=10), fuse, sync=Latest(),
                 map={"x": "Velocity.x", "vy": "vy"})
    twins = Twins() @ Trigger("Reading__1.value", "Reading__2.value")
    pipe.connect(LeftSrc() @ Rate(hz=10), twins, sync=Latest(), map={"value": "Reading__1.value"})
    pipe.connect(RightSrc() @ Rate(hz=10), twins, sync=Latest(), map={"value": "Reading__2.value"})
    return pipe


def main() -> None:
    """Step once and print both reports."""
    pipe = build()
    r = pipe.step(dt=0.1)
    print(r.outputs["fuse"].text)
    print(r.outputs["twins"].text)
    pipe.close_stepper()


if __name__ == "__main__":
    main()
