"""The command line: exit codes, one-line errors, JSON output of evaluate, export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lesrcnn_deploy.cli import main


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lesrcnn_deploy", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_evaluate_prints_table_and_writes_json(
    fp32_models: dict[int, Path], set5: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code = main(
        [
            "evaluate",
            "--model",
            str(fp32_models[2]),
            "--dataset",
            str(set5),
            "--scale",
            "2",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "img_001" in printed and "37.65 / 0.9586" in printed
    data = json.loads(out.read_text())
    assert data["n"] == 5 and f"{data['psnr']:.2f}" == "37.65"
    assert {"name", "psnr", "ssim"} <= set(data["images"][0])
    assert data["config"]["protocol"] == "paper" and len(data["config"]["model_sha256"]) == 64


def test_export_cli_fixed_size(weights_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "x3.onnx"
    code = main(
        [
            "export",
            "--scale",
            "3",
            "--weights",
            str(weights_dir / "lesrcnn_x3.pth"),
            "--output",
            str(out),
            "--input-size",
            "32",
        ]
    )
    assert code == 0 and out.is_file() and out.with_suffix(".json").is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["evaluate", "--model", "nope.onnx", "--dataset", ".", "--scale", "2"], "nope.onnx"),
        (["evaluate", "--model", "m.onnx", "--dataset", ".", "--scale", "5"], "unknown scale '5'"),
        (
            ["export", "--scale", "2", "--weights", "missing.pth"],
            "missing.pth: checkpoint file not found",
        ),
        (
            ["evaluate", "--model", "README.md", "--dataset", ".", "--scale", "2"],
            "unsupported model file",
        ),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    proc = _run(*args)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_model_of_another_scale(fp32_models: dict[int, Path], set5: Path) -> None:
    proc = _run("evaluate", "--model", str(fp32_models[3]), "--dataset", str(set5), "--scale", "2")
    assert proc.returncode == 2 and "this is a x3 model, asked for x2" in proc.stderr
