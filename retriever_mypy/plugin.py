"""The mypy plugin object: maps full names to the hooks of :mod:`retriever_mypy.hooks`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from mypy.nodes import MypyFile, TypeInfo
from mypy.options import Options
from mypy.plugin import (
    ClassDefContext,
    FunctionContext,
    MethodContext,
    Plugin,
    ReportConfigContext,
)
from mypy.types import Type

from retriever.contract.errors import ConfigError

from .config import read_config
from .describe import FLOW, IO, TEMPORAL, flow_info_of
from .hooks import (
    add_hook,
    connect_hook,
    flow_class_hook,
    io_maker_hook,
    io_tag_hook,
    keep_handle_hook,
    matmul_hook,
    pipeline_hook,
    then_hook,
)
from .rewrite import rewrite_tuple_literal_bases
from .values import CHECKS, values_hook

#: Supported mypy versions: MIN_VERSION <= version < MAX_VERSION.
MIN_VERSION = (1, 11)
MAX_VERSION = (3, 0)

_CONNECT_FUNCTION = "retriever.flow.default.connect"
_METHODS: dict[str, Callable[[MethodContext], Type]] = {
    f"{FLOW}.__matmul__": matmul_hook,
    "retriever.flow.builder.PipelineBuilder.connect": connect_hook,
    "retriever.flow.builder.PipelineBuilder.add": add_hook,
    f"{TEMPORAL}.then": then_hook,
    f"{TEMPORAL}.__rshift__": then_hook,
    f"{TEMPORAL}.named": keep_handle_hook,
    f"{TEMPORAL}.deploy": keep_handle_hook,
    f"{TEMPORAL}.restart_policy": keep_handle_hook,
}
_METHOD_NAMES = frozenset(name.rpartition(".")[2] for name in _METHODS)


class RetrieverPlugin(Plugin):
    """Checks the retriever typing contract while mypy analyses the program."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.config = read_config(options.config_file)

    def report_config_data(self, ctx: ReportConfigContext) -> Any:
        """Options that change results, so that mypy's cache notices a change."""
        return self.config.as_dict()

    def get_additional_deps(self, file: MypyFile) -> list[tuple[int, str, int]]:
        """No extra dependencies; used to accept ``Flow[(A, B), C]`` (see ``rewrite``)."""
        rewrite_tuple_literal_bases(file)
        return []

    def get_class_decorator_hook(self, fullname: str) -> Callable[[ClassDefContext], None] | None:
        """``@io``: tag the class as a dataclass-like envelope and record its ports."""
        return io_tag_hook if fullname == IO else None

    def get_class_decorator_hook_2(self, fullname: str,
                                   ) -> Callable[[ClassDefContext], bool] | None:
        """``@io``: build the all-optional constructor."""
        return io_maker_hook if fullname == IO else None

    def get_base_class_hook(self, fullname: str) -> Callable[[ClassDefContext], None] | None:
        """Classes deriving (directly or not) from ``Flow``: signature and step rules."""
        if fullname != FLOW:
            sym = self.lookup_fully_qualified(fullname)
            node = sym.node if sym is not None else None
            if not isinstance(node, TypeInfo) or flow_info_of(node) is None:
                return None
        return partial(flow_class_hook, config=self.config)

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        """``@`` on flows, ``Pipeline.connect``, ``then``/``>>`` and handle methods.

        Operators arrive named after the receiver's class (``pkg.MyFlow.__matmul__``),
        so the name is resolved to the class that defines the method.
        """
        hook = _METHODS.get(fullname)
        if hook is None:
            owner, _, method = fullname.rpartition(".")
            if method not in _METHOD_NAMES:
                return None
            sym = self.lookup_fully_qualified(owner)
            info = sym.node if sym is not None else None
            if not isinstance(info, TypeInfo):
                return None
            defining = info.get_containing_type_info(method)
            hook = _METHODS.get(f"{defining.fullname}.{method}") if defining else None
        if hook is then_hook:
            return partial(then_hook, config=self.config)  # explicit_sync option
        return hook

    def get_function_hook(self, fullname: str) -> Callable[[FunctionContext], Type] | None:
        """``retriever.connect(a, b, ...)``; literal values of clocks, adapters, configs."""
        if fullname == _CONNECT_FUNCTION:
            return connect_hook
        if fullname == "retriever.flow.pipeline.Pipeline":
            return pipeline_hook
        if fullname in CHECKS:
            return partial(values_hook, fullname=fullname)
        return None


def parse_version(version: str) -> tuple[int, int]:
    """``"2.4.1+dev"`` -> ``(2, 4)``."""
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    while len(parts) < 2:
        parts.append(0)
    return parts[0], parts[1]


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point: the plugin class for this mypy ``version``."""
    found = parse_version(version)
    if not MIN_VERSION <= found < MAX_VERSION:
        raise ConfigError(
            f"retriever_mypy supports mypy >= {MIN_VERSION[0]}.{MIN_VERSION[1]} and "
            f"< {MAX_VERSION[0]}.{MAX_VERSION[1]}; this is mypy {version}",
            hint="install a supported mypy: pip install 'mypy>=1.11,<3'")
    return RetrieverPlugin
