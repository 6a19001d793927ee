"""The multiprocessing backend: one worker process (forked, or spawned in portable mode)
per ExecutionGraph partition.

Messages travel over Unix sockets (msgspec) and large numpy arrays through anonymous
shared memory (:mod:`retriever.rt.transport`). See ``docs/backends-multiprocessing.md``.
On Windows the backend is registered as a factory that raises a ``ConfigError`` saying
what to use instead (:mod:`.support`): the transport is not even imported there.
"""

from ...execute import register_backend
from ...handle import stop_all
from .support import refuse, unsupported

if unsupported() is None:
    from .run import MultiprocessingRun

    register_backend("multiprocessing", MultiprocessingRun)
    __all__ = ["MultiprocessingRun", "stop_all"]
else:  # pragma: no cover - Windows
    register_backend("multiprocessing", refuse)
    __all__ = ["stop_all"]
