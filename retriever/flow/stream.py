"""``Stream()``: the sampling adapter that hands a flow every message exactly once.

Connected with ``sync=Stream()``, an input port yields, at each step, the
list of messages that arrived since the previous step (a :class:`StreamBatch`), so no
message is seen twice or skipped while the port's queue (``EdgeConfig(qsize=...)``) has
room. With ``Latest()`` a flow instead sees the newest message at each of its steps.
It lives in the authoring layer (not with the worker API) so that every process that
rebuilds an IR knows the adapter's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .adapter import Adapter, register_adapter


class StreamBatch(list[Any]):
    """The messages a :class:`Stream` adapter returns for one step, oldest first."""


@register_adapter("stream")
@dataclass(eq=False)
class Stream(Adapter):
    """Every message that arrived since the previous sample (stamped at or before now)."""

    transforms_type: ClassVar[bool] = True
    _last: Any = field(default=None, init=False, repr=False, compare=False)

    def __call__(self, buffer: Sequence[tuple[float, Any]], now: float | None = None,
                 **kwargs: Any) -> StreamBatch:
        """Return the new messages as a :class:`StreamBatch` (possibly empty)."""
        start = 0
        last = self._last
        if last is not None:
            # Buffer entries are distinct tuples, so identity marks the last one taken;
            # when it has been evicted from a full buffer every entry is new.
            for i in range(len(buffer) - 1, -1, -1):
                if buffer[i] is last:
                    start = i + 1
                    break
        out = StreamBatch()
        for entry in buffer[start:]:
            if now is not None and entry[0] > now:
                break
            out.append(entry[1])
            self._last = entry
        return out
