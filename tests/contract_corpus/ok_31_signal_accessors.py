"""Signal accessors with qualified and unique names."""
from _shared import Imu, Pose

from retriever.flow import Flow, Pipeline, Rate


class Patch(Flow[tuple[Imu, Pose], None]):
    def step(self, inp: tuple[Imu, Pose]) -> None:
        if inp._has_signal("theta"):
            inp._set_signal("Pose.x", inp._get_signal("Imu.x"))


pipe = Pipeline("p")
pipe.add(Patch() @ Rate(hz=10))
