"""``lesrcnn-deploy quantize``: replay a recipe (seconds) or, deliberately, train one.

A thin wrapper over :mod:`.pipeline`. Without ``--retrain`` nothing is trained: the default
configuration replays its recipe (the shipped one for the default models), and only presets that
do not train (``ptq``, ``per_channel``, ``per_tensor``) calibrate from scratch (seconds).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from .options import (
    add_list_option,
    add_threads_option,
    int_at_least,
    positive_int,
    require_build,
    scale_arg,
)

__all__ = ["add_quantize_parser"]

PRESETS = ("default", "ptq", "adaround", "per_channel", "per_tensor")


def _percentile(value: str) -> float:
    try:
        p = float(value)
    except ValueError:
        p = -1.0
    if not 0 < p <= 100:
        msg = f"expected a percentile in (0, 100], got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return p


_CALIB_OPTIONS = (
    "calib_dir",
    "calib_split",
    "calib_count",
    "calib_crop",
    "calib_seed",
    "calib_method",
    "calib_percentile",
)


def add_quantize_parser(subparsers: Any) -> None:
    """Register ``quantize`` on the main CLI's sub-parsers."""
    from ..quantization.config import CalibrationMethod

    q = subparsers.add_parser(
        "quantize",
        help="build the int8 model of an fp32 .onnx model (a recipe replayed in seconds)",
        description=(
            "Build the int8 model of an fp32 model: replay its recipe (calibration ranges and "
            "fine-tuned weights; seconds), or with --retrain calibrate on seeded LR patches and "
            "fine-tune again (minutes) and write the recipe. Every DepthToSpace must run on 8-bit "
            "tensors, or nothing is written. The int8 model is QDQ ONNX: U8 activations, S8 "
            "per-channel weights, with a manifest of how it was made."
        ),
    )
    src = q.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="fp32 ONNX model (lesrcnn-deploy export)")
    src.add_argument(
        "--scale", type=scale_arg, help="the default x2/x3/x4 model (exported if missing)"
    )
    q.add_argument("--output", help="int8 model path (default <model stem>_int8.onnx)")
    q.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="default",
        help="configuration (default: post-training quantization + fine-tuning, replayed from "
        "its recipe; ptq/per_channel/per_tensor: no training, built in seconds)",
    )
    q.add_argument(
        "--recipe",
        help="recipe to replay (default for the default models: the shipped or retrained one)",
    )
    q.add_argument(
        "--retrain",
        action="store_true",
        help="calibrate and train again (minutes per scale) and write the recipe",
    )
    q.add_argument(
        "--save-recipe",
        help="where --retrain writes the recipe (default: calibration/ of the checkout or the "
        "cache's recipes/ for a default model, else beside the output)",
    )
    q.add_argument(
        "--finetune-steps",
        type=int_at_least(0),
        default=None,
        help="with --retrain: fine-tuning steps (0 = none; default: the preset's, 600)",
    )
    q.add_argument("--calib-dir", help="calibration image folder (default: built-in photos)")
    q.add_argument("--calib-split", default=None, help="provenance label, e.g. train")
    q.add_argument("--calib-count", type=positive_int, default=None, help="patches (default 32)")
    q.add_argument(
        "--calib-crop", type=int_at_least(16), default=None, help="patch side, px (default 96)"
    )
    q.add_argument("--calib-seed", type=int_at_least(0), default=None, help="patch seed (0)")
    q.add_argument(
        "--calib-method",
        choices=[m.value for m in CalibrationMethod],
        default=None,
        help="range method (default percentile)",
    )
    q.add_argument("--calib-percentile", type=_percentile, default=None, help="percentile (99.999)")
    q.add_argument("--calib-table", help="calibration table JSON to replay (no calibration)")
    q.add_argument("--save-calib-table", help="write the calibration table used to this JSON")
    add_list_option(
        q,
        "--keep-float",
        allow_empty=True,
        metavar="LAYER",
        help="layers kept in fp32, e.g. conv1,conv18 or conv1 conv18; overrides the preset's "
        "('' keeps none)",
    )
    add_threads_option(q, "intra-op threads of calibration and training")
    q.add_argument(
        "--report",
        action="store_true",
        help="also print the per-tensor sensitivity (SQNR) report and save it beside the model",
    )
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=_cmd_quantize)


