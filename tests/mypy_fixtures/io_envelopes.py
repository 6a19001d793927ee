"""@io classes type-check as envelopes: keyword constructor, every field optional."""
from retriever.flow import io


@io
class Pose:
    x: float
    y: float
    label: str


@io
class Stamped(Pose):
    stamp: float


full = Pose(x=1.0, y=2.0, label="a")
partial = Pose(x=1.0)
empty = Pose()
nothing = Pose(x=None)
child = Stamped(x=1.0, stamp=2.0)
reveal_type(full.x)
reveal_type(Pose.__init__)
wrong = Pose(x="text")
unknown = Pose(z=1.0)
full._set_signal("x", 3.0)
reveal_type(full._get_signal("x"))
reveal_type(full._has_signal("y"))
reveal_type(full._signals())
