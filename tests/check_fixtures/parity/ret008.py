"""RET008: a port whose type cannot travel without pickle."""
import threading

from retriever.flow import Flow, Pipeline, Rate, io


@io
class Signal:
    ready: threading.Event


class Source(Flow[None, Signal]):
    def step(self, input: None) -> Signal:
        return Signal()


pipe = Pipeline("ret008")
pipe.add(Source() @ Rate(hz=10))
