"""``lesrcnn-deploy upscale``: thin wrapper over :mod:`.batch` and :class:`.api.Upscaler`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..core.errors import ConfigError
from .options import (
    add_runtime_option,
    add_threads_option,
    add_tile_options,
    int_at_least,
    scale_arg,
)

__all__ = ["add_upscale_parser"]


def _cmd_upscale(args: argparse.Namespace) -> int:
    from ..core.vocab import DEFAULT_THREADS, SCALES
    from ..models import InferenceSettings
    from ..upscale.api import Upscaler
    from ..upscale.batch import check_plan, plan_jobs, run_batch
    from ..upscale.output import OutputOptions, ScaleSet

    if args.actors is not None and args.ray is None:
        msg = "--actors only applies with --ray"
        raise ConfigError(msg)
    options = OutputOptions(
        outscale=args.outscale,
        fit=args.fit,
        strip_metadata=args.strip_metadata,
        quality=args.quality,
        lossless=args.lossless or None,
    )
    if args.scale is None and args.model is None and options.outscale is not None:
        args.scale = options.plan((1, 1), SCALES).scale  # the smallest scale >= outscale
    elif args.scale is None and args.model is None and options.fit is None:
        msg = "--scale is required (2, 3 or 4) unless --model, --outscale or --fit gives it"
        raise ConfigError(msg)
    settings = InferenceSettings.from_precision(
        args.precision,
        scale=args.scale,
        model=args.model,
        tile=args.tile,
        tile_overlap=args.tile_overlap,
        threads=args.threads,  # None: DEFAULT_THREADS locally, sized to fit the nodes on Ray
        runtime=args.runtime,
    )
    if args.model is not None or args.scale is not None:
        settings = settings.opened()  # the model read and checked once, here
    jobs = plan_jobs(
        args.inputs,
        scale=settings.scale,
        output=args.output,
        fmt=args.format,
        recursive=args.recursive,
        tag=options.suffix(settings.scale or 0) if options.resizes else None,
    )
    if args.ray is not None:
        from ..cluster.batch import run_batch_ray

        check_plan(jobs, options, ray=True)  # before any work, videos included
        videos = [j for j in jobs if j.kind == "video"]
        if videos:  # each video's segments in parallel on the actor pool
            from .video import run_videos_ray

            run_videos_ray(videos, args=args, settings=settings)
            jobs = [j for j in jobs if j.kind != "video"]
            if not jobs:
                return 0

        ray_result = run_batch_ray(
            jobs,
            settings,
            overwrite=args.overwrite,
            skip_existing=args.skip_existing,
            address=args.ray or None,
            actors=args.actors,
            progress=not args.quiet,
            options=options,
        )
        print(ray_result.runtime_line(), file=sys.stderr)
        print(ray_result.summary(), file=sys.stdout if ray_result.ok else sys.stderr)
        return 0 if ray_result.ok else 1
    if settings.threads is None:
        settings = settings.replace(threads=DEFAULT_THREADS)

    def open_upscaler(scale: int) -> Upscaler:
        up = Upscaler.from_settings(settings.replace(scale=scale))
        if not args.quiet:  # every run says which runtime runs it, and why
            print(up.runtime_choice.note, file=sys.stderr)
        return up

    # --fit alone: each image runs at the smallest scale reaching its size
    fixed = (settings.scale,) if settings.scale is not None else SCALES
    scales = ScaleSet(open_upscaler, scales=fixed)
    video = None
    if any(j.kind == "video" for j in jobs):
        # Videos take the set too: --outscale/--fit open the smallest scale reaching the size.
        if len(jobs) == 1:
            from .video import run_single_video

            check_plan(jobs, options)
            return run_single_video(scales, jobs[0], args=args)
        from .video import video_runner

        video = video_runner(scales, args)
    result = run_batch(
        scales,
        jobs,
        overwrite=args.overwrite,
        skip_existing=args.skip_existing,
        progress=not args.quiet,
        video=video,
        options=options,
    )
    return _report(jobs, result, args.quiet)


def _report(jobs: list[Any], result: Any, quiet: bool) -> int:
    if len(jobs) == 1 and result.done and not quiet:
        print(f"wrote {jobs[0].output}")
    else:
        print(result.summary(), file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


def add_upscale_parser(subparsers: Any) -> None:
    """Register the ``upscale`` sub-command on the main CLI's ``subparsers``."""
    from ..upscale.batch import OUTPUT_FORMATS
    from .video import add_video_options

    p = subparsers.add_parser(
        "upscale",
        help="upscale images, videos or folders (tiled, int8 or fp32)",
        description=(
            "Upscale PNG/JPEG/WebP/BMP/TIFF/AVIF images, animated GIF/WebP/PNG and videos. Gray "
            "stays gray, alpha is upscaled separately (bicubic), 16-bit stays 16-bit; the ICC "
            "profile, EXIF and XMP are kept. Outputs are named {stem}_x{S}.{ext}: "
            "beside an input file, or in <folder>_x{S}/ for an input folder, or in --output. "
            "Exit code 1 if any file of several failed; a single bad video exits 2."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="images, videos and/or folders")
    p.add_argument(
        "--scale",
        type=scale_arg,
        help="2, 3 or 4 (required without --model; with it, read from the model and checked)",
    )
    p.add_argument(
        "--precision",
        choices=["int8", "fp32", "bf16"],
        help="model precision (default int8, or the --model file's own; bf16: OpenVINO bf16 "
        "on the fp32 model)",
    )
    add_runtime_option(p)
    p.add_argument(
        "--model",
        help="explicit .onnx model (default: the shipped int8 model, or the fp32 export "
        "models/lesrcnn_x{S}.onnx)",
    )
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
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--outscale",
        type=float,
        metavar="F",
        help="final size = input x F (e.g. 1.5, 3.5): the network runs at the smallest scale "
        ">= F (or --scale), then an area (shrink) / Lanczos (enlarge) resize; names get _xF",
    )
    size.add_argument(
        "--fit",
        metavar="WxH",
        help="final size = the largest with the input's aspect ratio inside WxH (e.g. 3840x2160); "
        "each image runs at the smallest scale reaching it (or --scale), then a resize",
    )
    p.add_argument(
        "--strip-metadata",
        action="store_true",
        help="drop EXIF (GPS included) and XMP; the ICC colour profile is always kept "
        "(default: keep them, EXIF orientation reset to 1)",
    )
    p.add_argument(
        "--quality",
        type=int,
        metavar="N",
        help="1-100 for JPEG (default 95), WebP (lossy; default lossless), AVIF and JPEG XL "
        "(default 90); refused for other formats",
    )
    p.add_argument("--lossless", action="store_true", help="lossless WebP (already WebP's default)")
    add_tile_options(p)
    p.add_argument(
        "--tile-overlap",
        type=int_at_least(0),
        help="context pixels around each tile (default: the receptive field, exact)",
    )
    add_threads_option(
        p, "intra-op threads (with --ray: per actor, default: sized to fit the largest node)"
    )
    p.set_defaults(threads=None)  # None = not given: DEFAULT_THREADS locally, fitted on Ray
    g = p.add_mutually_exclusive_group()
    g.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    g.add_argument(
        "--skip-existing", action="store_true", help="skip images whose output exists (resume)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_video_options(p)
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run on Ray Data: a local Ray, or the cluster at ADDRESS (needs the 'ray' extra)",
    )
    p.add_argument(
        "--actors",
        type=int_at_least(1),
        help="with --ray: actor pool size (default: as many as fit on the nodes)",
    )
    p.set_defaults(func=_cmd_upscale)
