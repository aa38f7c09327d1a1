"""``lesrcnn-deploy upscale``: thin wrapper over :mod:`.batch` and :class:`.api.Upscaler`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..core.errors import ConfigError
from .options import (
    add_runtime_option,
    add_threads_option,
    add_tile_options,
    int_at_least,
    report_stream,
    scale_arg,
)

__all__ = ["add_upscale_parser"]


def _cmd_upscale(args: argparse.Namespace) -> int:
    from ..core.vocab import DEFAULT_SCALE, DEFAULT_THREADS, SCALES
    from ..models import InferenceSettings
    from ..upscale.api import Upscaler
    from ..upscale.batch import run_batch
    from ..upscale.output import OutputOptions, ScaleSet
    from ..upscale.plan import check_plan, plan_jobs

    inputs = [*args.inputs, *args.more_inputs]
    if not inputs:
        msg = "no input: give images, videos or folders (INPUT... or -i INPUT)"
        raise ConfigError(msg)
    if args.actors is not None and args.ray is None:
        msg = "--actors only applies with --ray"
        raise ConfigError(msg)
    options = OutputOptions(
        outscale=args.outscale,
        fit=args.fit,
        strip_metadata=args.strip_metadata,
        quality=args.quality,
        lossless=args.lossless or None,
        max_output_pixels=args.max_output_pixels,
    )
    if args.scale is None and args.model is None and options.outscale is not None:
        args.scale = options.plan((1, 1), SCALES).scale  # the smallest scale >= outscale
    elif args.scale is None and args.model is None and options.fit is None:
        args.scale = DEFAULT_SCALE
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
        inputs,
        scale=settings.scale,
        output=args.output,
        fmt=args.format,
        recursive=args.recursive,
        tag=options.suffix(settings.scale or 0) if options.resizes else None,
        suffix=args.suffix,
        options=options,
    )
    _print_notes(jobs)
    json_out = _JsonLines(args.json)
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
            address=args.ray or None,
            actors=args.actors,
            progress=not args.quiet,
            options=options,
        )
        for outcome in ray_result.outcomes:
            json_out.add(outcome)
        json_out.close()
        print(ray_result.runtime_line(), file=sys.stderr)
        return _report(jobs, ray_result, args)
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
        if len(jobs) == 1 and args.json is None:
            from .video import run_single_video

            check_plan(jobs, options)
            return run_single_video(scales, jobs[0], args=args)
        from .video import video_runner

        video = video_runner(scales, args)
    try:
        result = run_batch(
            scales,
            jobs,
            overwrite=args.overwrite,
            progress=not args.quiet,
            video=video,
            options=options,
            report=json_out.add,
        )
    finally:
        json_out.close()
    return _report(jobs, result, args)


_MAX_NOTES = 10
"""Format notes printed before a run (the rest are counted; ``--json`` has every one)."""


def _print_notes(jobs: list[Any]) -> None:
    notes = [j.note for j in jobs if j.note]
    for note in notes[:_MAX_NOTES]:
        print(f"lesrcnn-deploy: note: {note}", file=sys.stderr)
    if len(notes) > _MAX_NOTES:
        more = len(notes) - _MAX_NOTES
        print(f"lesrcnn-deploy: note: ... and {more} more written as PNG", file=sys.stderr)


class _JsonLines:
    """``--json PATH|-``: one JSON object per input; ``-`` streams them to stdout as they come,
    a PATH is written atomically when the run ends (also after Ctrl-C, with the inputs done)."""

    def __init__(self, target: str | None) -> None:
        self.target = target
        self.lines: list[str] = []

    def add(self, outcome: Any) -> None:
        if self.target is None:
            return
        line = json.dumps(outcome.to_dict())
        if self.target == "-":
            print(line, flush=True)
        else:
            self.lines.append(line)

    def close(self) -> None:
        if self.target is None or self.target == "-":
            return
        from ..core.fileio import atomic_write_bytes

        atomic_write_bytes(self.target, "".join(f"{x}\n" for x in self.lines).encode())
        self.target = None


def _report(jobs: list[Any], result: Any, args: argparse.Namespace) -> int:
    """Exit 1 when an input failed (the others are written), as cp or ffmpeg do; 2 is for
    errors that stop the whole run (options, models), see ``docs/robustness.md``. With
    ``--json -`` stdout holds the JSON only, so the summary goes to stderr."""
    human = report_stream(args)
    if len(jobs) == 1 and result.failed:
        failed = result.failed[0]
        print(f"lesrcnn-deploy: error: {failed.job.source}: {failed.reason}", file=sys.stderr)
    elif len(jobs) == 1 and result.skipped:
        print(f"skipped {jobs[0].source}: {result.skipped[0].reason}", file=human)
    elif len(jobs) == 1 and result.done and not args.quiet:
        print(f"wrote {jobs[0].output}", file=human)
    elif len(jobs) > 1:
        print(result.summary(), file=human if result.ok else sys.stderr)
    return 0 if result.ok else 1


def add_upscale_parser(subparsers: Any) -> None:
    """Register the ``upscale`` sub-command on the main CLI's ``subparsers``."""
    from ..core.vocab import DEFAULT_SCALE
    from ..data.outsize import DEFAULT_MAX_OUTPUT_PIXELS
    from ..upscale.plan import OUTPUT_FORMATS
    from .video import add_video_options

    p = subparsers.add_parser(
        "upscale",
        help="upscale images, videos or folders (tiled, int8 or fp32)",
        description=(
            "Upscale PNG/JPEG/WebP/BMP/TIFF/AVIF images, animated GIF/WebP/PNG and videos. Gray "
            "stays gray, alpha is upscaled separately (bicubic), 16-bit stays 16-bit; the ICC "
            "profile, EXIF and XMP are kept. Outputs are named {stem}_x{S}.{ext} in the input's "
            "format: beside an input file, or in <folder>_x{S}/ for an input folder, or in "
            "--output. An output that exists is skipped (--overwrite redoes it), so running a "
            "command again finishes it. Exit code 1 when an input could not be upscaled (the "
            "others are written), 2 when the run cannot start (options, model), 130 on Ctrl-C."
        ),
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="images, videos and/or folders (also -i/--input)",
    )
    p.add_argument(
        "-i",
        "--input",
        action="append",
        dest="more_inputs",
        default=[],
        metavar="INPUT",
        help="an image, video or folder, as Real-ESRGAN's -i (repeatable; adds to INPUT...)",
    )
    p.add_argument(
        "-o",
        "--output",
        help="output folder, or output file for one image (its extension picks the format); "
        "default: beside each input file, <folder>_x{S}/ for a folder",
    )
    p.add_argument(
        "-s",
        "--scale",
        type=scale_arg,
        help=f"2, 3 or 4 (default {DEFAULT_SCALE}; with --model: the model's own, checked)",
    )
    p.add_argument(
        "-m",
        "--model",
        help="explicit .onnx model (default: the shipped int8 model, or the fp32 export "
        "models/lesrcnn_x{S}.onnx)",
    )
    p.add_argument(
        "-f",
        "--format",
        choices=["auto", *OUTPUT_FORMATS],
        default="auto",
        help="output format (default auto: the input's own, JPEG at --quality, 16-bit and alpha "
        "kept; PNG with a note where the input's format cannot hold the result)",
    )
    p.add_argument(
        "--suffix",
        metavar="TEXT",
        help="file name tag: {stem}_{TEXT}.{ext} (default x{S}, x{F} with --outscale, "
        "fit{W}x{H} with --fit; '' keeps the input's name, with -o)",
    )
    p.add_argument(
        "--precision",
        choices=["int8", "fp32", "bf16"],
        help="model precision (default int8, or the --model file's own; bf16: OpenVINO bf16 "
        "on the fp32 model)",
    )
    add_runtime_option(p)
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
    p.add_argument(
        "--max-output-pixels",
        type=int_at_least(1),
        default=DEFAULT_MAX_OUTPUT_PIXELS,
        metavar="N",
        help="largest output width*height (network output and final size; video frames too), "
        "checked before any work: a larger one fails that input "
        f"(default {DEFAULT_MAX_OUTPUT_PIXELS}, 8K UHD)",
    )
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
    g.add_argument(
        "--overwrite", action="store_true", help="redo outputs that exist (default: skip them)"
    )
    g.add_argument(
        "--skip-existing",
        action="store_true",
        help="skip inputs whose output exists: the default, kept for scripts that pass it",
    )
    p.add_argument(
        "--json",
        metavar="PATH",
        help="write one JSON object per input (input, output, status, reason, runtime, "
        "milliseconds, sizes) as JSON Lines to PATH, or to stdout with '-'",
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
