"""The catalogue of stable codes: every contract rule and every error code.

``RULES`` are the typing-contract and checker rules (code, name, what they forbid, the
usual fix). ``ERRORS`` are the codes of the typed errors raised at run time, with their
usual cause and fix. Codes never change meaning and are never reused.
``docs/troubleshooting.md`` is generated from both (see :mod:`.troubleshooting`); a test
fails when the page drifts from this module, or when the code raises a code that is not
listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .diagnostics import Diagnostic, Location, Severity

#: The three front ends: the mypy plugin, ``retriever check`` and ``Pipeline.validate()``.
MYPY, CHECK, VALIDATE = "mypy", "check", "validate"
ALL = (MYPY, CHECK, VALIDATE)
RUNTIME = (CHECK, VALIDATE)
FRONT_ENDS = ALL


@dataclass(frozen=True)
class Rule:
    """A contract rule: code, short name, what it forbids and the usual fix."""

    code: str
    name: str
    summary: str
    hint: str
    #: The front ends that enforce the rule; the parity tests are generated from it.
    front_ends: tuple[str, ...] = ALL
    #: Why a front end missing from ``front_ends`` cannot see the rule (docs and tests).
    blind_spot: str = ""

    @property
    def static(self) -> bool:
        """Whether the mypy plugin enforces the rule."""
        return MYPY in self.front_ends

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
    Rule("RET007", "missing-step",
         "a concrete flow class must define step()",
         "define step(self, input) returning the flow's output type"),
    Rule("RET008", "untravelable-payload",
         "a port type cannot be encoded without pickle, so it cannot cross a process or be "
         "recorded",
         "use numbers, text, numpy arrays, containers of them, dataclasses, @io envelopes, "
         "pydantic models, msgspec structs, enums, datetimes or UUIDs"),
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
         "pass sync=Latest() (or another adapter), or set retriever.init(default_sync=...)"),
    Rule("RET109", "unencodable-init-arg",
         "a flow constructor argument cannot be rebuilt in another process without pickle",
         "pass plain data (numbers, strings, lists, dicts, numpy arrays, @io envelopes)"),
    Rule("RET110", "missing-clock",
         "a flow was connected without a clock",
         "attach a clock before connecting: flow @ Rate(hz=10)"),
    Rule("RET111", "foreign-flow",
         "a flow handle belongs to another pipeline",
         "connect flows of one pipeline only, or add the flow to this pipeline"),
    Rule("RET112", "self-loop",
         "a connection goes from a flow to itself",
         "feed state back through the flow's own attributes instead"),
    # Also the code of every ConfigError (a configuration value the runtime refuses).
    Rule("RET200", "bad-value",
         "a configuration value is invalid: a clock, adapter, EdgeConfig or init argument, "
         "or an argument of run / step / record / execute_ir (raised as ConfigError)",
         "the message names the argument and the value; pass a value of the kind the hint "
         "gives"),
    # Checker-only codes (``retriever check``): problems with the checked code itself.
    Rule("RET900", "module-import-failed",
         "a checked module could not be parsed or imported, so it was not checked",
         "fix the error shown; keep side effects (running pipelines, argument parsing) under "
         "'if __name__ == \"__main__\":'", front_ends=(CHECK,),
         blind_spot="only the checker imports modules"),
    Rule("RET901", "pipeline-factory-failed",
         "a registered pipeline factory raised, or returned no IR, Pipeline or PipelineBuilder",
         "make the factory build and return the graph (an IR or a Pipeline) without running it",
         front_ends=(CHECK,), blind_spot="only the checker calls registered factories"),
]

RULES: dict[str, Rule] = {r.code: r for r in _RULES}


def known_code(code: str) -> bool:
    """Whether ``code`` is a rule or an error code of the catalogue."""
    return code in RULES or code in ERRORS


def rule(code: str) -> Rule:
    """The rule with ``code`` (KeyError for unknown codes)."""
    return RULES[code]


@dataclass(frozen=True)
class ErrorCode:
    """A stable code of an error raised at run time (not a graph rule): the part of the
    project it belongs to, the error class that carries it, its cause and usual fix."""

    code: str
    area: str
    error: str
    cause: str
    fix: str

    @property
    def summary(self) -> str:
        """One line on what the code means (its cause)."""
        return self.cause


# Families: RET0xx contract, RET1xx authoring, RET2xx configuration, RET3xx IR, RET4xx
# flows at run time, RET5xx backends, RET6xx missing extras, RET70x-RET72x payload
# types, RET73x plugins and the pipeline registry, RET80x-RET84x recordings,
# RET85x-RET89x function workers, RET9xx the checker itself. One table, so that no two
# parts of the project give one code two meanings.
_ERRORS = [
    ErrorCode("RET000", "core", "RetrieverError",
              "an error without a more specific code",
              "read the message; it names what failed and where"),
    ErrorCode("RET300", "ir", "IRError",
              "an IR document is malformed, names something that cannot be loaded, or "
              "names something it may not use (not a Flow / @io / dataclass, a module "
              "that is not imported, a script that would have to be executed)",
              "re-export the IR with this version; define flows at module level; for IR "
              "files see docs/trust.md (allow_imports=, allow_source_exec=)"),
    ErrorCode("RET400", "runtime", "FlowError",
              "a flow raised while starting, stepping or finalizing",
              "the message names the flow and carries its traceback; fix the flow"),
    ErrorCode("RET401", "runtime", "LagError",
              "a flow with on_lag=\"error\" fell behind its clock by a tick or more",
              "make the flow faster, lower its rate, or choose on_lag=\"warn\"/\"drop\""),
    ErrorCode("RET500", "backend", "BackendError",
              "a backend could not start, run or stop a graph (a worker died, dora "
              "failed, an unknown backend name)",
              "the message says which process or partition; check the backend's log"),
    ErrorCode("RET600", "install", "MissingDependencyError",
              "an optional dependency is not installed",
              "install the extra the hint names, e.g. pip install 'pyretriever[record]'"),
    ErrorCode("RET700", "types", "TypeRegistryError",
              "a payload type name is unknown (or names no class)",
              "import the module that registers it; list names with "
              "retriever.types.registered()"),
    ErrorCode("RET701", "types", "SchemaError",
              "no JSON Schema can be generated for a type",
              "use supported field types (numbers, strings, arrays, dataclasses, ...)"),
    ErrorCode("RET702", "types", "TypeRegistryError",
              "a payload type name is not a versioned name",
              "use lower-case segments, a version and the type: 'acme/perception/v1/Box'"),
    ErrorCode("RET703", "types", "TypeRegistryError",
              "a payload type name is taken by another class, or the class is "
              "registered under another name",
              "pick another name or bump the version segment"),
    ErrorCode("RET710", "types", "JsonCodecError",
              "a value cannot be converted to or from its JSON form",
              "check the value against the type's JSON Schema (retriever schema TYPE)"),
    ErrorCode("RET720", "types", "PayloadError",
              "a payload value is invalid",
              "the message names the field and the value found"),
    ErrorCode("RET721", "types", "NonFiniteError",
              "a number is NaN or infinite where a finite value is required",
              "check the computation that produced it"),
    ErrorCode("RET722", "types", "QuaternionNormError",
              "a quaternion's norm differs from 1 by more than the tolerance",
              "normalise the quaternion before building the pose"),
    ErrorCode("RET723", "types", "LengthMismatchError",
              "parallel arrays (such as joint names and positions) differ in length",
              "give every parallel array one entry per item"),
    ErrorCode("RET724", "types", "EmptyFrameError",
              "a frame id is empty where one is required",
              "set frame_id on the header"),
    ErrorCode("RET725", "types", "ShapeError",
              "an array or matrix has the wrong shape for the conversion asked for",
              "the message gives the expected shape"),
    ErrorCode("RET726", "types", "FrameMismatchError",
              "two stamped values cannot be combined because their frames do not meet",
              "transform one of them into the other's frame first"),
    ErrorCode("RET730", "plugins", "PluginError",
              "a retriever.plugins entry point failed to load or run",
              "fix or uninstall the package that provides the entry point"),
    ErrorCode("RET731", "registry", "RegistryError",
              "a registered pipeline name is unknown or taken, or its factory returned "
              "neither a Pipeline nor an IR",
              "pick another name, or make the factory return the graph"),
    ErrorCode("RET800", "record", "RecordingError",
              "a recording or replay problem", "read the message; it names the file"),
    ErrorCode("RET801", "record", "RecordingError", "the recording file does not exist",
              "check the path (recordings end in .rrd or .mcap)"),
    ErrorCode("RET802", "record", "RecordingError", "the recording file is empty",
              "the recording never started writing; record it again"),
    ErrorCode("RET803", "record", "RecordingError", "the file is not an .rrd or .mcap recording",
              "pass a recording written by pipe.record or run(record=...)"),
    ErrorCode("RET804", "record", "RecordingError",
              "the file's content does not match its extension",
              "rename it to the extension the message names"),
    ErrorCode("RET805", "record", "RecordingError",
              "the file is a valid recording, but not one written by retriever (or from a "
              "newer format version)",
              "record it with retriever, or upgrade retriever"),
    ErrorCode("RET806", "record", "RecordingError",
              "the recording is damaged beyond its last complete message",
              "record it again; a file that was only cut off still opens"),
    ErrorCode("RET807", "record", "RecordingError", "the flow or port is not in the recording",
              "the hint lists the recorded flows; replay one of them"),
    ErrorCode("RET808", "record", "RecordingError", "unsupported recording extension",
              "use a path ending in .rrd or .mcap"),
    ErrorCode("RET809", "record", "RecordingError",
              "the recording cannot be written (disk full, closed, a value that cannot "
              "be encoded, the writer process died)",
              "the message names the port or the reason; record plain data, arrays or "
              "dataclasses"),
    ErrorCode("RET810", "record", "RecordingError",
              "the recording was cut off mid-write (only raised with strict=True)",
              "open it with strict=False to read every complete message"),
    ErrorCode("RET811", "record", "RecordingError",
              "the recording does not fit the pipeline (ports or types changed)",
              "replay a recording made with the current flow types"),
    ErrorCode("RET850", "worker", "WorkerError",
              "the worker function's parameters do not match the declared inputs",
              "give the function one positional parameter per declared input"),
    ErrorCode("RET851", "worker", "WorkerError", "conflicting or invalid run() options",
              "the message names the option; see docs/worker.md"),
    ErrorCode("RET852", "worker", "WorkerError",
              "the worker function cannot be loaded by reference",
              "define it at module level and name it 'package.module:function'"),
    ErrorCode("RET853", "worker", "WorkerError",
              "a local run got the wrong number of input streams, or none",
              "pass one stream per declared input"),
    ErrorCode("RET860", "worker", "WorkerError",
              "a worker returned a non-dict (or a dict with the wrong keys) where a dict "
              "is required", "return the dict the message describes"),
    ErrorCode("RET861", "worker", "WorkerError", "a stateful worker returned no 'state'",
              "return {'output': ..., 'state': ...}"),
    ErrorCode("RET862", "worker", "WorkerError",
              "a streaming worker returned no 'pull_request' (or not an InputsPullRequest)",
              "return {'output': [...], 'pull_request': InputsPullRequest(...)}"),
    ErrorCode("RET863", "worker", "WorkerError", "a streaming output is not a list",
              "return {'output': [m1, m2, ...]}"),
    ErrorCode("RET864", "worker", "WorkerError",
              "a multi-output worker did not return a tuple of the declared length",
              "return one value per declared output, in order"),
    ErrorCode("RET865", "worker", "WorkerError",
              "a virtual-output worker returned no 'virtual_output' list",
              "return an empty virtual_output list when there is nothing to send"),
    ErrorCode("RET866", "worker", "WorkerError",
              "a pull request does not list one shift per declared input",
              "give one shift per input stream"),
    ErrorCode("RET867", "worker", "WorkerError",
              "an Image output is a numpy array whose dtype and channels imply no encoding",
              "return retriever.types.vision.Image.from_array(pixels, encoding)"),
    ErrorCode("RET870", "worker", "ComponentError", "component.yml is malformed",
              "the message names the key; compare with docs/worker.md"),
    ErrorCode("RET871", "worker", "ComponentError", "component.yml names an unknown type",
              "use a registered type name or 'package.module:Class'"),
    ErrorCode("RET872", "worker", "ComponentError", "component.yml cannot be read",
              "check the path, or pass component= explicitly"),
    ErrorCode("RET880", "worker", "WorkerError", "a virtual stream was used after close() / stop()",
              "stop pushing once the stream is closed"),
    ErrorCode("RET881", "worker", "WorkerError", "the virtual-output callback raised",
              "fix the callback; its error is chained"),
    ErrorCode("RET882", "worker", "WorkerError", "an unknown or ill-typed config key",
              "use the keys and types of the component's config schema"),
    ErrorCode("RET890", "worker", "WorkerError",
              "the worker's state file cannot be read or written",
              "delete a damaged state file to start from initial_state"),
    ErrorCode("RET902", "check", "CheckUsageError",
              "a PATH given to retriever check names no file, directory or module",
              "pass .py files, directories or importable dotted module names"),
]

ERRORS: dict[str, ErrorCode] = {e.code: e for e in _ERRORS}


def every_code() -> dict[str, tuple[str, str, str]]:
    """Every stable code, in order: ``code -> (name or error class, cause, fix)``."""
    found = {r.code: (r.name, r.summary, r.hint) for r in _RULES}
    found.update({e.code: (e.error, e.cause, e.fix) for e in _ERRORS})
    return dict(sorted(found.items()))
