"""Clean: the default map pairs Name__1/Name__2 ports by their exact qualified alias."""
import _edges
from _edges import Command

from retriever.flow import Flow, Latest, Pipeline, Rate, io


@io
class Pose:
    x: float
    y: float


@io
class Reading:  # shares its class name with _edges.Reading
    value: float


class TwoPoses(Flow[None, (Pose, Pose)]):
    def step(self, input: None) -> tuple[Pose, Pose]:
        return Pose(x=1.0, y=2.0), Pose(x=3.0, y=4.0)


class PosePair(Flow[(Pose, Pose), Command]):
    def step(self, input: tuple[Pose, Pose]) -> Command:
        return Command(action=0.0)


class TwoReadings(Flow[None, (_edges.Reading, Reading)]):
    def step(self, input: None) -> tuple[_edges.Reading, Reading]:
        return _edges.Reading(value=1.0, stamp=0.0), Reading(value=2.0)


class ReadingPair(Flow[(_edges.Reading, Reading), None]):
    def step(self, input: tuple[_edges.Reading, Reading]) -> None:
        return None


pipe = Pipeline("aliases")
pipe.connect(TwoPoses() @ Rate(hz=10), PosePair() @ Rate(hz=10), sync=Latest())
pipe.connect(TwoReadings() @ Rate(hz=10), ReadingPair() @ Rate(hz=10), sync=Latest())
