"""RET109: a constructor argument that cannot be rebuilt without pickle."""
import threading

from _edges import Reading

from retriever.flow import Flow, Pipeline, Rate


class Guarded(Flow[None, Reading]):
    def __init__(self, lock: object) -> None:
        self.lock = lock

    def step(self, input: None) -> Reading:
        return Reading(value=1.0, stamp=0.0)


pipe = Pipeline("ret109")
pipe.add(Guarded(threading.Lock()) @ Rate(hz=10))
