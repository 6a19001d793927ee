from retriever.flow import Flow

from .envelopes import Count, Reading


class Sensor(Flow[None, Reading]):
    def step(self, input: None) -> Reading:
        return Reading(value=1.0)


class Base(Flow[Reading, Count]):
    pass


class Derived(Base):
    def step(self, input: Reading) -> Reading:  # type: ignore[override]
        return input


class Holder:
    class Nested(Flow[int, Count]):
        pass


class Counter(Flow[Count, None]):
    def step(self, input: Count) -> None:
        return None
