"""MkDocs hook: the parts of the documentation that are generated from the code at build time,
so that they cannot drift from it.

A page asks for a block with a marker line; the hook replaces the line with the block:

- ``<!-- generated:cli -->``: every sub-command's usage, description and options, rendered from
  the argparse parsers of ``lesrcnn_deploy.cli`` (the ones the installed command runs);
- ``<!-- generated:gate -->``: the int8 accuracy gate's recorded drops
  (``benchmarks/baseline.json``);
- ``<!-- generated:headline -->``: the largest of those drops per runtime, in one sentence;
- ``<!-- generated:cost -->``: parameters and operation counts of each model
  (``lesrcnn_deploy.network.facts``, the numbers ``lesrcnn-deploy info`` prints).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- generated:{} -->"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """``{name: (parser, one-line help)}`` of the sub-commands, in the order they were added."""
    out: dict[str, tuple[argparse.ArgumentParser, str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                out[name] = (sub, helps.get(name, ""))
    return out


def _option_row(action: argparse.Action) -> str:
    names = ", ".join(f"`{n}`" for n in action.option_strings) or f"`{action.dest}`"
    if action.option_strings and action.nargs != 0 and (action.metavar or not action.choices):
        metavar = action.metavar or action.dest.upper()
        names += f" `{metavar if isinstance(metavar, str) else ' '.join(metavar)}`"
    help_text = action.help or ""
    if "%(default)" in help_text or "%(choices)" in help_text:
        params = {"default": action.default, "choices": action.choices, "prog": ""}
        help_text = help_text % params
    extra = []
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        choices = ", ".join(f"`{c}`" for c in action.choices)
        if choices not in help_text:
            extra.append(f"one of {choices}")
    if action.required:
        extra.append("**required**")
    shown = action.default not in (None, False, argparse.SUPPRESS, [])
    if shown and action.option_strings and "default" not in help_text:
        value = action.default
        value = " ".join(map(str, value)) if isinstance(value, list | tuple) else value
        extra.append(f"default `{value}`")
    if action.nargs in ("+", "*"):
        extra.append("several values")
    text = _cell(help_text)
    if extra:
        text = f"{text} ({'; '.join(extra)})" if text else "; ".join(extra)
    return f"| {names} | {text} |"


def _usage(parser: argparse.ArgumentParser) -> str:
    return parser.format_usage().strip()


def cli_reference() -> str:
    """Markdown for every sub-command of ``lesrcnn-deploy``: usage, description, options."""
    os.environ["COLUMNS"] = "80"  # argparse wraps to the terminal's width: the page's column
    from lesrcnn_deploy.cli import build_parser

    top = build_parser()
    lines = [
        "```text",
        top.format_help().strip(),
        "```",
        "",
    ]
    for name, (sub, summary) in _subcommands(top).items():
        lines += [f"## `{name}`", ""]
        description = sub.description or summary
        if description:
            lines += [_cell(description), ""]
        lines += ["```text", _usage(sub), "```", ""]
        rows = [a for a in sub._actions if not isinstance(a, argparse._HelpAction)]
        positional = [a for a in rows if not a.option_strings]
        optional = [a for a in rows if a.option_strings]
        for title, group in (("Arguments", positional), ("Options", optional)):
            if group:
                lines += [f"**{title}**", "", "| name | what it does |", "|---|---|"]
                lines += [_option_row(a) for a in group]
                lines.append("")
    return "\n".join(lines)


def gate_table() -> str:
    """The recorded int8 drops of ``benchmarks/baseline.json`` per scale, set and runtime."""
    data: dict[str, Any] = json.loads(
        (ROOT / "benchmarks" / "baseline.json").read_text(encoding="utf-8")
    )
    drops: dict[str, dict[str, float]] = data["drops"]
    columns = sorted({k for d in drops.values() for k in d}, key=lambda k: ("OpenVINO" in k, k))
    head = ["scale", *(f"{c} (dB)" for c in columns), "DepthToSpace on int8"]
    lines = [f"| {' | '.join(head)} |", "|---|" + "---:|" * len(columns) + "---|"]
    for scale in sorted(drops, key=int):
        cells = [f"{drops[scale][c]:.3f}" if c in drops[scale] else "-" for c in columns]
        d2s = "yes" if data["depth_to_space_int8"].get(scale) else "no"
        lines.append(f"| x{scale} | {' | '.join(cells)} | {d2s} |")
    lines += [
        "",
        f"_{data['metric']}. Budget {data['budget_db']} dB; a drop may grow by at most "
        f"{data['max_growth_db']} dB over this record. Generated from `benchmarks/baseline.json`._",
    ]
    return "\n".join(lines)


def headline() -> str:
    """The largest recorded int8 drop per runtime, from the gate's baseline."""
    data: dict[str, Any] = json.loads(
        (ROOT / "benchmarks" / "baseline.json").read_text(encoding="utf-8")
    )
    drops: dict[str, dict[str, float]] = data["drops"]
    ov = [v for d in drops.values() for k, v in d.items() if "OpenVINO" in k]
    ort = [v for d in drops.values() for k, v in d.items() if "OpenVINO" not in k]
    scales = "/".join(f"x{s}" for s in sorted(drops, key=int))
    text = (
        f"at most **{max(ort):.3f} dB** PSNR against fp32 on ONNX Runtime"
        + (f" and **{max(ov):.3f} dB** on OpenVINO" if ov else "")
        + f" ({scales}, Set5 and Set14, paper protocol; budget {data['budget_db']} dB;"
        " [the gate's table](int8.md#the-accuracy-gate))."
    )
    return text


def cost_table() -> str:
    """Parameters, the card's Flops(G), true and deployed GMACs at 128x128, per default model."""
    from lesrcnn_deploy.network.facts import COST_128

    lines = [
        "| weights | scale | params | card Flops(G) @128² | GMACs @128² | "
        "GMACs of the exported graph @128² |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (name, scale), cost in COST_128.items():
        lines.append(
            f"| {name} | x{scale} | {cost.params:,} | {cost.card_flops_g:.3f} | "
            f"{cost.macs / 1e9:.3f} | {cost.fused_macs / 1e9:.3f} |"
        )
    lines += [
        "",
        "_Generated from `lesrcnn_deploy.network.facts` (what `lesrcnn-deploy info` prints)._",
    ]
    return "\n".join(lines)


BLOCKS = {"cli": cli_reference, "gate": gate_table, "cost": cost_table, "headline": headline}


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace every ``<!-- generated:NAME -->`` line by its block."""
    for name, make in BLOCKS.items():
        marker = MARKER.format(name)
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
