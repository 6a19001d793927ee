"""The multiprocessing backend: one worker process (forked by the parent, or in portable
mode by a fork server, or spawned) per ExecutionGraph partition.

Messages travel over Unix sockets (msgspec) and large numpy arrays through anonymous
shared memory (:mod:`retriever.rt.transport`). Where a new process cannot inherit
descriptors (Windows) the workers connect back over TCP loopback instead
(:mod:`retriever.rt.transport.rendezvous`). See ``docs/backends-multiprocessing.md``.
"""

from ...execute import register_backend
from ...handle import stop_all
from .run import MultiprocessingRun

register_backend("multiprocessing", MultiprocessingRun)
__all__ = ["MultiprocessingRun", "stop_all"]
