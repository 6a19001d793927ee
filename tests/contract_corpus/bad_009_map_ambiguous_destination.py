"""A map whose destination name is ambiguous in a composite."""
from _shared import Fuse, ImuSource

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(ImuSource() @ Rate(hz=10), Fuse() @ Rate(hz=10), sync=Latest(), map={"x": "x"})  # expect: RET003
