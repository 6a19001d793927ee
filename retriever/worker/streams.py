"""Virtual input and output streams: queues between a worker and other threads.

``virtual_in`` and ``virtual_out`` are the per-process streams a worker uses unless it
is given its own. A producer thread pushes into the virtual input; the runtime hands the
queued messages to a worker that declares a ``virtual_input`` parameter. Messages a
worker returns under ``"virtual_output"`` are queued on the virtual output and handed,
in order, to a callback on a runtime-managed thread.
"""

from __future__ import annotations

import inspect
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from .errors import WorkerError

DEFAULT_MAXSIZE = 64


class VirtualInputStream:
    """A bounded, thread-safe queue feeding a worker's ``virtual_input`` parameter.

    ``push(..., blocking=False)`` never waits: when the queue is full the oldest queued
    message is dropped to make room (so a live source always delivers its newest data)
    and :attr:`dropped` counts it. After :meth:`close`, the worker stops once it has
    read every queued message.
    """

    def __init__(self, maxsize: int = DEFAULT_MAXSIZE) -> None:
        if maxsize < 1:
            raise WorkerError(f"VirtualInputStream maxsize must be >= 1, got {maxsize}",
                              code="RET851")
        self.maxsize = maxsize
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.pushed = 0

    def push(self, *messages: Any, blocking: bool = True) -> None:
        """Queue ``messages``; wait for room (``blocking``) or drop the oldest."""
        with self._cond:
            for m in messages:
                if self._closed:
                    raise WorkerError("push() on a closed virtual input", code="RET880",
                                      hint="stop producing after virtual_in.close()")
                while len(self._items) >= self.maxsize:
                    if not blocking:
                        self._items.popleft()
                        self.dropped += 1
                        break
                    self._cond.wait()
                    if self._closed:
                        raise WorkerError("virtual input closed while push() waited",
                                          code="RET880")
                self._items.append(m)
                self.pushed += 1
            self._cond.notify_all()

    def close(self) -> None:
        """No more messages: the worker ends once the queued ones are read."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __len__(self) -> int:
        return len(self._items)

    def take(self, skip: int, count: int) -> list[Any]:
        """Drop ``skip`` then remove and return ``count`` queued messages (runtime use)."""
        with self._cond:
            for _ in range(min(skip, len(self._items))):
                self._items.popleft()
            out = [self._items.popleft() for _ in range(min(count, len(self._items)))]
            self._cond.notify_all()
            return out

    def wait_for_change(self, have: int, timeout: float | None = None) -> None:
        """Wait until more than ``have`` messages are queued or the stream is closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or len(self._items) > have, timeout)

    def reset(self) -> None:
        """Empty the queue and open it again (for the next run)."""
        with self._cond:
            self._items.clear()
            self._closed = False
            self.dropped = 0
            self.pushed = 0
            self._cond.notify_all()


