"""Envelopes: each annotated field of an ``@io`` class is a port.

Run: ``python -m examples.tutorial.a_flow_fundamentals.01_envelopes``
"""

from __future__ import annotations

import numpy as np

from retriever.flow import io


@io
class Camera:
    """A frame and its capture time."""

    frame: np.ndarray
    stamp: float


def main() -> None:
    """Show optional ports and the signal accessors."""
    empty = Camera()
    print("a new envelope carries nothing:", empty._signals())
    msg = Camera(stamp=1.25)
    print("after setting stamp:", msg._signals(), "has frame?", msg._has_signal("frame"))
    msg._set_signal("frame", np.zeros((2, 2), dtype=np.uint8))
    print("frame shape via _get_signal:", msg._get_signal("frame").shape)


if __name__ == "__main__":
    main()
