"""A flow publishing a plain str."""
from _shared import Reading

from retriever.flow import Flow, Pipeline, Rate


class Describe(Flow[Reading, str]):  # expect: RET001
    def step(self, input: Reading) -> str:
        return str(input.value)


pipe = Pipeline("p")
pipe.add(Describe() @ Rate(hz=10))
