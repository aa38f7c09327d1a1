"""The installed package: every sub-package, the recipes and the int8 models ship in the wheel,
and a wheel installed into a fresh virtual environment upscales an image from an empty folder
without writing anything there or in its cache (the int8 model ships ready: nothing is built)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _listed_packages() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(data["tool"]["setuptools"]["packages"])


def test_every_package_is_listed_in_pyproject() -> None:
    """Every folder of the package that holds files is listed: the Python packages, and data
    folders such as ``serve/static`` (setuptools warns about a data folder left out)."""
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "lesrcnn_deploy").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert found | {"lesrcnn_deploy.recipes"} == _listed_packages()
    for scale in (2, 3, 4):
        for suffix in ("json", "npz"):
            assert (ROOT / "calibration" / f"lesrcnn_x{scale}_int8.recipe.{suffix}").is_file()


def test_licences_and_metadata() -> None:
    """The code's licence, the weights' licence status beside the shipped models, and the
    project's metadata (URLs, classifiers) that an index or `pip show` displays."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = data["project"]
    assert project["license"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    statement = ROOT / "lesrcnn_deploy" / "artifacts" / "WEIGHTS-LICENSE.md"
    assert "No licence is stated" in statement.read_text(encoding="utf-8")
    assert set(project["license-files"]) == {"LICENSE", str(statement.relative_to(ROOT))}
    assert statement.name in data["tool"]["setuptools"]["package-data"]["lesrcnn_deploy.artifacts"]
    assert "py.typed" in data["tool"]["setuptools"]["package-data"]["lesrcnn_deploy"]
    assert project["urls"] and all(u.startswith("https://") for u in project["urls"].values())
    assert "Typing :: Typed" in project["classifiers"]
    assert f"Programming Language :: Python :: {sys.version_info[0]}" in project["classifiers"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel built from this checkout, and what the build printed."""
    out = tmp_path_factory.mktemp("dist")
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    (whl,) = out.glob("lesrcnn_deploy-*.whl")
    return whl, run.stdout + run.stderr


@pytest.fixture(scope="module")
def wheel(built: tuple[Path, str]) -> Path:
    return built[0]


@pytest.mark.slow
def test_wheel_builds_without_warnings(built: tuple[Path, str]) -> None:
    _, log = built
    # setuptools' own warnings (a data folder missing from `packages`, deprecated metadata, ...)
    warnings = [ln for ln in log.splitlines() if re.search(r"Warning\b|!!", ln)]
    assert warnings == [], "\n".join(warnings)


@pytest.mark.slow
def test_wheel_holds_the_recipes(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for scale in (2, 3, 4):
        for suffix in ("json", "npz"):
            assert f"lesrcnn_deploy/recipes/lesrcnn_x{scale}_int8.recipe.{suffix}" in names
        assert f"lesrcnn_deploy/artifacts/lesrcnn_x{scale}_int8.onnx" in names
    assert "lesrcnn_deploy/artifacts/SHA256SUMS" in names
    # the weights' licence status beside the models, typing information, the code's licence
    assert "lesrcnn_deploy/artifacts/WEIGHTS-LICENSE.md" in names
    assert "lesrcnn_deploy/py.typed" in names
    assert {"lesrcnn_deploy/serve/static/index.html", "lesrcnn_deploy/serve/static/app.js"} <= names
    licences = {n.rsplit("/", 1)[-1] for n in names if ".dist-info/licenses/" in n}
    assert licences == {"LICENSE", "WEIGHTS-LICENSE.md"}
    assert not any(n.startswith(("tests/", "calibration/")) for n in names)


@pytest.mark.slow
def test_installed_wheel_upscales_from_an_empty_folder(wheel: Path, tmp_path: Path) -> None:
    import cv2

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    # the dependencies come from this environment (a path entry, so its editable install of the
    # checkout is not activated); the package itself only from the wheel
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    img = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    cv2.imwrite(str(work / "photo.png"), img)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LESRCNN_", "XDG_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env.update(HOME=str(home))  # no weights anywhere: the int8 model needs none
    where = subprocess.check_output(
        [py, "-c", "import lesrcnn_deploy, sys; print(lesrcnn_deploy.__file__)"],
        cwd=work,
        env=env,
        text=True,
    )
    assert Path(where.strip()).is_relative_to(venv)  # the wheel, not the checkout
    run = subprocess.run(
        [str(venv / "bin" / "lesrcnn-deploy"), "upscale", "photo.png", "--scale", "2"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert sorted(os.listdir(work)) == ["photo.png", "photo_x2.png"]
    out = cv2.imread(str(work / "photo_x2.png"))
    assert out is not None and out.shape == (80, 112, 3)
    # the shipped int8 model ran from the wheel: no export, no replay, no download; the user cache
    # holds only the measured runtime choice (OpenVINO is importable here, so the default is auto)
    cache = home / ".cache" / "lesrcnn-deploy"
    written = sorted(str(f.relative_to(cache)) for f in cache.rglob("*") if f.is_file())
    assert written and all(f.startswith("runtime_choices/") for f in written), written
    assert not any(f.endswith((".onnx", ".pth", ".npz")) for f in written), written


def test_lazy_root_help_and_data_readers_import_no_torch() -> None:
    """Importing the package root loads none of its modules; ``from lesrcnn_deploy import
    Upscaler`` loads the upscale layer on first use; none of it, the help or the data readers
    imports PyTorch or another heavy extra."""
    code = (
        "import sys\n"
        "import lesrcnn_deploy\n"
        "own = sorted(m for m in sys.modules if m.startswith('lesrcnn_deploy.'))\n"
        "from lesrcnn_deploy import Upscaler\n"
        "from lesrcnn_deploy.upscale import Upscaler as U\n"
        "assert Upscaler is U and 'Upscaler' in dir(lesrcnn_deploy)\n"
        "import lesrcnn_deploy.data\n"
        "from lesrcnn_deploy.cli import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = sorted(m for m in ('torch', 'av', 'ray', 'starlette') if m in sys.modules)\n"
        "print(own, ','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.split() == ["[]"]
