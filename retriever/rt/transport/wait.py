"""Waiting for readable descriptors, on every OS, behind one small interface.

A worker registers its sockets once and then calls ``poll(timeout)`` again and again; it
gets ``(fd, events)`` pairs back, the shape ``select.epoll.poll`` returns, so the Linux
waiter is the epoll object's own method and costs nothing extra. Three kinds:

- ``epoll`` (Linux): the cheapest wake-up.
- ``selectors``: kqueue where it exists (macOS, BSD), else ``poll``, else ``select``.
- ``connection``: :func:`multiprocessing.connection.wait`, which also waits on Windows
  handles that are not sockets.

``slack`` is how coarse a kind's timeouts are: epoll and poll round up to whole
milliseconds. A worker whose wait ends at a ``Rate``/``Tick`` deadline closer than that
waits with ``select.select`` instead, whose timeout has microsecond resolution on every
platform (for sockets, Windows included), so every kind keeps the same deadlines.
"""

from __future__ import annotations

import multiprocessing.connection
import select
import selectors
import sys
from collections.abc import Callable
from typing import Protocol

KINDS = ("epoll", "selectors", "connection")
MS_SLACK = 0.002  # millisecond timeouts are rounded up: up to 1 ms late, plus margin
Ready = list[tuple[int, int]]


class Waiter(Protocol):
    """Waits until registered descriptors are readable."""

    slack: float
    poll: Callable[[float], Ready]

    def register(self, fd: int) -> None:
        """Watch ``fd`` for readability."""
        ...

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd`` (still open: call before closing it)."""
        ...

    def close(self) -> None:
        """Release the waiter's own resources (not the watched descriptors)."""
        ...


class EpollWaiter:
    """Linux ``epoll``; ``poll`` is the epoll object's own method (no wrapper call)."""

    slack = MS_SLACK

    def __init__(self) -> None:
        self._ep = select.epoll()
        self.poll: Callable[[float], Ready] = self._ep.poll

    def register(self, fd: int) -> None:
        """Watch ``fd`` for readability."""
        self._ep.register(fd, select.EPOLLIN)

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd``."""
        self._ep.unregister(fd)

    def close(self) -> None:
        """Close the epoll descriptor."""
        self._ep.close()


def _portable_selector() -> selectors.BaseSelector:
    """kqueue (macOS), else poll, else select: the best waiter that is not epoll."""
    kqueue: type[selectors.BaseSelector] | None = getattr(selectors, "KqueueSelector", None)
    if kqueue is not None:
        return kqueue()
    if hasattr(selectors, "PollSelector"):
        return selectors.PollSelector()
    return selectors.SelectSelector()


class SelectorWaiter:
    """A :mod:`selectors` selector other than epoll (kqueue on macOS)."""

    def __init__(self, selector: selectors.BaseSelector | None = None) -> None:
        self._sel = selector or _portable_selector()
        # kqueue and select take fractional timeouts; poll rounds to milliseconds
        # (Windows has no PollSelector: there it is select)
        poll: type[selectors.BaseSelector] | None = getattr(selectors, "PollSelector", None)
        self.slack = MS_SLACK if poll is not None and isinstance(self._sel, poll) else 0.0
        self.poll: Callable[[float], Ready] = self._poll

    def _poll(self, timeout: float) -> Ready:
        return [(key.fd, ev) for key, ev in self._sel.select(timeout)]

    def register(self, fd: int) -> None:
        """Watch ``fd`` for readability."""
        self._sel.register(fd, selectors.EVENT_READ)

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd``."""
        self._sel.unregister(fd)

    def close(self) -> None:
        """Close the selector."""
        self._sel.close()


class ConnectionWaiter:
    """:func:`multiprocessing.connection.wait` (sockets, pipes and Windows handles)."""

    slack = MS_SLACK  # it waits with poll on POSIX and WaitForMultipleObjects on Windows

    def __init__(self) -> None:
        self._fds: list[int] = []
        self.poll: Callable[[float], Ready] = self._poll

    def _poll(self, timeout: float) -> Ready:
        ready = multiprocessing.connection.wait(self._fds, timeout)
        return [(fd, 1) for fd in ready if isinstance(fd, int)]

    def register(self, fd: int) -> None:
        """Watch ``fd`` for readability."""
        self._fds.append(fd)

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd``."""
        self._fds.remove(fd)

    def close(self) -> None:
        """Nothing to release."""
        self._fds = []


def default_kind(portable: bool) -> str:
    """``epoll`` where it exists and portable mode is off; ``connection`` on Windows;
    else ``selectors``."""
    if hasattr(select, "epoll") and not portable:
        return "epoll"
    return "connection" if sys.platform == "win32" else "selectors"


def make_waiter(kind: str) -> Waiter:
    """A new waiter of ``kind`` (one of :data:`KINDS`)."""
    if kind == "epoll":
        return EpollWaiter()
    if kind == "selectors":
        return SelectorWaiter()
    if kind == "connection":
        return ConnectionWaiter()
    raise ValueError(f"unknown waiter kind {kind!r}; expected one of {', '.join(KINDS)}")
