"""step() reads unique fields unqualified and shared ones qualified."""
from _shared import Command, Imu, Pose

from retriever.flow import Flow, Pipeline, Rate


class Steer(Flow[tuple[Imu, Pose], Command]):
    def step(self, input: tuple[Imu, Pose]) -> Command:
        theta = input.theta
        x = input.Imu.x + input._get_signal("Pose.x")
        return Command(action=theta + x + input.stamp)


pipe = Pipeline("p")
pipe.add(Steer() @ Rate(hz=10))
