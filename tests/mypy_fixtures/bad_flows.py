"""Flow classes breaking the signature rules (RET001, RET002, RET005)."""
from retriever.flow import Flow, io


@io
class Reading:
    value: float


@io
class Command:
    action: float


class NotEnvelope(Flow[int, Command]):
    def step(self, input: int) -> Command:
        return Command(action=float(input))


class MixedNone(Flow[(Reading, None), Command]):
    def step(self, input: tuple[Reading, None]) -> Command:
        return Command(action=input[0].value)


class WrongReturn(Flow[Reading, Command]):
    def step(self, input: Reading) -> Reading:  # type: ignore[override]
        return input


class Base(Flow[Reading, Command]):
    pass


class Derived(Base):
    def step(self, input: Reading) -> Reading:  # type: ignore[override]
        return input


class Outer:
    class Inner(Flow[Reading, str]):
        def step(self, input: Reading) -> str:
            return "x"


class Silenced(Flow[int, Command]):  # type: ignore[RET001]
    def step(self, input: int) -> Command:
        return Command(action=0.0)
