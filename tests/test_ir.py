from __future__ import annotations

import json
import subprocess
import sys

import pytest

from retriever.contract.errors import ConfigError, IRError, LagError
from retriever.flow import Hybrid, Latest, Pipeline, Rate, Tick, Trigger
from retriever.flow.clock import clock_from_config
from retriever.ir import IR, ExecutionGraph, build_execution
from retriever.rt.lag import LagTracker

from .core_flows import AddOne, Collect, Source


def three() -> Pipeline:
    pipe = Pipeline("three")
    a = (Source(3) @ Rate(hz=20)).deploy(machine="robot", labels={"gpu": "no"})
    b = AddOne() @ Trigger("value")
    c = Collect() @ Rate(hz=5)
    pipe.connect(a, b, sync=Latest())
    pipe.connect(b, c, sync=Latest())
    return pipe


def test_ir_json_round_trip_is_exact() -> None:
    ir = three().validate()
    text = ir.to_json()
    again = IR.from_json(text)
    assert again == ir and again.to_json() == text
    node = again.node("source")
    assert node.flow == "tests.core_flows:Source"
    assert node.init == {"args": [3], "kwargs": {}}
    assert node.clock.kind == "rate" and node.clock.hz == 20.0
    assert node.placement.machine == "robot"
    assert [p.name for p in node.output_ports] == ["value"]
    edge = again.edges[0]
    assert (edge.src, edge.dst) == ("source", "add_one")
    assert edge.ports[0].adapter.name == "latest" and edge.ports[0].on_full == "drop"


def test_loading_an_ir_imports_nothing() -> None:
    ir = three().validate()
    data = json.loads(ir.to_json())
    data["nodes"][0]["flow"] = "module_that_does_not_exist_xyz:Thing"
    code = (
        "import sys, json; from retriever.ir import IR\n"
        f"ir = IR.from_json({json.dumps(json.dumps(data))})\n"
        "assert 'module_that_does_not_exist_xyz' not in sys.modules\n"
        "assert 'tests.core_flows' not in sys.modules\n"
        "print(ir.nodes[0].flow)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "module_that_does_not_exist_xyz" in out.stdout


def test_bad_ir_documents_give_typed_errors() -> None:
    with pytest.raises(IRError, match="not valid JSON"):
        IR.from_json("{nope")
    with pytest.raises(IRError, match="version"):
        IR.from_json('{"version": 99, "name": "x", "nodes": [], "edges": []}')
    with pytest.raises(IRError, match="malformed"):
        IR.from_json('{"version": 1, "name": "x", "nodes": [{"id": 1}], "edges": []}')
    with pytest.raises(IRError, match="cannot read"):
        IR.load("/nonexistent/ir.json")


def test_build_execution_policies() -> None:
    ir = three().validate()
    per = build_execution(ir)
    assert [p.nodes for p in per.partitions] == [["source"], ["add_one"], ["collect"]]
    assert len(per.cross_edges) == 2
    single = build_execution(ir, policy="single")
    assert single.partitions[0].nodes == ["source", "add_one", "collect"]
    assert single.cross_edges == [] and single.partitions[0].placement.machine == "robot"
    custom = build_execution(ir, policy={"source": "io", "add_one": "io"})
    assert [p.id for p in custom.partitions] == ["io", "collect"]
    assert custom.partition_of("add_one").id == "io"
    by_machine = three().build_execution(policy="by-machine")
    assert {p.id for p in by_machine.partitions} == {"robot", "local"}
    assert ExecutionGraph.from_json(custom.to_json()) == custom
    with pytest.raises(IRError, match="unknown partition policy"):
        build_execution(ir, policy="nope")


def test_clock_configs_round_trip_and_validate() -> None:
    for clock in (Rate(10, on_lag="raise"), Tick(5), Trigger("a", "b"),
                  Hybrid(3, trigger=["e"], on_lag="catch_up")):
        assert clock_from_config(clock.to_config()) == clock
    assert Rate(10, on_lag="strict").on_lag == "error"
    for bad in (lambda: Rate(0), lambda: Rate(10, on_lag="later"), lambda: Trigger(),
                lambda: Hybrid(1, trigger=[])):
        with pytest.raises(ConfigError):
            bad()


def test_lag_tracker_policies() -> None:
    t = LagTracker("f", hz=10, policy="warn", start=0.0)
    assert t.due(0.0) == [0.0] and t.due(0.05) == []
    assert t.due(0.35) == pytest.approx([0.3])  # 0.1 and 0.2 skipped
    assert (t.lag_events, t.skipped) == (1, 2)
    c = LagTracker("f", hz=10, policy="catch_up", start=0.0)
    c.due(0.0)
    assert c.due(0.35) == pytest.approx([0.1, 0.2, 0.3])
    d = LagTracker("f", hz=10, policy="drop", start=0.0)
    d.due(0.0)
    assert d.due(0.25) == pytest.approx([0.2]) and d.skipped == 1
    e = LagTracker("ctrl", hz=10, policy="error", start=0.0)
    e.due(0.0)
    assert e.due(0.15) == pytest.approx([0.1])  # late but not a whole tick behind
    with pytest.raises(LagError, match="ctrl"):
        e.due(0.45)
