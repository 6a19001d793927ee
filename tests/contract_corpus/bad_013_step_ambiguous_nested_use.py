"""An ambiguous field read inside an expression in step()."""
from _shared import Command, Imu, Pose

from retriever.flow import Flow, Pipeline, Rate


class Speed(Flow[tuple[Imu, Pose], Command]):
    def step(self, inp: tuple[Imu, Pose]) -> Command:
        gain = 2.0
        if inp.Imu.stamp > 0:  # type: ignore[attr-defined]
            gain = 3.0
        return Command(action=gain * inp.y)  # type: ignore[attr-defined]  # expect: RET003


pipe = Pipeline("p")
pipe.add(Speed() @ Rate(hz=10))
