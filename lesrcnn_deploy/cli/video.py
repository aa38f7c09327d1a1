"""The video options of ``lesrcnn-deploy upscale`` and the glue that runs video jobs.

Imports nothing heavy: PyAV is loaded only when a video job runs.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import Any

from ..core.errors import ConfigError
from ..core.vocab import DEFAULT_SEGMENT_SECONDS

__all__ = [
    "add_video_options",
    "bitrate_arg",
    "run_single_video",
    "run_videos_ray",
    "video_runner",
]

_BITRATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*$")


def bitrate_arg(text: str) -> int:
    """``"4M"``, ``"800k"``, ``"2500000"`` -> bits per second (argparse type)."""
    m = _BITRATE.match(text)
    if not m:
        msg = f"bitrate must look like 2500000, 800k or 4M, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()]
    if value < 1:
        msg = f"bitrate must be >= 1 bit/s, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(value)


def _crf_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"crf must be a number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not 0 <= value <= 63:
        msg = f"crf must be in [0, 63], got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _seconds_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"segment length must be a number of seconds, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not 0 <= value < float("inf"):
        msg = f"segment length must be >= 0 s (0: one pass), got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_video_options(p: argparse.ArgumentParser) -> None:
    """Add ``--codec``, ``--crf`` | ``--bitrate``, ``--pix-fmt``, ``--segment-seconds`` and
    ``--restart`` to ``p``."""
    g = p.add_argument_group(
        "video",
        "videos (recognised by their container) keep frames, timestamps, rotation, audio and "
        "subtitles; output {stem}_x{S}.{mp4|mkv|mov|webm} (needs the 'video' extra: PyAV)",
    )
    g.add_argument(
        "--codec",
        help="video encoder (default libx264 where available, libvpx-vp9 for .webm; "
        "e.g. libx265, ffv1 for lossless .mkv)",
    )
    q = g.add_mutually_exclusive_group()
    q.add_argument(
        "--crf", type=_crf_arg, help="constant quality (default 18 for libx264; lower = better)"
    )
    q.add_argument("--bitrate", type=bitrate_arg, help="target bitrate, e.g. 4M or 800k")
    g.add_argument("--pix-fmt", help="encoder pixel format (default: the input's, e.g. yuv420p)")
    g.add_argument(
        "--segment-seconds",
        type=_seconds_arg,
        default=DEFAULT_SEGMENT_SECONDS,
        metavar="S",
        help=f"cut videos at keyframes into segments of about S seconds (default "
        f"{DEFAULT_SEGMENT_SECONDS:g}), joined by stream copy; finished segments are kept in "
        "a work folder beside the output (.NAME.parts), so re-running the same command after "
        "a crash continues; with --ray, segments run in parallel; 0: one pass",
    )
    g.add_argument(
        "--restart",
        action="store_true",
        help="discard the work folder of an interrupted video run and start again",
    )


def _kwargs(args: argparse.Namespace) -> dict[str, Any]:
    from ..data import DEFAULT_MAX_PIXELS
    from ..data.outsize import DEFAULT_MAX_OUTPUT_PIXELS

    return {
        "max_pixels": DEFAULT_MAX_PIXELS,
        "max_output_pixels": getattr(args, "max_output_pixels", DEFAULT_MAX_OUTPUT_PIXELS),
        "codec": getattr(args, "codec", None),
        "crf": getattr(args, "crf", None),
        "bitrate": getattr(args, "bitrate", None),
        "pix_fmt": getattr(args, "pix_fmt", None),
        "outscale": getattr(args, "outscale", None),
        "fit": getattr(args, "fit", None),
        "segment_seconds": getattr(args, "segment_seconds", None) or None,
        "restart": getattr(args, "restart", False),
    }


def video_runner(upscaler: Any, args: argparse.Namespace) -> Callable[[Any], object]:
    """A ``video`` callable for :func:`~lesrcnn_deploy.upscale.batch.run_batch`.

    ``upscaler`` is one upscaler or a set of them (``scales``, ``get(scale)``); ``--outscale`` and
    ``--fit`` then pick the smallest scale that reaches the size.

    The batch has already decided whether an existing output may be replaced.
    """
    from ..video.api import upscale_video

    def run(job: Any) -> object:
        return upscale_video(
            job.source,
            job.output,
            upscaler=upscaler,
            overwrite=True,
            progress=not args.quiet,
            **_kwargs(args),
        )

    return run


def run_single_video(upscaler: Any, job: Any, *, args: argparse.Namespace) -> int:
    """Run one video job (the whole command). A bad input (not a video, damaged, too large) is
    one line and exit 1, as a bad image is; option errors propagate (exit 2)."""
    import sys

    from ..core.errors import ImageError, VideoError, one_line
    from ..upscale.batch import check_job
    from ..video.api import upscale_video

    refused = check_job(job, {job.source.resolve(): job}, overwrite=args.overwrite)
    if refused is not None and refused.status == "skipped":
        print(f"skipped {job.source}: {refused.reason}")
        return 0
    if refused is not None:
        print(f"lesrcnn-deploy: error: {job.source}: {refused.reason}", file=sys.stderr)
        return 1
    try:
        result = upscale_video(
            job.source,
            job.output,
            upscaler=upscaler,
            overwrite=args.overwrite,
            progress=not args.quiet,
            **_kwargs(args),
        )
    except (VideoError, ImageError) as exc:
        text = one_line(exc)
        where = "" if text.startswith(f"{job.source}:") else f"{job.source}: "
        print(f"lesrcnn-deploy: error: {where}{text}", file=sys.stderr)
        return 1
    _print_result(result, args.quiet)
    return 0


def _print_result(result: Any, quiet: bool) -> None:
    if not quiet:
        print(result.summary())
    for dropped in result.dropped_streams:
        print(f"note: input stream {dropped} not carried over")
    for note in result.notes:
        print(f"note: {note}")


def run_videos_ray(jobs: list[Any], *, args: argparse.Namespace, settings: Any) -> int:
    """Run video jobs one after the other, each one's segments in parallel on Ray (``--ray``),
    with the inference ``settings`` (:class:`~lesrcnn_deploy.models.InferenceSettings`)."""
    from ..cluster.video import upscale_video_ray
    from ..upscale.batch import check_job
    from ..video.encoder import EncoderSettings

    kw = _kwargs(args)
    encoder = EncoderSettings(
        codec=kw["codec"], crf=kw["crf"], bitrate=kw["bitrate"], pix_fmt=kw["pix_fmt"]
    )
    sources = {job.source.resolve(): job for job in jobs}
    for job in jobs:
        refused = check_job(job, sources, overwrite=args.overwrite)
        if refused is not None and refused.status == "skipped":
            print(f"skipped {job.source}: {refused.reason}")
            continue
        if refused is not None:
            msg = f"{job.source}: {refused.reason}"
            raise ConfigError(msg)
        result, where = upscale_video_ray(
            job.source,
            job.output,
            model=settings,
            settings=encoder,
            segment_seconds=kw["segment_seconds"] or float("inf"),
            restart=kw["restart"],
            address=args.ray or None,
            actors=args.actors,
            progress=not args.quiet,
        )
        print(where, file=sys.stderr)
        _print_result(result, args.quiet)
    return 0
