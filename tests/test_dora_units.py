"""dora backend pieces that need no running dora: versions, compiling, the codec."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from retriever.contract.errors import BackendError, MissingDependencyError
from retriever.flow import EdgeConfig, Latest, Pipeline, Rate, Trigger
from retriever.ir.execution import build_execution
from retriever.ir.lower import lower
from retriever.rt.backends.dora import compat, launch
from retriever.rt.backends.dora.compile import (
    ENV_SHM_POOL,
    SHM_POOL_DEFAULT,
    SHM_POOL_MIN,
    compile_dataflow,
    dataflow_document,
    pack_graph,
    plan_dataflow,
    pool_publishers,
    shm_pool_size,
    timer_source,
    unpack_graph,
)

from . import dora_flows as F


def test_missing_dora_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.version

    def fake(name: str) -> str:
        if name == "dora-rs":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", fake)
    with pytest.raises(MissingDependencyError) as info:
        compat.check_install()
    assert "pyretriever[dora]" in str(info.value) and "dora-rs" in str(info.value)


def test_missing_cli_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("RETRIEVER_DORA_CLI", "/nonexistent/dora")
    with pytest.raises(MissingDependencyError) as info:
        compat.find_cli()
    assert "pyretriever[dora]" in str(info.value)


def test_version_mismatch_says_which_versions() -> None:
    with pytest.raises(BackendError) as info:
        compat.check_versions("1.1.0", "1.0.2")
    assert "1.1.0" in str(info.value) and "1.0.2" in str(info.value)
    with pytest.raises(BackendError, match="not supported"):
        compat.check_versions("0.3.6", "0.3.6")
    with pytest.raises(BackendError, match="not supported"):
        compat.check_versions("2.0.0", "2.0.0")
    compat.check_versions("1.1.0", "1.1.3")  # same minor: fine


def test_timer_sources() -> None:
    assert timer_source(500) == "dora/timer/millis/2"
    assert timer_source(20) == "dora/timer/millis/50"
    assert timer_source(30) == "dora/timer/micros/33333"
    assert timer_source(0.5) == "dora/timer/millis/2000"


def _two_machine_pipe(block: bool = False) -> Pipeline:
    pipe = F.basic("/tmp/unused.json", machines=("A", "B"))
    if block:
        pipe = Pipeline("blocky")
        src = (F.Counter() @ Rate(hz=10)).named("counter")
        snk = (F.Recorder("/tmp/x.json") @ Trigger("n", "stamp")).named("recorder")
        pipe.connect(src, snk, sync=Latest(), edge_config=EdgeConfig(qsize=5, on_full="block"))
    return pipe


def test_plan_per_flow_and_single() -> None:
    ir = lower(_two_machine_pipe())
    plan = plan_dataflow(build_execution(ir, policy="per-flow"))
    src, snk = plan.nodes
    assert src.outputs == {"counter": "counter"} and src.timers[0].input_id == "tick_counter"
    assert snk.inputs[0].source == "counter/counter" and snk.inputs[0].queue_size == 2
    assert (src.machine, snk.machine) == ("A", "B") and plan.placed
    doc = dataflow_document(build_execution(ir, policy="per-flow"), python="/py")
    assert doc["nodes"][0]["deploy"] == {"machine": "A"}
    assert doc["nodes"][1]["deploy"] == {"machine": "B"}
    no_deploy = dataflow_document(build_execution(ir), python="/py", deploy=False)
    assert all("deploy" not in n for n in no_deploy["nodes"])
    plain = lower(F.basic("/tmp/unused.json"))
    single = plan_dataflow(build_execution(plain, policy="single"))
    assert len(single.nodes) == 1 and not single.nodes[0].inputs
    assert not single.nodes[0].outputs and not single.placed


def test_block_becomes_backpressure() -> None:
    graph = build_execution(lower(_two_machine_pipe(block=True)))
    doc = dataflow_document(graph, python="/py")
    spec = doc["nodes"][1]["inputs"]["in_counter"]
    assert spec == {"source": "counter/counter", "queue_size": 5,
                    "queue_policy": "backpressure"}
    text = compile_dataflow(graph, python="/py")
    assert 'queue_policy: "backpressure"' in text and "RETRIEVER_DORA_GRAPH" in text


def test_nodes_publishing_large_messages_get_a_shared_memory_pool(
        monkeypatch: pytest.MonkeyPatch) -> None:
    graph = build_execution(lower(F.frames("/tmp/unused.json")), policy="per-flow")
    assert pool_publishers(graph) == 1
    doc = dataflow_document(graph, python="/py", shm_pool=32 << 20)
    src, snk = doc["nodes"]
    assert src["env"][ENV_SHM_POOL] == str(32 << 20)  # it publishes frames
    assert ENV_SHM_POOL not in snk["env"]  # it only subscribes: dora's default
    plain = dataflow_document(graph, python="/py")
    assert all(ENV_SHM_POOL not in n["env"] for n in plain["nodes"])
    # a node whose messages hold only numbers never reaches dora's 4 KiB threshold:
    # it keeps dora's default pool (a large one costs it time as it joins)
    small = build_execution(lower(_two_machine_pipe()), policy="per-flow")
    assert pool_publishers(small) == 0
    doc = dataflow_document(small, python="/py", shm_pool=32 << 20)
    assert all(ENV_SHM_POOL not in n["env"] for n in doc["nodes"])
    monkeypatch.delenv(ENV_SHM_POOL, raising=False)
    auto = shm_pool_size(2)
    assert auto is not None and SHM_POOL_MIN <= auto <= SHM_POOL_DEFAULT
    assert shm_pool_size(0) is None and shm_pool_size(3, requested=1 << 20) == 1 << 20
    monkeypatch.setenv(ENV_SHM_POOL, "123456")  # the user's own setting is left to dora
    assert shm_pool_size(2) is None


def test_graph_round_trips_through_env() -> None:
    graph = build_execution(lower(F.composite("/tmp/unused.json")))
    assert unpack_graph(pack_graph(graph)) == graph


@dataclass
class Pose:
    x: float
    cov: np.ndarray


def test_codec_round_trip_small_one_and_many_large() -> None:
    pytest.importorskip("pyarrow")
    from retriever.rt.backends.dora.codec import HEADER_KEY, DoraCodec

    codec = DoraCodec({"pose": Pose})
    small = {"n": 3, "v": np.arange(4.0), "pose": Pose(1.0, np.eye(2))}
    value, meta = codec.encode(small)
    assert meta == {}
    out = codec.decode(value, meta)
    assert out["n"] == 3 and np.array_equal(out["v"], np.arange(4.0))
    assert isinstance(out["pose"], Pose) and np.array_equal(out["pose"].cov, np.eye(2))

    frame = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    value, meta = codec.encode({"image": frame, "k": 1})
    assert HEADER_KEY in meta and len(value) == frame.nbytes
    got = codec.decode(value, meta)
    assert np.array_equal(got["image"], frame) and not got["image"].flags.writeable

    many = {"a": np.ones((100, 100)), "b": np.zeros(5000, dtype=np.int32), "c": "x"}
    value, meta = codec.encode(many)
    got = codec.decode(value, meta)
    assert np.array_equal(got["a"], many["a"]) and np.array_equal(got["b"], many["b"])
    assert got["c"] == "x"


def test_restart_policy_maps_to_dora_keys() -> None:
    pipe = F.basic("/tmp/unused.json")
    pipe.node("counter").restart_policy("on-failure", max_restarts=4, window=30)
    doc = dataflow_document(build_execution(lower(pipe)), python="python3")
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes["counter"]["restart_policy"] == "on-failure"
    assert nodes["counter"]["max_restarts"] == 4 and nodes["counter"]["restart_window"] == 30.0
    assert "restart_policy" not in nodes["recorder"]
    assert "max_restarts: 4" in compile_dataflow(build_execution(lower(pipe)),
                                                 python="python3")
    # no restart allowed: nothing for dora (which reads max_restarts 0 as "unlimited")
    pipe.node("counter").restart_policy("always", max_restarts=0)
    doc = dataflow_document(build_execution(lower(pipe)), python="python3")
    assert all("restart_policy" not in n for n in doc["nodes"])


def test_zenoh_open_wait_overlay(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    assert launch.limit_zenoh_open_wait(env, tmp_path, 0.02)
    path = Path(env[launch.ENV_ZENOH_OVERLAY])
    assert path.parent == tmp_path
    assert json.loads(path.read_text()) == {"scouting": {"delay": 20}}
    # the user's own zenoh configuration wins (dora refuses both variables at once)
    for key in (launch.ENV_ZENOH_OVERLAY, launch.ENV_ZENOH_CONFIG):
        mine = {key: "/etc/my-zenoh.json5"}
        assert not launch.limit_zenoh_open_wait(mine, tmp_path / "x", 0.02)
        assert mine == {key: "/etc/my-zenoh.json5"}
    untouched: dict[str, str] = {}
    assert not launch.limit_zenoh_open_wait(untouched, tmp_path, None)
    assert untouched == {}


def test_a_node_imports_only_what_it_runs() -> None:
    # a dora node's start-up time is mostly imports: the owner's side of the backend
    # (running a graph, compiling the YAML, launching, watching), the facade, the
    # stepper and pydantic (the IR decodes with msgspec) stay out of node processes,
    # and so does numpy.ma, which pa.array(ndarray) would import on the first message
    code = ("import sys, retriever.rt.backends.dora.partition\n"
            "from retriever.rt.backends.dora.codec import DoraCodec\n"
            "DoraCodec().encode({'n': 1, 'stamp': 2.0})\n"
            "print(sorted(m for m in sys.modules if m in {'retriever.rt.backends.dora.backend',"
            " 'retriever.rt.backends.dora.launch', 'retriever.rt.backends.dora.compat',"
            " 'retriever.rt.backends.dora.compile', 'retriever.rt.execute',"
            " 'retriever.rt.facade', 'retriever.rt.stepper', 'retriever.rt.handle',"
            " 'retriever.rt.backends.inprocess', 'retriever.record', 'pydantic',"
            " 'numpy.ma'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_runtime_package_still_runs_pipelines() -> None:
    # only a submodule imported (as in a node), then the public names and Pipeline.run
    code = ("import retriever.rt.step\n"
            "from retriever.rt import Stepper, execute_ir, RunReport\n"
            "from tests import dora_flows as F\n"
            "import json, tempfile, os\n"
            "out = os.path.join(tempfile.mkdtemp(), 'o.json')\n"
            "rep = F.basic(out).run(backend='in-process', duration=0.2)\n"
            "print(isinstance(rep, RunReport), json.load(open(out))['seen'][:3])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "True [0, 1, 2]"
