"""RET900, clean: side effects stay under the main guard."""
import json

from _edges import Sensor

from retriever.flow import Pipeline, Rate

pipe = Pipeline("ret900-ok")
pipe.add(Sensor() @ Rate(hz=10))

if __name__ == "__main__":
    settings = json.loads("{not json")
