"""The contract corpus through all three front ends, and the per-front-end table.

``tests/contract_corpus/`` holds short programs: ``bad_*.py`` each make one contract
mistake and mark its line with ``# expect: RETnnn``; ``ok_*.py`` are correct programs.
Each front end judges every program:

* **mypy** with the ``retriever_mypy`` plugin — one mypy run over the whole corpus;
* **check** — one ``retriever check`` (``check_paths``) over the whole corpus;
* **validate** — each program run as a script (authoring checks raise at the line that
  made the mistake), then ``validate()`` on every pipeline it built.

A mistake is *caught on the right line* when the front end reports its code at the
marked line, *elsewhere* when it reports the code at another line (or none), *missed*
otherwise. A finding that no mark asks for is a *false positive*.

Run ``.venv/bin/python tests/corpus_report.py`` to print the table.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "contract_corpus"
FRONT_ENDS = ("mypy", "check", "validate")
_EXPECT = re.compile(r"#\s*expect:\s*((?:RET\d{3}\s*)+)")
_MYPY_LINE = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<msg>.*)  \[(?P<code>[\w-]+)\]$")

Finding = tuple[int | None, str]  # (line, code)


@dataclass
class Program:
    """One corpus program and the findings it should produce."""

    path: Path
    expected: set[Finding] = field(default_factory=set)

    @property
    def clean(self) -> bool:
        return self.path.name.startswith("ok_")


def programs() -> list[Program]:
    """Every corpus program, with the ``# expect:`` marks of the bad ones."""
    out = []
    for path in sorted(CORPUS.glob("*.py")):
        if path.name.startswith("_"):
            continue
        prog = Program(path)
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            match = _EXPECT.search(text)
            if match:
                prog.expected.update((number, c) for c in match.group(1).split())
        out.append(prog)
    return out


# --------------------------------------------------------------------------- mypy


def mypy_findings(progs: list[Program]) -> dict[Path, set[Finding]]:
    """One mypy run over every program; RET codes, plus any error in a clean program."""
    from mypy import api

    clean = {p.path for p in progs if p.clean}
    found: dict[Path, set[Finding]] = {p.path: set() for p in progs}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "mypy.ini"
        config.write_text(f"[mypy]\nplugins = retriever_mypy\nmypy_path = {CORPUS}\n"
                          "[mypy-retriever.*]\nignore_errors = True\n")
        out, err, _ = api.run(["--config-file", str(config), "--cache-dir", f"{tmp}/cache",
                               "--no-error-summary", "--hide-error-context", "--no-pretty",
                               *[str(p.path) for p in progs]])
    if "INTERNAL ERROR" in out + err:
        raise RuntimeError(out + err)
    for line in out.splitlines():
        m = _MYPY_LINE.match(line.strip())
        if m is None:
            continue
        path = Path(m["file"]).resolve()
        if path in found and (m["code"].startswith("RET") or path in clean):
            found[path].add((int(m["line"]), m["code"]))
    return found


# --------------------------------------------------------------------------- check


@contextmanager
def _isolated_registry() -> Iterator[None]:
    from retriever.registry import unregister_pipeline
    from retriever.registry.pipeline import registered_entries

    before = {e.name for e in registered_entries()}
    try:
        yield
    finally:
        for entry in registered_entries():
            if entry.name not in before:
                unregister_pipeline(entry.name)


def check_findings(progs: list[Program]) -> dict[Path, set[Finding]]:
    """One ``retriever check`` over every program."""
    from retriever.check import check_paths

    found: dict[Path, set[Finding]] = {p.path: set() for p in progs}
    with _isolated_registry():
        result = check_paths([str(p.path) for p in progs])
    for diag in result.errors:
        path = Path(str(diag.location.file)).resolve()
        if path in found:
            found[path].add((diag.location.line, diag.code))
    return found


# --------------------------------------------------------------------------- validate


def _line_in(exc: BaseException, path: Path) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path:
            line = frame.lineno
    return line


def _diag_line(diag: object, path: Path) -> int | None:
    loc = getattr(diag, "location", None)
    if loc is None or not loc.file or Path(loc.file).resolve() != path:
        return None
    return int(loc.line) if loc.line else None