def _config(args: argparse.Namespace) -> Any:
    from ..quantization.config import FinetuneConfig, QuantizationConfig

    cfg = QuantizationConfig.preset(args.preset)
    if args.finetune_steps is not None:
        ft = cfg.finetune or FinetuneConfig()
        steps = args.finetune_steps
        tuned = dataclasses.replace(ft, steps=steps, warmup=min(ft.warmup, steps // 10))
        cfg = dataclasses.replace(
            cfg, finetune=tuned if steps else None, name=f"{cfg.name}+finetune{steps}"
        )
    if args.keep_float is not None:
        keep = tuple(args.keep_float)
        cfg = dataclasses.replace(cfg, keep_float=keep, name=f"{cfg.name}+keep_float")
    return cfg


def _calibration(args: argparse.Namespace) -> Any:
    from ..quantization.config import BUILTIN_SOURCE, CalibrationConfig

    base = CalibrationConfig()
    return CalibrationConfig(
        source=args.calib_dir or BUILTIN_SOURCE,
        split=args.calib_split or ("builtin" if args.calib_dir is None else "folder"),
        count=args.calib_count or base.count,
        crop=args.calib_crop or base.crop,
        seed=base.seed if args.calib_seed is None else args.calib_seed,
        method=args.calib_method or base.method,
        percentile=args.calib_percentile or base.percentile,
    )


def _refuse(args: argparse.Namespace, options: tuple[str, ...], why: str) -> None:
    from ..core.errors import ConfigError

    given = [o for o in options if getattr(args, o) not in (None, False)]
    if given:
        flags = ", ".join("--" + o.replace("_", "-") for o in given)
        msg = f"{flags}: no effect {why}"
        raise ConfigError(msg)


def _cmd_quantize(args: argparse.Namespace) -> int:
    require_build("lesrcnn-deploy quantize")
    from ..core.errors import ConfigError
    from ..core.paths import recipes_dir
    from ..models import int8_beside, model_path, recipe_file_name
    from ..models.build import build, default_recipe_path
    from ..quantization.calibration import load_table, save_table
    from ..quantization.recipe import load_recipe, save_recipe
    from ..quantization.replay import apply_recipe
    from ..quantization.train import train_recipe

    if args.scale is not None:
        fp32 = build(args.scale, "fp32").path
        output = Path(args.output) if args.output else model_path(args.scale, "int8")
    else:
        fp32 = Path(args.model)
        output = Path(args.output) if args.output else int8_beside(fp32)
    cfg = _config(args)
    trains = cfg.finetune is not None or cfg.weight_rounding is not None
    customized = args.finetune_steps is not None or args.keep_float is not None
    if args.retrain and args.recipe:
        msg = "--recipe and --retrain exclude each other (replay a recipe, or train a new one)"
        raise ConfigError(msg)
    if args.calib_table and any(getattr(args, o) is not None for o in _CALIB_OPTIONS):
        msg = "--calib-table replays a table: the --calib-* options have no effect with it"
        raise ConfigError(msg)
    replay = not args.retrain and (args.recipe is not None or (trains and not customized))
    if replay:
        _refuse(
            args,
            (*_CALIB_OPTIONS, "calib_table", "save_calib_table", "save_recipe"),
            "when a recipe is replayed (use --retrain to train a new one)",
        )
        if args.recipe:
            source = Path(args.recipe)
        elif args.scale is not None:
            source = default_recipe_path(args.scale)
        else:
            msg = (
                f"{fp32}: the {cfg.name} configuration trains (several minutes per scale) and "
                "this model has no recipe: give --recipe, train deliberately with --retrain, or "
                "use --preset ptq (no training, seconds)"
            )
            raise ConfigError(msg)
        recipe = load_recipe(source)
        if args.recipe is None or args.preset != "default":
            recipe.check_applies_to(recipe.fp32_sha256, cfg, where=str(source))
        res = apply_recipe(fp32, recipe, output=output, recipe_source=str(source))
        print(f"wrote {res.path} ({res.config}) and {res.manifest_path}")
        print(f"replayed recipe {source} (sha256 {recipe.sha256[:12]})")
    else:
        if trains and not args.retrain:
            msg = (
                f"--finetune-steps/--keep-float with the {cfg.name} configuration trains (several "
                "minutes per scale): add --retrain to train deliberately, or use --preset ptq"
            )
            raise ConfigError(msg)
        table = load_table(args.calib_table) if args.calib_table else None
        recipe = train_recipe(
            fp32,
            config=cfg,
            calibration=None if table else _calibration(args),
            table=table,
            progress=not args.quiet,
            threads=args.threads,
        )
        if args.save_calib_table:
            save_table(recipe.calibration, args.save_calib_table)
            print(f"calibration table: {args.save_calib_table}")
        save_to: Path | None = Path(args.save_recipe) if args.save_recipe else None
        if save_to is None and args.retrain:
            save_to = (
                recipes_dir() / recipe_file_name(args.scale)
                if args.scale is not None
                else output.with_name(f"{output.stem}.recipe.json")
            )
        res = apply_recipe(fp32, recipe, output=output, recipe_source=str(save_to or ""))
        print(f"wrote {res.path} ({res.config}) and {res.manifest_path}")
        if save_to is not None:
            print(f"recipe: {save_recipe(recipe, save_to)} (sha256 {recipe.sha256[:12]})")
        ft = recipe.training.get("finetune")
        if ft:
            print(
                f"fine-tuning: {ft['steps']} steps in {recipe.provenance['seconds']:.0f} s, "
                f"held-out PSNR vs fp32 {ft['val_psnr_before']:.2f} -> "
                f"{ft['val_psnr_after']:.2f} dB"
            )
    if args.report:
        _report(fp32, res.path, res.config, args.threads, not args.quiet)
    return 0


def _report(fp32: Path, int8: Path, cfg: Any, threads: int, progress: bool) -> None:
    import json

    import onnx

    from ..core.fileio import atomic_write_json
    from ..quantization.calibration import collect_patches, load_calibration_images
    from ..quantization.config import CalibrationConfig
    from ..quantization.graph import prepare_graph
    from ..quantization.sensitivity import sensitivity_report

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
    rep = sensitivity_report(
        onnx.load(str(int8)), prepared, patches=patches, progress=progress, threads=threads
    )
    print(rep.format_table())
    out = int8.with_name(f"{int8.stem}_sensitivity.json")
    atomic_write_json(out, json.loads(json.dumps(rep.to_dict())))
    print(f"sensitivity report: {out}")
