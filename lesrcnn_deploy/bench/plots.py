"""PNG plots (matplotlib, Agg backend): int8 PSNR drop per scale and set, and speed ratios."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ..core.fileio import atomic_path
from ..runtime.timing import SpeedResult
from .accuracy import Comparison

__all__ = ["plot_psnr_drop", "plot_speed"]


def _save(fig: plt.Figure, output: str | os.PathLike[str]) -> Path:
    path = Path(output)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def _name(c: Comparison) -> str:
    label = c.label.replace(" (stand-in: DIV2K validation not given)", " stand-in")
    return f"{label} ({c.protocol})"


def plot_psnr_drop(
    comparisons: Sequence[Comparison],
    output: str | os.PathLike[str],
    *,
    budget_db: float = 0.05,
) -> Path:
    """Grouped bars: int8 PSNR drop (dB, fp32 - int8) per dataset (groups) and scale (bars).

    Only comparisons with an int8 result are drawn; the budget is a dashed line.
    """
    rows = [c for c in comparisons if c.drop_db is not None]
    sets = list(dict.fromkeys(_name(c) for c in rows))
    scales = sorted({c.scale for c in rows})
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(sets) + 2), 3.6))
    width = 0.8 / max(len(scales), 1)
    for k, s in enumerate(scales):
        xs: list[float] = []
        ys: list[float] = []
        for i, name in enumerate(sets):
            for c in rows:
                if c.scale == s and _name(c) == name and c.drop_db is not None:
                    xs.append(i + (k - (len(scales) - 1) / 2) * width)
                    ys.append(c.drop_db)
        bars = ax.bar(xs, ys, width=width * 0.95, label=f"x{s}")
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    ax.axhline(budget_db, color="red", linestyle="--", linewidth=1, label=f"budget {budget_db} dB")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(range(len(sets)), [n.replace(" (", "\n(") for n in sets], fontsize=8)
    ax.set_ylabel("PSNR drop fp32 - int8 (dB)")
    ax.set_title("int8 accuracy cost (lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, output)


def plot_speed(
    results: Sequence[SpeedResult],
    output: str | os.PathLike[str],
    *,
    reference: str = "ORT fp32",
) -> Path:
    """Bars: speed-up of every runner over ``reference`` (median latency ratio) per scale and
    workload; a second panel shows throughput in output megapixels per second."""
    keys = list(dict.fromkeys((r.scale, r.workload) for r in results))
    labels = list(dict.fromkeys(r.label for r in results))
    by = {(r.scale, r.workload, r.label): r for r in results}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / max(len(labels), 1)
    for k, label in enumerate(labels):
        xs, ratio, mps = [], [], []
        for i, (s, w) in enumerate(keys):
            r, ref = by.get((s, w, label)), by.get((s, w, reference))
            if r is None:
                continue
            xs.append(i + (k - (len(labels) - 1) / 2) * width)
            ratio.append(ref.median_ms / r.median_ms if ref is not None else float("nan"))
            mps.append(r.mp_per_s)
        b1 = ax1.bar(xs, ratio, width=width * 0.95, label=label)
        ax1.bar_label(b1, fmt="%.2fx", fontsize=7, padding=2)
        b2 = ax2.bar(xs, mps, width=width * 0.95, label=label)
        ax2.bar_label(b2, fmt="%.2f", fontsize=7, padding=2)
    names = [f"x{s}\n{w}" for s, w in keys]
    ax1.axhline(1.0, color="black", linewidth=0.6)
    ax1.set_xticks(range(len(keys)), names, fontsize=8)
    ax1.set_ylabel(f"speed-up over {reference} (x)")
    ax1.set_title("speed ratio (median latency)")
    ax2.set_xticks(range(len(keys)), names, fontsize=8)
    ax2.set_ylabel("output megapixels / s")
    ax2.set_title("throughput")
    ax1.legend(fontsize=8)
    threads = sorted({r.threads for r in results})
    fig.suptitle(f"threads: {', '.join(map(str, threads))}", fontsize=8)
    fig.tight_layout()
    return _save(fig, output)
