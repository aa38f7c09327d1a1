"""``lesrcnn-deploy bench`` and ``lesrcnn-deploy gate``: thin wrappers over the bench modules."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from .options import add_list_option, add_threads_option, positive_int, require_build, scale_arg
from .quantize import PRESETS

__all__ = ["add_bench_parser"]

_QUICK_REPEATS = 3


def _cmd_bench(args: argparse.Namespace) -> int:
    from ..bench.readme import DEFAULT_PAGE, refresh_readme
    from ..core.paths import checkout_root

    output = Path(args.output)
    if args.cold_start:
        return _cold_start(output)
    if args.readme_only:
        readme = Path(args.readme or DEFAULT_PAGE)
        path = refresh_readme(
            readme if readme.is_absolute() else (checkout_root() or Path.cwd()) / readme, output
        )
        print(f"updated {path} from {output / 'results.md'}")
        return 0
    require_build("lesrcnn-deploy bench", extra="bench")
    from ..bench.run import BenchConfig, run_bench

    cfg = BenchConfig(
        scales=tuple(sorted(set(args.scales))),
        datasets=tuple(Path(d) for d in args.dataset or ()),
        div2k=Path(args.div2k) if args.div2k else None,
        models=Path(args.models) if args.models else None,
        output=output,
        threads=args.threads,
        repeats=(
            _QUICK_REPEATS
            if args.quick and args.repeats is None
            else args.repeats or BenchConfig.repeats
        ),
        memory=not (args.quick or args.no_memory),
        nncf_scales=tuple(sorted(set(args.nncf_scales))),
        progress=not args.quiet,
        runtime=args.runtime,
    )
    res = run_bench(cfg)
    print((output / "results.md").read_text(encoding="utf-8"))
    print(
        f"wrote {output}/results.md, results.json, results.csv and {len(res.plots)} plots, "
        f"{len(res.visuals)} comparison sheets in {res.wall_s / 60:.1f} min"
    )
    if args.readme:
        readme = Path(args.readme)
        refresh_readme(
            readme if readme.is_absolute() else (checkout_root() or Path.cwd()) / readme, output
        )
        print(f"updated {args.readme}")
    return 0


def _cold_start(output: Path) -> int:
    from ..bench.coldstart import format_cold_start, run_cold_start
    from ..core.errors import ConfigError
    from ..core.paths import checkout_root

    root = checkout_root()
    if root is None:
        msg = "bench --cold-start installs this checkout's wheel: run it from a source checkout"
        raise ConfigError(msg)
    result = run_cold_start(output, root=root)
    print(format_cold_start(result.to_dict()))
    print(f"wrote {output / 'coldstart.json'}")
    return 0


def _cmd_gate(args: argparse.Namespace) -> int:
    require_build("lesrcnn-deploy gate", extra="bench")
    from ..bench.gate import (
        DEFAULT_BUDGET_DB,
        Baseline,
        check_gate,
        format_gate,
        load_baseline,
        write_baseline,
    )
    from ..bench.gate_measure import measure_gate
    from ..core.errors import ConfigError
    from ..core.paths import shared_dir
    from ..models import model_path
    from ..models.build import build
    from ..quantization.config import QuantizationConfig
    from ..quantization.manifest import read_manifest
    from ..quantization.train import quantize_model

    if args.budget_db is not None and not args.update_baseline:
        msg = "--budget-db only applies with --update-baseline (it is recorded in the baseline)"
        raise ConfigError(msg)
    scales = sorted(set(args.scales))
    datasets = (
        [Path(d) for d in args.dataset]
        if args.dataset
        else [shared_dir() / "datasets" / "Set5", shared_dir() / "datasets" / "Set14"]
    )
    with tempfile.TemporaryDirectory(prefix="lesrcnn-gate-") as tmp:
        if args.models:
            fp32 = {s: model_path(s, "fp32", folder=args.models) for s in scales}
        else:
            fp32 = {s: build(s, "fp32").path for s in scales}
        if args.preset is None:
            int8 = (
                {s: model_path(s, "int8", folder=args.models) for s in scales}
                if args.models
                else {s: build(s, "int8").path for s in scales}
            )
        else:
            cfg = QuantizationConfig.preset(args.preset)
            if cfg.finetune is not None or cfg.weight_rounding is not None:
                msg = (
                    f"--preset {args.preset} trains (minutes per scale); the gate never trains: "
                    "check the default models (no --preset) or a post-training preset"
                )
                raise ConfigError(msg)
            int8 = {s: model_path(s, "int8", folder=tmp) for s in scales}
            for s in scales:
                quantize_model(fp32[s], int8[s], config=cfg, progress=not args.quiet)
        config: dict[str, Any] = {
            str(s): read_manifest(int8[s]) or {"int8": int8[s].name, "manifest": None}
            for s in scales
        }
        measured = measure_gate(
            fp32,
            int8,
            datasets=datasets,
            threads=args.threads,
            progress=not args.quiet,
            config=config,
        )
    if args.update_baseline:
        budget = args.budget_db if args.budget_db is not None else DEFAULT_BUDGET_DB
        bad = check_gate(measured, Baseline(drops={}), budget_db=budget)
        if bad:
            print(format_gate(measured, bad))
            print("refused to write a baseline that breaks the budget or DepthToSpace check")
            return 1
        path = write_baseline(measured, args.baseline, budget_db=budget)
        print(format_gate(measured, []))
        print(f"wrote baseline {path}")
        return 0
    baseline = load_baseline(args.baseline)
    violations = check_gate(
        measured, baseline, budget_db=baseline.budget_db, max_growth_db=baseline.max_growth_db
    )
    print(format_gate(measured, violations))
    return 1 if violations else 0


def add_bench_parser(subparsers: Any) -> None:
    """Register ``bench`` and ``gate`` on the main CLI."""
    _add_bench(subparsers)
    _add_gate(subparsers)


def _add_scales_option(p: argparse.ArgumentParser, what: str) -> None:
    """``--scales 2,3,4`` (or ``2 3 4``; default all three): the scales ``what`` does."""
    add_list_option(
        p,
        "--scales",
        item=scale_arg,
        metavar="S",
        default=[2, 3, 4],
        help=f"scales to {what}: 2,3,4 or 2 3 4 (default 2 3 4)",
    )


def _add_bench(subparsers: Any) -> None:
    """``bench``: the measurements, then the report options."""
    b = subparsers.add_parser(
        "bench",
        help="benchmark fp32 against int8: accuracy tables, speed, memory, pictures",
        description=(
            "Measure the fp32 and int8 models (and OpenVINO bf16 and NNCF's int8 when OpenVINO "
            "is installed): the model card's and the paper's PSNR/SSIM tables, speed, peak "
            "memory, plots and side-by-side pictures, written to --output as results.md, "
            "results.json and results.csv. Needs the 'bench' extra; takes minutes."
        ),
    )
    b.add_argument("--div2k", help="DIV2K folder (DIV2K_valid_HR + DIV2K_valid_LR_bicubic)")
    add_list_option(
        b,
        "--dataset",
        split=False,
        metavar="DIR",
        help="benchmark set folders for the paper tables (repeatable; default "
        "../shared/datasets/*)",
    )
    _add_scales_option(b, "measure")
    add_threads_option(b, "intra-op threads of every runner")
    b.add_argument("--repeats", type=positive_int, help="timed rounds at 128x128 (default 5)")
    b.add_argument(
        "--models",
        help="folder of lesrcnn_x{S}[_int8].onnx to bench as they are (default: the default "
        "models, exported or replayed from their recipes when missing or out of date)",
    )
    add_list_option(
        b,
        "--nncf-scales",
        item=scale_arg,
        metavar="S",
        default=[2],
        help="scales that get the NNCF-default int8 rows (default 2; quantizing with NNCF takes "
        "12-25 s per scale)",
    )
    _add_report_options(b)
    b.set_defaults(func=_cmd_bench)


def _add_report_options(b: argparse.ArgumentParser) -> None:
    """``bench``'s --output, --quick, --no-memory, --quiet, --runtime, --readme, --cold-start and
    --readme-only."""
    from ..core.paths import reports_dir

    b.add_argument(
        "--output",
        default=str(reports_dir() / "bench"),
        help="report folder (default: reports/bench of the checkout or the cache directory)",
    )
    b.add_argument("--quick", action="store_true", help="fewer rounds, no memory probes")
    b.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.add_argument(
        "--runtime",
        choices=["ort", "openvino", "auto"],
        default="auto",
        help="auto (default): add the OpenVINO and NNCF rows when OpenVINO is installed; "
        "openvino: require them; ort: ONNX Runtime rows only",
    )
    b.add_argument(
        "--readme",
        nargs="?",
        const="docs/benchmarks.md",
        help="then refresh the <!-- bench:start/end --> section of this Markdown page and copy the "
        "plots beside it (default docs/benchmarks.md, the documentation's benchmarks page)",
    )
    b.add_argument(
        "--cold-start",
        action="store_true",
        help="only measure the runtime install (a fresh venv with lesrcnn-deploy[serve]: size, "
        "time to the first image, peak RSS; 1-2 min) into --output/coldstart.json, which the "
        "bench report includes",
    )
    b.add_argument(
        "--readme-only",
        action="store_true",
        help="only refresh --readme from an existing report, no benchmark",
    )


def _add_gate(subparsers: Any) -> None:
    """``gate``: the int8 accuracy check against the recorded baseline."""
    g = subparsers.add_parser(
        "gate",
        help="CI gate: the int8 models' accuracy drop against the recorded baseline",
        description=(
            "Measure the PSNR drop of the int8 models against fp32 on Set5 and Set14 (paper "
            "protocol) on ONNX Runtime and, when installed, OpenVINO, and check it against "
            "benchmarks/baseline.json: exit 1 when a drop breaks the budget or grew beyond the "
            "record, or a DepthToSpace is not on int8; 0 otherwise. Needs the 'bench' extra."
        ),
    )
    _add_scales_option(g, "check")
    g.add_argument(
        "--models",
        help="folder holding lesrcnn_x{S}.onnx and lesrcnn_x{S}_int8.onnx to check as they are "
        "(default: the default models, replayed from their recipes when out of date)",
    )
    add_list_option(
        g,
        "--dataset",
        split=False,
        metavar="DIR",
        help="dataset folders to score (repeatable; default ../shared/datasets/Set5 and Set14)",
    )
    g.add_argument(
        "--baseline", help="the recorded drops to check against (default benchmarks/baseline.json)"
    )
    add_threads_option(g, "ONNX Runtime intra-op threads")
    g.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="check a preset built now instead of the default models: the post-training ones "
        "(ptq, per_channel, per_tensor; the gate never trains)",
    )
    g.add_argument("--update-baseline", action="store_true", help="rewrite the baseline")
    g.add_argument(
        "--budget-db",
        type=float,
        help="with --update-baseline: the absolute drop budget recorded in the baseline "
        "(default 0.05 dB, the project's target)",
    )
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g.set_defaults(func=_cmd_gate)
