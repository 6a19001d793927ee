"""CLI error reporting: a missing extra is said once, an unknown backend is a usage error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from retriever.cli.main import main
from retriever.contract.errors import MissingDependencyError
from retriever.record.offload_writer import error_record

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", ["run", "demo"])
def test_unknown_backend_is_a_usage_error(command: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    argv = [command, "--backend", "nope"] + (["x.py:p"] if command == "run" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown backend 'nope'" in err and "multiprocessing" in err


def test_missing_extra_is_reported_once_when_recording(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        for m in ("mcap", "mcap.writer", "mcap.reader", "mcap.stream_reader", "mcap.records"):
            sys.modules[m] = None  # as if the extra were not installed
        from tests.test_record_support import perception
        pipe, _ = perception()
        try:
            pipe.record({str(tmp_path / "x.mcap")!r}, steps=2)
        except Exception as exc:
            print(type(exc).__name__)
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60).stdout
    assert out.startswith("MissingDependencyError")
    assert out.count("RET600") == 1 and out.count("hint:") == 1
    assert "pyretriever[record]" in out


def test_writer_errors_carry_code_and_hint_apart() -> None:
    record = error_record(MissingDependencyError("mcap", "record", "writing"))
    assert record.code == "RET600" and "[RET600]" not in record.message
    assert "hint" not in record.message and "pyretriever[record]" in record.hint
