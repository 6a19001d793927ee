"""_get_signal naming a field no envelope has."""
from _shared import Command, Reading

from retriever.flow import Flow, Pipeline, Rate


class Read(Flow[Reading, Command]):
    def step(self, input: Reading) -> Command:
        return Command(action=input._get_signal("speed"))  # expect: RET006


pipe = Pipeline("p")
pipe.add(Read() @ Rate(hz=10))
