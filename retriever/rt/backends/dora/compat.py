"""Finding dora and checking that its pieces fit together.

Supported: dora-rs and dora-rs-cli ``>= 1.0, < 2`` (tested with 1.1.0), with pyarrow.
The Python package (``dora-rs``, imported as ``dora``) runs inside every node; the CLI
(``dora``) starts and stops dataflows. Both must come from the same release line:
``1.x`` nodes speak the wire format of a ``1.x`` daemon, and within 1.x the minor
versions must agree too, because the daemon and node API share message schemas.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from retriever.contract.errors import BackendError, MissingDependencyError

SUPPORTED = ">=1.0, <2"
MIN_VERSION = (1, 0)
MAX_VERSION = (2, 0)  # exclusive
PURPOSE = "the dora backend"


@dataclass(frozen=True)
class DoraInstall:
    """A checked dora installation: the CLI path and both versions."""

    cli: str
    cli_version: str
    python_version: str


def _parse(version: str) -> tuple[int, ...]:
    nums = re.findall(r"\d+", version)
    return tuple(int(n) for n in nums[:3])


def python_package_version() -> str:
    """The installed ``dora-rs`` version; MissingDependencyError when absent."""
    for dist in ("dora-rs",):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    raise MissingDependencyError("dora-rs", "dora", PURPOSE)


def require_pyarrow() -> None:
    """Raise MissingDependencyError when pyarrow is not installed."""
    try:
        importlib.metadata.version("pyarrow")
    except importlib.metadata.PackageNotFoundError:
        raise MissingDependencyError("pyarrow", "dora", PURPOSE) from None


def find_cli() -> str:
    """Path of the ``dora`` executable: ``$RETRIEVER_DORA_CLI``, next to this Python,
    then ``$PATH``."""
    override = os.environ.get("RETRIEVER_DORA_CLI")
    if override:
        if not os.access(override, os.X_OK):
            raise MissingDependencyError(f"dora-rs-cli (RETRIEVER_DORA_CLI={override})",
                                         "dora", PURPOSE)
        return override
    beside = Path(sys.executable).with_name("dora")
    if beside.exists():
        return str(beside)
    found = shutil.which("dora")
    if found is None:
        raise MissingDependencyError("dora-rs-cli", "dora", PURPOSE)
    return found


def cli_version(cli: str) -> str:
    """The version the CLI reports (``dora --version``)."""
    try:
        out = subprocess.run([cli, "--version"], capture_output=True, text=True,
                             timeout=30, check=False)
    except OSError as exc:
        raise BackendError(f"cannot run the dora CLI at {cli!r}: {exc.strerror}",
                           hint="pip install 'pyretriever[dora]'") from None
    match = re.search(r"(\d+\.\d+\.\d+\S*)", out.stdout + out.stderr)
    if out.returncode != 0 or match is None:
        raise BackendError(f"the dora CLI at {cli!r} did not report a version "
                           f"(exit {out.returncode})", hint="reinstall dora-rs-cli")
    return match.group(1)


def check_versions(cli_ver: str, py_ver: str) -> None:
    """Raise :class:`BackendError` unless both versions are supported and agree."""
    for what, ver in (("dora CLI (dora-rs-cli)", cli_ver), ("dora Python package (dora-rs)",
                                                             py_ver)):
        v = _parse(ver)[:2]
        if not (MIN_VERSION <= v < MAX_VERSION):
            raise BackendError(
                f"{what} {ver} is not supported; retriever needs dora {SUPPORTED}",
                hint="pip install 'pyretriever[dora]' to get matching versions")
    if _parse(cli_ver)[:2] != _parse(py_ver)[:2]:
        raise BackendError(
            f"the dora CLI is version {cli_ver} but the dora Python package is {py_ver}; "
            "nodes and daemon must come from the same release",
            hint=f"install matching versions, e.g. pip install 'dora-rs=={cli_ver}' "
                 f"'dora-rs-cli=={cli_ver}'")


_CACHE: dict[str, DoraInstall] = {}


def check_install() -> DoraInstall:
    """Locate dora, check versions (cached per CLI path) and return the install."""
    require_pyarrow()
    py_ver = python_package_version()
    cli = find_cli()
    cached = _CACHE.get(cli)
    if cached is not None and cached.python_version == py_ver:
        return cached
    install = DoraInstall(cli=cli, cli_version=cli_version(cli), python_version=py_ver)
    check_versions(install.cli_version, install.python_version)
    _CACHE[cli] = install
    return install
