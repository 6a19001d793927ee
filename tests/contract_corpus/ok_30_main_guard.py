"""Running stays under the main guard."""
from _shared import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Latest())

if __name__ == "__main__":
    pipe.run(duration=1.0)
