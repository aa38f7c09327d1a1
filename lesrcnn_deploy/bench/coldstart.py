"""Cold start of the runtime install: size on disk, time to the first image, peak RSS.

A fresh virtual environment gets what ``pip install 'lesrcnn-deploy[serve]'`` gives a user (this
checkout built as a wheel; the dependencies at the versions of the running environment, so the
outputs can be compared byte for byte). Then, in a new process, ``lesrcnn-deploy upscale`` turns a
256x256 image into its x2 int8 result, and this module reports:

* the venv's size on disk (allocated blocks, hard links once);
* the wall time from starting the process to its exit with the image written;
* the process's peak RSS (``wait4``'s ``ru_maxrss``);
* whether the PNG equals, byte for byte, the running (full) environment's ONNX Runtime output.

Making the venv costs about 30-40 s (pip unpacking ~300 MB), which ``make bench`` (9.3 min) cannot
afford on every run: ``make coldstart`` measures and writes ``reports/bench/coldstart.json``, which
the bench report includes with its date; the slow test tier (``tests/test_coldstart.py``) measures
the same in a temporary folder and holds the bars.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import BenchError

__all__ = [
    "ColdStart",
    "dir_size",
    "freeze_constraints",
    "make_runtime_venv",
    "measure_cold_start",
    "time_first_image",
    "user_env",
]

EXTRAS = "serve"
"""Extras of the measured install."""


@dataclass(frozen=True)
class ColdStart:
    """One cold-start measurement.

    Attributes:
        venv_mb: size of the venv on disk (MB, 10^6 bytes).
        first_image_s: seconds from process start to exit, the x2 image written.
        first_image_cpu_s: CPU seconds of that process (user + system, every thread).
        peak_rss_mb: peak resident set size of that process (MB).
        same_bytes: the PNG equals the full environment's ONNX Runtime output byte for byte.
        same_pixels: the decoded pixels are equal.
        image: ``"HxW"`` of the input.
        install_s: seconds ``pip install`` took (not part of the cold start).
        packages: versions installed in the venv (name -> version).
        cpu_count: logical CPUs the process could use.
        python: Python version.
        measured_at: UTC timestamp.
    """

    venv_mb: float
    first_image_s: float
    first_image_cpu_s: float
    peak_rss_mb: float
    same_bytes: bool
    same_pixels: bool
    image: str
    install_s: float
    packages: dict[str, str]
    cpu_count: int
    python: str
    measured_at: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def dir_size(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (``du``: blocks, hard links counted once, symlinks
    not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            st = os.lstat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def freeze_constraints(output: Path) -> Path:
    """Write the running environment's installed versions as a pip constraints file."""
    lines = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    keep = [ln for ln in lines if "==" in ln and not ln.lower().startswith("lesrcnn")]
    output.write_text("\n".join(keep) + "\n", encoding="utf-8")
    return output


def user_env(home: Path | None = None) -> dict[str, str]:
    """The environment of a user's shell: no ``PYTHONPATH``, venv or ``LESRCNN_*`` of ours."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LESRCNN_", "XDG_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    if home is not None:
        env["HOME"] = str(home)
    return env


def make_runtime_venv(
    venv: Path, root: Path, *, wheelhouse: Path | None = None, compile_pyc: bool = True
) -> float:
    """Create ``venv`` holding ``lesrcnn-deploy[serve]`` built from the checkout ``root``.

    The dependencies come from the package index (or ``wheelhouse`` only, with no index), pinned
    to the running environment's versions.

    Returns:
        Seconds the install took.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lesrcnn-coldstart-") as tmp_dir:
        tmp = Path(tmp_dir)
        build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        subprocess.run([*build, "-w", str(tmp), str(root)], check=True, capture_output=True)
        (wheel,) = tmp.glob("lesrcnn_deploy-*.whl")
        constraints = freeze_constraints(tmp / "constraints.txt")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # a user's shell: our PYTHONPATH would show pip this checkout as installed already
        cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        cmd += ["--disable-pip-version-check", "-c", str(constraints)]
        if wheelhouse is not None:
            cmd += ["--no-index", "--find-links", str(wheelhouse)]
        if not compile_pyc:
            cmd.append("--no-compile")
        subprocess.run(
            [*cmd, f"{wheel}[{EXTRAS}]"], check=True, capture_output=True, env=user_env()
        )
    return time.perf_counter() - started


