"""Generating the error-code list of ``docs/troubleshooting.md`` from the catalogue.

The page keeps hand-written advice above and below a generated section between two
marker lines; only that section is rewritten. Run after changing the catalogue:

    python -m retriever.contract.troubleshooting docs/troubleshooting.md

``tests/test_troubleshooting.py`` fails when the page differs from what this prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .catalogue import ERRORS, RULES, every_code

BEGIN = "<!-- BEGIN GENERATED: error codes (python -m retriever.contract.troubleshooting) -->"
END = "<!-- END GENERATED: error codes -->"

_FAMILIES = [
    ("RET000", "General"),
    ("RET0", "Typing contract (mypy plugin, `retriever check`, `validate()`)"),
    ("RET1", "Wiring a pipeline (`validate()`, `retriever check`)"),
    ("RET2", "Configuration"),
    ("RET3", "IR files and execution graphs"),
    ("RET4", "Flows at run time"),
    ("RET5", "Backends"),
    ("RET6", "Optional dependencies"),
    ("RET73", "Plugins and the pipeline registry"),
    ("RET7", "Payload types"),
    ("RET80", "Recordings and replay"),
    ("RET81", "Recordings and replay"),
    ("RET85", "Function workers"),
    ("RET86", "Function workers"),
    ("RET87", "Function workers"),
    ("RET88", "Function workers"),
    ("RET89", "Function workers"),
    ("RET9", "`retriever check` itself"),
]


def _family(code: str) -> str:
    for prefix, title in _FAMILIES:
        if code.startswith(prefix):
            return title
    return "Other"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The generated section, markers included."""
    lines = [BEGIN, ""]
    current = None
    for code, (name, cause, fix) in every_code().items():
        family = _family(code)
        if family != current:
            if current is not None:
                lines.append("")
            lines += [f"### {family}", "", "| code | raised as | cause | fix |",
                      "|---|---|---|---|"]
            current = family
        kind = f"rule `{name}`" if code in RULES else f"`{ERRORS[code].error}`"
        lines.append(f"| `{code}` | {kind} | {_cell(cause)} | {_cell(fix)} |")
    lines += ["", END]
    return "\n".join(lines)


def updated(page: str) -> str:
    """``page`` with its generated section replaced by :func:`render`."""
    head, sep, rest = page.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"the page has no generated section (markers {BEGIN!r} ... {END!r})")
    return head + render() + tail


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated section of the file named in ``argv``."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else "docs/troubleshooting.md")
    path.write_text(updated(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
