"""PNG plots (matplotlib, Agg backend): int8 PSNR drop per scale and set, and speed ratios."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..core.fileio import atomic_path
from ..runtime.timing import SpeedResult
from .accuracy import Comparison

__all__ = ["plot_psnr_drop", "plot_speed", "psnr_drop_figure", "speed_figure"]


def _save(fig: Figure, output: str | os.PathLike[str]) -> Path:
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
    """Write :func:`psnr_drop_figure` as a PNG to ``output``."""
    return _save(psnr_drop_figure(comparisons, budget_db=budget_db), output)


def psnr_drop_figure(comparisons: Sequence[Comparison], *, budget_db: float = 0.05) -> Figure:
    """Grouped bars: int8 PSNR drop (dB, fp32 - int8) per dataset (groups) and scale (bars).

    Only comparisons with an int8 result are drawn; the budget is a dashed line. The legend sits
    outside the axes, and the y axis leaves room above the budget, so nothing hides a bar or a
    value.
    """
    rows = [c for c in comparisons if c.drop_db is not None]
    sets = list(dict.fromkeys(_name(c) for c in rows))
    scales = sorted({c.scale for c in rows})
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(sets) + 3), 3.6))
    width = 0.8 / max(len(scales), 1)
    top = budget_db
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
        top = max([top, *ys])
    ax.axhline(budget_db, color="red", linestyle="--", linewidth=1, label=f"budget {budget_db} dB")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylim(top=top * 1.15)
    ax.set_xticks(range(len(sets)), [n.replace(" (", "\n(") for n in sets], fontsize=8)
    ax.set_ylabel("PSNR drop fp32 - int8 (dB)")
    ax.set_title("int8 accuracy cost (lower is better)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def _runner_rows(
    results: Sequence[SpeedResult],
) -> tuple[list[tuple[float, SpeedResult]], list[tuple[float, str]]]:
    """Horizontal rows, top to bottom: one per runner present in each (scale, workload) group,
    groups separated by a gap; and the centre of each group with its name."""
    keys = list(dict.fromkeys((r.scale, r.workload) for r in results))
    labels = list(dict.fromkeys(r.label for r in results))
    by = {(r.scale, r.workload, r.label): r for r in results}
    rows: list[tuple[float, SpeedResult]] = []
    groups: list[tuple[float, str]] = []
    y = 0.0
    for s, w in keys:
        present = [by[s, w, label] for label in labels if (s, w, label) in by]
        first = y
        for r in present:
            rows.append((y, r))
            y += 1
        groups.append(((first + y - 1) / 2, f"x{s}\n{w}"))
        y += 0.8
    return rows, groups


def plot_speed(
    results: Sequence[SpeedResult],
    output: str | os.PathLike[str],
    *,
    reference: str = "ORT fp32",
) -> Path:
    """Write :func:`speed_figure` as a PNG to ``output``."""
    return _save(speed_figure(results, reference=reference), output)


def speed_figure(results: Sequence[SpeedResult], *, reference: str = "ORT fp32") -> Figure:
    """Horizontal bars, one row per runner and (scale, workload): the speed-up over
    ``reference`` (median latency ratio) on the left, output megapixels per second on the right.

    Every value is written at the end of its own bar (no two labels share a row), and the legend
    sits below the panels, so no label overlaps another and nothing hides a bar.
    """
    labels = list(dict.fromkeys(r.label for r in results))
    colors = {label: f"C{i % 10}" for i, label in enumerate(labels)}
    refs = {(r.scale, r.workload): r for r in results if r.label == reference}
    rows, groups = _runner_rows(results)
    height = max(3.0, 0.2 * len(rows) + 0.35 * len(groups) + 1.4)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, height), sharey=True)
    ys = [y for y, _ in rows]
    ratio = []
    for _, r in rows:
        ref = refs.get((r.scale, r.workload))
        ratio.append(ref.median_ms / r.median_ms if ref is not None else float("nan"))
    mps = [r.mp_per_s for _, r in rows]
    color = [colors[r.label] for _, r in rows]
    for ax, values, fmt in ((ax1, ratio, "%.2fx"), (ax2, mps, "%.2f")):
        bars = ax.barh(ys, values, height=0.8, color=color)
        ax.bar_label(bars, fmt=fmt, fontsize=7, padding=2)
        finite = [v for v in values if v == v]
        ax.set_xlim(0, max(finite, default=1.0) * 1.18)
        ax.grid(axis="x", linewidth=0.3, alpha=0.6)
    ax1.axvline(1.0, color="black", linewidth=0.6)
    ax1.set_yticks([y for y, _ in groups], [name for _, name in groups], fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel(f"speed-up over {reference} (x)")
    ax1.set_title("speed ratio (median latency, higher is better)", fontsize=10)
    ax2.set_xlabel("output megapixels / s")
    ax2.set_title("throughput", fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[label]) for label in labels]
    threads = ", ".join(map(str, sorted({r.threads for r in results})))
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=min(len(labels), 4),
        fontsize=8,
        frameon=False,
        title=f"runner (intra-op threads: {threads})",
        title_fontsize=8,
    )
    legend_in = 0.45 + 0.2 * ((len(labels) - 1) // 4 + 1)  # inches below the panels
    fig.tight_layout(rect=(0, legend_in / height, 1, 1))
    return fig
