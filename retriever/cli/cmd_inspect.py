"""``retriever inspect FILE``: what a .rrd / .mcap recording holds."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``inspect`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "inspect", help="list the channels, message counts, time span and schemas of a recording")
    p.add_argument("file", help="a .rrd or .mcap recording")
    p.add_argument("--schemas", action="store_true",
                   help="print each channel's full JSON Schema (MCAP)")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead")
    p.set_defaults(func=run)
    return p


def summary(rec: Any) -> dict[str, Any]:
    """A JSON-able summary of a recording."""
    return {
        "file": str(rec.path), "format": rec.format, "pipeline": rec.meta.get("pipeline"),
        "truncated": rec.truncated, "flows": rec.flows, "messages": rec.message_count,
        "steps": list(rec.steps) if rec.steps else None,
        "time_span": list(rec.time_span) if rec.time_span else None,
        "channels": [{"topic": c.topic, "flow": c.flow, "side": c.side, "port": c.port,
                      "type": c.type, "count": c.count, "first_time": c.first_time,
                      "last_time": c.last_time, "views": sorted(c.views),
                      "schema": c.schema} for c in rec.channels.values()],
    }


def _span(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a:.3f}..{b:.3f}s"


def run(args: argparse.Namespace) -> int:
    """Print the summary."""
    import warnings

    from retriever.record import TruncatedRecordingWarning, open_recording

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedRecordingWarning)
        rec = open_recording(args.file)
    data = summary(rec)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    steps = data["steps"]
    print(f"{data['file']}: {rec.format.upper()} recording of pipeline {data['pipeline']!r}"
          + (" (cut off mid-write; complete messages shown)" if rec.truncated else ""))
    print(f"  flows: {', '.join(rec.flows) or '(none)'}")
    print(f"  messages: {rec.message_count}   steps: "
          + (f"{steps[0]}..{steps[1]}" if steps else "-")
          + "   time: " + (_span(*data["time_span"]) if data["time_span"] else "-"))
    width = max([len(c["topic"]) for c in data["channels"]] + [7])
    print(f"  {'channel':<{width}}  {'type':<28} {'count':>6}  {'time span':<18} schema/view")
    for c in data["channels"]:
        schema = c["schema"]
        if schema is not None and str(schema.get("title", "")).startswith(("foxglove.",
                                                                           "retriever.")):
            kind = schema["title"]  # a well-known Foxglove message (or retriever.JointState)
        elif schema is not None and "json" in schema.get("properties", {}):
            kind = "json text"
        elif schema is not None:
            kind = "jsonschema " + str(schema.get("properties", {}).get("value", {})
                                       .get("type", "object"))
        else:
            kind = ", ".join(c["views"]) or "-"
        print(f"  {c['topic']:<{width}}  {c['type']:<28} {c['count']:>6}  "
              f"{_span(c['first_time'], c['last_time']):<18} {kind}")
        if args.schemas and c["schema"] is not None:
            print("    " + json.dumps(c["schema"], indent=2).replace("\n", "\n    "))
    return 0
