"""``retriever demo``: the perception demo (camera -> colour detector -> display)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from retriever.contract.errors import FlowError

from .usage import check_backend


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``demo`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run the perception demo (synthetic camera when no camera is found)")
    p.add_argument("--camera-mode", choices=("auto", "live", "mock"), default=None,
                   help="auto (default; mock when recording): a live camera if one can be "
                        "read, else synthetic frames")
    p.add_argument("--backend", default="multiprocessing",
                   help="multiprocessing (default), in-process or dora")
    p.add_argument("--duration", type=float, default=4.0, help="seconds to run")
    p.add_argument("--hz", type=float, default=30.0, help="camera rate")
    p.add_argument("--visualize", choices=("auto", "rerun", "foxglove", "stdout"),
                   default="auto",
                   help="auto: Rerun when a viewer is listening, else the terminal view; "
                        "foxglove: serve a Foxglove WebSocket (see --foxglove-port)")
    p.add_argument("--foxglove-port", type=int, default=8765,
                   help="port of the Foxglove WebSocket (default 8765)")
    p.add_argument("--record", default=None, metavar="PATH.rrd",
                   help="record at simulation speed to PATH.rrd with an .mcap mirror "
                        "(deterministic mock frames unless --camera-mode says otherwise)")
    p.add_argument("--quickstart", action="store_true",
                   help="run the minimal three-flow stepping demo instead")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the chosen demo."""
    check_backend(args.backend)  # a typo is a usage error (exit 2), found before loading
    if args.quickstart:
        from retriever.demo.quickstart import main

        return main()
    from retriever.demo.run_perception import run as run_demo

    # Recordings default to synthetic frames: the files are then the same on every
    # machine, and replaying them is portable.
    visualize = args.visualize
    if visualize == "foxglove":
        visualize = f"foxglove:{args.foxglove_port}"
    mode = args.camera_mode or ("mock" if args.record else "auto")
    try:
        run_demo(camera_mode=mode, backend=args.backend, duration=args.duration,
                 hz=args.hz, record=args.record, visualize=visualize)
    except FlowError as err:
        if err.flow != "camera":
            raise
        print(f"camera unavailable: {err.message.splitlines()[0]}", file=sys.stderr)
        return 1
    return 0
