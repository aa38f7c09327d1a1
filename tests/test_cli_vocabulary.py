"""One vocabulary across the command line (issue 27): a walk over every sub-command's parser.

Every option has help, every sub-command a one-line help and a description, an option name means
the same thing in every command, every multi-value option takes ``2,3,4`` and ``2 3 4`` alike,
and the top-level help is written for users. Then the real command: ``--json -`` and
``serve --model PATH``.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lesrcnn_deploy.cli import build_parser
from lesrcnn_deploy.cli.options import ListAction, model_precision_arg, scale_arg
from lesrcnn_deploy.models import shipped

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / ".venv" / "bin" / "lesrcnn-deploy"

# Options whose definition may differ from the other commands' of the same name, and why. Every
# entry must be used (a stale one fails), so the list only shrinks.
ALLOWED: dict[str, dict[str, str]] = {
    "--model": {"serve": "serve loads several models: a repeatable list of .onnx paths"},
    "--precision": {"serve": "serve loads several precisions (the first is a request's default)"},
    "--dataset": {"evaluate": "evaluate scores one folder; bench and gate take several"},
}

# A sub-command's required arguments, so that one option can be parsed on its own.
REQUIRED: dict[str, list[str]] = {
    "export": ["--scale", "2"],
    "evaluate": ["--model", "m.onnx", "--dataset", "d"],
    "quantize": ["--scale", "2"],
    "upscale": ["in.png"],
}

# Sample values of each item type of a comma-or-space list.
SAMPLES: dict[Any, list[str]] = {
    scale_arg: ["2", "3", "4"],
    model_precision_arg: ["int8", "fp32"],
    str: ["conv1", "conv18", "sub_mean"],
}

INTERNAL_WORDS = (
    "Thin",
    "call the library",
    "LesrcnnError",
    "Traceback",
    "``",
    ":class:",
    "docstring",
)


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """``(command path, parser, its one-line help)`` of every sub-command, nested ones too."""
    sub = _subparsers(parser)
    if sub is None:
        return
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    for name, child in sub.choices.items():
        yield (*path, name), child, helps.get(name, "")
        yield from _walk(child, (*path, name))


COMMANDS = list(_walk(build_parser()))
NAMES = {" ".join(path): parser for path, parser, _ in COMMANDS}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    skip = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
    return [a for a in parser._actions if not isinstance(a, skip)]


def test_the_walk_sees_every_command() -> None:
    assert set(NAMES) >= {
        "upscale",
        "serve",
        "info",
        "export",
        "quantize",
        "evaluate",
        "bench",
        "gate",
    }


@pytest.mark.parametrize("name", sorted(NAMES))
def test_every_subcommand_has_one_line_help_and_a_description(name: str) -> None:
    summary = next(h for path, _, h in COMMANDS if " ".join(path) == name)
    assert summary.strip() and "\n" not in summary, name
    assert (NAMES[name].description or "").strip(), f"{name} has no description"


def test_every_option_has_help() -> None:
    missing = [
        f"{' '.join(path) or 'lesrcnn-deploy'} {a.option_strings or a.dest}"
        for path, parser in [((), build_parser()), *((p, q) for p, q, _ in COMMANDS)]
        for a in _options(parser)
        if not (a.help or "").strip() or a.help == argparse.SUPPRESS
    ]
    assert missing == []


def _signature(action: argparse.Action) -> tuple[Any, ...]:
    choices = tuple(action.choices) if action.choices is not None else None
    return (type(action).__name__, action.type, action.nargs, choices, action.metavar)


def test_an_option_name_means_one_thing_everywhere() -> None:
    by_name: dict[str, dict[str, tuple[Any, ...]]] = defaultdict(dict)
    for name, parser in NAMES.items():
        for action in _options(parser):
            for flag in action.option_strings:
                by_name[flag][name] = _signature(action)
    used: set[tuple[str, str]] = set()
    disagree = {}
    for flag, per_command in by_name.items():
        allowed = ALLOWED.get(flag, {})
        for command in set(allowed) & set(per_command):
            if (
                len(
                    {per_command[command], *(s for c, s in per_command.items() if c not in allowed)}
                )
                > 1
            ):
                used.add((flag, command))
        kept = {c: s for c, s in per_command.items() if c not in allowed}
        if len(set(kept.values())) > 1:
            disagree[flag] = kept
    assert disagree == {}
    stale = {(f, c) for f, cs in ALLOWED.items() for c in cs} - used
    assert stale == set(), "allow-list entries that no longer differ: remove them"


def _multi_value_options() -> Iterator[tuple[str, argparse.Action]]:
    for name, parser in NAMES.items():
        for action in _options(parser):
            if action.option_strings and action.nargs in ("+", "*", argparse.REMAINDER):
                yield name, action


def test_every_multi_value_option_is_the_shared_list() -> None:
    found = list(_multi_value_options())
    assert len(found) >= 6  # serve --scales/--precision/--model, bench/gate --scales, ...
    other = [(n, a.option_strings) for n, a in found if not isinstance(a, ListAction)]
    assert other == []  # one helper (cli.options.add_list_option) for all of them


@pytest.mark.parametrize(
    ("name", "flag"),
    [(n, a.option_strings[-1]) for n, a in _multi_value_options()],
)
def test_commas_and_spaces_give_the_same_list(name: str, flag: str) -> None:
    parser = build_parser()
    action = next(a for a in _options(NAMES[name]) if flag in a.option_strings)
    item = getattr(action.type, "item", None)
    head = [name, *REQUIRED.get(name, [])]

    def parse(*words: str) -> Any:
        return getattr(parser.parse_args([*head, *words]), action.dest)

    if item is None:  # a list of paths: a comma is legal in a file name, so spaces or repeats
        assert parse(flag, "a b", "c") == ["a b", "c"] == parse(flag, "a b", flag, "c")
        assert parse(flag, "x,y.onnx") == ["x,y.onnx"]
        return
    values = SAMPLES[item]
    want = [item(v) for v in values]
    assert parse(flag, ",".join(values)) == want
    assert parse(flag, *values) == want
    assert parse(flag, values[0], flag, ",".join(values[1:])) == want  # repeats accumulate
    assert parse(flag, f"{values[0]},{values[0]}", *values) == want  # deduplicated, in order


def test_keep_float_empty_keeps_no_layer_in_fp32() -> None:
    args = build_parser().parse_args(["quantize", "--scale", "2", "--keep-float", ""])
    assert args.keep_float == []
    with pytest.raises(SystemExit):  # every other list needs a value
        build_parser().parse_args(["serve", "--scales", ""])


def test_a_bad_list_value_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["bench", "--scales", "2,5"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown scale '5'" in err, err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--precision", "int8,int4"])
    assert "unknown precision 'int4'" in capsys.readouterr().err


def test_top_level_help_is_for_users() -> None:
    text = build_parser().format_help()
    listed = re.findall(r"^  (\w+) +\S", text.split("commands:")[1], flags=re.M)
    assert listed == [n for n in NAMES if " " not in n]  # every command, with its help
    found = [w for w in INTERNAL_WORDS if w in text]
    assert found == []
    assert "super-resolution" in text and "--help" in text


# -- the real command ------------------------------------------------------------------------


def _cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_info_json_dash_is_pure_json_on_stdout(tmp_path: Path) -> None:
    proc = _cli("info", "--json", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # nothing but the JSON
    assert {"weights", "machine"} <= set(data)
    assert {r["scale"] for r in data["weights"]} == {2, 3, 4}
    assert "params" in proc.stderr and "machine:" in proc.stderr  # the report moved to stderr
    assert not (tmp_path / "-").exists()
    out = tmp_path / "info.json"
    proc = _cli("info", "--json", str(out), cwd=tmp_path)
    assert proc.returncode == 0 and f"wrote {out}" in proc.stdout
    assert json.loads(out.read_text())["weights"] == data["weights"]


def test_evaluate_json_dash_is_pure_json_on_stdout(tmp_path: Path) -> None:
    set5 = ROOT.parent / "shared" / "datasets" / "Set5"
    if not set5.is_dir():
        pytest.skip(f"{set5} is not here")
    model = str(shipped(2).path)
    args = ["--model", model, "--dataset", str(set5), "--limit", "1", "--quiet", "--json", "-"]
    proc = _cli("evaluate", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data["images"]) == 1 and data["images"][0]["psnr"] > 30
    assert "PSNR" in proc.stderr.upper() and not (tmp_path / "-").exists()


def test_serve_model_path_reads_its_scale_from_the_file(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    import httpx
    from PIL import Image

    from lesrcnn_deploy.bench.http_load import free_port, wait_ready

    model = tmp_path / "my model.onnx"  # a name that says nothing about its scale
    shutil.copyfile(shipped(2).path, model)
    twin = tmp_path / "twin.onnx"
    shutil.copyfile(model, twin)
    refused = _cli("serve", "--model", str(model), "--model", str(twin), cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"lesrcnn-deploy: error: {model} and {twin} are both x2 int8 models: give one --model "
        "per scale and precision"
    ]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(CLI), "serve", "--model", str(model), "--port", str(port), "--threads", "1"]
    cmd += ["--runtime", "ort", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = wait_ready(base, proc, timeout_s=90)
        assert [(m["scale"], m["precision"]) for m in ready["models"]] == [(2, "int8")]
        png = tmp_path / "in.png"
        Image.new("RGB", (20, 12), (200, 40, 90)).save(png)
        r = httpx.post(f"{base}/v1/upscale?scale=2", content=png.read_bytes(), timeout=60)
        assert r.status_code == 200
        assert Image.open(io.BytesIO(r.content)).size == (40, 24)
        other = httpx.post(f"{base}/v1/upscale?scale=3", content=png.read_bytes(), timeout=60)
        assert other.status_code == 400, other.text  # x3 is not served
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
