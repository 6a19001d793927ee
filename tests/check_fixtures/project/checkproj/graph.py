from retriever.flow import Latest, Pipeline, Rate

from .flows import Counter, Derived, Sensor

pipe = Pipeline("graph")
pipe.connect(Sensor() @ Rate(hz=10), Counter() @ Rate(hz=10), sync=Latest())
pipelines = {"again": [Pipeline("empty")], "derived": Derived() @ Rate(hz=1)}

if __name__ == "__main__":
    raise SystemExit("the __main__ block must not run under retriever check")
