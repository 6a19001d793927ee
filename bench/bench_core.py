"""Foundation benchmarks: stepper cost per node, validation of big graphs, import time.

Run: ``.venv/bin/python bench/bench_core.py``. Each figure is printed beside a baseline
measured in the same run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import row

from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io


@io
class Msg:
    """One integer port."""

    value: int


class Src(Flow[None, Msg]):
    """Counts."""

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Msg:
        self.n += 1
        return Msg(value=self.n)


class Inc(Flow[Msg, Msg]):
    """Adds one."""

    def step(self, input: Msg) -> Msg:
        return Msg(value=(input.value or 0) + 1)


def chain(n: int) -> Pipeline:
    pipe = Pipeline(f"chain{n}")
    prev = pipe.add(Src() @ Rate(hz=100))
    for _ in range(n - 1):
        nxt = pipe.add(Inc() @ Trigger("value"))
        pipe.connect(prev, nxt, sync=Latest())
        prev = nxt
    return pipe




def bench_stepper() -> None:
    pipe = chain(10)
    pipe.step(dt=0.01)
    steps = 3000
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(steps):
            pipe.step(dt=0.01)
        samples.append((time.perf_counter() - t0) / (steps * 10) * 1e6)
    pipe.close_stepper()
    # Baseline: the same ten computations as plain Python calls (no runtime at all).
    src, incs = Src(), [Inc() for _ in range(9)]
    src.reset()
    base = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(steps):
            m = src.step(None)
            for f in incs:
                m = f.step(Msg(value=m.value))
        base.append((time.perf_counter() - t0) / (steps * 10) * 1e6)
    row("stepper cost per node execution (10-flow chain)",
        f"{sorted(samples)[2]:.2f} us", "plain calls", f"{sorted(base)[2]:.2f} us",
        "goal: <= 10 us")


def _fanout_pipeline(width: int, depth: int) -> Pipeline:
    """30x30 layers, every node of a layer connected to every node of the next."""

    @io
    class Wide:
        value: int

    ports = {f"p{i}": int for i in range(width)}
    WideIn = io(type("WideIn", (), {"__annotations__": ports, "__module__": __name__}))

    class L0(Flow[None, Wide]):
        def step(self, _: None) -> Wide:
            return Wide(value=1)

    class LN(Flow[WideIn, Wide]):  # type: ignore[valid-type]
        def step(self, input: object) -> Wide:
            return Wide(value=1)

    pipe = Pipeline("layered")
    prev = [pipe.add(L0() @ Rate(hz=10)) for _ in range(width)]
    for _ in range(depth - 1):
        layer = [pipe.add(LN() @ Rate(hz=10)) for _ in range(width)]
        for i, a in enumerate(prev):
            for b in layer:
                pipe.connect(a, b, sync=Latest(), map={"value": f"p{i}"})
        prev = layer
    return pipe


def bench_validate() -> None:
    t0 = time.perf_counter()
    pipe = chain(1000)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    eg = pipe.build_execution()
    took = time.perf_counter() - t0
    assert len(eg.partitions) == 1000
    row("validate+build_execution, 1,000-flow chain", f"{took:.3f} s",
        "authoring it", f"{build:.3f} s", "goal: < 1 s")
    t0 = time.perf_counter()
    pipe = _fanout_pipeline(30, 30)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    eg = pipe.build_execution()
    took = time.perf_counter() - t0
    n_conn = len(eg.ir.edges)
    row(f"validate+build_execution, 30x30 layered ({n_conn} conns)", f"{took:.3f} s",
        "authoring it", f"{build:.3f} s", "goal: < 1 s")


def bench_import() -> None:
    def t(code: str) -> list[float]:
        out = []
        for _ in range(7):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            out.append(time.perf_counter() - t0)
        return out

    base = t("import numpy, pydantic, msgspec")
    ours = t("import retriever")
    heavy = subprocess.run(
        [sys.executable, "-c", "import retriever, sys; print(sorted(m for m in ('dora', "
         "'rerun', 'mcap', 'cv2', 'pyarrow') if m in sys.modules))"],
        capture_output=True, text=True, check=True).stdout.strip()
    row("import retriever (interpreter start included)", f"{sorted(ours)[3] * 1e3:.0f} ms",
        "import numpy+pydantic+msgspec", f"{sorted(base)[3] * 1e3:.0f} ms")
    print(f"{'heavy optional modules imported by import retriever':<48} {heavy:>18}")



if __name__ == "__main__":
    bench_stepper()
    bench_validate()
    bench_import()
