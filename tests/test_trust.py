"""Malicious files: an IR or a recording never runs code it names (docs/trust.md).

Each payload would create a marker file if it ran; every test checks the marker does not
exist afterwards, and that the refusal came before anything started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from retriever.contract.errors import IRError
from retriever.flow import Flow, Latest, Pipeline, Rate, io
from retriever.ir import IR
from retriever.ir.resolve import resolve_flow, resolve_function, resolve_value_class
from retriever.rt.execute import execute_ir

from .core_flows import AddOne, Collect, Source

BACKENDS = ["in-process", "multiprocessing"]
ROOT = Path(__file__).resolve().parent.parent


def _valid_ir() -> dict[str, Any]:
    pipe = Pipeline("victim")
    a = Source() @ Rate(hz=50)
    b = AddOne() @ Rate(hz=50)
    pipe.connect(a, b, sync=Latest())
    pipe.connect(b, Collect() @ Rate(hz=50), sync=Latest())
    data: dict[str, Any] = json.loads(pipe.validate().to_json())
    return data


def _run(data: dict[str, Any], backend: str, **options: Any) -> None:
    execute_ir(IR.from_dict(data), backend, duration=0.2, **options)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_flow_naming_a_function_is_refused(tmp_path: Path, backend: str) -> None:
    marker = tmp_path / "pwned"
    data = _valid_ir()
    data["nodes"][0]["flow"] = "os:system"
    data["nodes"][0]["init"] = {"args": [f"touch {marker}"], "kwargs": {}}
    with pytest.raises(IRError, match="not a Flow subclass"):
        _run(data, backend)
    assert not marker.exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dataclass_init_value_naming_a_function_is_refused(tmp_path: Path,
                                                             backend: str) -> None:
    marker = tmp_path / "pwned"
    data = _valid_ir()
    data["nodes"][0]["init"] = {"args": [], "kwargs": {"start": {
        "$dataclass": "subprocess:getoutput", "fields": {"cmd": f"touch {marker}"}}}}
    with pytest.raises(IRError, match="not a dataclass or @io class"):
        _run(data, backend)
    assert not marker.exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_envelope_naming_a_non_io_class_is_refused(tmp_path: Path, backend: str) -> None:
    data = _valid_ir()
    data["nodes"][1]["outputs"]["elements"][0]["cls"] = "subprocess:Popen"
    with pytest.raises(IRError, match="not an @io class"):
        _run(data, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_module_not_yet_imported_is_not_imported(tmp_path: Path, backend: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "evil_at_import.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "from tests.core_flows import Source as Thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = _valid_ir()
    data["nodes"][0]["flow"] = "evil_at_import:Thing"
    with pytest.raises(IRError, match="is not imported"):
        _run(data, backend)
    assert not marker.exists()
    assert "evil_at_import" not in sys.modules


def test_a_main_script_is_not_executed_without_opt_in(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    script = tmp_path / "script.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    data = _valid_ir()
    data["nodes"][0]["flow"] = "__main__:Thing"
    data["nodes"][0]["source_file"] = str(script)
    for backend in BACKENDS:
        with pytest.raises(IRError, match="allow_source_exec"):
            _run(data, backend)
    assert not marker.exists()


SCRIPT_FLOWS = """
from retriever.flow import Flow, io

@io
class Out:
    value: int

class Ticker(Flow[None, Out]):
    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Out:
        self.n += 1
        with open({log!r}, "a") as fh:
            fh.write(f"{{self.n}}\\n")
        return Out(value=self.n)
"""


def test_opt_ins_let_a_trusted_ir_run(tmp_path: Path) -> None:
    """The explicit grants work: a script's flows and a package's modules."""
    log = tmp_path / "ticks.txt"
    script = tmp_path / "flows_script.py"
    script.write_text(SCRIPT_FLOWS.format(log=str(log)))
    node = {
        "id": "ticker", "flow": "__main__:Ticker", "init": {"args": [], "kwargs": {}},
        "clock": {"kind": "rate", "hz": 100.0},
        "inputs": {"elements": [{"cls": None}]},
        "outputs": {"elements": [{"cls": "__main__:Out"}]},
        "output_ports": [{"name": "value", "alias": "Out", "field": "value", "type": "int"}],
        "source_file": str(script)}
    ir = {"version": 1, "name": "script", "nodes": [node], "edges": []}
    code = textwrap.dedent(f"""
        import json, sys
        from retriever.ir import IR
        from retriever.rt.execute import execute_ir
        from retriever.contract.errors import IRError
        ir = IR.from_dict(json.loads({json.dumps(json.dumps(ir))}))
        try:
            execute_ir(ir, "in-process", duration=0.05)
        except IRError:
            print("refused")
        execute_ir(ir, "multiprocessing", duration=0.2, allow_source_exec=True)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["refused"]
    assert log.read_text().split()[:1] == ["1"]


