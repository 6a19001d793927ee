"""Shared flows of the edge fixtures (not a fixture itself)."""
from retriever.flow import Flow, io


@io
class Reading:
    value: float
    stamp: float


@io
class Command:
    action: float


@io
class Count:
    value: int


class Sensor(Flow[None, Reading]):
    def step(self, input: None) -> Reading:
        return Reading(value=1.0, stamp=0.0)


class Controller(Flow[Reading, Command]):
    def step(self, input: Reading) -> Command:
        return Command(action=input.value)


class Counter(Flow[Count, None]):
    def step(self, input: Count) -> None:
        return None


class Actuator(Flow[Command, None]):
    def step(self, input: Command) -> None:
        return None
