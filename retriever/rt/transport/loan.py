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
    if len(lent) != 1:  # several loans in one message: copy them
        chan.send(src, ts, message)
        return
    loan = lent[0]
    ring, slot, gen = loan.token
    port = loan.port
    if ring.closed or ring not in chan.rings:  # the ring was retired meanwhile
        chan.send(src, ts, message)
        return
    for k, v in message.items():
        if k != port and type(v) is np.ndarray and v.nbytes >= SHM_MIN:
            chan.send(src, ts, message)  # a second large array: copy them all
            return
    msg = dict(message)
    dtype, shape = array_header(loan.array)
    msg[port] = {"$shm": [0, dtype, list(shape)]}
    body = encode(msg)
    if len(body) > INLINE_MAX:
        chan.send(src, ts, message)
        return
    if chan.block:
        while chan.sent - chan.acked >= chan.capacity:
            chan._wait(0.5)
    chan.seq = seq = chan.seq + 1
    head = _HDR.pack(MSG, _HAS_SHM, src, ts, ring.ring_id, slot, gen, 0, len(body), seq)
    ring.commit(slot, gen)
    chan._push(head + body, ring, slot)
    ring.warm_next()  # the message is on its way: pre-fault a slot for later ones


__all__ = ["SlotLender", "SlotToken", "send_lent"]
