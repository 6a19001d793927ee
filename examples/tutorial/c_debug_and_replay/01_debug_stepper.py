"""Stepping with a debugger, and what a flow exception looks like.

Put a breakpoint in ``Divide.step`` and run this under your debugger: the stepper calls
``step`` in this very process. The third step divides by zero; the error names the flow
and carries the original traceback (``err.__cause__``).

Run: ``python -m examples.tutorial.c_debug_and_replay.01_debug_stepper``
"""

from __future__ import annotations

from retriever.contract.errors import FlowError
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io


@io
class Num:
    """A number."""

    value: float


class Countdown(Flow[None, Num]):
    """2, 1, 0, ..."""

    def reset(self) -> None:
        self.n = 3.0

    def step(self, _: None) -> Num:
        self.n -= 1
        return Num(value=self.n)


class Divide(Flow[Num, Num]):
    """10 / value: fails when the value reaches zero."""

    def step(self, input: Num) -> Num:
        return Num(value=10.0 / (input.value or 0.0))


def main() -> None:
    """Step until the failure and show how it is reported."""
    pipe = Pipeline("debug")
    src = Countdown() @ Rate(hz=10)
    div = Divide() @ Trigger("value")
    pipe.connect(src, div, sync=Latest())
    try:
        for _ in range(3):
            r = pipe.step(dt=0.1)
            print(f"t={r.now:.1f} inputs={r.inputs['divide']} outputs={r.outputs['divide']}")
    except FlowError as err:
        print(f"caught FlowError for flow {err.flow!r}: {type(err.__cause__).__name__}")
        print(err.traceback_text.strip().splitlines()[-1])
    finally:
        pipe.close_stepper()


if __name__ == "__main__":
    main()
