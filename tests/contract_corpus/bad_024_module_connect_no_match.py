"""retriever.connect between flows with no common port."""
from _shared import Camera, LabelSink

import retriever
from retriever.flow import Latest, Rate

retriever.connect(Camera() @ Rate(hz=10), LabelSink() @ Rate(hz=10), sync=Latest())  # expect: RET101
