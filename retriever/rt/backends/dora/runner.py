"""The program every dora node of a retriever dataflow runs.

``python -m retriever.rt.backends.dora.runner`` (the command the compiled dataflow
gives each node) starts :func:`.partition.run_node`, which reads its partition from the
environment and runs it.

Start-up is most of a node's life before its first message, and most of start-up is
importing what the node runs (numpy, pyarrow, dora and retriever's scheduler). Those
imports only create objects that live as long as the process (modules, classes,
functions), yet the cyclic garbage collector runs dozens of times while they are made
and scans them again each time: about 10 ms of each node's start-up. So the collector
is off while :mod:`.partition` is imported; then everything imported so far is frozen
(``gc.freeze``: left out of every later collection, as it will never be garbage) and
the collector is on again before any flow's code runs (the flows' own modules,
constructors and ``reset`` run with it on, as anywhere else).
"""

from __future__ import annotations

import gc
import importlib
import sys


def main() -> int:
    """Run this process's partition; returns the exit code."""
    gc.disable()
    try:
        partition = importlib.import_module("retriever.rt.backends.dora.partition")
    finally:
        gc.freeze()
        gc.enable()
    code: int = partition.run_node()
    return code


if __name__ == "__main__":
    sys.exit(main())
