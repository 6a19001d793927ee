"""Feeding a composite with qualified destination names."""
from _shared import Fuse, ImuSource, PoseSource

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
fuse = Fuse() @ Rate(hz=10)
pipe.connect(ImuSource() @ Rate(hz=100), fuse, sync=Latest(), map={"stamp": "Imu.stamp", "x": "Imu.x", "y": "Imu.y"})
pipe.connect(PoseSource() @ Rate(hz=10), fuse, sync=Latest(), map={"x": "Pose.x", "y": "Pose.y", "theta": "Pose.theta"})
