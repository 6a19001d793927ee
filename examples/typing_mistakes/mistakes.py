"""A module full of deliberate typing-contract mistakes.

``retriever check examples/typing_mistakes/mistakes.py`` and mypy with the
``retriever_mypy`` plugin flag each line marked ``# MISTAKE: RETnnn``; nothing else.
It is excluded from ``retriever check examples/`` and from mypy's run over examples
(see pyproject.toml), so the clean examples stay clean.
"""

from __future__ import annotations

from retriever.contract.errors import ContractError
from retriever.flow import EdgeConfig, Flow, Hold, Latest, Pipeline, Rate, Trigger, io
from retriever.flow.context import collecting


@io
class Temperature:
    """A temperature in Celsius."""

    celsius: float


@io
class Label:
    """A text label on a port also named ``celsius``."""

    celsius: str


@io
class Speed:
    """A speed."""

    mps: float


class Thermometer(Flow[None, Temperature]):
    """A source."""

    def step(self, _: None) -> Temperature:
        return Temperature(celsius=21.5)


class Display(Flow[Label, None]):
    """Wants text on ``celsius``."""

    def step(self, input: Label) -> None:
        print(input.celsius)


class Logger(Flow[Temperature, None]):
    """Accepts temperatures."""

    def step(self, input: Temperature) -> None:
        print(input.celsius)


class Broken(Flow[Temperature, Speed]):
    """Declares Speed as its output but says it returns a Temperature."""

    def step(self, input: Temperature) -> Temperature:  # MISTAKE: RET005
        return input


def build() -> Pipeline:
    """Each connection below breaks one rule."""
    pipe = Pipeline("mistakes")
    with collecting():  # record the mistakes instead of stopping at the first
        thermo = Thermometer() @ Rate(hz=10)
        pipe.connect(thermo, Display() @ Rate(hz=10), sync=Latest())  # MISTAKE: RET104
        pipe.connect(thermo, Logger() @ Rate(hz=10), map={"kelvin": "celsius"},  # MISTAKE: RET102
                     sync=Latest())
        pipe.connect(thermo, Logger() @ Rate(hz=10), sync={"celsius": Latest()},  # MISTAKE: RET105
                     edge_config={"celsius": EdgeConfig(adapter=Hold())})
        pipe.add(Logger() @ Trigger("fahrenheit"))  # MISTAKE: RET106
    return pipe


pipeline = build()

if __name__ == "__main__":
    try:
        pipeline.validate()
    except ContractError as err:
        print(err)
