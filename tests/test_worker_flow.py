"""Worker flows in pipelines: every mode in-process and on the multiprocessing backend,
rebuilding a worker flow from its IR in a fresh interpreter, and state that survives a
killed worker process under the restart policy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from retriever import Flow, Pipeline, Rate, Trigger, io
from retriever.ir.model import IR
from retriever.worker import (
    InputsPullOption,
    InputsPullRequest,
    Stream,
    StreamBatch,
    StreamPullShift,
    as_flow,
    config,
    virtual_in,
    virtual_out,
)

HERE = Path(__file__).resolve().parent
MP_SECONDS = 1.5

# ------------------------------------------------------------------ helper flows


@io
class Num:
    value: float


@io
class Rec:
    value: Any


@io
class Pair:
    a: Any
    b: Any


class Count(Flow[None, Num]):
    """Publishes 1, 2, 3, ... once per tick."""

    def reset(self) -> None:
        self.i = 0

    def step(self, _: None) -> Num:
        self.i += 1
        return Num(value=float(self.i))


def _append(path: str, items: list[Any]) -> None:
    with open(path, "a") as fh:
        for item in items:
            fh.write(json.dumps(item) + "\n")


def _values(v: Any) -> list[Any]:
    return list(v) if isinstance(v, StreamBatch) else [v]


class CollectValue(Flow[Rec, None]):
    """Appends every received value to a JSON-lines file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def step(self, inp: Rec) -> None:
        if inp.value is not None:
            _append(self.path, _values(inp.value))


