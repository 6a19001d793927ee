"""Connections breaking the edge rules (RET101-RET106, RET003)."""
import retriever
from retriever.flow import EdgeConfig, Events, Flow, Hold, Latest, Pipeline, Rate, Trigger, io


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


@io
class Left:
    value: float


@io
class Right:
    value: float


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


class Fuse(Flow[(Left, Right), None]):
    def step(self, input: tuple[Left, Right]) -> None:
        return None


pipe = Pipeline("edges")
sensor = Sensor() @ Rate(hz=10)
control = Controller() @ Rate(hz=10)
pipe.connect(sensor, Actuator() @ Rate(hz=10), sync=Latest())
pipe.connect(sensor, control, sync={"value": Latest(), "speed": Latest()})
pipe.connect(sensor, control, sync=Latest(), map={"value": "speed"})
pipe.connect(sensor, Counter() @ Rate(hz=10), sync=Latest(), map={"value": "value"})
pipe.connect(sensor, Counter() @ Rate(hz=10), sync=Events(duration=1.0), map={"value": "value"})
pipe.connect(sensor, control, sync={"value": Latest(), "stamp": Latest()},
             edge_config={"value": EdgeConfig(adapter=Hold())})
pipe.connect(sensor, control, sync=Latest(), edge_config=EdgeConfig(qsize=4))
fused = Fuse() @ Trigger("value")
unknown = Controller() @ Trigger("speed")
sensor >> Counter() @ Rate(hz=10)
sensor.then(control, map={"stamp": "nothing"})
retriever.connect(sensor, Actuator() @ Rate(hz=10))
with pipe:
    (Sensor() @ Rate(hz=1)).named("s2") >> (Counter() @ Rate(hz=1)).named("c2")
