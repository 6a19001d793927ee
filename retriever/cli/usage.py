"""Usage errors of the command line (exit status 2, like argparse's own)."""

from __future__ import annotations

from retriever.contract.errors import ConfigError


class UsageError(ConfigError):
    """A command-line argument names something that does not exist."""


def check_backend(name: str) -> str:
    """``name`` if it names a backend (aliases allowed), else :class:`UsageError`."""
    # Imported here, like every command's heavy imports: building the parser stays light.
    from retriever.rt.execute import backend_names, canonical_backend

    canonical = canonical_backend(name)
    if canonical not in backend_names():
        raise UsageError(f"unknown backend {name!r}",
                         hint=f"--backend is one of: {', '.join(backend_names())}")
    return canonical
