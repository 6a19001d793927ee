"""The runtime core (retriever.rt.step): one scheduler, start-up, finalize-all, errors."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import pytest

from retriever.contract.errors import BackendError, FlowError, LagError, MissingDependencyError
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger
from retriever.rt.errors import ErrorRecord
from retriever.rt.step import Scheduler, ScheduleResult, Subscriber

from . import parity_flows as P
from .core_flows import AddOne, AddOut, Collect, Source, SrcOut
from .dora_flows import dora_installed

RT = Path(__file__).resolve().parents[1] / "retriever" / "rt"


def test_only_the_scheduler_creates_lag_trackers_or_maps_clock_kinds() -> None:
    offenders = []
    for path in RT.rglob("*.py"):
        if path.name in ("step.py", "lag.py"):
            continue
        text = path.read_text()
        if "LagTracker(" in text or re.search(r"clock\.kind|\.kind\s*(==|!=|in)\s*[(\"']",
                                               text):
            offenders.append(str(path.relative_to(RT)))
    assert offenders == []
    # nor does any other layer decide what a clock kind means (authoring, records, cli)
    kinds = re.compile(r"\.kind\s*(==|!=|in)\s*\(?\s*[\"'](rate|tick|trigger|hybrid)[\"']")
    elsewhere = [str(p.relative_to(RT.parent)) for p in RT.parent.rglob("*.py")
                 if RT not in p.parents and ("LagTracker(" in p.read_text()
                                             or kinds.search(p.read_text()))]
    assert elsewhere == []


def _pipe() -> tuple[Pipeline, object, object]:
    pipe = Pipeline("core")
    src = Source() @ Rate(hz=10)
    add = AddOne() @ Trigger("value")
    pipe.connect(src, add, sync=Latest())
    return pipe, src, add


def test_schedule_result_now_and_subscriber_buffers() -> None:
    pipe, *_ = _pipe()
    sched = Scheduler(pipe.validate(), collect=True)
    first = sched.tick(0.0, lockstep=True)
    second = sched.tick(0.1, lockstep=True)
    assert isinstance(second, ScheduleResult) and first is not None
    assert (first.now, second.now) == (0.0, 0.1)
    assert second.executed == ["source", "add_one"]
    sub = sched.subscriber("add_one", "value")
    assert isinstance(sub, Subscriber)
    assert sub.get_all() == [(0.0, 1), (0.1, 2)]
    sched.close()


@pytest.mark.parametrize("backend", ["in-process", "multiprocessing", "dora"])
def test_a_rate_flow_waits_for_its_inputs_and_says_on_which_port(backend: str) -> None:
    if backend == "dora" and not dora_installed():
        pytest.skip("dora-rs / dora-rs-cli / pyarrow not installed")
    pipe = Pipeline("waits")
    quiet = P.Quiet() @ Rate(hz=10)
    add = P.AddOne() @ Rate(hz=10)
    pipe.connect(quiet, add, sync=Latest())
    options: dict[str, Any] = {"echo": False} if backend == "dora" else {}
    report = pipe.run(backend=backend, duration=0.3, **options)
    stats = report.flows["add_one"]  # type: ignore[union-attr]
    assert stats.steps == 0 and stats.waiting_on == ["value"]
    summary = report.summary()  # type: ignore[union-attr]
    assert "waiting" in summary and "value" in summary


def test_wait_for_inputs_false_runs_from_the_first_tick() -> None:
    pipe = Pipeline("eager")
    src = Source() @ Rate(hz=10)
    sink = Collect() @ Rate(hz=10, wait_for_inputs=False)
    pipe.connect(src, (AddOne() @ Trigger("value")), sync=Latest())
    pipe.connect(pipe.node("add_one"), sink, sync=Latest())
    ir = pipe.validate()
    assert ir.node("collect").clock.wait_for_inputs is False
    pipe.step(dt=0.1)
    pipe.close_stepper()
    assert sink.flow.seen == [2]  # type: ignore[attr-defined]


class BadFinal(Flow[SrcOut, AddOut]):
    def __init__(self, tag: str) -> None:
        self.tag = tag

    def step(self, inp: SrcOut) -> AddOut:
        return AddOut(value=0)

    def finalize(self) -> None:
        raise RuntimeError(f"finalize {self.tag}")


def test_finalize_reports_every_failure_not_the_first() -> None:
    pipe = Pipeline("fin")
    src = Source() @ Rate(hz=10)
    for tag in ("a", "b"):
        pipe.connect(src, (BadFinal(tag) @ Trigger("value")).named(f"bad_{tag}"),
                     sync=Latest())
    pipe.step()
    with pytest.raises(ExceptionGroup) as info:
        pipe.close_stepper()
    flows = sorted(e.flow for e in info.value.exceptions if isinstance(e, FlowError))
    assert flows == ["bad_a", "bad_b"]
    # the in-process backend collects them the same way
    pipe2 = Pipeline("fin2")
    s2 = Source() @ Rate(hz=10)
    for tag in ("a", "b"):
        pipe2.connect(s2, (BadFinal(tag) @ Trigger("value")).named(f"bad_{tag}"),
                      sync=Latest())
    with pytest.raises(ExceptionGroup) as info2:
        pipe2.run(backend="in-process", duration=0.2)
    assert len(info2.value.exceptions) == 2


def test_error_record_round_trip_keeps_type_code_and_flow() -> None:
    lag = LagError("ctl", "fell behind", hint="slower")
    back = ErrorRecord.unpack(ErrorRecord.of(lag).pack()).rebuild("worker 1")
    assert isinstance(back, LagError) and back.flow == "ctl" and back.code == "RET401"
    bad = FlowError("f", "step() returned int", code="RET005")
    back = ErrorRecord.unpack(ErrorRecord.of(bad).pack()).rebuild()
    assert back.code == "RET005" and str(back).startswith("[RET005]")
    other = ErrorRecord.unpack(ErrorRecord.of(OSError("disk")).pack()).rebuild("node x")
    assert isinstance(other, BackendError) and "OSError: disk" in str(other)
    assert "node x" in str(other)
    filed = ErrorRecord.unpack(ErrorRecord(kind="OSError", message="boom", code="RET809",
                                           path="/rec/run.mcap").pack())
    assert filed.path == "/rec/run.mcap" and ErrorRecord.unpack(ErrorRecord.of(lag).pack()
                                                                ).path == ""
    rebuilt = filed.rebuild()
    assert rebuilt.code == "RET809" and "/rec/run.mcap: boom" in str(rebuilt)


def test_a_wrong_return_type_says_its_code_in_the_text_and_the_attribute() -> None:
    class Liar(Flow[None, SrcOut]):
        def step(self, _: None) -> SrcOut:
            return AddOut(value=1)  # type: ignore[return-value]

    pipe = Pipeline("liar")
    pipe.add(Liar() @ Rate(hz=1))
    with pytest.raises(FlowError) as info:
        pipe.step()
    pipe.close_stepper()
    assert info.value.code == "RET005" and str(info.value).startswith("[RET005]")


def test_in_process_run_ends_on_time_with_a_slow_catch_up_flow() -> None:
    import time

    class Slow(Flow[None, SrcOut]):
        def step(self, _: None) -> SrcOut:
            time.sleep(0.05)
            return SrcOut(value=1)

    pipe = Pipeline("slow")
    pipe.add(Slow() @ Rate(hz=50, on_lag="catch_up"))
    t0 = time.monotonic()
    report = pipe.run(backend="in-process", duration=0.5)
    # before the scheduler it never returned; bounded: one step past the end
    assert time.monotonic() - t0 < 3.0
    assert report.flows["slow"].lag_events > 0  # type: ignore[union-attr]


def test_every_ret_code_in_the_code_is_in_the_catalogue() -> None:
    from retriever.contract.catalogue import known_code

    root = RT.parent
    unknown = set()
    repo = root.parent
    # the code, and every place a user reads a code: docs, examples, README
    for path in [*root.rglob("*.py"), *(repo / "retriever_mypy").rglob("*.py"),
                 *(repo / "docs").glob("*.md"), *(repo / "examples").rglob("*.py"),
                 repo / "README.md"]:
        text = re.sub(r"RET\d{3}-RET\d{3}", "", path.read_text())  # ranges in prose
        for code in re.findall(r"\bRET\d{3}\b", text):
            if not known_code(code):
                unknown.add((str(path.relative_to(root.parent)), code))
    assert sorted(unknown) == []


def test_no_error_gets_its_code_after_its_message_was_built() -> None:
    # a code set after construction leaves "[RET400]" in str(err) while err.code differs
    root = RT.parent
    late = [p.relative_to(root).as_posix() for p in root.rglob("*.py")
            if re.search(r"\b\w+\.code\s*=[^=]", p.read_text())]
    late.remove("contract/errors.py")  # RetrieverError.__init__ itself
    assert late == []
    err = FlowError("f", "bad", code="RET005")
    assert err.code == "RET005" and str(err).startswith("[RET005]")


def test_every_error_class_takes_its_code_as_a_constructor_argument() -> None:
    import importlib
    import inspect
    import pkgutil

    import retriever
    from retriever.contract.errors import RetrieverError

    for info in pkgutil.walk_packages(retriever.__path__, "retriever."):
        with contextlib.suppress(ImportError):  # optional extras not installed
            importlib.import_module(info.name)
    classes, seen = [RetrieverError], []
    while classes:
        cls = classes.pop()
        seen.append(cls)
        classes.extend(cls.__subclasses__())
    without = [c.__qualname__ for c in seen
               if "code" not in inspect.signature(c.__init__).parameters]
    assert len(seen) > 15 and without == []
    err = MissingDependencyError("x", "y", "z", code="RET601")
    assert err.code == "RET601" and str(err).startswith("[RET601]")


def test_progress_view_shows_a_waiting_flow_and_its_port() -> None:
    import io as text_io

    from retriever.cli.progress import watch

    pipe = Pipeline("waits")
    pipe.connect(P.Quiet() @ Rate(hz=10), P.AddOne() @ Rate(hz=10), sync=Latest())
    handle = pipe.run(backend="in-process", duration=0.6, blocking=False)
    out = text_io.StringIO()
    watch(handle, interval=0.1, stream=out)
    assert "waiting for value" in out.getvalue()


def test_a_feedback_loop_starts_without_waiting_on_its_back_edge() -> None:
    pipe = Pipeline("loop")
    ticker = P.Ticker() @ Rate(hz=10)  # publishes its run count while its input is empty
    back = P.Add(10) @ Trigger("value")
    pipe.connect(ticker, back, sync=Latest())
    pipe.connect(back, ticker, sync=Latest())
    runs = [pipe.step(dt=0.1) for _ in range(2)]
    pipe.close_stepper()
    assert runs[0].executed == ["ticker", "add"]
    assert runs[0].outputs["add"].value == 11 and runs[1].outputs["ticker"].value == -1


def test_authoring_never_imports_the_runtime_and_holds_no_runtime_state() -> None:
    import ast

    flow_dir = RT.parent / "flow"
    for path in flow_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("retriever.rt", "retriever.ir",
                                            "retriever.record")), (path.name, name)
    pipe, *_ = _pipe()
    before = set(vars(pipe))
    pipe.step()
    assert set(vars(pipe)) == before  # the stepper is kept by the runtime
    pipe.close_stepper()


@pytest.mark.parametrize("backend", ["multiprocessing", "dora"])
def test_a_worker_error_outside_any_flow_is_the_same_backend_error_everywhere(
        backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "dora" and not dora_installed():
        pytest.skip("dora-rs / dora-rs-cli / pyarrow not installed")
    # every worker loads the observers its environment names before any flow runs
    monkeypatch.setenv("RETRIEVER_STEP_OBSERVERS", "no_such_module_for_audit:make")
    pipe = Pipeline("nonflow")
    pipe.connect(Source() @ Rate(hz=10), AddOne() @ Trigger("value"), sync=Latest())
    options: dict[str, Any] = {"echo": False} if backend == "dora" else {}
    with pytest.raises(Exception) as info:  # a group or one error: the types are checked
        pipe.run(backend=backend, duration=1.0, **options)
    errors = (list(info.value.exceptions) if isinstance(info.value, ExceptionGroup)
              else [info.value])
    assert errors and all(isinstance(e, BackendError) and e.code == "RET200"
                          and str(e).startswith("[RET200] a worker failed")
                          and "no_such_module_for_audit" in str(e) for e in errors)