def time_first_image(
    venv: Path, image: Path, *, output: Path, home: Path
) -> tuple[float, float, float]:
    """Run ``lesrcnn-deploy upscale image --scale 2`` from ``venv`` in a new process, in a user's
    environment (no ``PYTHONPATH``, no ``LESRCNN_*``, ``HOME=home``).

    Returns:
        ``(seconds from process start to exit, peak RSS in MB, CPU seconds)``. The CPU time
        (user + system, all threads) bounds the wall time the process needs on idle cores, so on
        a busy machine it stands for the wall time an idle one would show.

    Raises:
        BenchError: the process failed (its stderr is in the message).
    """
    cmd = [str(venv / "bin" / "python"), "-I", "-c", _CLI_WITH_PEAK, "upscale", str(image)]
    cmd += ["--scale", "2", "--output", str(output), "--overwrite", "--quiet"]
    started = time.perf_counter()
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(cmd, env=user_env(home), stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    peak = re.search(r"^VmHWM-kB (\d+)$", err, re.MULTILINE)
    if proc.returncode != 0 or peak is None:
        msg = f"runtime venv upscale failed ({proc.returncode}): {err.strip()[-500:]}"
        raise BenchError(msg)
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, int(peak.group(1)) / 1024, cpu


# The console script's own code (``sys.exit(main())``; ``-I``: no current folder on the path, so the
# venv's installed package runs, not a checkout) plus one line at exit: the process's peak
# RSS read from its own /proc status. ``ru_maxrss`` from ``wait4`` cannot say it: Linux records the
# parent's high-water mark in the child at fork/exec, so from a large parent (a test run holding
# models, 3 GB) it reports the parent's peak, not the CLI's.
_CLI_WITH_PEAK = """
import atexit, sys
def _peak():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                sys.stderr.write("\\nVmHWM-kB " + line.split()[1] + "\\n")
atexit.register(_peak)
from lesrcnn_deploy.cli import main
sys.argv[0] = "lesrcnn-deploy"
sys.exit(main())
"""


def _venv_packages(venv: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


def measure_cold_start(
    venv: Path,
    image: Path,
    *,
    workdir: Path,
    install_s: float = 0.0,
) -> ColdStart:
    """Measure ``venv`` (made by :func:`make_runtime_venv`) on the 256x256-ish ``image`` file.

    The reference is the running (full) environment's own ``lesrcnn-deploy upscale`` of the same
    file with ``--runtime ort`` (x2 int8, the other defaults the same); the runtime install has no
    OpenVINO, so its default is ONNX Runtime.
    """
    from ..data import load_image

    workdir.mkdir(parents=True, exist_ok=True)
    out, reference = workdir / "runtime_x2.png", workdir / "full_x2.png"
    seconds, rss, cpu = time_first_image(venv, image, output=out, home=workdir / "home")
    full = [sys.executable, "-m", "lesrcnn_deploy", "upscale", str(image), "--scale", "2"]
    full += ["--runtime", "ort"]  # the full environment may hold OpenVINO (default `auto` there)
    subprocess.run([*full, "--output", str(reference), "--quiet"], check=True)
    got, want = load_image(out).pixels, load_image(reference).pixels
    height, width = load_image(image).pixels.shape[:2]
    return ColdStart(
        venv_mb=round(dir_size(venv) / 1e6, 1),
        first_image_s=round(seconds, 3),
        first_image_cpu_s=round(cpu, 3),
        peak_rss_mb=round(rss, 1),
        same_bytes=out.read_bytes() == reference.read_bytes(),
        same_pixels=bool(np.array_equal(got, want)),
        image=f"{height}x{width}",
        install_s=round(install_s, 1),
        packages=_venv_packages(venv),
        cpu_count=len(os.sched_getaffinity(0)),
        python=platform.python_version(),
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _test_image(workdir: Path) -> Path:
    """Set5's 256x256 x2 LR butterfly when the shared data is there, else a seeded 256x256 image."""
    from ..core.paths import shared_dir
    from ..data import save_image

    set5 = shared_dir() / "datasets" / "Set5" / "x2" / "img_001_SRF_2_LR.png"
    if set5.is_file():
        return set5
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 256, dtype=np.float32)
    img = ramp[None, :, None] * 0.5 + ramp[:, None, None] * 0.3 + rng.normal(0, 12, (256, 256, 3))
    return save_image(workdir / "seeded_256.png", np.clip(img, 0, 255).astype(np.uint8))


def run_cold_start(output: Path, *, root: Path, wheelhouse: Path | None = None) -> ColdStart:
    """Make a runtime venv in a temporary folder, measure it, write ``output/coldstart.json``.

    Args:
        output: the bench's report folder.
        root: the source checkout to install.
        wheelhouse: install the dependencies from this folder only (no index).
    """
    from ..core.fileio import atomic_write_json

    with tempfile.TemporaryDirectory(prefix="lesrcnn-coldstart-") as tmp_dir:
        tmp = Path(tmp_dir)
        install_s = make_runtime_venv(tmp / "venv", root, wheelhouse=wheelhouse)
        image = _test_image(tmp)
        result = measure_cold_start(tmp / "venv", image, workdir=tmp / "work", install_s=install_s)
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_json(output / COLD_START_FILE, result.to_dict())
    return result


COLD_START_FILE = "coldstart.json"
"""Name of the measurement in the bench's report folder."""


def load_cold_start(output: Path) -> dict[str, Any] | None:
    """The last measurement written to ``output`` by :func:`run_cold_start`, if any."""
    path = output / COLD_START_FILE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def format_cold_start(data: dict[str, Any] | None) -> str:
    """The report's "Cold start" section (markdown)."""
    head = "## Cold start (the runtime install: `pip install 'lesrcnn-deploy[serve]'`)\n\n"
    if data is None:
        return head + "Not measured in this report folder: run `make coldstart`.\n"
    ok = "yes" if data["same_bytes"] else ("pixels only" if data["same_pixels"] else "**no**")
    versions = ", ".join(
        f"{k} {data['packages'][k]}"
        for k in ("onnxruntime", "numpy", "opencv-python-headless", "pillow")
        if k in data["packages"]
    )
    return head + (
        "| venv on disk | process start to the first x2 int8 image (CPU time) | peak RSS | "
        "PNG equals the full environment's ONNX Runtime output |\n|---:|---:|---:|---|\n"
        f"| {data['venv_mb']:.0f} MB | {data['first_image_s']:.2f} s "
        f"({data.get('first_image_cpu_s', float('nan')):.2f} s) | "
        f"{data['peak_rss_mb']:.0f} MB | {ok} |\n\n"
        f"A fresh venv with this checkout's wheel and the `serve` extra ({len(data['packages'])} "
        f"distributions, no PyTorch, no onnx; {versions}), `lesrcnn-deploy upscale` of a "
        f"{data['image']} image in a new process on {data['cpu_count']} CPUs, measured "
        f"{data['measured_at']} by `make coldstart` (installing took {data['install_s']:.0f} s, "
        "which is why `make bench` reads this file instead of building the venv).\n"
    )
