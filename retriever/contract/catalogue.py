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
         "a registered pipeline factory raised, or returned no IR, Pipeline or PipelineBuilder",
         "make the factory build and return the graph (an IR or a Pipeline) without running it",
         static=False),
]

RULES: dict[str, Rule] = {r.code: r for r in _RULES}


def rule(code: str) -> Rule:
    """The rule with ``code`` (KeyError for unknown codes)."""
    return RULES[code]
