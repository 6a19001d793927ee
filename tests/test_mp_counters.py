"""Arrival counters of datagram channels (``retriever.rt.transport.channel``): the
producer announces in shared memory the sequence number of the last message the kernel
took, so the consumer learns of waiting messages without a system call. The counter is
only ever a hint: messages it does not announce are still read, and one it announces
ahead of the queue costs nothing but the attempt. In one process, no workers."""

from __future__ import annotations

import select
import socket
from typing import Any

import pytest

from retriever.contract.wire import MessageCodec
from retriever.rt.transport import InChannel, OutChannel, inchannel
from retriever.rt.transport.channel import (
    COUNTER_STRIDE,
    arrival_counters,
    channel_pair,
    counter_words,
    message_seq,
)
from retriever.rt.transport.framing import seqpacket_available

pytestmark = pytest.mark.skipif(not seqpacket_available(),
                                reason="datagram channels need SOCK_SEQPACKET")


def _counted(index: int = 1, *, block: bool = False, capacity: int = 8
             ) -> tuple[OutChannel, InChannel, memoryview, Any]:
    mem = arrival_counters(3)
    words = counter_words(mem)
    a, b = channel_pair()
    out = OutChannel(a, block=block, capacity=capacity)
    out.count_into(words, index)
    inc = InChannel(b, {0: MessageCodec()}, block=block, capacity=capacity)
    inc.count_from(words, index)
    out.poll()  # the consumer's HELLO
    return out, inc, words, mem


def _values(inc: InChannel) -> list[int]:
    got = [inc.open(d) for d in inc.receive()]
    return [g[2]["n"] for g in got if g is not None]


def _close(out: OutChannel, inc: InChannel, words: memoryview, mem: Any) -> None:
    out.close()
    inc.close()
    out.sock.close()
    inc.sock.close()
    words.release()
    mem.close()


def test_each_message_is_announced_and_read_without_asking_the_kernel(
        monkeypatch: pytest.MonkeyPatch) -> None:
    out, inc, words, mem = _counted()

    def no_ioctl(fd: int) -> int:
        raise AssertionError("a counted channel asked the kernel how much is queued")

    monkeypatch.setattr(inchannel, "_queued", no_ioctl)
    assert not inc.waiting()
    for n in range(5):
        out.send(0, float(n), {"n": n})
    assert inc.waiting()
    assert words[1 * COUNTER_STRIDE] == out.seq == 5
    assert _values(inc) == [0, 1, 2, 3, 4]  # one batch: the counter said how many
    assert not inc.waiting() and inc.seq == 5
    assert words[0] == words[2 * COUNTER_STRIDE] == 0  # other channels' counters
    _close(out, inc, words, mem)


def test_a_message_the_counter_does_not_announce_yet_is_still_read() -> None:
    out, inc, words, mem = _counted()
    out.send(0, 0.0, {"n": 0})
    # the producer between its send and its write: the message is queued, unannounced
    words[1 * COUNTER_STRIDE] = 0
    assert not inc.waiting()
    r, _, _ = select.select([inc.sock], [], [], 0)
    assert r  # ... but the socket is readable, which is what a worker waits on
    assert _values(inc) == [0]
    _close(out, inc, words, mem)


def test_a_counter_ahead_of_the_queue_costs_only_the_attempt() -> None:
    out, inc, words, mem = _counted()
    out.send(0, 0.0, {"n": 7})
    words[1 * COUNTER_STRIDE] = 99  # announces messages that never come
    assert _values(inc) == [7]
    assert inc.receive() == []
    _close(out, inc, words, mem)


def test_messages_queued_by_the_producer_are_announced_once_the_kernel_takes_them(
        ) -> None:
    mem = arrival_counters(1)
    words = counter_words(mem)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # a few messages fill it
    out = OutChannel(a, block=False, capacity=10_000)
    out.count_into(words, 0)
    inc = InChannel(b, {0: MessageCodec()}, block=False, capacity=10_000)
    inc.count_from(words, 0)
    out.poll()
    n = 0
    while not out.pending:  # until the kernel refuses one: later ones wait here
        out.send(0, float(n), {"n": n, "pad": "x" * 200})
        n += 1
    out.send(0, float(n), {"n": n, "pad": "x" * 200})
    n += 1
    announced = words[0]
    assert announced < out.seq  # queued messages are not announced
    seen: list[int] = []
    while len(seen) < n:
        seen += _values(inc)
        out.flush()
    assert seen == list(range(n)) and words[0] == out.seq
    _close(out, inc, words, mem)


def test_a_restarted_producer_continues_the_sequence_and_a_new_consumer_reads_leftovers(
        ) -> None:
    out, inc, words, mem = _counted()
    for n in range(3):
        out.send(0, float(n), {"n": n})
    assert _values(inc) == [0, 1, 2]
    # a new producer on the same socket (the run restarted its worker)
    again = OutChannel(out.sock, block=False, capacity=8)
    again.count_into(words, 1)
    assert again.seq == 3
    again.send(0, 3.0, {"n": 3})
    again.send(0, 4.0, {"n": 4})
    # a new consumer on the same socket: what its predecessor left is not announced to
    # it, and is read in one batch once the socket says it is readable
    fresh = InChannel(inc.sock, {0: MessageCodec()}, block=False, capacity=8)
    fresh.count_from(words, 1)
    assert not fresh.waiting()
    assert _values(fresh) == [3, 4]
    again.send(0, 5.0, {"n": 5})
    assert fresh.waiting() and _values(fresh) == [5]
    again.close()
    _close(out, fresh, words, mem)


def test_every_message_carries_its_sequence_number() -> None:
    out, inc, words, mem = _counted()
    for n in range(3):
        out.send(0, float(n), {"n": n})
    assert [message_seq(d) for d in inc.receive()] == [1, 2, 3]
    _close(out, inc, words, mem)
