"""Loans in shared memory: a flow fills a channel's slot in place, publishing only
notifies.

A :class:`SlotLender` is the :class:`~retriever.rt.loan.LoanDesk` allocator of a flow
whose messages leave its process. It reserves a free slot of the flow's first outgoing
channel (:meth:`OutChannel._acquire`: reuse, grow or, on a ``block`` channel, wait) and
lends a writable byte view of it. The slot is *lent* (``ShmRing.lent``) until the last
array of this process viewing it is garbage collected, so neither a loan nor a copied
message can overwrite memory the flow or a flow of the same partition still sees; the
consumer's release is awaited as for any message.

:func:`send_lent` sends a message whose only large array is a published loan living in
the channel's current ring: it commits the slot (the flow already wrote the data) and
sends the header, with no copy. Any other message (several large arrays, a body too
large for a datagram, a ring retired meanwhile) takes the ordinary copying path, which
is always correct.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from retriever.contract.arrays import array_header
from retriever.contract.wire import encode

from ..loan import LoanDesk
from .channel import _HAS_SHM, _HDR, INLINE_MAX, MSG, SHM_MIN, OutChannel
from .shm import ShmRing

#: What a slot loan's token holds: the ring, the slot and the generation it will carry.
SlotToken = tuple[ShmRing, int, int]


class SlotLender:
    """Lends slots of ``chan`` (see the module docs)."""

    __slots__ = ("chan",)

    def __init__(self, chan: OutChannel) -> None:
        self.chan = chan

    def allocate(self, nbytes: int) -> tuple[np.ndarray, SlotToken] | None:
        """A writable view of a reserved slot, or None when every slot is in use."""
        if nbytes < SHM_MIN:  # small arrays travel inline: nothing to save
            return None
        got = self.chan._acquire(nbytes)
        if got is None:  # a drop channel whose consumer holds every slot
            return None
        ring, slot = got
        gen = ring.begin(slot)  # odd generation: the consumer sees it as being written
        pin = ring.lend_view(slot, nbytes)
        lent = ring.lent

        def unlend(ref: weakref.ref[np.ndarray]) -> None:
            if lent.get(slot) is ref:
                del lent[slot]
        lent[slot] = weakref.ref(pin, unlend)
        return pin, (ring, slot, gen)

    def abandon(self, token: Any) -> None:
        """The loan was not published: the slot is free once nothing views it."""
        ring, slot, _gen = token
        ring.reclaim(slot)


def send_lent(chan: OutChannel, src: int, ts: float, message: Mapping[str, Any],
              desk: LoanDesk) -> None:
    """Send ``message`` of source index ``src``, which published ``desk.lent``; its loan
    travels without a copy when it lives in ``chan`` and is the message's only large
    array. The desk lets go of the loans (the slot is free once the rest of this
    process and the consumer are done with it)."""
    lent = desk.lent
    desk.lent = []
    loan = lent[0] if len(lent) == 1 else None
    token: SlotToken | None = loan.token if loan is not None else None
    if loan is None or token is None or token[0].closed or token[0] not in chan.rings:
        chan.send(src, ts, message)
        return
    ring, slot, gen = token
    msg = dict(message)
    for k, v in message.items():
        if k != loan.port and type(v) is np.ndarray and v.nbytes >= SHM_MIN:
            chan.send(src, ts, message)  # a second large array: copy them all
            return
    dtype, shape = array_header(loan.array)
    msg[loan.port] = {"$shm": [0, dtype, list(shape)]}
    body = encode(msg)
    if len(body) > INLINE_MAX:
        chan.send(src, ts, message)
        return
    if chan.block:
        while chan.sent - chan.acked >= chan.capacity:
            chan._wait(0.5)
    ring.commit(slot, gen)
    head = _HDR.pack(MSG, _HAS_SHM, src, ts, ring.ring_id, slot, gen, 0, len(body))
    chan._push(head + body, ring, slot)


__all__ = ["SlotLender", "SlotToken", "send_lent"]
