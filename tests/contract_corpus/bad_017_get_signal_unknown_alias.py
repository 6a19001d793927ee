"""_get_signal naming an envelope the view lacks."""
from _shared import Command, Imu, Pose

from retriever.flow import Flow, Pipeline, Rate


class Steer(Flow[tuple[Imu, Pose], Command]):
    def step(self, input: tuple[Imu, Pose]) -> Command:
        return Command(action=input._get_signal("Gps.x"))  # type: ignore[attr-defined]  # expect: RET006


pipe = Pipeline("p")
pipe.add(Steer() @ Rate(hz=10))
