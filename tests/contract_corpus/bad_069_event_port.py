"""A port typed as a threading.Event, which cannot cross a process or be recorded."""
import threading

from retriever.flow import Flow, Pipeline, Rate, io


@io
class Ready:
    flag: threading.Event


class Starter(Flow[None, Ready]):  # expect: RET008
    def step(self, input: None) -> Ready:
        return Ready()


pipe = Pipeline("p")
pipe.add(Starter() @ Rate(hz=1))
