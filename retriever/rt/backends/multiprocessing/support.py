"""Where the multiprocessing backend runs: everywhere POSIX, not on Windows.

Kept free of the transport's imports (Unix-only modules among them), so that on Windows
asking for the backend gives this one clear error instead of an ``ImportError``.
"""

from __future__ import annotations

import sys
from typing import Any

from retriever.contract.errors import ConfigError


def unsupported() -> ConfigError | None:
    """The error to raise on this platform, or None where the backend runs."""
    if sys.platform != "win32":
        return None
    return ConfigError(
        "the multiprocessing backend does not run on Windows: its workers inherit Unix "
        "socket pairs and descriptors, which Windows cannot hand to a new process",
        hint="use the stepper (backend='in-process') or backend='dora' on Windows, or run "
             "under WSL2 (Linux); see docs/backends-multiprocessing.md")


def refuse(*_args: Any, **_options: Any) -> Any:
    """The backend's factory on platforms where it does not run: raises the error."""
    err = unsupported()
    raise err if err is not None else ConfigError("the multiprocessing backend is not "
                                                  "available here")
