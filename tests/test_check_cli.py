"""``retriever check`` and ``retriever list``: discovery, guards, formats, exit codes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from retriever.check import check_paths
from retriever.cli.main import main
from retriever.contract.catalogue import RULES
from retriever.registry.pipeline import unregister_pipeline

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "tests" / "check_fixtures" / "project"
DOC = ROOT / "docs" / "checking.md"


@pytest.fixture(autouse=True)
def _forget_registrations() -> object:
    yield
    for name in ("listed-one", "listed-two"):
        unregister_pipeline(name)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def codes_at(out: str) -> list[tuple[str, int, str]]:
    found = []
    for m in re.finditer(r"^(\S+?):(\d+):(\d+): (RET\d+) ", out, re.M):
        found.append((Path(m.group(1)).name, int(m.group(2)), m.group(4)))
    return found


def test_project_findings(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, "check", str(PROJECT))
    assert status == 1
    assert codes_at(out) == [
        ("flows.py", 16, "RET005"),     # subclass of a subclass, at its own step
        ("flows.py", 21, "RET001"),     # nested class, reported once at its definition
        ("graph.py", 6, "RET104"),      # module-level pipeline
        ("registered.py", 11, "RET104"),  # registered factory returning a Pipeline
        ("registered.py", 17, "RET901"),  # registered factory that raises
        ("runs_at_import.py", 4, "RET900"),  # run() refused at import time
    ]
    assert "    hint: " in out
    assert "7 flow classes" in err and "found 6 problems" in err


def test_text_line_format(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(capsys, "check", str(PROJECT / "checkproj" / "graph.py"))
    first, hint = out.splitlines()[:2]
    assert re.match(r"^\S+graph\.py:6:1: RET104 sensor\.value \(float\) cannot feed ", first)
    assert hint.startswith("    hint: ")


def test_clean_file_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, "check", str(PROJECT / "clean.py"))
    assert (status, out) == (0, "")
    assert "no problems found" in err


def test_usage_errors_exit_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "check")[0] == 2
    status, _, err = run_cli(capsys, "check", "no/such/file.py")
    assert status == 2 and "no such file" in err
    assert run_cli(capsys, "check", "retriever_no_such_module_xyz")[0] == 2
    with pytest.raises(SystemExit) as exc:
        main(["check", "--format", "xml", str(PROJECT)])
    assert exc.value.code == 2


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "check", "--format", "json", str(PROJECT / "checkproj"))
    doc = json.loads(out)
    assert status == 1
    assert doc["checked"]["files"] == 5
    first = doc["diagnostics"][0]
    assert {"file", "line", "column", "code", "message", "hint", "severity"} <= set(first)
    assert {d["code"] for d in doc["diagnostics"]} == {"RET001", "RET005", "RET104", "RET901"}


def test_json_output_survives_printing_modules(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    (tmp_path / "chatty.py").write_text("print('hello from import')\n")
    status, out, err = run_cli(capsys, "check", "--format", "json", str(tmp_path))
    assert status == 0 and json.loads(out)["diagnostics"] == []
    assert "hello from import" in err


def test_github_format(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(capsys, "check", "--format", "github", str(PROJECT / "checkproj"))
    line = next(x for x in out.splitlines() if "RET104" in x)
    assert re.match(r"^::error file=\S+graph\.py,line=6,col=1,title=RET104::", line)
    assert "%0Ahint: " in line


def test_dotted_module(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                       ) -> None:
    monkeypatch.syspath_prepend(str(PROJECT))
    status, out, _ = run_cli(capsys, "check", "checkproj.flows")
    assert status == 1
    assert [c for _, _, c in codes_at(out)] == ["RET005", "RET001"]


def test_main_block_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    script = tmp_path / "script_with_main.py"
    script.write_text(
        "from pathlib import Path\n"
        "if __name__ == '__main__':\n"
        f"    Path({str(marker)!r}).write_text('ran')\n")
    assert check_paths([str(script)]).ok
    assert not marker.exists()


def test_import_failures_are_diagnostics(tmp_path: Path) -> None:
    shutil.copy(PROJECT / "broken_syntax.py.txt", tmp_path / "broken_syntax.py")
    (tmp_path / "raises_at_import.py").write_text(
        "import math\nvalue = math.sqrt(4)\nraise ValueError('boom')\n")
    (tmp_path / "exits_at_import.py").write_text("import sys\nsys.exit(3)\n")
    shutil.copy(PROJECT / "clean.py", tmp_path / "fine_neighbour.py")
    result = check_paths([str(tmp_path)])
    found = sorted((Path(str(d.location.file)).name, d.location.line, d.code)
                   for d in result.diagnostics)
    assert found == [("broken_syntax.py", 1, "RET900"), ("exits_at_import.py", 2, "RET900"),
                     ("raises_at_import.py", 3, "RET900")]
    assert result.files == 4 and result.pipelines == 1


def test_authoring_errors_at_import_are_collected(tmp_path: Path) -> None:
    (tmp_path / "authoring.py").write_text(
        (PROJECT / "clean.py").read_text()
        + "pipe.connect(Source() @ Rate(hz=1), Sink() @ Rate(hz=1), sync=Latest(),\n"
          "             map={'value': 'nope'})\n"
          "bad = Sink() @ Trigger('nope')\n"
          "after = Pipeline('after-the-errors')\n"
          "after.connect(Source() @ Rate(hz=1), Sink() @ Rate(hz=1))\n"
        .replace("Trigger", "__import__('retriever').Trigger"))
    result = check_paths([str(tmp_path / "authoring.py")])
    found = sorted((d.location.line, d.code) for d in result.diagnostics)
    assert (21, "RET103") in found  # the connect line
    assert any(code == "RET106" for _, code in found)
    assert (25, "RET108") in found  # code after the mistakes still ran and was checked


def test_strict_single_io_flag(capsys: pytest.CaptureFixture[str]) -> None:
    parity = ROOT / "tests" / "check_fixtures" / "parity" / "ret004.py"
    assert run_cli(capsys, "check", str(parity))[0] == 0
    status, out, _ = run_cli(capsys, "check", "--strict-single-io", str(parity))
    assert status == 1 and " RET004 " in out


def test_explicit_sync_flag(capsys: pytest.CaptureFixture[str]) -> None:
    clean = ROOT / "tests" / "check_fixtures" / "parity" / "clean_rshift.py"
    assert run_cli(capsys, "check", str(clean))[0] == 0
    status, out, _ = run_cli(capsys, "check", "--explicit-sync", str(clean))
    assert status == 1 and out.count(" RET108 ") == 2


def test_list_shows_registered_pipelines(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    (tmp_path / "reg_for_list.py").write_text(
        "from retriever.flow import Pipeline\n"
        "from retriever.registry import register_pipeline\n"
        "@register_pipeline('listed-two')\n"
        "def two() -> Pipeline:\n    return Pipeline('two')\n"
        "@register_pipeline('listed-one', description='the first one')\n"
        "def one() -> Pipeline:\n    return Pipeline('one')\n")
    status, out, _ = run_cli(capsys, "list", str(tmp_path / "reg_for_list.py"))
    assert status == 0
    lines = [x for x in out.splitlines() if x.startswith("listed-")]
    assert lines[0].split()[:2] == ["listed-one", "reg_for_list:one"]
    assert lines[0].endswith("the first one")
    assert lines[1].startswith("listed-two")
    status, out, _ = run_cli(capsys, "list", "--format", "json")
    assert {"listed-one", "listed-two"} <= {e["name"] for e in json.loads(out)}


def test_docs_list_every_rule_code() -> None:
    text = DOC.read_text()
    for code in RULES:
        assert code in text, f"{code} missing from docs/checking.md"


def test_pre_commit_hook_manifest() -> None:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "- id: retriever-check\n" in text
    assert "entry: retriever check\n" in text
    assert "--strict-single-io" in text


def test_checker_sees_pipeline_builders(tmp_path: Path) -> None:
    # Graph-wide rules (RET107 needs all connections) run on a bare PipelineBuilder too.
    (tmp_path / "built.py").write_text(
        (PROJECT / "clean.py").read_text().replace("Pipeline", "PipelineBuilder")
        + "pipe.connect(Source() @ Rate(hz=10), pipe.nodes[1], sync=Latest())\n")
    result = check_paths([str(tmp_path / "built.py")])
    assert [d.code for d in result.diagnostics] == ["RET107"]
    assert result.pipelines == 1


def test_sarif_output_has_rules_results_and_real_columns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "graph.py"
    source.write_text(
        "from retriever.flow import Flow, Latest, Pipeline, Rate, io\n"
        "\n"
        "@io\n"
        "class Reading:\n"
        "    value: float\n"
        "\n"
        "class Sensor(Flow[None, Reading]):\n"
        "    def step(self, input: None) -> Reading:\n"
        "        return Reading(value=1.0)\n"
        "\n"
        "pipe = Pipeline('p')\n"
        "if True:\n"
        "    pipe.add(Sensor() @ Rate(hz=0))\n")
    status, out, _ = run_cli(capsys, "check", "--format", "sarif", str(source))
    assert status == 1
    doc = json.loads(out)
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    run = doc["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == ["RET200"]
    (result,) = run["results"]
    assert result["ruleId"] == "RET200" and result["level"] == "error"
    assert rules[result["ruleIndex"]] == "RET200"
    region = result["locations"][0]["physicalLocation"]["region"]
    # `Rate(hz=0)` starts at column 25 of line 13 (1-based), not at the line start.
    assert (region["startLine"], region["startColumn"]) == (13, 25)
    assert "hz must be a positive finite number" in result["message"]["text"]


def test_check_collects_every_finding_of_a_module(tmp_path: Path) -> None:
    # Value errors (RET200) and a clockless flow (RET110) used to stop the module; now
    # every line is checked and RET110 is reported once.
    src = tmp_path / "many.py"
    src.write_text(
        "from retriever.flow import Flow, Latest, Pipeline, Rate, Window, io\n"
        "\n"
        "@io\n"
        "class Reading:\n"
        "    value: float\n"
        "\n"
        "@io\n"
        "class Count:\n"
        "    value: int\n"
        "\n"
        "class Sensor(Flow[None, Reading]):\n"
        "    def step(self, input: None) -> Reading:\n"
        "        return Reading(value=1.0)\n"
        "\n"
        "class Counter(Flow[Count, None]):\n"
        "    def step(self, input: Count) -> None:\n"
        "        return None\n"
        "\n"
        "pipe = Pipeline('p')\n"
        "fast = Sensor() @ Rate(hz=0)\n"
        "pipe.connect(Sensor(), Counter() @ Rate(hz=1), sync=Latest())\n"
        "pipe.connect(fast, Counter() @ Rate(hz=1), sync=Window(1.0, agg='median'))\n"
        "pipe.connect(Sensor() @ Rate(hz=1), Counter() @ Rate(hz=1), sync=Latest())\n")
    found = [(d.location.line, d.code) for d in check_paths([str(src)]).errors]
    assert found == [(20, "RET200"), (21, "RET104"), (21, "RET110"), (22, "RET104"),
                     (22, "RET200"), (23, "RET104")]
