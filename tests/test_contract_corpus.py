"""The contract corpus through all three front ends, in one test (see corpus_report.py).

Every mistake must be caught by every front end, at the marked line, with the marked
code; no correct program and no other line may be reported. mypy runs once over the
whole corpus and ``retriever check`` once, so the test stays quick.
"""

from __future__ import annotations

from retriever.flow.settings import init, settings

from .corpus_report import render, run_corpus


def test_every_front_end_catches_every_mistake_on_its_line() -> None:
    saved = settings().default_sync, settings().default_on_lag
    try:
        progs, results = run_corpus()
    finally:
        init(default_sync=saved[0], default_on_lag=saved[1])
    mistakes = sum(len(p.expected) for p in progs)
    assert mistakes >= 60 and sum(p.clean for p in progs) >= 30
    assert all(p.expected for p in progs if not p.clean), "a bad program without a mark"
    table = render(progs, results)
    for front_end, t in results.items():
        assert (t.right, t.elsewhere, t.missed, t.false_positives) == (mistakes, 0, 0, 0), (
            front_end, table)
