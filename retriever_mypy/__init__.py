"""``retriever_mypy``: the mypy plugin of retriever's typing contract.

Enable it with ``plugins = retriever_mypy`` (mypy.ini/setup.cfg) or
``[tool.mypy] plugins = ["retriever_mypy"]`` (pyproject.toml). It translates what mypy
knows into the contract's neutral descriptions and reports what
:mod:`retriever.contract.rules` finds, as mypy errors coded like the rules
(``RET104``). See ``docs/checking.md``.
"""

from __future__ import annotations

from .plugin import MAX_VERSION, MIN_VERSION, RetrieverPlugin, plugin

__all__ = ["MAX_VERSION", "MIN_VERSION", "RetrieverPlugin", "plugin"]
