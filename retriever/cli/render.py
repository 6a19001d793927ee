"""Rendering an IR as text, Mermaid or Graphviz DOT."""

from __future__ import annotations

from retriever.ir.model import IR, NodeIR


def _clock(n: NodeIR) -> str:
    c = n.clock
    if not c.hz:  # only a trigger clock has no rate
        return f"Trigger({', '.join(c.trigger)})"
    extra = f", trigger={c.trigger}" if c.trigger else ""
    return f"{c.kind.capitalize()}({c.hz:g} Hz{extra})"


def to_text(ir: IR) -> str:
    """A readable listing of flows and connections."""
    lines = [f"pipeline {ir.name!r}: {len(ir.nodes)} flows, {len(ir.edges)} connections", ""]
    for n in ir.nodes:
        ins = ", ".join(f"{p.name}: {p.type}" for p in n.input_ports) or "-"
        outs = ", ".join(f"{p.name}: {p.type}" for p in n.output_ports) or "-"
        where = f"  @ {n.placement.machine}" if n.placement.machine else ""
        lines.append(f"  {n.id:<20} {_clock(n):<22} {n.flow}{where}")
        lines.append(f"  {'':<20} in  [{ins}]")
        lines.append(f"  {'':<20} out [{outs}]")
    lines.append("")
    for e in ir.edges:
        ports = ", ".join(f"{p.src_port}->{p.dst_port} ({p.adapter.name}, q={p.qsize})"
                          for p in e.ports)
        lines.append(f"  {e.src} -> {e.dst}: {ports}")
    return "\n".join(lines)


def _mid(name: str) -> str:
    return "n_" + "".join(ch if ch.isalnum() else "_" for ch in name)


def to_mermaid(ir: IR) -> str:
    """A Mermaid ``flowchart``."""
    lines = ["flowchart LR"]
    for n in ir.nodes:
        lines.append(f'    {_mid(n.id)}["{n.id}<br/>{_clock(n)}"]')
    for e in ir.edges:
        label = ", ".join(p.src_port if p.src_port == p.dst_port else f"{p.src_port}→{p.dst_port}"
                          for p in e.ports)
        lines.append(f'    {_mid(e.src)} -- "{label}" --> {_mid(e.dst)}')
    return "\n".join(lines) + "\n"


def to_dot(ir: IR) -> str:
    """A Graphviz DOT digraph."""
    lines = [f'digraph "{ir.name}" {{', "  rankdir=LR;", "  node [shape=box];"]
    for n in ir.nodes:
        lines.append(f'  "{n.id}" [label="{n.id}\\n{_clock(n)}"];')
    for e in ir.edges:
        label = ", ".join(p.src_port for p in e.ports)
        lines.append(f'  "{e.src}" -> "{e.dst}" [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
