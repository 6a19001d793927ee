"""Moving messages between processes: msgspec-encoded datagrams over Unix sockets (or
length-prefixed frames over stream sockets, :mod:`.framing`) and anonymous shared-memory
rings for large numpy arrays (no pickle anywhere)."""

from . import backing, early, wait
from .channel import INLINE_MAX, SHM_MIN, OutChannel
from .control import ControlLink, control_pair
from .framedchannel import open_in, open_out
from .framing import channel_pair
from .inchannel import InChannel
from .shm import ShmRing

__all__ = ["INLINE_MAX", "SHM_MIN", "ControlLink", "InChannel", "OutChannel", "ShmRing",
           "backing", "channel_pair", "early", "control_pair", "open_in", "open_out", "wait"]
