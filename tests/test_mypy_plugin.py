"""The retriever_mypy plugin, run through mypy's API against golden output files.

Each ``tests/mypy_fixtures/NAME.py`` has ``NAME.out``: the exact mypy output lines for
that file (empty for clean fixtures). Regenerate after an intended change with
``RETRIEVER_UPDATE_GOLDEN=1 pytest tests/test_mypy_plugin.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from mypy import api

import retriever_mypy
from retriever.contract.catalogue import RULES
from retriever.contract.errors import ConfigError
from retriever_mypy.config import PluginConfig, read_config

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "mypy_fixtures"
STRICT_ONLY = {"strict_single_io"}
BASE_CONFIG = """\
[mypy]
plugins = retriever_mypy
strict = True
[mypy-retriever.*]
ignore_errors = True
"""


def run_mypy(config: Path, cache: Path, files: list[Path]) -> str:
    """Run mypy in-process from the repository root; return its stdout."""
    here = Path.cwd()
    os.chdir(ROOT)
    try:
        out, err, _status = api.run([
            "--config-file", str(config), "--cache-dir", str(cache),
            "--no-error-summary", "--hide-error-context", "--no-pretty",
            *[str(f.relative_to(ROOT)) for f in files]])
    finally:
        os.chdir(here)
    assert "INTERNAL ERROR" not in out + err, out + err
    assert not err.strip(), err
    return out


def normalize(line: str) -> str:
    """Remove wording that differs between supported mypy versions (not the plugin's)."""
    line = re.sub(r'not covered by "type: ignore\[[^]]*\]" comment',
                  'not covered by "type: ignore" comment', line)
    if "Revealed type is" in line:
        line = line.replace("builtins.", "")
        line = re.sub(r"Union\[([^][,]+), None\]", r"\1 | None", line)
    return line


def by_file(output: str) -> dict[str, list[str]]:
    """Output lines grouped by fixture stem."""
    grouped: dict[str, list[str]] = {}
    for line in output.splitlines():
        path = line.split(":", 1)[0]
        grouped.setdefault(Path(path).stem, []).append(line)
    return grouped


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> dict[str, list[str]]:
    cfg_dir = tmp_path_factory.mktemp("mypy-config")
    normal = cfg_dir / "mypy.ini"
    normal.write_text(BASE_CONFIG)
    strict = cfg_dir / "strict.ini"
    strict.write_text(BASE_CONFIG + "[retriever_mypy]\nstrict_single_io = true\n")
    files = sorted(FIXTURES.glob("*.py"))
    result = by_file(run_mypy(normal, cache, [f for f in files if f.stem not in STRICT_ONLY]))
    result.update(by_file(run_mypy(strict, cache, [f for f in files if f.stem in STRICT_ONLY])))
    return result


def fixtures() -> Iterator[str]:
    yield from sorted(f.stem for f in FIXTURES.glob("*.py"))


@pytest.mark.parametrize("name", list(fixtures()))
def test_golden_output(name: str, outputs: dict[str, list[str]]) -> None:
    got = outputs.get(name, [])
    golden = FIXTURES / f"{name}.out"
    if os.environ.get("RETRIEVER_UPDATE_GOLDEN"):
        golden.write_text("".join(line + "\n" for line in got))
    assert golden.exists(), f"missing golden file {golden}"
    expected = golden.read_text().splitlines()
    assert [normalize(x) for x in got] == [normalize(x) for x in expected]


def test_io_constructor_types_agree_with_runtime_hints(outputs: dict[str, list[str]]) -> None:
    # What the plugin tells users about an @io constructor is what typing sees at runtime.
    import typing

    from retriever.flow import io

    @io
    class Pose:
        x: float
        y: float
        label: str

    revealed = normalize(next(line for line in outputs["io_envelopes"] if "def (self" in line))
    for name, hint in typing.get_type_hints(Pose.__init__).items():
        if name != "return":
            assert f"{name}: {hint.__args__[0].__name__} | None =" in revealed
    assert typing.get_type_hints(Pose) == {"x": float | None, "y": float | None,
                                           "label": str | None}


def test_clean_spec_example_has_no_error(outputs: dict[str, list[str]]) -> None:
    assert outputs.get("clean_spec", []) == []


def test_every_static_rule_has_a_mypy_error_code() -> None:
    from mypy.errorcodes import error_codes

    for code, rule in RULES.items():
        assert error_codes[code].sub_code_of is error_codes["retriever"], code
        assert error_codes[code].description == rule.summary


def test_bad_fixtures_report_their_rules(outputs: dict[str, list[str]]) -> None:
    text = "\n".join(line for lines in outputs.values() for line in lines)
    for code in ("RET001", "RET002", "RET003", "RET004", "RET005", "RET101", "RET102",
                 "RET103", "RET104", "RET105", "RET106", "RET108"):
        assert f"[{code}]" in text, code
    for code, rule in RULES.items():
        if not rule.static:  # never reported by the plugin
            assert f"[{code}]" not in text, code


def test_cached_second_run_reports_the_same(tmp_path: Path, cache: Path) -> None:
    config = tmp_path / "mypy.ini"
    config.write_text(BASE_CONFIG)
    files = [FIXTURES / "bad_edges.py", FIXTURES / "bad_flows.py"]
    first = run_mypy(config, tmp_path / "c", files)
    second = run_mypy(config, tmp_path / "c", files)
    assert first == second
    assert "[RET104]" in first


def test_pyproject_options(tmp_path: Path) -> None:
    toml = tmp_path / "pyproject.toml"
    toml.write_text("[tool.retriever_mypy]\nstrict_single_io = true\n")
    assert read_config(str(toml)) == PluginConfig(strict_single_io=True)
    ini = tmp_path / "setup.cfg"
    ini.write_text("[retriever_mypy]\nstrict_single_io = False\n")
    assert read_config(str(ini)) == PluginConfig(strict_single_io=False)
    assert read_config(None) == PluginConfig()
    bad = tmp_path / "mypy.ini"
    bad.write_text("[retriever_mypy]\nstrict_single_io = maybe\n")
    with pytest.raises(ConfigError):
        read_config(str(bad))
    bad.write_text("[retriever_mypy]\nstric_single_io = true\n")
    with pytest.raises(ConfigError, match="unknown"):
        read_config(str(bad))


def test_strict_option_from_pyproject_reaches_the_rules(tmp_path: Path, cache: Path) -> None:
    toml = tmp_path / "pyproject.toml"
    toml.write_text('[tool.mypy]\nplugins = ["retriever_mypy"]\n'
                    '[[tool.mypy.overrides]]\nmodule = "retriever.*"\nignore_errors = true\n'
                    "[tool.retriever_mypy]\nstrict_single_io = true\n")
    out = run_mypy(toml, cache, [FIXTURES / "strict_single_io.py"])
    assert out.count("[RET004]") == 2


def test_supported_mypy_versions() -> None:
    assert retriever_mypy.plugin("2.4.1") is retriever_mypy.RetrieverPlugin
    assert retriever_mypy.plugin("1.11.0") is retriever_mypy.RetrieverPlugin
    assert retriever_mypy.plugin("1.19.1+dev.abc") is retriever_mypy.RetrieverPlugin
    for old in ("1.10.1", "0.991", "3.0.0"):
        with pytest.raises(ConfigError, match="supports mypy"):
            retriever_mypy.plugin(old)