class VirtualOutputStream:
    """Messages a worker emits under ``"virtual_output"``, delivered to a callback.

    The callback runs on a runtime-managed thread, one message at a time and in order.
    A callback taking two positional parameters also receives the message's tag (its
    0-based emission index) to pass to :meth:`ack`. With ``ack_window=N`` at most N
    delivered messages may be unacknowledged; delivery waits for acks beyond that and,
    once the queue is full, the worker waits too (backpressure). Without a callback the
    newest ``maxsize`` messages are kept for :meth:`drain`.
    """

    def __init__(self, maxsize: int = DEFAULT_MAXSIZE) -> None:
        self.maxsize = maxsize
        self._items: deque[tuple[int, Any]] = deque()
        self._cond = threading.Condition()
        self._callback: Callable[..., Any] | None = None
        self._with_tag = False
        self._ack_window: int | None = None
        self._unacked: set[int] = set()
        self._next_tag = 0
        self._stopped = False
        self._busy = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.delivered = 0

    # ------------------------------------------------------------------ user side
    def set_on_push(self, callback: Callable[..., Any], *,
                    ack_window: int | None = None) -> None:
        """Call ``callback(message)`` (or ``callback(message, tag)``) for each message."""
        if not callable(callback):
            raise WorkerError(f"set_on_push needs a callable, got {callback!r}",
                              code="RET851")
        if ack_window is not None and ack_window < 1:
            raise WorkerError(f"ack_window must be >= 1, got {ack_window}", code="RET851")
        with self._cond:
            self._callback = callback
            self._with_tag = _positional_count(callback) >= 2
            self._ack_window = ack_window
            self._start_locked()
            self._cond.notify_all()

    def ack(self, tag: int) -> None:
        """Acknowledge that the message tagged ``tag`` was processed."""
        with self._cond:
            self._unacked.discard(tag)
            self._cond.notify_all()

    def stop(self) -> None:
        """No more messages will be produced; queued ones are still delivered."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopped

    @property
    def unacked(self) -> int:
        """Delivered messages not acknowledged yet (counted only with an ``ack_window``)."""
        return len(self._unacked)

    def drain(self) -> list[Any]:
        """Remove and return the queued messages (when no callback is set)."""
        with self._cond:
            out = [m for _, m in self._items]
            self._items.clear()
            self._cond.notify_all()
            return out

    # ------------------------------------------------------------------ runtime side
    def emit(self, messages: list[Any]) -> None:
        """Queue messages returned by a worker (waits for room when a callback is set)."""
        with self._cond:
            self._raise_callback_error()
            if messages and self._stopped:
                raise WorkerError(
                    "the worker returned virtual_output after virtual_out.stop()",
                    code="RET880", hint="return an empty virtual_output list after stop()")
            if messages and self._callback is not None:
                self._start_locked()  # e.g. in a forked worker process
            for m in messages:
                while len(self._items) >= self.maxsize:
                    if self._callback is None:
                        self._items.popleft()
                        self.dropped += 1
                        break
                    self._cond.wait()
                    self._raise_callback_error()
                self._items.append((self._next_tag, m))
                self._next_tag += 1
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued message was handed to the callback (if one is set).

        Returns False if messages were still pending after ``timeout`` seconds.
        """
        done = True
        with self._cond:
            if self._callback is not None:
                if self._items:
                    self._start_locked()
                done = self._cond.wait_for(lambda: (not self._items and not self._busy)
                                           or self._error is not None, timeout)
            self._raise_callback_error()
        return done

    def reset(self) -> None:
        """Forget queued messages, acks and the stopped flag (the callback stays)."""
        with self._cond:
            self._items.clear()
            self._unacked.clear()
            self._stopped = False
            self._error = None
            self._next_tag = 0
            self.dropped = 0
            self.delivered = 0
            self._cond.notify_all()

    def _raise_callback_error(self) -> None:
        err = self._error
        if err is not None:
            self._error = None
            raise WorkerError(f"the virtual-output callback raised {type(err).__name__}: {err}",
                              code="RET881") from err

    def _start_locked(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._deliver, daemon=True,
                                            name="retriever-virtual-out")
            self._thread.start()

    def _deliver(self) -> None:
        cond = self._cond
        while True:
            with cond:
                cond.wait_for(lambda: bool(self._items) and self._window_open())
                tag, msg = self._items.popleft()
                callback, with_tag = self._callback, self._with_tag
                if self._ack_window is not None:
                    self._unacked.add(tag)
                self._busy = True
                cond.notify_all()
            try:
                if callback is not None:
                    if with_tag:
                        callback(msg, tag)
                    else:
                        callback(msg)
            except Exception as exc:  # reported to the worker on its next emit/flush
                with cond:
                    self._error = exc
            with cond:
                self._busy = False
                self.delivered += 1
                cond.notify_all()

    def _window_open(self) -> bool:
        return self._ack_window is None or len(self._unacked) < self._ack_window


def _positional_count(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(1 for p in params if p.kind in kinds and p.default is inspect.Parameter.empty)


#: The process's virtual input stream (bound to the worker that declares ``virtual_input``).
virtual_in = VirtualInputStream()
#: The process's virtual output stream (fed by workers run with ``use_virtual_output``).
virtual_out = VirtualOutputStream()
