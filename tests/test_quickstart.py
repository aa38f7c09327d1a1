"""The README's quick start, run as written (slow tier): its shell blocks in one shell, in a copy of
this checkout laid out as a fresh clone, and its Python snippet in the virtual environment those
commands made. What the harness adds is only what a person at a terminal would do besides typing:
a photo in the folder, the `git clone` line (the copy is the clone), a free port instead of 8000
(the machine is shared), and stopping the server at the end.

The dependencies come from the package index at the versions of the running environment (a pip
constraints file through ``PIP_CONSTRAINT``, so pip's cache serves them); PyTorch must not be among
them: the runtime install has none."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesrcnn_deploy.bench.coldstart import freeze_constraints, user_env
from lesrcnn_deploy.bench.http_load import free_port

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- --8<-- [start:quickstart] -->", "<!-- --8<-- [end:quickstart] -->"


def quickstart_blocks(readme: str) -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block of the README's quick-start section."""
    section = readme[readme.index(START) : readme.index(END)]
    return [(m[1], m[2]) for m in re.finditer(r"```(\w+)\n(.*?)```", section, re.S)]


def test_quickstart_section_is_on_the_first_screen() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300
    first = next(i for i, line in enumerate(lines) if START in line)
    assert first < 15  # the quick start opens the README, after the two-sentence summary
    blocks = quickstart_blocks("\n".join(lines))
    kinds = [lang for lang, _ in blocks]
    assert kinds.count("python") == 1 and set(kinds) == {"sh", "python"}
    shell = "\n".join(code for lang, code in blocks if lang == "sh")
    assert "pip install" in shell and "lesrcnn-deploy upscale" in shell
    assert "lesrcnn-deploy serve" in shell
    assert "pip install lesrcnn-deploy" not in shell  # no index has it


def _copy_checkout(dst: Path) -> None:
    """The files a clone has (tracked, and new ones not ignored), from this working tree."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, names):
        src = ROOT / name.decode()
        if src.is_file():
            (dst / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name.decode())


def _script(blocks: list[tuple[str, str]], port: int) -> str:
    """One shell session: every shell block in order, then the Python snippet."""
    lines = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    shell = [code for lang, code in blocks if lang == "sh"]
    first = shell[0].splitlines()
    assert first[0].startswith("git clone "), first[0]
    shell[0] = "\n".join(first[1:])
    for code in shell:
        code = code.replace("lesrcnn-deploy serve", f"lesrcnn-deploy serve --port {port}")
        lines.append(code.replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
    (python,) = [code for lang, code in blocks if lang == "python"]
    lines.append(f"python -c {shlex.quote(python)}")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_readme_quickstart_runs_as_written(tmp_path: Path) -> None:
    from skimage import data

    blocks = quickstart_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    clone = tmp_path / "lesrcnn-deploy"
    _copy_checkout(clone)
    photo = np.asarray(data.chelsea(), dtype=np.uint8)[:150, :200]  # a real photo, 200x150
    Image.fromarray(photo).save(clone / "photo.jpg", quality=90)
    home = tmp_path / "home"
    home.mkdir()
    env = user_env(home) | {
        "PIP_CONSTRAINT": str(freeze_constraints(tmp_path / "constraints.txt")),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    run = subprocess.run(
        ["bash", "-c", _script(blocks, free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    site = next((clone / ".venv" / "lib").glob("python3*/site-packages"))
    assert (site / "lesrcnn_deploy").is_dir()  # installed, not run from the clone's folder
    assert not (site / "torch").exists() and not (site / "onnx").exists()
    (python,) = [code for lang, code in blocks if lang == "python"]
    api_name = re.findall(r"[\"'](photo[^\"']*)[\"']", python)[-1]  # what the snippet writes
    shell = "\n".join(code for lang, code in blocks if lang == "sh")
    (served_name,) = re.findall(r"curl .*-o (\S+)", shell.replace("\\\n", " "))
    outputs = {p.name for p in clone.glob("photo_x4*")} - {api_name, served_name}
    assert len(outputs) == 1, outputs  # the `upscale` command's output
    cli_path = clone / outputs.pop()
    cli = np.asarray(Image.open(cli_path).convert("RGB")).astype(int)
    api = np.asarray(Image.open(clone / api_name).convert("RGB")).astype(int)
    served = Image.open(clone / served_name)
    assert cli.shape == (600, 800, 3) and served.size == (800, 600)
    assert cli_path.name == "photo_x4.jpg"  # x4 by default, in the photo's own format
    # one engine: the CLI and the Python API agree (exactly, unless a lossy format sits between)
    lossless = {cli_path.suffix.lower(), Path(api_name).suffix.lower()} <= {".png", ".webp"}
    diff = np.abs(cli - api)
    assert diff.max() == 0 if lossless else diff.mean() < 2, diff.mean()
    # the result is the photo, larger: close to a bicubic x4 of it, not noise
    bicubic = np.asarray(Image.fromarray(photo).resize((800, 600), Image.Resampling.BICUBIC))
    assert np.abs(cli - bicubic.astype(int)).mean() < 8
