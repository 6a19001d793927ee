"""The rule catalogue: every rule's stable code, name, summary and fix hint.

Codes never change meaning. ``docs/typing-contract.md`` lists them; a test keeps the
two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from .diagnostics import Diagnostic, Location, Severity


@dataclass(frozen=True)
class Rule:
    """A contract rule: code, short name, what it forbids and the usual fix."""

    code: str
    name: str
    summary: str
    hint: str
    static: bool = True  # visible to the mypy plugin

    def diag(
        self, message: str, *, hint: str | None = None, location: Location | None = None,
        severity: Severity = Severity.ERROR,
    ) -> Diagnostic:
        """Build a diagnostic of this rule."""
        return Diagnostic(
            self.code, message, self.hint if hint is None else hint,
            location or Location(), severity,
        )


_RULES = [
    Rule("RET001", "io-incompatible",
         "every element of Flow[I, O] must be an @io envelope or None",
         "decorate the class with @io, or wrap the value in an @io envelope"),
    Rule("RET002", "mixed-none",
         "a composite tuple signature may not mix None with envelopes",
         "use None alone for a source input or a sink output"),
    Rule("RET003", "ambiguous-field",
         "an unqualified port or field name matches several envelopes",
         "qualify the name with the envelope alias, e.g. 'A.value' or 'A__1.value'"),
    Rule("RET004", "strict-single-io",
         "strict single-IO mode forbids composite tuple signatures",
         "merge the envelopes into one @io class, or turn strict single-IO off"),
    Rule("RET005", "step-return",
         "step() must return the flow's output type O",
         "return an instance of O (a tuple in declared order for composite outputs)"),
    Rule("RET006", "io-field",
         "an @io envelope field is malformed or unknown",
         "declare the field with a type annotation on the @io class"),
    Rule("RET101", "map-no-match",
         "a connection carries no port at all",
         "pass map={'<source port>': '<destination port>'} naming ports that exist"),
    Rule("RET102", "unknown-source-port",
         "a map or sync key names a port the source flow does not publish",
         "use one of the source's output ports"),
    Rule("RET103", "unknown-destination-port",
         "a map value names a port the destination flow does not have",
         "use one of the destination's input ports"),
    Rule("RET104", "port-type-mismatch",
         "the source port type cannot flow into the destination port type",
         "change one of the field types, or map the port to a compatible one"),
    Rule("RET105", "sync-edge-config-conflict",
         "the same port's adapter is set in both sync and edge_config",
         "set the adapter in one place: sync=... (preferred) or EdgeConfig(adapter=...)"),
    Rule("RET106", "unknown-trigger-field",
         "a Trigger/Hybrid clock names a field the flow has no input port for",
         "name one of the flow's input ports in Trigger(...)"),
    Rule("RET107", "fan-in-conflict",
         "two connections drive the same input port",
         "give each connection its own destination port with map=..."),
    Rule("RET108", "missing-sync",
         "a connection has no sync policy and no default is set",
         "pass sync=Latest() (or another adapter), or set retriever.init(default_sync=...)",
         static=False),
    Rule("RET109", "unencodable-init-arg",
         "a flow constructor argument cannot be rebuilt in another process without pickle",
         "pass plain data (numbers, strings, lists, dicts, numpy arrays, @io envelopes)",
         static=False),
    Rule("RET110", "missing-clock",
         "a flow was connected without a clock",
         "attach a clock before connecting: flow @ Rate(hz=10)", static=False),
    Rule("RET111", "foreign-flow",
         "a flow handle belongs to another pipeline",
         "connect flows of one pipeline only, or add the flow to this pipeline", static=False),
    Rule("RET112", "self-loop",
         "a connection goes from a flow to itself",
         "feed state back through the flow's own attributes instead", static=False),
    # Checker-only codes (``retriever check``): problems with the checked code itself.
    Rule("RET900", "module-import-failed",
         "a checked module could not be parsed or imported, so it was not checked",
         "fix the error shown; keep side effects (running pipelines, argument parsing) under "
         "'if __name__ == \"__main__\":'", static=False),
    Rule("RET901", "pipeline-factory-failed",
         "a registered pipeline factory raised, or returned neither an IR nor a Pipeline",
         "make the factory build and return the graph (an IR or a Pipeline) without running it",
         static=False),
]

RULES: dict[str, Rule] = {r.code: r for r in _RULES}


@dataclass(frozen=True)
class ErrorCode:
    """A stable code of an error raised at run time (not a graph rule)."""

    code: str
    area: str
    summary: str


# Every code a RetrieverError may carry besides the rules above: one table, so that no
# two parts of the project give one code two meanings (a test keeps the code in step).
_ERRORS = [
    ErrorCode("RET000", "core", "an error without a more specific code"),
    ErrorCode("RET200", "config", "a configuration value (clock, adapter, option) is invalid"),
    ErrorCode("RET300", "ir", "an IR document is malformed or names something that cannot load"),
    ErrorCode("RET400", "runtime", "a flow raised while starting, stepping or finalizing"),
    ErrorCode("RET401", "runtime", "a flow with on_lag='error' fell behind its clock"),
    ErrorCode("RET500", "backend", "a backend could not start, run or stop a graph"),
    ErrorCode("RET600", "install", "an optional dependency is missing"),
    ErrorCode("RET700", "types", "a type name is malformed, unknown or taken"),
    ErrorCode("RET701", "types", "a JSON Schema cannot be generated for a type"),
    ErrorCode("RET702", "types", "a type name is not a versioned type name"),
    ErrorCode("RET703", "types", "a type name or class is already registered otherwise"),
    ErrorCode("RET710", "types", "a value cannot be converted to or from JSON"),
    ErrorCode("RET720", "types", "a payload value is invalid"),
    ErrorCode("RET721", "types", "a number is NaN or infinite where a finite value is required"),
    ErrorCode("RET722", "types", "a quaternion is not normalized"),
    ErrorCode("RET723", "types", "parallel arrays have different lengths"),
    ErrorCode("RET724", "types", "a frame id is empty where one is required"),
    ErrorCode("RET725", "types", "an array or matrix has the wrong shape"),
    ErrorCode("RET726", "types", "two stamped values are in frames that do not meet"),
    ErrorCode("RET730", "plugins", "an entry-point plugin failed to load or run"),
    ErrorCode("RET731", "registry", "a pipeline name is unknown or taken, or a factory failed"),
    ErrorCode("RET800", "record", "a recording problem"),
    ErrorCode("RET801", "record", "the recording file does not exist"),
    ErrorCode("RET802", "record", "the recording file is empty"),
    ErrorCode("RET803", "record", "not an .rrd or .mcap file"),
    ErrorCode("RET804", "record", "the content is the other recording format"),
    ErrorCode("RET805", "record", "a file not written by retriever, or a newer format version"),
    ErrorCode("RET806", "record", "the recording file is damaged"),
    ErrorCode("RET807", "record", "the flow is not in the recording"),
    ErrorCode("RET808", "record", "unsupported recording extension"),
    ErrorCode("RET809", "record", "the file cannot be written, or a value cannot be recorded"),
    ErrorCode("RET810", "record", "the recording was cut off mid-write"),
    ErrorCode("RET811", "record", "the recording does not fit the pipeline's ports or types"),
    ErrorCode("RET850", "worker", "worker function parameters do not match the declared inputs"),
    ErrorCode("RET851", "worker", "conflicting or invalid run() options"),
    ErrorCode("RET852", "worker", "worker function cannot be loaded"),
    ErrorCode("RET853", "worker", "local run inputs do not match the declared inputs"),
    ErrorCode("RET860", "worker", "worker returned a non-dict where a dict was required"),
    ErrorCode("RET861", "worker", "stateful worker returned no 'state'"),
    ErrorCode("RET862", "worker", "streaming worker returned no valid 'pull_request'"),
    ErrorCode("RET863", "worker", "streaming output is not a list"),
    ErrorCode("RET864", "worker", "multi-output worker returned the wrong number of outputs"),
    ErrorCode("RET865", "worker", "virtual-output worker returned no 'virtual_output' list"),
    ErrorCode("RET866", "worker", "pull request does not list one shift per declared input"),
    ErrorCode("RET870", "worker", "component.yml is malformed"),
    ErrorCode("RET871", "worker", "component.yml names an unknown type"),
    ErrorCode("RET872", "worker", "component.yml cannot be read"),
    ErrorCode("RET880", "worker", "virtual stream used after close()/stop()"),
    ErrorCode("RET881", "worker", "virtual-output callback failed"),
    ErrorCode("RET882", "worker", "unknown or ill-typed config key"),
    ErrorCode("RET890", "worker", "worker state file cannot be read or written"),
    ErrorCode("RET902", "check", "retriever check was used wrongly (arguments, paths)"),
]

ERRORS: dict[str, ErrorCode] = {e.code: e for e in _ERRORS}


def known_code(code: str) -> bool:
    """Whether ``code`` is a rule or an error code of the catalogue."""
    return code in RULES or code in ERRORS


def rule(code: str) -> Rule:
    """The rule with ``code`` (KeyError for unknown codes)."""
    return RULES[code]
