"""The checker: load the sources, then judge every flow class and pipeline found.

Every judgement comes from the rule engine (:mod:`retriever.contract.rules`, through
``describe_flow`` + ``check_flow`` for classes and ``Pipeline.diagnostics()`` for
graphs); this module only finds things, locates the findings and removes duplicates.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from retriever.contract.catalogue import RULES
from retriever.contract.diagnostics import Diagnostic, Location
from retriever.contract.errors import ContractError, RetrieverError
from retriever.contract.rules import RuleOptions, check_flow
from retriever.flow.builder import PipelineBuilder
from retriever.flow.default import default_pipeline
from retriever.flow.describe import describe_flow, step_access_diagnostics
from retriever.registry.pipeline import PipelineEntry, RegistryError, build, registered_entries

from .discover import defining_file, flow_classes_in, module_pipelines
from .loader import (
    PartialImport,
    SourceIndex,
    failure_diagnostics,
    guarded,
    import_name,
    import_source,
)
from .result import CheckResult
from .sources import Source, collect_sources

#: Rules about a flow class alone: reported once, at the class, not per pipeline node.
CLASS_RULES = frozenset({"RET001", "RET002", "RET004", "RET005", "RET008"})
#: Rules about what a class's ``step`` reads: also reported once, at the access.
ACCESS_RULES = frozenset({"RET003", "RET006"})


class _Run:
    def __init__(self, strict_single_io: bool, files: set[Path],
                 explicit_sync: bool = False) -> None:
        self.files = files
        self.modules: dict[str, Path] = {}
        self.strict = strict_single_io
        self.explicit_sync = explicit_sync
        self.options = RuleOptions(strict_single_io=strict_single_io,
                                   explicit_sync=explicit_sync)
        self.found: list[Diagnostic] = []
        self.indexes: dict[Path, SourceIndex] = {}
        self.pipelines: set[int] = set()
        self.flows = 0

    # ------------------------------------------------------------------ sources
    def index(self, file: Path) -> SourceIndex | None:
        if file not in self.indexes:
            try:
                tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
            except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
                return None
            self.indexes[file] = SourceIndex.of(tree)
        return self.indexes[file]

    def load(self, src: Source) -> None:
        try:
            text = src.file.read_text(encoding="utf-8")
            tree = ast.parse(text, filename=str(src.file))
        except SyntaxError as exc:
            self.found.append(RULES["RET900"].diag(
                f"syntax error: {exc.msg}",
                location=Location(str(src.file), exc.lineno or 1, exc.offset or 1)))
            return
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self.found.append(RULES["RET900"].diag(
                f"cannot read the file: {exc}", location=Location(str(src.file), 1, 1)))
            return
        index = self.indexes[src.file] = SourceIndex.of(tree)
        self.modules[import_name(src)] = src.file
        with guarded(src.file) as collected:
            module = None
            try:
                module = import_source(src)
            except PartialImport as exc:  # what ran before the failure is still checked
                module = exc.module
                cause = exc.__cause__ or exc
                if isinstance(cause, KeyboardInterrupt):
                    raise cause from None
                self.found.extend(failure_diagnostics(cause, src.file))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # becomes a diagnostic on this file
                self.found.extend(failure_diagnostics(exc, src.file))
            self.found.extend(self._located(collected, src.file, 1))
            if module is not None:
                for name, pipe in module_pipelines(module):
                    self.pipeline(pipe, src.file, index.globals.get(name, 1))
            default = default_pipeline()
            if len(default) or default.connections:
                self.pipeline(default, src.file, 1)

    # ------------------------------------------------------------------ classes
    def flow_class(self, cls: type) -> None:
        if getattr(cls, "__retriever_signature__", None) is None:
            return  # generic or abstract intermediate class: nothing concrete to check
        file = defining_file(cls, self.modules)
        index = self.index(file) if file else None
        qual = cls.__qualname__
        line, col = (index.classes.get(qual) if index else None) or (1, 1)
        self.flows += 1
        desc = describe_flow(cls, qual, None, Location(str(file) if file else None, line, col))
        step = index.functions.get(f"{qual}.step") if index else None
        for diag in check_flow(desc, self.options) + step_access_diagnostics(cls, desc):
            if diag.code == "RET005" and step is not None:
                diag = diag.at(line=step[0], column=step[1])
            self.found.append(diag)

    # ------------------------------------------------------------------ pipelines
    def pipeline(self, pipe: PipelineBuilder, file: Path, line: int) -> None:
        if id(pipe) in self.pipelines:
            return
        self.pipelines.add(id(pipe))
        try:
            found = pipe.diagnostics(strict_single_io=self.strict,
                                     explicit_sync=self.explicit_sync)
        except RetrieverError as exc:
            self.found.extend(failure_diagnostics(exc, file, f"checking pipeline {pipe.name!r}"))
            return
        classes = {tf.name: type(tf.flow) for tf in pipe.nodes}
        kept = []
        for diag in found:
            cls = classes.get(diag.location.flow or "")
            is_class_rule = diag.code in CLASS_RULES or (
                diag.code in ACCESS_RULES and ".step: " in diag.message)
            if is_class_rule and cls is not None and self._will_check(cls):
                continue  # reported at the class definition
            kept.append(self._locate_node(diag, cls))
        self.found.extend(self._located(kept, file, line))

    def _will_check(self, cls: type) -> bool:
        return getattr(cls, "__retriever_signature__", None) is not None and (
            defining_file(cls, self.modules) in self.files)

    def _locate_node(self, diag: Diagnostic, cls: type | None) -> Diagnostic:
        if diag.location.file or cls is None:
            return diag
        file = defining_file(cls, self.modules)
        index = self.index(file) if file else None
        pos = index.classes.get(cls.__qualname__) if index else None
        if file is None or pos is None:
            return diag
        return diag.at(file=str(file), line=pos[0], column=pos[1])

    @staticmethod
    def _located(diags: list[Diagnostic], file: Path, line: int) -> list[Diagnostic]:
        return [d if d.location.file else d.at(file=str(file), line=line, column=1)
                for d in diags]

    # ------------------------------------------------------------------ registry
    def entry(self, entry: PipelineEntry) -> None:
        code: Any = getattr(entry.factory, "__code__", None)
        file = Path(code.co_filename).resolve() if code else Path("<unknown>")
        line = int(code.co_firstlineno) if code else 1
        with guarded(file) as collected:
            result = None
            try:
                result = build(entry)
            except KeyboardInterrupt:
                raise
            except ContractError as exc:
                self.found.extend(self._located(list(exc.diagnostics), file, line))
            except RegistryError as exc:
                self.found.append(RULES["RET901"].diag(
                    exc.message, location=Location(str(file), line, 1)))
            except BaseException as exc:  # becomes a diagnostic on the factory
                self.found.extend(failure_diagnostics(
                    exc, file, f"building registered pipeline {entry.name!r}", "RET901"))
            self.found.extend(self._located(collected, file, line))
            if isinstance(result, PipelineBuilder):
                self.pipeline(result, file, line)

    # ------------------------------------------------------------------ result
    def result(self, files: int) -> CheckResult:
        return CheckResult(_dedupe(self.found), files, self.flows, len(self.pipelines))


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    exact: set[tuple[Any, ...]] = set()
    by_port: set[tuple[Any, ...]] = set()
    out = []
    for d in diags:
        loc = d.location
        key = (d.code, loc.file, loc.line, d.message)
        # The same clock problem reported under two flow names (class and node name).
        port_key = (d.code, loc.file, loc.line, loc.port, d.hint)
        if key in exact or (loc.port and not loc.edge and port_key in by_port):
            continue
        exact.add(key)
        if loc.port and not loc.edge:
            by_port.add(port_key)
        out.append(d)
    out.sort(key=lambda d: (d.location.file or "", d.location.line or 0,
                            d.location.column or 0, d.code))
    return out


#: ``progress(kind, what)`` is told before user code runs: ("sources", n files),
#: ("load", file) before a module is imported, ("entry", name) before a factory is called.
Progress = Callable[[str, str], None]


def check_paths(paths: list[str], *, strict_single_io: bool = False,
                exclude: Sequence[str] = (), skip_files: Collection[str] = (),
                skip_entries: Collection[str] = (),
                progress: Progress | None = None, explicit_sync: bool = False) -> CheckResult:
    """Check every flow class and pipeline the PATHs define or register, in this process.

    Directory searches skip files matching ``exclude`` (see
    :func:`~retriever.check.sources.collect_sources`). Raises
    :class:`~retriever.check.sources.CheckUsageError` when a PATH names nothing.
    ``skip_files`` / ``skip_entries`` are left out (the isolated checker passes the ones
    that killed an earlier attempt; see :mod:`retriever.check.isolate`).
    """
    sources = [s for s in collect_sources(paths, exclude) if str(s.file) not in skip_files]
    files = {src.file for src in sources}
    run = _Run(strict_single_io, files, explicit_sync)
    before = {e.name: e.factory for e in registered_entries()}
    if progress is not None:
        progress("sources", str(len(sources)))
    for src in sources:
        if progress is not None:
            progress("load", str(src.file))
        run.load(src)
    for cls in flow_classes_in(files, run.modules):
        run.flow_class(cls)
    for entry in registered_entries():
        # Registered while importing the sources, or by a checked module imported before.
        code = getattr(entry.factory, "__code__", None)
        from_source = code is not None and Path(code.co_filename).resolve() in files
        if entry.name in skip_entries:
            continue
        if from_source or before.get(entry.name) is not entry.factory:
            if progress is not None:
                progress("entry", entry.name)
            run.entry(entry)
    return run.result(len(sources))
