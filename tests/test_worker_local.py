"""Every worker mode on the local runner, and the typed errors for wrong shapes."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retriever.contract.errors import RetrieverError
from retriever.worker import (
    InputsPullOption,
    InputsPullRequest,
    StateStore,
    StreamPullShift,
    VirtualInputStream,
    VirtualOutputStream,
    WorkerError,
    config,
    run,
    virtual_in,
    virtual_out,
)

TWO_OUT = {"worker": {"input_type": "Double", "output_types": ["Double", "String"]}}
ONE_ONE = StreamPullShift.from_fixed(0, 1, 1)


# ------------------------------------------------------------------ synchronous


def test_sync_one_message_per_stream_per_tick_in_declared_order() -> None:
    assert run(lambda x: x * 2, inputs=[[1, 2, 3]]) == [2, 4, 6]
    # positional arguments in declared order; the shortest input ends the run
    assert run(lambda a, b: f"{a}-{b}", inputs=[["a", "b", "c"], [1, 2]]) == ["a-1", "b-2"]
    assert run(lambda x: x, inputs=[[]]) == []


def test_multi_output_returns_tuple_in_declared_order() -> None:
    out = run(lambda x: (x + 1, str(x)), inputs=[[1.0, 2.0]], component=TWO_OUT)
    assert out == [(2.0, "1.0"), (3.0, "2.0")]


def test_stateful_counter_and_persistence(tmp_path: Path) -> None:
    def counter(message: Any, state: int) -> dict[str, Any]:
        return {"output": state + 1, "state": state + 1}

    assert run(counter, inputs=[["a", "b", "c"]], initial_state=0) == [1, 2, 3]
    state_file = tmp_path / "counter.state"
    assert run(counter, inputs=[["a", "b"]], initial_state=0, state_file=state_file) == [1, 2]
    # a second run (a restarted process) continues from the persisted state
    assert run(counter, inputs=[["c"]], initial_state=0, state_file=state_file) == [3]
    found, state, ticks = StateStore(state_file).load()
    assert (found, state, ticks) == (True, 3, 3)
    assert b"pickle" not in state_file.read_bytes() and state_file.read_bytes()[:1] != b"\x80"


def test_state_with_numpy_array_round_trips(tmp_path: Path) -> None:
    def acc(x: float, state: Any) -> dict[str, Any]:
        new = np.asarray(state) + x
        return {"output": float(new.sum()), "state": new}

    f = tmp_path / "acc.state"
    assert run(acc, inputs=[[1.0]], initial_state=np.zeros(3), state_file=f) == [3.0]
    assert run(acc, inputs=[[1.0]], initial_state=np.zeros(3), state_file=f) == [6.0]


# ------------------------------------------------------------------ virtual input


def test_virtual_input_only_worker_ends_when_closed_and_drained() -> None:
    def from_camera(virtual_input: list[int]) -> int:
        return virtual_input[0] * 10

    def producer() -> None:
        for i in range(5):
            virtual_in.push(i)
        virtual_in.close()

    t = threading.Thread(target=producer, daemon=True)
    t.start()
    assert run(from_camera) == [0, 10, 20, 30, 40]
    t.join(10)
    assert not virtual_in.closed  # re-armed for the next run


def test_virtual_input_push_non_blocking_drops_oldest_when_full() -> None:
    vin = VirtualInputStream(maxsize=3)
    vin.push(1, 2, 3, 4, 5, blocking=False)
    assert vin.dropped == 2 and len(vin) == 3
    vin.close()
    with pytest.raises(WorkerError) as err:
        vin.push(6)
    assert err.value.code == "RET880"
    assert run(lambda virtual_input: virtual_input, virtual_input=vin) == [[3], [4], [5]]


def test_virtual_input_blocking_push_waits_for_room() -> None:
    vin = VirtualInputStream(maxsize=1)
    pushed = threading.Event()

    def producer() -> None:
        vin.push(*range(6))  # blocks until the worker reads
        pushed.set()
        vin.close()

    threading.Thread(target=producer, daemon=True).start()
    assert run(lambda virtual_input: virtual_input[0], virtual_input=vin) == list(range(6))
    assert pushed.wait(10) and vin.dropped == 0


def test_virtual_input_with_declared_input() -> None:
    vin = VirtualInputStream()
    vin.push("x", "y", "z")
    vin.close()
    out = run(lambda a, virtual_input: (a, virtual_input), inputs=[[1, 2]], virtual_input=vin)
    assert out == [(1, ["x"]), (2, ["y"])]


# ------------------------------------------------------------------ virtual output


def test_virtual_output_callback_runs_on_runtime_thread() -> None:
    vout = VirtualOutputStream()
    seen: list[tuple[Any, str]] = []
    vout.set_on_push(lambda item: seen.append((item, threading.current_thread().name)))

    def emit(x: int) -> dict[str, Any]:
        return {"output": x, "virtual_output": [f"v{x}", f"w{x}"]}

    assert run(emit, inputs=[[1, 2]], use_virtual_output=True, virtual_output=vout) == [1, 2]
    assert [s[0] for s in seen] == ["v1", "w1", "v2", "w2"]
    assert all(name != threading.current_thread().name for _, name in seen)


def test_virtual_output_singleton_ack_window_and_stop() -> None:
    virtual_out.reset()
    got: list[tuple[str, int]] = []

    def consumer(item: str, tag: int) -> None:
        got.append((item, tag))
        virtual_out.ack(tag)

    virtual_out.set_on_push(consumer, ack_window=1)
    out = run(lambda x: {"output": None, "virtual_output": [x]}, inputs=[["a", "b", "c"]],
              use_virtual_output=True)
    assert out == [None, None, None]
    assert got == [("a", 0), ("b", 1), ("c", 2)] and virtual_out.unacked == 0
    virtual_out.stop()
    with pytest.raises(WorkerError) as err:
        run(lambda x: {"output": x, "virtual_output": [x]}, inputs=[[1]],
            use_virtual_output=True)
    assert err.value.code == "RET880"
    virtual_out.reset()


def test_virtual_output_callback_error_is_reported() -> None:
    vout = VirtualOutputStream()

    def bad(item: Any) -> None:
        raise ValueError("sink down")

    vout.set_on_push(bad)
    with pytest.raises(WorkerError, match="sink down") as err:
        run(lambda x: {"output": x, "virtual_output": [x]}, inputs=[[1]],
            use_virtual_output=True, virtual_output=vout)
    assert err.value.code == "RET881"


# ------------------------------------------------------------------ streaming


def test_streaming_chunks_and_ends_when_request_unsatisfiable() -> None:
    pairs = InputsPullRequest(InputsPullOption([StreamPullShift.from_fixed(0, 2, 2)]))

    def chunked(messages: list[int]) -> dict[str, Any]:
        return {"output": [sum(messages)], "pull_request": pairs}

    # 5 messages: two ticks of two, the last message cannot satisfy min_pull=2
    assert run(chunked, inputs=[[1, 2, 3, 4, 5]], initial_pull_request=pairs) == [[3], [7]]


def test_streaming_skip_and_variable_pull() -> None:
    req = InputsPullRequest(InputsPullOption([StreamPullShift.from_fixed(1, 1, 3)]))
    out = run(lambda m: {"output": list(m), "pull_request": req}, inputs=[list(range(9))],
              initial_pull_request=req)
    assert out == [[1, 2, 3], [5, 6, 7]]  # skip 1 then take up to 3; [8] skips to nothing


def test_streaming_first_satisfiable_option_fires_and_request_changes() -> None:
    big = InputsPullOption([StreamPullShift.from_fixed(0, 3, 3), StreamPullShift(0, 0, 0)])
    small = InputsPullOption([StreamPullShift(0, 0, 0), StreamPullShift.from_fixed(0, 1, 1)])
    req = InputsPullRequest([big, small])
    log: list[tuple[list[int], list[str]]] = []

    def summarize(audio: list[int], text: list[str]) -> dict[str, Any]:
        log.append((audio, text))
        return {"output": [len(audio) + len(text)], "pull_request": req}

    out = run(summarize, inputs=[[1, 2, 3, 4], ["a", "b"]], initial_pull_request=req)
    assert log == [([1, 2, 3], []), ([], ["a"]), ([], ["b"])]
    assert out == [[3], [1], [1]]


def test_streaming_multi_output_is_tuple_of_lists() -> None:
    req = InputsPullRequest(InputsPullOption([ONE_ONE]))
    out = run(lambda m: {"output": ([m[0]], [str(m[0])]), "pull_request": req},
              inputs=[[1.0, 2.0]], initial_pull_request=req, component=TWO_OUT)
    assert out == [([1.0], ["1.0"]), ([2.0], ["2.0"])]


def test_pull_shift_validation() -> None:
    with pytest.raises(WorkerError, match="max_pull"):
        StreamPullShift.from_fixed(0, 3, 2)
    with pytest.raises(WorkerError):
        StreamPullShift.from_fixed(-1, 1, 1)
    with pytest.raises(WorkerError):
        InputsPullRequest([])


# ------------------------------------------------------------------ config


def test_config_is_the_running_workers_config() -> None:
    comp = {"worker": {"input_type": "Double", "output_type": "Double"},
            "config_schema": {"factor": {"type": "Double", "default": 2}}}

    def scale(x: float) -> float:
        return float(x * config.factor)

    assert run(scale, inputs=[[1.0, 2.0]], component=comp) == [2.0, 4.0]
    assert run(scale, inputs=[[1.0]], component=comp, config={"factor": 3}) == [3.0]


# ------------------------------------------------------------------ wrong shapes


def _code(excinfo: pytest.ExceptionInfo[RetrieverError]) -> str:
    return excinfo.value.code


def test_parameter_count_must_match_declared_inputs() -> None:
    comp = {"worker": {"input_types": ["Double", "Double"], "output_type": "Double"}}
    with pytest.raises(WorkerError, match=r"takes 1 positional .* declares 2 input") as e:
        run(lambda x: x, inputs=[[1.0], [2.0]], component=comp)
    assert _code(e) == "RET850"
    with pytest.raises(WorkerError, match="got 1 input stream") as e:
        run(lambda a, b: a, inputs=[[1.0]], component=comp)
    assert _code(e) == "RET853"


def test_stateful_worker_must_return_state() -> None:
    with pytest.raises(WorkerError, match="returned no 'state'") as e:
        run(lambda m, state: {"output": m}, inputs=[[1]], initial_state=0)
    assert _code(e) == "RET861"
    with pytest.raises(WorkerError, match="must return a dict") as e:
        run(lambda m, state: m, inputs=[[1]], initial_state=0)
    assert _code(e) == "RET860"
    with pytest.raises(WorkerError, match="no 'state' parameter") as e:
        run(lambda m: m, inputs=[[1]], initial_state=0)
    assert _code(e) == "RET851"


def test_streaming_worker_must_return_pull_request_and_lists() -> None:
    req = InputsPullRequest(InputsPullOption([ONE_ONE]))
    with pytest.raises(WorkerError, match="no 'pull_request'") as e:
        run(lambda m: {"output": m}, inputs=[[1]], initial_pull_request=req)
    assert _code(e) == "RET862"
    with pytest.raises(WorkerError, match="must be a list") as e:
        run(lambda m: {"output": m[0], "pull_request": req}, inputs=[[1]],
            initial_pull_request=req)
    assert _code(e) == "RET863"
    two = InputsPullRequest(InputsPullOption([ONE_ONE, ONE_ONE]))
    with pytest.raises(WorkerError, match="lists 2 shift") as e:
        run(lambda m: {"output": m, "pull_request": two}, inputs=[[1]],
            initial_pull_request=req)
    assert _code(e) == "RET866"


def test_multi_output_must_be_tuple_of_declared_length() -> None:
    with pytest.raises(WorkerError, match="declares 2 outputs") as e:
        run(lambda x: x, inputs=[[1.0]], component=TWO_OUT)
    assert _code(e) == "RET864"


def test_virtual_output_worker_must_return_virtual_output() -> None:
    with pytest.raises(WorkerError, match="virtual_output") as e:
        run(lambda x: {"output": x}, inputs=[[1]], use_virtual_output=True,
            virtual_output=VirtualOutputStream())
    assert _code(e) == "RET865"


def test_local_run_without_inputs_says_what_to_pass() -> None:
    with pytest.raises(WorkerError, match="inputs=") as e:
        run(lambda x: x)
    assert _code(e) == "RET853"
