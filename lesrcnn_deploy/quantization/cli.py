"""``lesrcnn-deploy quantize``: a thin wrapper over :func:`~.quantize.quantize_model`."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from ..cli_types import int_at_least, positive_int

__all__ = ["add_quantize_parser"]


def _percentile(value: str) -> float:
    try:
        p = float(value)
    except ValueError:
        p = -1.0
    if not 0 < p <= 100:
        msg = f"expected a percentile in (0, 100], got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return p


def add_quantize_parser(subparsers: Any) -> None:
    """Register ``quantize`` on the main CLI's sub-parsers."""
    from .config import CalibrationMethod

    q = subparsers.add_parser(
        "quantize",
        help="int8 model (QDQ, U8 activations, S8 per-channel weights) + manifest",
        description=(
            "Calibrate on seeded LR patches (a folder, e.g. DIV2K train, or scikit-image's "
            "built-in photos), quantize with ONNX Runtime, check that every DepthToSpace runs "
            "on 8-bit tensors, and write <output>.onnx plus a <output>.json manifest."
        ),
    )
    q.add_argument("--model", required=True, help="fp32 ONNX model (lesrcnn-deploy export)")
    q.add_argument("--output", help="int8 model path (default <model stem>_int8.onnx)")
    q.add_argument(
        "--preset",
        default="default",
        help="configuration preset: default, ptq, adaround, per_channel, per_tensor "
        "(default: default = post-training quantization + fine-tuning)",
    )
    q.add_argument(
        "--finetune-steps",
        type=int_at_least(0),
        default=None,
        help="quantization-aware fine-tuning steps (0 = none; default: the preset's, 600)",
    )
    q.add_argument("--calib", help="calibration image folder (default: built-in photos)")
    q.add_argument("--calib-split", default=None, help="provenance label, e.g. train")
    q.add_argument("--calib-count", type=positive_int, default=32, help="patches (default 32)")
    q.add_argument("--crop", type=int_at_least(16), default=96, help="patch side, px (default 96)")
    q.add_argument("--seed", type=int_at_least(0), default=0, help="patch seed (default 0)")
    q.add_argument(
        "--method",
        choices=[m.value for m in CalibrationMethod],
        default=CalibrationMethod.PERCENTILE.value,
    )
    q.add_argument("--percentile", type=_percentile, default=99.999)
    q.add_argument(
        "--calib-cache",
        help="calibration table JSON: replayed when it exists, else written "
        "(default: calibration/<output stem>.json is written)",
    )
    q.add_argument("--keep-float", help="comma-separated layers kept in fp32 (overrides preset)")
    q.add_argument(
        "--dataset",
        action="append",
        help="dataset folder to measure PSNR/SSIM drops on (repeatable; recorded in the manifest)",
    )
    q.add_argument("--threads", type=positive_int, default=2, help="intra-op threads (default 2)")
    q.add_argument("--no-measure", action="store_true", help="skip the speed/accuracy numbers")
    q.add_argument(
        "--report",
        action="store_true",
        help="also print the per-tensor sensitivity (SQNR) report and save it beside the model",
    )
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=_cmd_quantize)


def _cmd_quantize(args: argparse.Namespace) -> int:
    from ..paths import project_root
    from .calibration import load_table
    from .config import BUILTIN_SOURCE, CalibrationConfig, FinetuneConfig, QuantizationConfig
    from .quantize import default_output_path, quantize_model

    cfg = QuantizationConfig.preset(args.preset)
    if args.finetune_steps is not None:
        ft = cfg.finetune or FinetuneConfig()
        steps = args.finetune_steps
        tuned = dataclasses.replace(ft, steps=steps, warmup=min(ft.warmup, steps // 10))
        cfg = dataclasses.replace(
            cfg, finetune=tuned if steps else None, name=f"{cfg.name}+finetune{steps}"
        )
    if args.keep_float is not None:
        keep = tuple(k.strip() for k in args.keep_float.split(",") if k.strip())
        cfg = dataclasses.replace(cfg, keep_float=keep, name=f"{cfg.name}+keep_float")
    cal = CalibrationConfig(
        source=args.calib or BUILTIN_SOURCE,
        split=args.calib_split or ("builtin" if args.calib is None else "folder"),
        count=args.calib_count,
        crop=args.crop,
        seed=args.seed,
        method=args.method,
        percentile=args.percentile,
    )
    output = Path(args.output) if args.output else default_output_path(args.model)
    table = None
    save_to: Path | None = None
    if args.calib_cache and Path(args.calib_cache).is_file():
        table = load_table(args.calib_cache)
    else:
        save_to = (
            Path(args.calib_cache)
            if args.calib_cache
            else project_root() / "calibration" / f"{output.stem}.json"
        )
    res = quantize_model(
        args.model,
        output,
        config=cfg,
        calibration=cal,
        ranges=table,
        save_calibration=save_to,
        measure=not args.no_measure,
        datasets=tuple(args.dataset or ()),
        threads=args.threads,
        progress=not args.quiet,
    )
    print(f"wrote {res.path} ({cfg}) and {res.manifest_path}")
    if table is not None:
        print(f"replayed calibration table {args.calib_cache}")
    elif save_to is not None:
        print(f"calibration table: {save_to}")
    speed = res.measured.get("speed")
    if speed:
        print(
            f"speed 1x3x{speed['size']}x{speed['size']}, {speed['threads']} threads: fp32 "
            f"{speed['fp32_ms']:.1f} ms, int8 {speed['int8_ms']:.1f} ms, {speed['speedup']:.2f}x"
        )
    for name, d in res.measured.get("datasets", {}).items():
        print(
            f"{name}: PSNR {d['fp32_psnr']:.3f} -> {d['int8_psnr']:.3f} dB "
            f"(drop {d['psnr_drop']:+.3f}), SSIM drop {d['ssim_drop']:+.5f}"
        )
    if args.report:
        rep = _report(Path(args.model), res.path, res.config, args.threads, not args.quiet)
        print(rep.format_table())
        out = res.path.with_name(f"{res.path.stem}_sensitivity.json")
        out.write_text(json.dumps(rep.to_dict(), indent=2) + "\n", encoding="utf-8")
        print(f"sensitivity report: {out}")
    return 0


def _report(fp32: Path, int8: Path, cfg: Any, threads: int, progress: bool) -> Any:
    import onnx

    from .calibration import collect_patches, load_calibration_images
    from .config import CalibrationConfig
    from .graph import prepare_graph
    from .sensitivity import sensitivity_report

    held_out = CalibrationConfig(count=8, crop=64, seed=12345)
    patches = collect_patches(
        load_calibration_images(held_out), count=held_out.count, crop=held_out.crop, seed=12345
    )
    prepared = prepare_graph(
        onnx.load(str(fp32)),
        relu_first=cfg.relu_before_depth_to_space,
        fold_shift=cfg.fold_output_shift,
        zero_biases=cfg.trains_biases,
    )
    return sensitivity_report(
        onnx.load(str(int8)), prepared, patches, progress=progress, threads=threads
    )


_ = dataclasses  # re-exported for the handler's replace()