def validate_one(path: Path) -> set[Finding]:
    """Run one program as a script, then ``validate()`` the pipelines it built."""
    from retriever.contract.errors import ContractError, RetrieverError
    from retriever.flow import Pipeline
    from retriever.flow.default import default_pipeline, reset_default_pipeline
    from retriever.flow.settings import init

    if str(CORPUS) not in sys.path:
        sys.path.insert(0, str(CORPUS))
    init(default_sync=None, default_on_lag=None)
    reset_default_pipeline()
    spec = importlib.util.spec_from_file_location(f"_corpus_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    found: set[Finding] = set()
    try:
        with _isolated_registry():
            spec.loader.exec_module(module)
    except ContractError as exc:
        fallback = _line_in(exc, path)
        return {(_diag_line(d, path) or fallback, d.code) for d in exc.diagnostics}
    except RetrieverError as exc:
        return {(_line_in(exc, path), exc.code)}
    pipes = [v for v in vars(module).values() if isinstance(v, Pipeline)]
    default = default_pipeline()
    if len(default):
        pipes.append(default)
    for pipe in pipes:
        try:
            pipe.validate()
        except ContractError as exc:
            found.update((_diag_line(d, path), d.code) for d in exc.diagnostics)
    init(default_sync=None, default_on_lag=None)
    reset_default_pipeline()
    return found


def validate_findings(progs: list[Program]) -> dict[Path, set[Finding]]:
    """``validate()`` on every program."""
    return {p.path: validate_one(p.path) for p in progs}


# --------------------------------------------------------------------------- table


@dataclass
class Tally:
    """One front end's results over the corpus."""

    right: int = 0
    elsewhere: int = 0
    missed: int = 0
    false_positives: int = 0
    misses: list[str] = field(default_factory=list)
    wrong_place: list[str] = field(default_factory=list)
    spurious: list[str] = field(default_factory=list)


def tally(progs: list[Program], found: dict[Path, set[Finding]]) -> Tally:
    """Compare what a front end found with the marks."""
    t = Tally()
    for prog in progs:
        got = found[prog.path]
        for line, code in sorted(prog.expected, key=str):
            if (line, code) in got:
                t.right += 1
            elif any(c == code for _, c in got):
                t.elsewhere += 1
                t.wrong_place.append(f"{prog.path.name}:{line} {code} (at "
                                     f"{sorted(str(x) for x, c in got if c == code)})")
            else:
                t.missed += 1
                t.misses.append(f"{prog.path.name}:{line} {code}")
        expected_codes = {c for _, c in prog.expected}
        for line, code in sorted(got, key=str):
            if (line, code) not in prog.expected and code not in expected_codes:
                t.false_positives += 1
                t.spurious.append(f"{prog.path.name}:{line} {code}")
    return t


def run_corpus() -> tuple[list[Program], dict[str, Tally]]:
    """Every front end over the whole corpus."""
    progs = programs()
    results = {
        "mypy": tally(progs, mypy_findings(progs)),
        "check": tally(progs, check_findings(progs)),
        "validate": tally(progs, validate_findings(progs)),
    }
    return progs, results


def render(progs: list[Program], results: dict[str, Tally]) -> str:
    """The table (Markdown) and the details of every miss and false positive."""
    bad = sum(len(p.expected) for p in progs)
    clean = sum(p.clean for p in progs)
    names = {"mypy": "mypy plugin", "check": "`retriever check`", "validate": "`validate()`"}
    lines = [f"{bad} mistakes, {clean} clean programs", "",
             "| front end | caught on the right line | elsewhere | missed | false positives |",
             "|---|---|---|---|---|"]
    for fe, t in results.items():
        lines.append(f"| {names[fe]} | {t.right} | {t.elsewhere} | {t.missed} | "
                     f"{t.false_positives} |")
    for fe, t in results.items():
        for label, items in (("missed", t.misses), ("elsewhere", t.wrong_place),
                             ("false positive", t.spurious)):
            lines += [f"{fe} {label}: {item}" for item in items]
    return "\n".join(lines)


def main() -> None:
    """Print the table."""
    progs, results = run_corpus()
    print(render(progs, results))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