class CollectPair(Flow[Pair, None]):
    """Appends every received (a, b) pair to a JSON-lines file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def step(self, inp: Pair) -> None:
        if inp.a is not None and inp.b is not None:
            _append(self.path, [list(p) for p in zip(_values(inp.a), _values(inp.b),
                                                     strict=True)])


def _read(path: Path) -> list[Any]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


# ------------------------------------------------------------------ worker functions

VALUE = {"worker": {"input_type": {"value": "Double"}, "output_type": {"value": "Double"}}}
SPLIT = {"worker": {"input_type": {"value": "Double"},
                    "output_types": [{"a": "Double"}, {"b": "Double"}]}}
COUNTER = {"worker": {"input_type": {"value": "Double"}, "output_type": {"value": "Int"}},
           "config_schema": {"log": {"type": "String", "default": ""}}}
CAMERA = {"worker": {"output_type": {"value": "Int"}}}
PAIRS = InputsPullRequest(InputsPullOption([StreamPullShift.from_fixed(0, 2, 2)]))


def double(x: float) -> float:
    return x * 2


def split(x: float) -> tuple[float, float]:
    return x, -x


def counter(message: float, state: int) -> dict[str, Any]:
    if config.log:
        _append(config.log, [[os.getpid(), state + 1]])
    return {"output": state + 1, "state": state + 1}


def from_camera(virtual_input: list[int]) -> int:
    return virtual_input[0] * 10


def camera() -> None:
    for i in range(20):
        virtual_in.push(i)
    virtual_in.close()


def emit(x: float) -> dict[str, Any]:
    return {"output": x, "virtual_output": [x * 100]}


def pairs(messages: list[float]) -> dict[str, Any]:
    return {"output": [sum(messages)], "pull_request": PAIRS}


# ------------------------------------------------------------------ pipelines


def _pipeline(worker: Any, sink: Flow[Any, None], *, source: bool = True,
              worker_clock: Any = None) -> Pipeline:
    pipe = Pipeline("worker-test")
    w = pipe.add(worker @ (worker_clock or Trigger("value")))
    s = pipe.add(sink @ Trigger(*sorted(_sink_fields(sink))))
    if source:
        src = pipe.add(Count() @ Rate(hz=40))
        pipe.connect(src, w, sync=Stream())
    pipe.connect(w, s, sync=Stream())
    return pipe


def _sink_fields(sink: Flow[Any, None]) -> set[str]:
    return {"a", "b"} if isinstance(sink, CollectPair) else {"value"}


def _run(pipe: Pipeline, backend: str, steps: int = 12) -> None:
    if backend == "stepper":
        for _ in range(steps):
            pipe.step(dt=0.025)
        pipe.close_stepper()
    else:
        pipe.run(backend=backend, duration=MP_SECONDS)


BACKENDS = ["stepper", "multiprocessing"]


@pytest.fixture(autouse=True)
def _fresh_streams() -> Any:
    virtual_in.reset()
    virtual_out.reset()
    yield
    virtual_in.reset()
    virtual_out.reset()


@pytest.mark.parametrize("backend", [*BACKENDS, "dora"])
def test_sync_worker_flow(tmp_path: Path, backend: str,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    # dora starts fresh node processes: they import this module by name
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE.parent), str(HERE)]))
    out = tmp_path / "out.jsonl"
    _run(_pipeline(as_flow(double, component=VALUE), CollectValue(str(out))), backend)
    got = _read(out)
    assert len(got) >= 5
    assert got == [2.0 * i for i in range(1, len(got) + 1)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_multi_output_worker_flow(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "out.jsonl"
    _run(_pipeline(as_flow(split, component=SPLIT), CollectPair(str(out))), backend)
    got = _read(out)
    assert len(got) >= 5
    assert got == [[float(i), -float(i)] for i in range(1, len(got) + 1)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_stateful_worker_flow(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "out.jsonl"
    flow = as_flow(counter, component=COUNTER, initial_state=0,
                   state_file=str(tmp_path / "counter.state"))
    _run(_pipeline(flow, CollectValue(str(out))), backend)
    got = _read(out)
    assert len(got) >= 5 and got == list(range(1, len(got) + 1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_virtual_input_worker_flow(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "out.jsonl"
    flow = as_flow(from_camera, component=CAMERA, virtual_source=f"{__name__}:camera")
    pipe = _pipeline(flow, CollectValue(str(out)), source=False, worker_clock=Rate(hz=100))
    if backend == "stepper":
        deadline = time.monotonic() + 30
        while len(_read(out)) < 20 and time.monotonic() < deadline:
            pipe.step(dt=0.01)
        pipe.close_stepper()
    else:
        _run(pipe, backend)
    assert _read(out) == [10 * i for i in range(20)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_virtual_output_worker_flow(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "out.jsonl"
    side = tmp_path / "side.jsonl"
    virtual_out.set_on_push(lambda item: _append(str(side), [item]))
    flow = as_flow(emit, component=VALUE, use_virtual_output=True)
    _run(_pipeline(flow, CollectValue(str(out))), backend)
    got, extra = _read(out), _read(side)
    assert len(got) >= 5
    assert extra == [100 * v for v in got]


@pytest.mark.parametrize("backend", BACKENDS)
def test_streaming_worker_flow(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "out.jsonl"
    flow = as_flow(pairs, component=VALUE, initial_pull_request=PAIRS)
    _run(_pipeline(flow, CollectValue(str(out))), backend)
    got = _read(out)  # one list per tick: [1+2], [3+4], ...
    assert len(got) >= 3
    assert got == [[float(4 * k + 3)] for k in range(len(got))]


def test_streaming_flow_declares_list_ports() -> None:
    flow = as_flow(pairs, component=VALUE, initial_pull_request=PAIRS)
    sig = type(flow).signature()
    out_cls = sig.outputs.elements[0]
    from retriever.contract.envelope import envelope_field_types

    assert envelope_field_types(out_cls) == {"value": list[float]}


def test_worker_flow_rebuilt_from_ir_in_fresh_interpreter(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    pipe = _pipeline(as_flow(split, component=SPLIT), CollectPair(str(out)))
    ir_path = tmp_path / "graph.json"
    pipe.validate().save(ir_path)
    assert "retriever.worker.generated:" in IR.load(ir_path).node("split").flow
    script = (
        "from retriever.ir import IR, allow_imports\n"
        "from retriever.rt.stepper import Stepper\n"
        "allow_imports(['tests'])  # an IR from a file imports only what it is allowed to\n"
        f"st = Stepper(IR.load({str(ir_path)!r}))\n"
        "for _ in range(5):\n"
        "    st.step(dt=0.025)\n"
        "st.close()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120,
                   cwd=tmp_path)
    assert _read(out) == [[float(i), -float(i)] for i in range(1, 6)]


def test_stateful_worker_state_survives_killed_process(tmp_path: Path) -> None:
    log = tmp_path / "ticks.jsonl"
    flow = as_flow(counter, component=COUNTER, initial_state=0,
                   state_file=str(tmp_path / "counter.state"), config={"log": str(log)})
    pipe = Pipeline("restart")
    src = pipe.add(Count() @ Rate(hz=40))
    w = pipe.add((flow @ Trigger("value")).restart_policy("on-failure", max_restarts=3))
    pipe.connect(src, w, sync=Stream())
    handle = pipe.run(backend="multiprocessing", blocking=False)
    try:
        deadline = time.monotonic() + 60
        while len(_read(log)) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        first = _read(log)
        assert len(first) >= 8, "the worker did not start"
        victim = first[-1][0]
        os.kill(victim, signal.SIGKILL)
        while time.monotonic() < deadline:
            rows = _read(log)
            if sum(1 for pid, _ in rows if pid != victim) >= 5:
                break
            time.sleep(0.05)
    finally:
        handle.stop()
    rows = _read(log)
    before = [n for pid, n in rows if pid == victim]
    after = [n for pid, n in rows if pid != victim]
    assert len(after) >= 5, "the worker was not restarted"
    assert before == list(range(1, len(before) + 1))
    # the restarted process continues from the persisted state instead of from 0
    assert after[0] in (before[-1], before[-1] + 1)
    assert after == list(range(after[0], after[0] + len(after)))


RUN_AT_IMPORT = """\
from retriever.worker import run


def counter(message, state):
    return {"output": state + 10, "state": state + 10}


run(counter, initial_state=100)
"""


def test_module_calling_run_at_import_becomes_a_flow(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "legacy_component.py").write_text(RUN_AT_IMPORT)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out.jsonl"
    comp = {"worker": {"input_type": {"value": "Double"}, "output_type": {"value": "Int"}}}
    flow = as_flow("legacy_component", component=comp, persist_state=False)
    _run(_pipeline(flow, CollectValue(str(out))), "stepper", steps=3)
    assert _read(out) == [110, 120, 130]  # initial_state came from the module's run()