def test_cli_run_of_a_malicious_ir_file(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = _valid_ir()
    data["nodes"][0]["flow"] = "os:system"
    data["nodes"][0]["init"] = {"args": [f"touch {marker}"], "kwargs": {}}
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(data))
    out = subprocess.run([sys.executable, "-m", "retriever.cli.main", "run", str(path),
                          "--duration", "0.2", "--allow-import", "tests"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 1
    assert "RET300" in out.stderr and "not a Flow subclass" in out.stderr
    assert not marker.exists()


def test_cli_run_of_an_ir_file_needs_its_package_allowed(tmp_path: Path) -> None:
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(_valid_ir()))
    base = [sys.executable, "-m", "retriever.cli.main", "run", str(path), "--duration", "0.2",
            "--backend", "in-process"]
    refused = subprocess.run(base, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert refused.returncode == 1 and "--allow-import" in refused.stderr
    ok = subprocess.run([*base, "--allow-import", "tests"], capture_output=True, text=True,
                        cwd=ROOT, timeout=60)
    assert ok.returncode == 0, ok.stderr


def test_checked_resolvers_refuse_other_roles() -> None:
    for resolve, ident in [(resolve_flow, "os:system"), (resolve_flow, "retriever.flow:Flow"),
                           (resolve_value_class, "subprocess:Popen"),
                           (resolve_function, "subprocess:getoutput"),
                           (resolve_function, "os:system"),
                           (resolve_function, "tests.core_flows:Source")]:
        with pytest.raises(IRError, match="refusing"):
            resolve(ident)
    assert resolve_flow("tests.core_flows:Source") is Source


# ---------------------------------------------------------------------- recordings

@io
class Blob:
    data: Any
    raw: bytes


def _pickle_bomb(marker: Path) -> bytes:
    # A protocol-0 pickle calling os.system: harmless unless something unpickles it.
    return f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()


class EvilSource(Flow[None, Blob]):
    """Publishes values shaped like the tags a careless decoder would act on."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def step(self, _: None) -> Blob:
        return Blob(data={"$dataclass": "subprocess:getoutput",
                          "fields": {"cmd": f"touch {self.marker}"}},
                    raw=_pickle_bomb(Path(self.marker)))


class BlobSink(Flow[Blob, None]):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def step(self, input: Blob) -> None:
        self.seen.append(input.data)


def _evil_pipeline(marker: Path) -> tuple[Pipeline, BlobSink]:
    pipe = Pipeline("evil_recording")
    sink = BlobSink()
    pipe.connect(EvilSource(str(marker)) @ Rate(hz=10), sink @ Rate(hz=10), sync=Latest())
    return pipe, sink


@pytest.mark.parametrize("ext", ["mcap", "rrd"])
def test_recordings_with_hostile_payloads_are_data_only(tmp_path: Path, ext: str) -> None:
    pytest.importorskip("mcap" if ext == "mcap" else "rerun")
    from retriever.record import open_recording

    marker = tmp_path / "pwned"
    path = tmp_path / f"evil.{ext}"
    pipe, _ = _evil_pipeline(marker)
    pipe.record(str(path), steps=3)
    pipe.close_stepper()
    rec = open_recording(path)
    values = [m for _, _, m in rec.messages("evil_source", "out", {"raw": bytes, "data": Any})]
    assert values and all(isinstance(v["raw"], bytes) for v in values)
    assert values[0]["data"]["$dataclass"] == "subprocess:getoutput"  # plain data
    out = subprocess.run([sys.executable, "-m", "retriever.cli.main", "inspect", str(path),
                          "--json", "--schemas"], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    replay_pipe, sink = _evil_pipeline(tmp_path / "never-used")
    replay_pipe.replay(replay_pipe.nodes[0], path=path)
    for _ in range(3):
        replay_pipe.step(dt=0.1)
    replay_pipe.close_stepper()
    assert sink.seen and sink.seen[0]["$dataclass"] == "subprocess:getoutput"
    assert not marker.exists()
    assert not (tmp_path / "never-used").exists()
    assert os.listdir(tmp_path) == [path.name]


# ---------------------------------------------------------------------- worker flows

def double(x: float) -> float:
    """A worker function (module level, importable)."""
    return x * 2


def _worker_ir() -> dict[str, Any]:
    from retriever.worker import as_flow

    from .test_worker_flow import CollectValue, _pipeline

    comp = {"worker": {"input_type": {"value": "Double"}, "output_type": {"value": "Double"}}}
    pipe = _pipeline(as_flow(double, component=comp, persist_state=False),
                     CollectValue("/nonexistent/never-written"))
    data: dict[str, Any] = json.loads(pipe.validate().to_json())
    return data


def _worker_node(data: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = next(n for n in data["nodes"] if "worker" in n["flow"])
    return node


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_worker_flow_naming_a_library_function_is_refused(tmp_path: Path,
                                                            backend: str) -> None:
    marker = tmp_path / "pwned"
    data = _worker_ir()
    node = _worker_node(data)
    node["init"]["args"][0] = "subprocess:getoutput"
    node["init"]["kwargs"]["virtual_source"] = "os:abort"
    with pytest.raises(Exception, match="not a worker function") as info:
        _run(data, backend)
    assert "RET" in str(info.value)
    assert not marker.exists()


def test_a_worker_component_type_does_not_import_a_module(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "evil_types.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                            "class T:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = _worker_ir()
    node = _worker_node(data)
    node["init"]["args"][1] = {"worker": {"input_type": {"value": "evil_types:T"},
                                          "output_type": {"value": "Double"}}}
    with pytest.raises(Exception, match="is not imported"):
        _run(data, "in-process")
    assert not marker.exists() and "evil_types" not in sys.modules
