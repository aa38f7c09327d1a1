"""Side-by-side latency of several runners in one process: the timing loop of the benchmark and
of ``--runtime auto``.

Every runner gets ``warmup`` untimed calls, then ``repeats`` rounds; in each round every runner is
called once, in an order rotated by one each round, so slow drifts of the machine (thermal, a
neighbour's job) hit all runners alike. Reported: median and p90 latency, and throughput in
megapixels of *output* per second at the median.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..core.errors import ConfigError, ModelError

__all__ = ["SpeedResult", "Workload", "time_runners"]


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
