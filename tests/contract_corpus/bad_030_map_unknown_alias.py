"""A qualified destination naming an envelope the composite lacks."""
from _shared import Fuse, ImuSource

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(ImuSource() @ Rate(hz=10), Fuse() @ Rate(hz=10), sync=Latest(), map={"x": "Gps.x"})  # expect: RET103
