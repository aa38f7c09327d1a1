"""The documentation's generated parts (docs/hooks/generated.py, run by `make docs`): the command
line reference names every sub-command and every option of the installed parsers, with its help;
the gate's table and headline are the baseline's numbers. `make docs` builds the site with
`--strict` in CI; these check what the build cannot: that nothing is left out."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from types import ModuleType

from lesrcnn_deploy.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generated", ROOT / "docs/hooks/generated.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_covers_every_command_and_option() -> None:
    text = _hook().cli_reference()
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    for name, parser in sub.choices.items():
        section = text.split(f"## `{name}`\n", 1)[1].split("\n## `", 1)[0]
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for flag in action.option_strings:
                assert f"`{flag}`" in section, (name, flag)
            if action.help:
                assert " ".join(action.help.split())[:40].replace("|", "\\|") in section


def test_generated_pages_replace_their_markers() -> None:
    hook = _hook()
    page = "a\n<!-- generated:gate -->\nb\n<!-- generated:headline -->\n"
    out = hook.on_page_markdown(page)
    assert "<!-- generated" not in out
    drops = json.loads((ROOT / "benchmarks/baseline.json").read_text())["drops"]
    for scale, sets in drops.items():
        row = next(line for line in out.splitlines() if line.startswith(f"| x{scale} |"))
        for value in sets.values():
            assert f"{value:.3f}" in row
    worst = max(v for sets in drops.values() for k, v in sets.items() if "OpenVINO" not in k)
    assert f"**{worst:.3f} dB**" in out
    for name in hook.BLOCKS:  # every block is asked for by a page
        assert any(f"<!-- generated:{name} -->" in p.read_text() for p in ROOT.glob("docs/*.md"))


def test_readme_is_the_front_door() -> None:
    """The README opens with the quick start (its first `upscale` on the first screen), stays a
    page (at most 300 lines), and tells no one to install from a package index that lacks it."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300, len(lines)
    first = next(i for i, line in enumerate(lines) if line.startswith("lesrcnn-deploy upscale"))
    assert first < 40, first
    text = "\n".join(lines)
    assert "pip install lesrcnn-deploy" not in text.replace("pip install lesrcnn-deploy[", "")


def test_every_file_the_docs_name_exists() -> None:
    """A path the README or a docs page names in backticks (`lesrcnn_deploy/...`, `tests/...`,
    `docs/...`, `scripts/...`) is in the checkout: no page points at a module that moved."""
    import re

    pages = [ROOT / "README.md", *sorted(ROOT.glob("docs/*.md"))]
    pattern = re.compile(
        r"`((?:lesrcnn_deploy|tests|docs|scripts|calibration)/[\w./-]+?)(?:::\w+)?`"
    )
    missing = [
        (page.name, path)
        for page in pages
        for path in pattern.findall(page.read_text())
        if "*" not in path and "{" not in path and not (ROOT / path).exists()
    ]
    assert missing == [], missing
