"""A flow whose step method is misspelled."""
from _shared import Command, Reading, Sensor

from retriever.flow import Flow, Latest, Pipeline, Rate


class Typo(Flow[Reading, Command]):
    def stpe(self, input: Reading) -> Command:
        return Command(action=input.value)


pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Typo() @ Rate(hz=10), sync=Latest())  # expect: RET007
