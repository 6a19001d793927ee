"""The progress view of `retriever run` never eats what the flows print: run under a
pseudo-terminal (the live view) and without one (plain lines)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ("examples/tutorial/d_closed_loop_state_feedback/09_execution_monitoring.py:build")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run_in_pty(*args: str, timeout: float = 60.0) -> tuple[int, str]:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "retriever.cli.main", *args], cwd=ROOT,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    data = b""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(master)
        code = proc.wait(timeout=30)
    return code, _ANSI.sub("", data.decode("utf-8", "replace"))


def _summary_steps(text: str, flow: str) -> int:
    tail = text[text.rindex("summary:"):]
    match = re.search(rf"^\s*{flow}\s+steps=(\d+)", tail, re.MULTILINE)
    assert match, tail
    return int(match.group(1))


@pytest.mark.parametrize("backend", ["multiprocessing", "in-process"])
def test_live_view_keeps_every_line_the_flows_print(backend: str) -> None:
    code, text = _run_in_pty("run", EXAMPLE, "--backend", backend, "--duration", "2",
                             "--interval", "0.3")
    assert code == 0, text[-2000:]
    alarms = [line for line in text.splitlines() if "ALARM: mean x" in line]
    steps = _summary_steps(text, "log")
    assert steps > 0 and len(alarms) == steps  # one printed line per step of the log flow
    assert "steps/s" in text and "dropped" in text  # the live block was drawn


def test_counters_are_current_when_the_run_ends() -> None:
    code, text = _run_in_pty("run", EXAMPLE, "--duration", "1.5", "--interval", "0.3")
    assert code == 0, text[-2000:]
    before = text[:text.rindex("summary:")]
    last_row = [line for line in before.splitlines() if re.match(r"\W*toy_env\W", line)][-1]
    cells = [c.strip() for c in last_row.split("\u2502") if c.strip()]
    shown = int(cells[2])  # flow, steps/s, steps, lag, dropped
    assert shown == _summary_steps(text, "toy_env")


def test_a_non_terminal_gets_plain_periodic_lines() -> None:
    out = subprocess.run([sys.executable, "-m", "retriever.cli.main", "run", EXAMPLE,
                          "--duration", "1.2", "--interval", "0.3"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "\x1b[" not in out.stdout
    assert out.stdout.count("elapsed") >= 2
    assert out.stdout.count("ALARM: mean x") == _summary_steps(out.stdout, "log")
