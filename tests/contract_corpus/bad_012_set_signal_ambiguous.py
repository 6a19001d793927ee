"""_set_signal with an unqualified ambiguous name."""
from _shared import Imu, Pose

from retriever.flow import Flow, Pipeline, Rate


class Reset(Flow[tuple[Imu, Pose], None]):
    def step(self, input: tuple[Imu, Pose]) -> None:
        input._set_signal("x", 0.0)  # type: ignore[attr-defined]  # expect: RET003


pipe = Pipeline("p")
pipe.add(Reset() @ Rate(hz=10))
