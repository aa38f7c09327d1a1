"""Where each input's output goes: files and folders -> jobs with their output names and formats.

Output naming: ``{stem}_x{S}.{ext}``; with ``--outscale 1.5`` the tag is ``x1.5``, with ``--fit
3840x2160`` ``fit3840x2160`` (also in the default output folder's name); ``suffix`` replaces the
tag in file names (``""``: the input's own name, as Real-ESRGAN's ``--suffix``). ``ext`` follows
the input (``fmt="auto"``, the default, see :func:`auto_format`) or is ``fmt``.

* No ``output``: a file's result goes beside it; a folder ``photos/``'s results go to the sibling
  folder ``photos_x{S}/`` (sub-folders mirrored), so a rerun never picks up its own outputs.
* ``output`` with an image extension (and no such folder): the one output file; its extension
  chooses the format. Only allowed when the inputs are exactly one image.
* Otherwise ``output`` is a folder: files go into it, folder inputs are mirrored into it.

Videos (container recognised by FFmpeg; in folders: by extension, see
:data:`~lesrcnn_deploy.video.VIDEO_EXTENSIONS`) become ``kind="video"`` jobs named
``{stem}_x{S}{container ext}`` (``.mkv`` for containers we do not write). :func:`check_plan`
holds the rules every front door applies to a plan before any work.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..core.errors import ConfigError, LesrcnnError, one_line
from ..core.vocab import SCALES, check_scale
from ..data import SUPPORTED_EXTENSIONS, image_size, list_images
from ..data.animation import is_animated
from ..data.image_encode import WRITE_EXTENSIONS, check_writable
from .output import OutputOptions

__all__ = [
    "MAX_SIDE",
    "OUTPUT_FORMATS",
    "Job",
    "auto_format",
    "check_plan",
    "output_name",
    "plan_jobs",
]

OUTPUT_FORMATS: tuple[str, ...] = (
    "png",
    "jpg",
    "jpeg",
    "webp",
    "bmp",
    "tif",
    "tiff",
    "avif",
    "jxl",
    "gif",
)
"""Output formats (extensions without the dot); ``gif`` holds animations only."""

MAX_SIDE: dict[str, int] = {".jpg": 65_535, ".jpeg": 65_535, ".webp": 16_383}
"""The largest width or height each format holds (the others: none below our output limit)."""


@dataclass(frozen=True)
class Job:
    """One file to upscale: ``source`` -> ``output``; ``kind`` is ``"image"`` or ``"video"``."""

    source: Path
    output: Path
    kind: Literal["image", "video"] = "image"
    note: str = ""
    """Why the output's format is not the input's (``fmt="auto"``), else empty."""


def _check_format(fmt: str) -> str:
    ext = fmt.lower().lstrip(".")
    if ext not in OUTPUT_FORMATS:
        msg = f"unknown output format {fmt!r}: choose from {', '.join(OUTPUT_FORMATS)}"
        raise ConfigError(msg)
    return ext


def output_name(source: Path, scale: int, *, fmt: str = "png", tag: str | None = None) -> str:
    """``{stem}_x{scale}.{fmt}`` (or ``{stem}_{tag}.{fmt}``; ``tag=""``: ``{stem}.{fmt}``), e.g.
    ``cat.jpg`` -> ``cat_x4.png``."""
    tag = f"x{scale}" if tag is None else tag
    return f"{source.stem}{'_' if tag else ''}{tag}.{_check_format(fmt)}"


def auto_format(source: Path, *, size: tuple[int, int] | None = None) -> tuple[str, str]:
    """The output format of ``-f auto`` for ``source``: ``(extension without the dot, note)``.

    The input's own format wherever it can hold the result: JPEG stays JPEG (at ``--quality``,
    default 95), PNG stays PNG, 16-bit stays 16-bit (PNG, TIFF), alpha stays alpha, an animated
    GIF/WebP/PNG stays that animation, and WebP, BMP, TIFF, AVIF and JPEG XL stay themselves.
    Otherwise the output is PNG and ``note`` says why: a format we read but do not write, one
    this installation cannot write (AVIF without libavif, JPEG XL without its plugin), or an
    output ``size`` wider or taller than the format holds (:data:`MAX_SIDE`). ``note`` is empty
    when the format is kept.
    """
    ext = source.suffix.lower()
    kind = ext.lstrip(".").upper().replace("JPG", "JPEG") or "(no extension)"
    if is_animated(source):  # a GIF (one frame too), an animated WebP or PNG
        return ext.lstrip("."), ""
    if ext not in SUPPORTED_EXTENSIONS:  # not an image we read: the job fails with why
        return "png", ""
    if ext not in WRITE_EXTENSIONS:
        return "png", f"{source}: {kind} is read but not written here, so the output is PNG"
    try:
        check_writable(ext, name=str(source))
    except LesrcnnError as exc:
        return "png", f"{one_line(exc)}; the output is PNG"
    side = MAX_SIDE.get(ext)
    if side is not None and size is not None and max(size) > side:
        w, h = size
        why = f"{kind} holds at most {side} pixels a side, the output is {w}x{h}"
        return "png", f"{source}: {why}, so it is PNG"
    return ext.lstrip("."), ""


def plan_jobs(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    scale: int | None = None,
    output: str | os.PathLike[str] | None = None,
    fmt: str | None = "auto",
    recursive: bool = False,
    tag: str | None = None,
    suffix: str | None = None,
    options: OutputOptions | None = None,
) -> list[Job]:
    """Expand files and folders into jobs with their output paths (see the module docstring).

    Args:
        inputs: image files and/or folders.
        scale: 2, 3 or 4 (goes into the output names as ``x{scale}``); ``None`` with a ``tag``
            (each image at the smallest scale that reaches ``options.fit``).
        output: output folder, or output file for a single image; ``None`` for the defaults.
        fmt: output format for generated names; ``"auto"`` or ``None`` (the default): the
            input's own where it can hold the result, else PNG with a note (:func:`auto_format`).
            A given format is not allowed together with an output file name, whose extension
            decides.
        recursive: list sub-folders of folder inputs too.
        tag: the names' tag instead of ``x{scale}`` (e.g. ``x1.5``, see
            :meth:`~lesrcnn_deploy.upscale.output.OutputOptions.suffix`); it also names the
            default output folder of a folder input (``photos_x4/``).
        suffix: the file names' tag instead of ``tag`` (``"out"``: ``cat_out.jpg``; ``""``:
            ``cat.jpg``, which needs an output folder or ``overwrite``).
        options: the output size, for ``fmt="auto"``'s size check (default: the network scale).

    Returns:
        Jobs in input order (folder contents sorted).

    Raises:
        ConfigError: no inputs, a missing input, no images found, an output file name for several
            images, or two inputs mapping to the same output.
        DatasetError: a folder cannot be listed.
    """
    if tag is None:
        if scale is None:
            msg = "plan_jobs needs a scale or a tag"
            raise ConfigError(msg)
        tag = f"x{check_scale(scale)}"
    if fmt is not None and fmt.lower().lstrip(".") == "auto":
        fmt = None
    if suffix is not None and ("/" in suffix or "\\" in suffix or suffix in (".", "..")):
        msg = f"--suffix {suffix!r}: a name tag, not a path (use -o/--output for folders)"
        raise ConfigError(msg)
    if not inputs:
        msg = "no inputs given"
        raise ConfigError(msg)
    from ..video.probe import OUTPUT_CONTAINERS, list_videos, looks_like_video

    out = Path(output) if output is not None else None
    out_exts = (*SUPPORTED_EXTENSIONS, *(f".{e}" for e in OUTPUT_FORMATS), *OUTPUT_CONTAINERS)
    out_is_file = out is not None and out.suffix.lower() in out_exts and not out.is_dir()
    if out_is_file and fmt is not None:
        msg = f"{out}: give either an output file name or --format, not both"
        raise ConfigError(msg)
    if fmt is not None:
        _check_format(fmt)

    found: list[tuple[Path, Path, Path | None]] = []  # (source, folder input or file parent, rel)
    for item in inputs:
        p = Path(item)
        if p.is_dir() and not p.name:  # "." or "..": name the output folder after the real one
            p = p.resolve()
        if p.is_dir():
            gifs = [f for f in (p.rglob("*") if recursive else p.glob("*")) if _is_gif(f)]
            images = sorted(list_images(p, recursive=recursive) + list_videos(p, recursive) + gifs)
            if not images:
                exts = ", ".join(SUPPORTED_EXTENSIONS)
                msg = f"{p}: no images found (extensions {exts}), nor videos"
                raise ConfigError(msg)
            found += [(f, p, f.relative_to(p).parent) for f in images]
        elif p.exists():
            found.append((p, p.parent, None))
        else:
            msg = f"{p}: no such file or folder"
            raise ConfigError(msg)

    if out is not None and out_is_file:
        if len(found) != 1:
            msg = f"{out}: an output file name needs exactly one input image, got {len(found)}"
            raise ConfigError(msg)
        one: Literal["image", "video"] = "video" if looks_like_video(found[0][0]) else "image"
        if (one == "video") != (out.suffix.lower() in OUTPUT_CONTAINERS):
            msg = f"{out}: a {one} input needs an output of the same kind (extension)"
            raise ConfigError(msg)
        return [Job(found[0][0], out, one)]

    name_tag = tag if suffix is None else suffix
    jobs: list[Job] = []
    for source, base, rel in found:
        kind: Literal["image", "video"] = "video" if looks_like_video(source) else "image"
        note = ""
        if kind == "video":
            vext = source.suffix.lower() if source.suffix.lower() in OUTPUT_CONTAINERS else ".mkv"
            name = f"{source.stem}{'_' if name_tag else ''}{name_tag}{vext}"
        else:
            ext = fmt
            if ext is None:
                ext, note = auto_format(source, size=_output_size(source, scale, options))
            name = output_name(source, 0, fmt=ext, tag=name_tag)
        if out is None:
            folder = base.parent / f"{base.name}_{tag}" / rel if rel is not None else base
        else:
            folder = out / rel if rel is not None else out
        jobs.append(Job(source, folder / name, kind, note))
    seen: dict[Path, Path] = {}
    for job in jobs:
        key = job.output.resolve()
        if key in seen:
            msg = f"{job.output}: two inputs map to this output ({seen[key]} and {job.source})"
            raise ConfigError(msg)
        seen[key] = job.source
    return jobs


def _output_size(
    source: Path, scale: int | None, options: OutputOptions | None
) -> tuple[int, int] | None:
    """The planned output size of an image from its header; None when it cannot be planned
    (the job then fails with the reason when it runs)."""
    try:
        size = image_size(source)
        return (options or OutputOptions()).plan(size, (scale,) if scale else SCALES).size
    except LesrcnnError:
        return None


def check_plan(jobs: Sequence[Job], options: OutputOptions, *, ray: bool = False) -> None:
    """Refuse a run whose options would do nothing or cannot be honoured: the rules every
    front door applies before any work (the CLI, :func:`run_batch`,
    :meth:`~lesrcnn_deploy.upscale.api.Upscaler.upscale_file`,
    :func:`~lesrcnn_deploy.cluster.batch.run_batch_ray`).

    * ``quality``/``lossless``/``strip_metadata`` apply to images: refused when every job is a
      video (videos use ``crf``/``bitrate``);
    * an image's output format must be writable here; the encoding options given must apply to
      at least one output (with ``-f auto``, the outputs they do not apply to ignore them);
    * GIF output is for animated inputs (a still image is written as PNG);
    * on Ray: no output resizing or encoding options (local runs only).

    Raises:
        ConfigError: the one-line reason, naming the file where there is one.
    """
    if ray:
        local_only = (
            options.resizes or options.quality is not None or options.lossless
        ) or options.strip_metadata
        if local_only:
            msg = (
                "--outscale/--fit/--quality/--lossless/--strip-metadata apply to local runs, "
                "not --ray"
            )
            raise ConfigError(msg)
    encoding = options.quality is not None or options.lossless or options.strip_metadata
    if jobs and all(j.kind == "video" for j in jobs) and encoding:
        msg = "--quality/--lossless/--strip-metadata apply to images; videos use --crf/--bitrate"
        raise ConfigError(msg)
    images = [j for j in jobs if j.kind == "image"]
    if images and not any(options.takes_encoding(j.output.suffix) for j in images):
        options.check_format(images[0].output.suffix)  # names the option that has no effect
    for job in images:
        options.for_format(job.output.suffix).check_format(job.output.suffix)
        if job.output.suffix.lower() == ".gif" and not is_animated(job.source):
            msg = f"{job.source}: GIF output is for animated inputs (use png for a still)"
            raise ConfigError(msg)


def _is_gif(path: Path) -> bool:
    return path.suffix.lower() == ".gif" and path.is_file() and not path.name.startswith(".")
