from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

from retriever.flow import Flow, Pipeline, Rate, io


def test_documented_import_locations() -> None:
    import retriever

    for name in ("init", "connect", "default_pipeline", "reset_default_pipeline",
                 "clear_default_pipeline", "Pipeline", "execute_ir", "io", "Flow"):
        assert hasattr(retriever, name), name
    for module, names in {
        "retriever.flow": ["Flow", "io", "Rate", "Tick", "Trigger", "Hybrid", "Latest", "Hold",
                           "Window", "Events", "EdgeConfig", "Pipeline", "PipelineBuilder",
                           "TemporalFlow"],
        "retriever.flow.clock": ["Rate", "Tick", "Trigger", "Hybrid"],
        "retriever.flow.adapter": ["Adapter", "Latest", "Hold", "Window", "Events", "Exact",
                                   "Linear", "Chunking", "register_adapter"],
        "retriever.flow.types": ["TimedBuffer", "EventStream", "Behavior"],
        "retriever.flow.pipeline": ["Pipeline"],
        "retriever.flow.builder": ["PipelineBuilder"],
        "retriever.rt": ["execute_ir", "Behavior", "EventStream"],
        "retriever.ir": ["IR", "ExecutionGraph"],
    }.items():
        mod = importlib.import_module(module)
        for name in names:
            assert hasattr(mod, name), f"{module}.{name}"
    from retriever.flow.types import Behavior, EventStream
    from retriever.rt import Behavior as B2
    from retriever.rt import EventStream as E2

    assert Behavior is B2 and EventStream is E2


def test_import_retriever_stays_light() -> None:
    code = ("import sys, retriever\n"
            "heavy = [m for m in ('dora', 'rerun', 'mcap', 'cv2', 'pyarrow', 'pandas') "
            "if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_deprecated_aliases_warn_and_work() -> None:
    @io
    class Out:
        value: int

    with pytest.warns(DeprecationWarning) as caught:
        class Old(Flow[None, Out]):
            def init(self) -> None:  # deprecated name of reset
                self.n = 10

            def run(self, _: None) -> Out:  # deprecated name of step
                self.n += 1
                return Out(value=self.n)

    said = sorted(str(w.message) for w in caught)
    assert len(said) == 2
    assert "rename it to reset()" in said[0] and "rename it to step()" in said[1]
    pipe = Pipeline("old")
    pipe.add(Old() @ Rate(hz=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        r = pipe.step()
    assert r.outputs["old"] == Out(value=11)
    pipe.close_stepper()
    class New(Flow[Out, Out]):
        def reset(self) -> None:
            self.resets = getattr(self, "resets", 0) + 1

        def step(self, input: Out) -> Out:
            return Out(value=(input.value or 0) * 2)

    flow = New()
    with pytest.warns(DeprecationWarning, match="call step"):
        assert flow.run(Out(value=4)) == Out(value=8)
    with pytest.warns(DeprecationWarning, match="call reset"):
        flow.init()
    assert flow.resets == 1


def test_cli_entry_point_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "retriever.cli.main", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("retriever ")
    demo = subprocess.run([sys.executable, "-m", "retriever.cli.main", "demo", "--quickstart"],
                          capture_output=True, text=True, check=True)
    assert "step 4" in demo.stdout
