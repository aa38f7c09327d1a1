"""``lesrcnn-deploy upscale``: thin wrapper over :mod:`.batch` and :class:`.api.Upscaler`."""

from __future__ import annotations

import argparse
import sys

from ..cli_types import int_at_least, scale_arg

__all__ = ["add_upscale_parser"]


def _cmd_upscale(args: argparse.Namespace) -> int:
    from ..runtime import read_metadata
    from .api import Upscaler
    from .batch import plan_jobs, run_batch

    precision = args.precision
    if precision is None:
        precision = read_metadata(args.model).get("precision", "fp32") if args.model else "int8"
    jobs = plan_jobs(
        args.inputs,
        scale=args.scale,
        output=args.output,
        fmt=args.format,
        recursive=args.recursive,
    )
    upscaler = Upscaler(
        args.scale,
        precision,
        model=args.model,
        tile=0 if args.no_tile else args.tile,
        tile_overlap=args.tile_overlap,
        threads=args.threads,
        runtime=args.runtime,
    )
    if args.runtime == "auto" and not args.quiet:
        print(upscaler.runtime_choice.note, file=sys.stderr)
    result = run_batch(
        upscaler,
        jobs,
        overwrite=args.overwrite,
        skip_existing=args.skip_existing,
        progress=not args.quiet,
    )
    if len(jobs) == 1 and result.done and not args.quiet:
        print(f"wrote {jobs[0].output}")
    else:
        print(result.summary(), file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


def add_upscale_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``upscale`` sub-command on the main CLI's ``subparsers``."""
    from .api import DEFAULT_TILE
    from .batch import OUTPUT_FORMATS

    p = subparsers.add_parser(
        "upscale",
        help="upscale image files or folders (tiled, int8 or fp32)",
        description=(
            "Upscale PNG/JPEG/WebP/BMP/TIFF images. Gray stays gray, alpha is upscaled "
            "separately (bicubic), 16-bit stays 16-bit. Outputs are named {stem}_x{S}.{ext}: "
            "beside an input file, or in <folder>_x{S}/ for an input folder, or in --output. "
            "Exit code 1 if any image failed."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders")
    p.add_argument("--scale", type=scale_arg, required=True, help="2, 3 or 4")
    p.add_argument(
        "--precision",
        choices=["int8", "fp32", "bf16"],
        help="model precision (default int8, or the --model file's own; bf16: OpenVINO bf16 "
        "on the fp32 model)",
    )
    p.add_argument(
        "--runtime",
        choices=["ort", "openvino", "auto"],
        default="ort",
        help="ort (ONNX Runtime, default), openvino, or auto (the faster one, measured once)",
    )
    p.add_argument("--model", help="explicit .onnx model (default models/lesrcnn_x{S}[_int8].onnx)")
    p.add_argument(
        "--output",
        help="output folder, or output file for one image (its extension picks the format)",
    )
    p.add_argument(
        "--format",
        choices=list(OUTPUT_FORMATS),
        help="format of generated output names (default png)",
    )
    p.add_argument("--recursive", action="store_true", help="include sub-folders of folders")
    t = p.add_mutually_exclusive_group()
    t.add_argument(
        "--tile",
        type=int_at_least(1),
        default=DEFAULT_TILE,
        help=f"tile size in input pixels (default {DEFAULT_TILE})",
    )
    t.add_argument(
        "--no-tile", action="store_true", help="whole image in one call (memory grows with size)"
    )
    p.add_argument(
        "--tile-overlap",
        type=int_at_least(0),
        help="context pixels around each tile (default: the receptive field, exact)",
    )
    p.add_argument("--threads", type=int_at_least(1), help="inference threads")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    g.add_argument(
        "--skip-existing", action="store_true", help="skip images whose output exists (resume)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_upscale)
