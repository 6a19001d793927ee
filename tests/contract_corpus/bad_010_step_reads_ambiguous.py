"""step() reads an unqualified field two envelopes have."""
from _shared import Command, Imu, Pose

from retriever.flow import Flow, Pipeline, Rate


class Steer(Flow[tuple[Imu, Pose], Command]):
    def step(self, input: tuple[Imu, Pose]) -> Command:
        return Command(action=input.x)  # type: ignore[attr-defined]  # expect: RET003


pipe = Pipeline("p")
pipe.add(Steer() @ Rate(hz=10))
