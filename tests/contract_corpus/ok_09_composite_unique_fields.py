"""step() reads unique fields unqualified and shared ones qualified."""
from _shared import Command, Imu, Pose

from retriever.flow import Flow, Pipeline, Rate


class Steer(Flow[tuple[Imu, Pose], Command]):
    def step(self, input: tuple[Imu, Pose]) -> Command:
        theta = input.theta  # type: ignore[attr-defined]
        x = input.Imu.x + input._get_signal("Pose.x")  # type: ignore[attr-defined]
        return Command(action=theta + x + input.stamp)  # type: ignore[attr-defined]


pipe = Pipeline("p")
pipe.add(Steer() @ Rate(hz=10))
