"""``retriever demo``: the perception demo (camera -> colour detector -> display)."""

from __future__ import annotations

import argparse
from typing import Any

from .usage import check_backend


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``demo`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run the perception demo (synthetic camera when no camera is found)")
    p.add_argument("--camera-mode", choices=("auto", "live", "mock"), default="auto")
    p.add_argument("--backend", default="multiprocessing",
                   help="multiprocessing (default), in-process or dora")
    p.add_argument("--duration", type=float, default=4.0, help="seconds to run")
    p.add_argument("--hz", type=float, default=30.0, help="camera rate")
    p.add_argument("--visualize", choices=("auto", "rerun", "stdout"), default="auto",
                   help="auto: Rerun when a viewer is listening, else the terminal view")
    p.add_argument("--record", default=None, metavar="PATH.rrd",
                   help="record at simulation speed to PATH.rrd with an .mcap mirror")
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

    run_demo(camera_mode=args.camera_mode, backend=args.backend, duration=args.duration,
             hz=args.hz, record=args.record, visualize=args.visualize)
    return 0
