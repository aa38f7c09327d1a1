"""The benchmark's runners and workloads, and peak memory in fresh processes.

Timing is :func:`lesrcnn_deploy.runtime.timing.time_runners` (interleaved rounds), re-exported here.

Memory: each runner is rebuilt in a fresh Python process (``python -m lesrcnn_deploy.bench.speed``)
that imports everything, records its resident set (``VmRSS``) as the idle baseline, creates the
runner, runs the workload once and reads the high-water mark (``VmHWM``). ``peak_mb`` is that
high-water mark, ``delta_mb`` = peak - idle baseline is what the runner itself costs (session,
weights, activations), free of the parent's allocations and of the other runners.

Workloads: ``128x128`` (the card's 3x128x128 input) and ``720p``: an LR input whose output covers
1280x720: 640x360 for x2, 427x240 for x3 (output 1281x720; 426 would give 1278 < 1280) and 320x180
for x4.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..core.errors import ConfigError, ModelError
from ..runtime.base import Runner
from ..runtime.timing import SpeedResult, Workload, time_runners

__all__ = [
    "MemoryResult",
    "RunnerSpec",
    "SpeedResult",
    "Workload",
    "measure_peak_memory",
    "open_spec",
    "time_runners",
    "workloads",
]

_LR_720P: dict[int, tuple[int, int]] = {2: (360, 640), 3: (240, 427), 4: (180, 320)}


def workloads(scale: int) -> list[Workload]:
    """The two workloads of ``scale``: the card's 128x128 input and the 720p-output one."""
    return [Workload("128x128", (128, 128), scale), Workload("720p", _LR_720P[scale], scale)]


@dataclass(frozen=True)
class RunnerSpec:
    """How to (re)build a runner, in this process or another one.

    Attributes:
        label: row name, e.g. ``"ORT int8"``.
        kind: ``"onnx"`` (``path`` is an .onnx) or ``"torch"`` (``path`` is a .pth checkpoint or
            empty for the registry's official one; eager fp32, fused upsample like the ONNX);
            ``"openvino"`` / ``"openvino-bf16"``: the .onnx on OpenVINO, float layers f32 / bf16.
        path: model file.
        scale: 2, 3 or 4.
        threads: intra-op threads.
    """

    label: str
    kind: str
    path: str
    scale: int
    threads: int


def open_spec(spec: RunnerSpec) -> Runner:
    """Build the runner of ``spec`` through :func:`~lesrcnn_deploy.runtime.dispatch.open_runner`.

    Raises:
        ConfigError: unknown kind.
    """
    from ..runtime.dispatch import open_runner

    kinds = {
        "onnx": ("ort", "f32"),
        "openvino": ("openvino", "f32"),
        "openvino-bf16": ("openvino", "bf16"),
        "torch": ("torch", "f32"),
    }
    if spec.kind not in kinds:
        msg = f"unknown runner kind {spec.kind!r}: choose from {', '.join(kinds)}"
        raise ConfigError(msg)
    runtime, compute = kinds[spec.kind]
    return open_runner(
        spec.path,
        scale=spec.scale,
        threads=spec.threads,
        runtime=runtime,
        compute=compute,
        fuse_upsample=spec.kind == "torch",
    )


@dataclass(frozen=True)
class MemoryResult:
    """Resident memory of one runner in a fresh process, MB (1e6 bytes).

    Attributes:
        label, scale, workload: what was measured.
        idle_mb: resident set after imports, before the runner exists.
        peak_mb: high-water mark after building the runner and one call.
        delta_mb: ``peak_mb - idle_mb``, what the runner costs.
    """

    label: str
    scale: int
    workload: str
    idle_mb: float
    peak_mb: float

    @property
    def delta_mb(self) -> float:
        """Peak minus idle, MB."""
        return self.peak_mb - self.idle_mb

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["delta_mb"] = self.delta_mb
        return d


def _status_kb(field_name: str) -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return float(line.split()[1])
    msg = f"/proc/self/status has no {field_name}"
    raise OSError(msg)


def _probe(spec: RunnerSpec, workload: Workload) -> dict[str, float]:
    """Run in the fresh process: idle RSS, build the runner, one call, high-water mark."""
    import onnxruntime  # noqa: F401  (imported before the baseline so it is not counted)
    import torch  # noqa: F401

    from .. import runtime  # noqa: F401

    x = workload.input()
    idle = _status_kb("VmRSS")
    runner = open_spec(spec)
    runner(x)
    return {"idle_mb": idle * 1024 / 1e6, "peak_mb": _status_kb("VmHWM") * 1024 / 1e6}


def measure_peak_memory(
    specs: Sequence[RunnerSpec], workload: Workload, *, timeout_s: float = 600.0
) -> list[MemoryResult]:
    """Peak resident memory of each runner on ``workload``, each in a fresh process (Linux).

    The probe processes run at the same time: each one's peak resident set is its own, so
    running them side by side changes no number and saves most of the wall time (imports).

    Raises:
        ModelError: a probe process failed or timed out (its last stderr line is quoted).
    """
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lesrcnn_deploy.bench.speed",
                json.dumps({"spec": asdict(spec), "lr_hw": workload.lr_hw}),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for spec in specs
    ]
    out = []
    try:
        for spec, proc in zip(specs, procs, strict=True):
            try:
                stdout, stderr = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                stdout, stderr = "", f"no result after {timeout_s:.0f} s"
            if proc.returncode != 0 or not stdout.strip():
                last = (stderr.strip().splitlines() or ["no output"])[-1][:200]
                msg = f"memory probe of {spec.label} x{spec.scale} failed: {last}"
                raise ModelError(msg)
            res = json.loads(stdout.strip().splitlines()[-1])
            out.append(
                MemoryResult(spec.label, spec.scale, workload.name, res["idle_mb"], res["peak_mb"])
            )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out


def _main(argv: Sequence[str]) -> int:
    req = json.loads(argv[0])
    spec = RunnerSpec(**req["spec"])
    h, w = req["lr_hw"]
    print(json.dumps(_probe(spec, Workload("probe", (int(h), int(w)), spec.scale))))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
