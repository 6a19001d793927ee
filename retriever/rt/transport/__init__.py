"""Moving messages between processes: msgspec-encoded datagrams over Unix sockets and
anonymous shared-memory rings for large numpy arrays (no pickle anywhere)."""

from . import backing, wait
from .channel import INLINE_MAX, SHM_MIN, InChannel, OutChannel, channel_pair
from .control import ControlLink, control_pair
from .shm import ShmRing

__all__ = ["INLINE_MAX", "SHM_MIN", "ControlLink", "InChannel", "OutChannel", "ShmRing",
           "backing", "channel_pair", "control_pair", "wait"]
