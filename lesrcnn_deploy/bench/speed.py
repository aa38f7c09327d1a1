"""Side-by-side latency of several runners in one process, and peak memory in fresh processes.

Timing: every runner gets ``warmup`` untimed calls, then ``repeats`` rounds; in each round every
runner is called once, in an order rotated by one each round, so slow drifts of the machine
(thermal, a neighbour's job) hit all runners alike. Reported: median and p90 latency, and
throughput in megapixels of *output* per second at the median.

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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelError

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


@dataclass(frozen=True)
class Workload:
    """One input size.

    Attributes:
        name: ``"128x128"`` or ``"720p"``.
        lr_hw: LR input (H, W) in pixels.
        scale: upscaling factor; the output is ``(H*scale, W*scale)``.
    """

    name: str
    lr_hw: tuple[int, int]
    scale: int

    @property
    def out_hw(self) -> tuple[int, int]:
        """Output (H, W) in pixels."""
        return self.lr_hw[0] * self.scale, self.lr_hw[1] * self.scale

    @property
    def out_megapixels(self) -> float:
        """Output pixels / 1e6."""
        h, w = self.out_hw
        return h * w / 1e6

    def input(self, seed: int = 0) -> np.ndarray:
        """A reproducible float32 ``(1, 3, H, W)`` input in [0, 1] (uniform noise)."""
        rng = np.random.default_rng(seed)
        return rng.random((1, 3, *self.lr_hw), dtype=np.float32)


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


def open_spec(spec: RunnerSpec) -> Callable[[np.ndarray], np.ndarray]:
    """Build the runner of ``spec``.

    Raises:
        ConfigError: unknown kind.
    """
    if spec.kind == "onnx":
        from ..runtime import OnnxRunner

        return OnnxRunner(Path(spec.path), threads=spec.threads, scale=spec.scale)
    if spec.kind in ("openvino", "openvino-bf16"):
        from ..runtime_openvino import OpenVinoRunner

        fp = "bf16" if spec.kind == "openvino-bf16" else "f32"
        return OpenVinoRunner(
            Path(spec.path), threads=spec.threads, scale=spec.scale, float_precision=fp
        )
    if spec.kind == "torch":
        from ..runtime import TorchRunner
        from ..weights import load_model

        model, _, _ = load_model(spec.scale, spec.path or None, fuse_upsample=True)
        return TorchRunner(model, spec.scale, spec.threads)
    msg = f"unknown runner kind {spec.kind!r}: choose from onnx, openvino, openvino-bf16, torch"
    raise ConfigError(msg)


@dataclass(frozen=True)
class SpeedResult:
    """Latency of one runner on one workload.

    Attributes:
        label: runner label.
        scale: upscaling factor.
        workload: workload name.
        lr_hw, out_hw: input and output (H, W).
        threads: intra-op threads.
        times_ms: every timed call, ms, in call order.
    """

    label: str
    scale: int
    workload: str
    lr_hw: tuple[int, int]
    out_hw: tuple[int, int]
    threads: int
    times_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        """Median latency, ms."""
        return float(np.median(self.times_ms))

    @property
    def p90_ms(self) -> float:
        """90th percentile latency, ms (linear interpolation)."""
        return float(np.percentile(self.times_ms, 90))

    @property
    def mp_per_s(self) -> float:
        """Output megapixels per second at the median latency."""
        h, w = self.out_hw
        return h * w / 1e6 / (self.median_ms / 1e3)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the derived statistics."""
        d = asdict(self)
        d.update(median_ms=self.median_ms, p90_ms=self.p90_ms, mp_per_s=self.mp_per_s)
        return d


def time_runners(
    runners: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    workload: Workload,
    *,
    threads: int,
    warmup: int = 2,
    repeats: int = 10,
    max_repeats: Mapping[str, int] | None = None,
    on_round: Callable[[], None] | None = None,
) -> list[SpeedResult]:
    """Time ``runners`` side by side on ``workload``, interleaved (see module docstring).

    Args:
        runners: label -> callable taking float32 ``(1, 3, H, W)``.
        workload: the input size.
        threads: recorded in the results (the runners were built with it).
        warmup: untimed calls per runner first.
        repeats: timed rounds (each runner once per round).
        max_repeats: label -> fewer rounds for a slow runner (it takes part in the first ones
            only, still interleaved with the others).
        on_round: called after each timed round (progress bar hook).

    Returns:
        One :class:`SpeedResult` per runner, in the order of ``runners``.

    Raises:
        ConfigError: ``repeats`` < 1 or ``warmup`` < 0.
        ModelError: a runner's output shape is not the workload's.
    """
    if repeats < 1 or warmup < 0:
        msg = f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}"
        raise ConfigError(msg)
    x = workload.input()
    labels = list(runners)
    want = (1, 3, *workload.out_hw)
    for label in labels:
        for _ in range(max(warmup, 1)):  # at least one call, to check the shape
            y = runners[label](x)
        if tuple(y.shape) != want:
            msg = f"{label}: output shape {tuple(y.shape)} on {workload.name}, expected {want}"
            raise ModelError(msg)
    times: dict[str, list[float]] = {label: [] for label in labels}
    caps = {
        label: max(1, min(repeats, (max_repeats or {}).get(label, repeats))) for label in labels
    }
    for r in range(repeats):
        k = r % len(labels)
        for label in labels[k:] + labels[:k]:
            if len(times[label]) >= caps[label]:
                continue
            t0 = time.perf_counter()
            runners[label](x)
            times[label].append((time.perf_counter() - t0) * 1e3)
        if on_round is not None:
            on_round()
    return [
        SpeedResult(
            label=label,
            scale=workload.scale,
            workload=workload.name,
            lr_hw=workload.lr_hw,
            out_hw=workload.out_hw,
            threads=threads,
            times_ms=tuple(times[label]),
        )
        for label in labels
    ]


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
