"""The scaler component's worker function.

Run it locally over a few numbers with ``python -m examples.worker_component.worker``.
"""

from __future__ import annotations

from retriever.worker import config, run


def scale(value: float) -> tuple[float, str]:
    """Scale ``value`` by ``config.factor`` and label it (two declared outputs)."""
    changed = config.sync()
    if changed:
        print(f"scaler: live config update {changed}")
    return value * config.factor, f"{config.prefix}{value}"


if __name__ == "__main__":
    print(run(scale, inputs=[[1.0, 2.0, 3.0]]))
