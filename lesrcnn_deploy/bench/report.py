"""The bench report: ``results.md``, ``results.json`` and ``results.csv``, written atomically.

:class:`BenchResults` holds everything one bench run measured; the three writers only format it.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.fileio import atomic_write_bytes, atomic_write_json
from ..runtime.timing import SpeedResult
from .accuracy import Comparison
from .runtimes import RuntimeAccuracy, render_runtime_section
from .speed import MemoryResult
from .visual import VisualResult

__all__ = [
    "CSV_COLUMNS",
    "BenchResults",
    "ModelEntry",
    "render_csv",
    "render_markdown",
    "to_json",
    "write_reports",
]

CSV_COLUMNS: tuple[str, ...] = (
    "section",
    "scale",
    "dataset",
    "protocol",
    "precision",
    "n",
    "psnr",
    "ssim",
    "reference_psnr",
    "reference_ssim",
    "drop_db",
    "runner",
    "workload",
    "lr_hw",
    "out_hw",
    "threads",
    "median_ms",
    "p90_ms",
    "mp_per_s",
    "speedup_vs_ort_fp32",
    "peak_mb",
    "delta_mb",
)
REFERENCE_RUNNER = "ORT fp32"


@dataclass(frozen=True)
class ModelEntry:
    """One model file used by the run: scale, precision, path, sha256, size in bytes."""

    scale: int
    precision: str
    path: str
    sha256: str
    bytes: int


@dataclass
class BenchResults:
    """Everything a bench run measured.

    Attributes:
        config: the run's options (scales, threads, repeats, datasets, seed, ...).
        system: :meth:`SystemInfo.to_dict`.
        models: every model used, with its sha256.
        cost: ``{scale: {"params", "macs", "gmacs", "card_flops_g"}}`` at 1x3x128x128.
        card: ``seed128`` comparisons for the card's table.
        card_dataset: how the card table's dataset is named (DIV2K or a stand-in note).
        card_is_standin: True when not on DIV2K validation (no card reference column then).
        paper: ``paper`` protocol comparisons (one per scale and benchmark set).
        speed: latency results of every runner, scale and workload.
        memory: peak memory per runner and scale.
        visuals: comparison sheets.
        plots: plot files.
        quantization: the int8 models' manifests (config, calibration), by scale.
        video: :func:`~lesrcnn_deploy.bench.video.bench_video`'s result (empty: not run).
        outscale: :func:`~lesrcnn_deploy.bench.outscale.bench_outscale`'s result (empty: not run).
        cold_start: the runtime install's last cold-start measurement in the report folder
            (:mod:`.coldstart`, written by ``make coldstart``), or None.
        serving: :func:`~lesrcnn_deploy.bench.serving.run_serving_bench`'s result, or None.
        ray_folder: :func:`~lesrcnn_deploy.bench.ray_folder.run_ray_folder`'s result, or None.
        runtimes: accuracy of the OpenVINO / NNCF runners (:mod:`.runtimes`), if installed.
        wall_s: wall time of the run, s.
        sections_s: wall time of each section, s, in the order they ran.
        started: ISO-8601 start time.
    """

    config: dict[str, Any]
    system: dict[str, Any]
    models: list[ModelEntry] = field(default_factory=list)
    cost: dict[int, dict[str, float]] = field(default_factory=dict)
    card: list[Comparison] = field(default_factory=list)
    card_dataset: str = ""
    card_is_standin: bool = True
    paper: list[Comparison] = field(default_factory=list)
    speed: list[SpeedResult] = field(default_factory=list)
    memory: list[MemoryResult] = field(default_factory=list)
    visuals: list[VisualResult] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    quantization: dict[int, dict[str, Any]] = field(default_factory=dict)
    video: dict[str, Any] = field(default_factory=dict)
    outscale: dict[str, Any] = field(default_factory=dict)
    runtimes: list[RuntimeAccuracy] = field(default_factory=list)
    wall_s: float = 0.0
    sections_s: dict[str, float] = field(default_factory=dict)
    started: str = ""
    serving: dict[str, Any] | None = None
    ray_folder: dict[str, Any] | None = None
    cold_start: dict[str, Any] | None = None


def _f(v: float | None, nd: int, signed: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:+.{nd}f}" if signed else f"{v:.{nd}f}"


def _card_rows(res: BenchResults) -> list[str]:
    ref_cols = "" if res.card_is_standin else " Card PSNR / SSIM | PSNR - card |"
    lines = [
        f"| Models | Flops(G) | GMACs | Params(M) | PSNR(dB) | SSIM | Shape |{ref_cols}",
        "|---|---:|---:|---:|---:|---:|---|" + ("" if res.card_is_standin else "---:|---:|"),
    ]
    for c in sorted(res.card, key=lambda c: c.scale):
        cost = res.cost.get(c.scale, {})
        flops = _f(cost.get("card_flops_g"), 3)
        gmacs = _f(cost.get("gmacs"), 1)
        params = _f(cost["params"] / 1e6, 3) if "params" in cost else "-"
        variants: list[tuple[str, float, float, str]] = [
            (f"LESRCNN_x{c.scale} fp32", c.fp32.psnr, c.fp32.ssim, "")
        ]
        if c.int8 is not None:
            variants.append((f"LESRCNN_x{c.scale} int8 (ORT)", c.int8.psnr, c.int8.ssim, "int8_"))
        for name, p, s, prefix in variants:
            row = f"| {name} | {flops} | {gmacs} | {params} | {p:.3f} | {s:.3f} | 3x128x128 |"
            if not res.card_is_standin:
                rp, rs = c.reference.get(prefix + "psnr"), c.reference.get(prefix + "ssim")
                pub = "-" if rp is None else f"{rp:.3f} / {_f(rs, 3)}"
                row += f" {pub} | {_f(None if rp is None else p - rp, 3, True)} |"
            lines.append(row)
    return lines


def _paper_rows(res: BenchResults) -> list[str]:
    lines = [
        "| Set | Scale | n | Paper PSNR / SSIM | fp32 PSNR / SSIM | fp32 - paper "
        "| int8 PSNR / SSIM | Drop fp32 - int8 (dB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in res.paper:
        rp, rs = c.reference.get("psnr"), c.reference.get("ssim")
        pub = "-" if rp is None else f"{rp:.2f} / {_f(rs, 4)}"
        vs = _f(None if rp is None else c.fp32.psnr - rp, 3, True)
        i8 = "-" if c.int8 is None else f"{c.int8.psnr:.2f} / {c.int8.ssim:.4f}"
        lines.append(
            f"| {c.label} | x{c.scale} | {c.fp32.n} | {pub} | {c.fp32.psnr:.2f} / "
            f"{c.fp32.ssim:.4f} | {vs} | {i8} | {_f(c.drop_db, 3, True)} |"
        )
    return lines


def _speedup(res: BenchResults, r: SpeedResult) -> float | None:
    for ref in res.speed:
        if (ref.scale, ref.workload, ref.label) == (r.scale, r.workload, REFERENCE_RUNNER):
            return ref.median_ms / r.median_ms
    return None


def _memory(res: BenchResults, r: SpeedResult) -> MemoryResult | None:
    for m in res.memory:
        if (m.scale, m.workload, m.label) == (r.scale, r.workload, r.label):
            return m
    return None


def _speed_rows(res: BenchResults) -> list[str]:
    lines = [
        "| Scale | Workload | LR -> output | Runner | Median (ms) | p90 (ms) | MP/s out "
        "| Speed-up vs ORT fp32 | Peak RSS MB (runner's own) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in res.speed:
        m = _memory(res, r)
        mem = "-" if m is None else f"{m.peak_mb:.0f} ({m.delta_mb:+.0f})"
        lr = f"{r.lr_hw[1]}x{r.lr_hw[0]} -> {r.out_hw[1]}x{r.out_hw[0]}"
        sp = _speedup(res, r)
        lines.append(
            f"| x{r.scale} | {r.workload} | {lr} | {r.label} | {r.median_ms:.1f} | "
            f"{r.p90_ms:.1f} | {r.mp_per_s:.3f} | {_f(sp, 2)}x | {mem} |"
        )
    return lines


def render_markdown(res: BenchResults, *, base: str | os.PathLike[str] | None = None) -> str:
    """The human report. Image links are relative to ``base`` (default: as stored)."""
    from .coldstart import format_cold_start

    out = [*_run_lines(res), *_card_section(res), *_paper_speed_sections(res)]
    out += _optional_sections(res, base=base)
    if res.serving is not None:
        from .serving import format_serving

        out += [format_serving(res.serving)]
    out += [format_cold_start(res.cold_start)]
    out += _manifest_section(res)
    return "\n".join(out)


def _run_lines(res: BenchResults) -> list[str]:
    """The title, the machine and run line, the time per section."""
    sysi = res.system
    threads = res.config.get("threads")
    return [
        "# lesrcnn-deploy bench",
        "",
        f"Run {res.started or '-'}, wall time {res.wall_s / 60:.1f} min, {threads} thread(s) on "
        f"{sysi.get('cpu', '?')} ({sysi.get('logical_cpus', '?')} logical CPUs; "
        f"VNNI {'yes' if sysi.get('vnni') else 'no'}, AMX {'yes' if sysi.get('amx') else 'no'})."
        + (
            f" Int8 convolutions on AMX (OpenVINO's runtime graph): {sysi['openvino_int8_amx']}."
            if sysi.get("openvino_int8_amx")
            else ""
        )
        + (
            f" Default {res.config['default_runtime']['note']} (every deployed path runs it)."
            if isinstance(res.config.get("default_runtime"), dict)
            else ""
        ),
        "",
        *(
            [
                "Time per section: "
                + ", ".join(f"{k} {v / 60:.1f} min" for k, v in res.sections_s.items())
                + ".",
                "",
            ]
            if res.sections_s
            else []
        ),
    ]


def _card_section(res: BenchResults) -> list[str]:
    """The model-zoo card table (``seed128`` protocol) with its note."""
    out = [
        "## Model-zoo card table (`seed128` protocol)",
        "",
        f"Dataset: **{res.card_dataset}**. LR resized to 128x128 (INTER_AREA), output rounded, "
        "RGB PSNR/SSIM against the HR resized to the output size. Flops(G) is the card's "
        "convention (MACs x 2 / 0.9e9), GMACs the true multiply-accumulates, both at 1x3x128x128.",
    ]
    if res.card_is_standin:
        out.append(
            "The card's published numbers are on DIV2K validation and are not comparable to a "
            "stand-in set; give `--div2k DIR` for the reference column."
        )
    return [*out, "", *_card_rows(res), ""]


def _paper_speed_sections(res: BenchResults) -> list[str]:
    """The paper tables, the speed table and the runtime section."""
    threads = res.config.get("threads")
    return [
        "## Paper tables (`paper` protocol: Y channel, border = scale, truncation)",
        "",
        *_paper_rows(res),
        "",
        "## Speed (ONNX Runtime CPU, OpenVINO CPU when installed; PyTorch eager fp32 as reference)",
        "",
        f"{threads} intra-op thread(s), idle threads do not spin (several sessions share the "
        f"process); ISA: {res.system.get('isa_summary', '-')}. "
        f"Warm-up {res.config.get('warmup')} call(s), then interleaved rounds "
        f"({res.config.get('repeats_128')} at 128x128, {res.config.get('repeats_720p')} at 720p); "
        "medians. PyTorch eager, the slow reference, runs in "
        f"{res.config.get('torch_repeats_128')} of the 128x128 rounds"
        + (
            " and not at 720p"
            if not res.config.get("torch_repeats_720p")
            else f" and {res.config.get('torch_repeats_720p')} at 720p"
        )
        + ". Peak RSS measured in a fresh process per runner at the 720p workload; in "
        "brackets: peak minus the idle interpreter (imports done), i.e. the runner's own memory.",
        "",
        *_speed_rows(res),
        "",
        *render_runtime_section(res.speed, res.runtimes),
    ]


def _optional_sections(res: BenchResults, *, base: str | os.PathLike[str] | None) -> list[str]:
    """Video, the Ray folder job, any output size and the pictures, those that were run."""

    def link(p: Path) -> str:
        return os.path.relpath(p, base) if base is not None else str(p)

    out: list[str] = []
    if res.video:
        out += ["## Video", "", res.video.get("markdown", res.video.get("skipped", "")), ""]
        if res.video.get("long"):
            out += ["### Long videos: segments, resume, Ray", "", res.video["long"]["markdown"], ""]
    if res.ray_folder:
        out += ["## Ray folder job (`upscale DIR --ray` vs local)", ""]
        out += [res.ray_folder["markdown"], ""]
    if res.outscale:
        out += ["## Any output size", "", res.outscale["markdown"], ""]
    if res.plots or res.visuals:
        out += ["## Pictures", ""]
        out += [f"![{p.stem}]({link(p)})" for p in res.plots]
        for v in res.visuals:
            out.append(
                f"- x{v.scale} {v.dataset}/{v.image}: [{v.path.name}]({link(v.path)}) "
                f"(|fp32-int8| max {v.max_abs_diff}, mean {v.mean_abs_diff:.2f} levels)"
            )
        out.append("")
    return out


def _manifest_section(res: BenchResults) -> list[str]:
    """The models measured (sha256, size) and the package versions."""
    out = ["## Manifest", "", "| Model | Precision | sha256 | Size |", "|---|---|---|---:|"]
    for m in res.models:
        out.append(
            f"| x{m.scale} `{Path(m.path).name}` | {m.precision} | `{m.sha256[:16]}` | "
            f"{m.bytes / 1e6:.2f} MB |"
        )
    vers = ", ".join(f"{k} {v}" for k, v in sorted(res.system.get("versions", {}).items()))
    return [*out, "", f"Versions: {vers}. Full details in `results.json`.", ""]


def _acc_rows(c: Comparison) -> list[dict[str, Any]]:
    rows = []
    for precision, r in (("fp32", c.fp32), ("int8", c.int8)):
        if r is None:
            continue
        prefix = "" if precision == "fp32" else "int8_"
        rows.append(
            {
                "section": "card" if c.protocol == "seed128" else "paper",
                "scale": c.scale,
                "dataset": c.label,
                "protocol": c.protocol,
                "precision": precision,
                "n": r.n,
                "psnr": round(r.psnr, 4),
                "ssim": round(r.ssim, 5),
                "reference_psnr": c.reference.get(prefix + "psnr", ""),
                "reference_ssim": c.reference.get(prefix + "ssim", ""),
                "drop_db": "" if precision == "fp32" else round(c.drop_db or 0.0, 4),
            }
        )
    return rows


def render_csv(res: BenchResults) -> str:
    """One row per (comparison, precision) and per (speed result); columns :data:`CSV_COLUMNS`."""
    rows: list[dict[str, Any]] = []
    for c in [*res.card, *res.paper]:
        rows += _acc_rows(c)
    for r in res.speed:
        m = _memory(res, r)
        sp = _speedup(res, r)
        rows.append(
            {
                "section": "speed",
                "scale": r.scale,
                "runner": r.label,
                "workload": r.workload,
                "lr_hw": f"{r.lr_hw[0]}x{r.lr_hw[1]}",
                "out_hw": f"{r.out_hw[0]}x{r.out_hw[1]}",
                "threads": r.threads,
                "median_ms": round(r.median_ms, 3),
                "p90_ms": round(r.p90_ms, 3),
                "mp_per_s": round(r.mp_per_s, 4),
                "speedup_vs_ort_fp32": "" if sp is None else round(sp, 3),
                "peak_mb": "" if m is None else round(m.peak_mb, 1),
                "delta_mb": "" if m is None else round(m.delta_mb, 1),
            }
        )
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), restval="", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def to_json(res: BenchResults) -> dict[str, Any]:
    """JSON-ready dict of everything (per-image scores and every timed call included)."""
    return {
        "started": res.started,
        "wall_s": res.wall_s,
        "sections_s": {k: round(v, 1) for k, v in res.sections_s.items()},
        "config": res.config,
        "system": res.system,
        "models": [vars(m) for m in res.models],
        "cost_at_128": {str(k): v for k, v in res.cost.items()},
        "card": {
            "dataset": res.card_dataset,
            "standin": res.card_is_standin,
            "rows": [c.to_dict() for c in res.card],
        },
        "paper": [c.to_dict() for c in res.paper],
        "speed": [r.to_dict() for r in res.speed],
        "memory": [m.to_dict() for m in res.memory],
        "visuals": [{**vars(v), "path": str(v.path)} for v in res.visuals],
        "plots": [str(p) for p in res.plots],
        "quantization": {str(k): v for k, v in res.quantization.items()},
        "video": res.video,
        "outscale": res.outscale,
        "cold_start": res.cold_start,
        "serving": res.serving,
        "ray_folder": res.ray_folder,
        "runtimes": [a.to_dict() for a in res.runtimes],
    }


def write_reports(res: BenchResults, output: str | os.PathLike[str]) -> list[Path]:
    """Write ``results.md``, ``results.json`` and ``results.csv`` into ``output``."""
    out = Path(output)
    md, js, cs = out / "results.md", out / "results.json", out / "results.csv"
    atomic_write_bytes(md, render_markdown(res, base=out).encode("utf-8"))
    atomic_write_json(js, to_json(res))
    atomic_write_bytes(cs, render_csv(res).encode("utf-8"))
    return [md, js, cs]
