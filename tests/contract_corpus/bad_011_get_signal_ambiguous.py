"""_get_signal with an unqualified ambiguous name."""
from _shared import Command, Imu, Pose

from retriever.flow import Flow, Pipeline, Rate


class Steer(Flow[tuple[Imu, Pose], Command]):
    def step(self, input: tuple[Imu, Pose]) -> Command:
        y = input._get_signal("y")  # type: ignore[attr-defined]  # expect: RET003
        return Command(action=y)


pipe = Pipeline("p")
pipe.add(Steer() @ Rate(hz=10))
