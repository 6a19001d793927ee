"""A port carrying a callback function."""
from collections.abc import Callable

from _shared import Reading

from retriever.flow import Flow, Pipeline, Rate, io


@io
class Hook:
    callback: Callable[[float], None]


class Hooks(Flow[Reading, Hook]):  # expect: RET008
    def step(self, input: Reading) -> Hook:
        return Hook()


pipe = Pipeline("p")
pipe.add(Hooks() @ Rate(hz=1))
