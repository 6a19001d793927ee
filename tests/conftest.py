"""Runs the multiprocessing tests twice: in the platform's native mode and in portable mode.

Portable mode (``RETRIEVER_MP_PORTABLE=1``: ``spawn``, POSIX shared memory, a
``selectors`` waiter) is what macOS and other non-Linux systems get; forcing it on Linux
is how these tests cover that code. Every test of a ``test_mp_*`` module, and the
multiprocessing cases of ``test_backend_parity``, get an ``mp_mode`` parameter
(``native`` / ``portable``). ``RETRIEVER_TEST_MP_MODES=native`` (comma-separated) runs
only the named modes, e.g. while working on something else.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from retriever.rt.transport.backing import PORTABLE_ENV

MP_MODES = ("native", "portable")
_PARITY = "test_backend_parity"


def _modes() -> list[str]:
    raw = os.environ.get("RETRIEVER_TEST_MP_MODES", "")
    chosen = [m.strip() for m in raw.split(",") if m.strip()] or list(MP_MODES)
    unknown = set(chosen) - set(MP_MODES)
    if unknown:
        raise pytest.UsageError(f"RETRIEVER_TEST_MP_MODES: unknown mode(s) {sorted(unknown)}")
    return chosen


def _covered(module: str) -> bool:
    name = module.rsplit(".", 1)[-1]
    return name.startswith("test_mp_") or name == _PARITY


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give every covered test an ``mp_mode`` parameter."""
    if _covered(metafunc.module.__name__):
        metafunc.parametrize("mp_mode", _modes(), indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Parity cases of other backends run once: portable mode concerns only the
    multiprocessing backend."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        spec = getattr(item, "callspec", None)
        params = spec.params if spec is not None else {}
        if (params.get("mp_mode") == "portable" and item.module is not None
                and item.module.__name__.endswith(_PARITY)
                and params.get("backend") != "multiprocessing"):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(autouse=True)
def mp_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[str | None]:
    """``native`` or ``portable`` in covered modules (None elsewhere: nothing changes);
    portable sets ``RETRIEVER_MP_PORTABLE=1`` for the test (runs read it when they
    start; scripts started by the test inherit it)."""
    mode: str | None = getattr(request, "param", None)
    if mode is None:
        yield None
        return
    if mode == "portable":
        monkeypatch.setenv(PORTABLE_ENV, "1")
    else:
        monkeypatch.delenv(PORTABLE_ENV, raising=False)
    yield mode
