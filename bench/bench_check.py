"""Cost of static checking on a generated project of 200 flows and 50 pipelines.

Prints, side by side, medians of repeated cold runs (no mypy cache):

* mypy without the plugin (baseline) and with ``retriever_mypy`` — goal: the plugin adds
  at most 10 %;
* the same over ``examples/`` when it exists;
* ``retriever check`` on the generated project — goal: under 2 s — beside a baseline
  that only imports the same modules in a fresh interpreter.

Run: ``.venv/bin/python bench/bench_check.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FLOW_MODULES = 10
FLOWS_PER_MODULE = 20
PIPELINE_MODULES = 5
PIPELINES_PER_MODULE = 10


def flow_module(index: int) -> str:
    lines = ["from retriever.flow import Flow, io", ""]
    for k in range(FLOWS_PER_MODULE):
        lines += ["", "@io", f"class Msg{k}:", "    value: float", "    stamp: float", ""]
    for k in range(FLOWS_PER_MODULE):
        src = f"Msg{k}"
        dst = f"Msg{(k + 1) % FLOWS_PER_MODULE}"
        lines += ["", f"class Flow{k}(Flow[{src}, {dst}]):",
                  f"    def step(self, input: {src}) -> {dst}:",
                  f"        return {dst}(value=input.value, stamp=input.stamp)", ""]
    lines += ["", "class Start(Flow[None, Msg0]):",
              "    def step(self, input: None) -> Msg0:",
              "        return Msg0(value=0.0, stamp=0.0)", ""]
    del index
    return "\n".join(lines)


def pipeline_module(index: int) -> str:
    lines = ["from retriever.flow import Latest, Pipeline, Rate, Trigger"]
    lines += [f"import gen.flows{m} as f{m}" for m in range(FLOW_MODULES)]
    for p in range(PIPELINES_PER_MODULE):
        m = (index * PIPELINES_PER_MODULE + p) % FLOW_MODULES
        lines += ["", f"pipe{p} = Pipeline('p{index}_{p}')",
                  f"start{p} = f{m}.Start() @ Rate(hz=10)",
                  f"prev{p} = start{p}"]
        for k in range(4):
            lines += [f"node{p}_{k} = f{m}.Flow{k}() @ Trigger('value')",
                      f"pipe{p}.connect(prev{p}, node{p}_{k}, sync=Latest())",
                      f"prev{p} = node{p}_{k}"]
    return "\n".join(lines) + "\n"


def generate(target: Path) -> Path:
    pkg = target / "gen"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for m in range(FLOW_MODULES):
        (pkg / f"flows{m}.py").write_text(flow_module(m))
    for m in range(PIPELINE_MODULES):
        (pkg / f"pipes{m}.py").write_text(pipeline_module(m))
    return pkg


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, proc.stdout + proc.stderr


def mypy_config(path: Path, plugin: bool) -> Path:
    text = "[mypy]\n" + ("plugins = retriever_mypy\n" if plugin else "")
    text += "[mypy-retriever.*]\nignore_errors = True\n"
    path.write_text(text)
    return path


def median_of(runs: int, cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        t, out = timed(cmd, cwd, env)
        times.append(t)
    return statistics.median(times), out


def paired(runs: int, base: list[str], other: list[str], cwd: Path, env: dict[str, str],
           ) -> tuple[float, float, str, str]:
    """Medians of alternating runs of two commands (drift on a busy machine hits both)."""
    a_times, b_times, a_out, b_out = [], [], "", ""
    for _ in range(runs):
        t, a_out = timed(base, cwd, env)
        a_times.append(t)
        t, b_out = timed(other, cwd, env)
        b_times.append(t)
    return statistics.median(a_times), statistics.median(b_times), a_out, b_out


def row(label: str, base: float, value: float, goal: str) -> None:
    extra = (value / base - 1.0) * 100.0 if base else float("nan")
    print(f"{label:<34} {base:8.2f} s {value:8.2f} s {extra:+7.1f} %   {goal}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args()
    env = dict(os.environ)
    # The repository first on the path, so `retriever_mypy` resolves to this checkout.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pkg = generate(work)
        files = sorted(str(p.relative_to(work)) for p in pkg.glob("*.py"))
        plain = mypy_config(work / "plain.ini", plugin=False)
        plugged = mypy_config(work / "plugin.ini", plugin=True)
        mypy = [str(BIN / "mypy"), "--cache-dir", os.devnull, "--no-error-summary"]
        print(f"generated: {FLOW_MODULES * FLOWS_PER_MODULE} flows, "
              f"{PIPELINE_MODULES * PIPELINES_PER_MODULE} pipelines in {len(files)} files; "
              f"median of {args.repeat} cold runs (alternating)")
        print(f"{'':<34} {'baseline':>10} {'measured':>10} {'extra':>9}   goal")
        base, with_plugin, out_a, out_b = paired(
            args.repeat, [*mypy, "--config-file", str(plain), *files],
            [*mypy, "--config-file", str(plugged), *files], work, env)
        row("mypy generated project (+plugin)", base, with_plugin, "<= +10 %")
        for label, out in (("without plugin", out_a), ("with plugin", out_b)):
            if "error" in out:
                print(f"  note: mypy {label} reported:\n{out[:2000]}")
        examples = ROOT / "examples"
        if examples.is_dir():
            ex_base, ex_plug, _, _ = paired(
                args.repeat, [*mypy, "--config-file", str(plain), str(examples)],
                [*mypy, "--config-file", str(plugged), str(examples)], ROOT, env)
            row("mypy examples/ (+plugin)", ex_base, ex_plug, "<= +10 %")
        modules = [f"gen.{Path(f).stem}" for f in files if not f.endswith("__init__.py")]
        importer = [sys.executable, "-c",
                    "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]",
                    *modules]
        imp, _ = median_of(args.repeat, importer, work, env)
        check, out = median_of(args.repeat, [str(BIN / "retriever"), "check", "gen"], work,
                               env)
        row("retriever check (vs import only)", imp, check, "< 2 s total")
        print(f"  checker said: {out.strip().splitlines()[-1] if out.strip() else '(nothing)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
