"""Animated GIF, WebP and PNG (APNG): read every frame, write the same kind back.

Frames come out of :func:`load_animation` as full canvases (Pillow applies each frame's disposal
and blending), **RGBA** uint8 when any frame has transparency, else **RGB**; with each frame's
duration (ms), the loop count (``0`` = forever, ``None`` = the file has none: play once) and the
ICC profile. :func:`save_animation` writes frames as an animation of the format of its extension:
``.gif`` (256 colours per frame, one transparent index when there is alpha), ``.webp`` (lossless by
default, or ``quality``) or ``.png`` (APNG, lossless). Durations, loop count and transparency are
kept; GIF stores durations in 10 ms steps.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageSequence

from ..core.errors import ImageError, ImageTooLargeError, UnsupportedFormatError
from ..core.fileio import atomic_write_bytes
from .image_encode import check_encode_options, one_line
from .image_meta import ImageMeta

__all__ = [
    "ANIMATION_FORMATS",
    "Animation",
    "is_animated",
    "load_animation",
    "probe_animation",
    "save_animation",
]

ANIMATION_FORMATS: dict[str, str] = {".gif": "GIF", ".webp": "WEBP", ".png": "PNG"}
"""Extensions that hold an animation, and Pillow's name for each."""

MAX_FRAMES = 10_000
"""Animations with more frames are refused."""


@dataclass(frozen=True, eq=False)
class Animation:
    """An animation's frames and timing.

    Attributes:
        frames: Full-canvas frames, each ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA uint8.
        durations: Each frame's display time in milliseconds.
        loop: Loop count (0 = forever), or None when the file has none (played once).
        format: ``"GIF"``, ``"WEBP"`` or ``"PNG"``.
        meta: The ICC profile (animations carry no EXIF/XMP here).
    """

    frames: list[npt.NDArray[np.uint8]]
    durations: list[int]
    loop: int | None
    format: str
    meta: ImageMeta = field(default_factory=ImageMeta)


def _open(source: Path | bytes, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(source, Path):
                return Image.open(source)
            return Image.open(io.BytesIO(source))
    except FileNotFoundError:
        msg = f"{name}: no such file"
        raise ImageError(msg) from None
    except Exception as err:
        msg = f"{name}: not a readable image ({one_line(err)})"
        raise ImageError(msg) from None


def is_animated(path: str | os.PathLike[str]) -> bool:
    """True for a GIF (even with one frame) and a WebP or PNG with more than one frame.

    Reads the header only; unreadable files give False (the still-image reader reports them).
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in ANIMATION_FORMATS:
        return False
    try:
        with _open(p, str(p)) as im:
            if im.format != ANIMATION_FORMATS[ext]:
                return False
            return ext == ".gif" or bool(getattr(im, "is_animated", False))
    except Exception:  # damage: the reader that runs next reports it in one line
        return False


def probe_animation(source: str | os.PathLike[str]) -> tuple[int, tuple[int, int]]:
    """``(frames, (width, height))`` from the header of a GIF/WebP/PNG, without decoding frames.

    Raises:
        ImageError: unreadable.
    """
    p = Path(source)
    with _open(p, str(p)) as im:
        return _count_frames(im, str(p)), (int(im.size[0]), int(im.size[1]))


def _count_frames(im: Image.Image, label: str) -> int:
    try:
        return int(getattr(im, "n_frames", 1))  # seeks through the file: may meet damage
    except Exception as err:
        msg = f"{label}: truncated or corrupt {im.format} animation ({one_line(err)})"
        raise ImageError(msg) from None


def load_animation(
    source: str | os.PathLike[str] | bytes, *, name: str | None = None, max_pixels: int
) -> Animation:
    """Read every frame of an animated GIF, WebP or PNG.

    Args:
        source: A file path, or the encoded bytes.
        name: What errors call it (default: the path, or ``"<bytes>"``).
        max_pixels: Largest accepted ``width * height`` of the canvas.

    Returns:
        The :class:`Animation`.

    Raises:
        ImageTooLargeError: The canvas is larger than ``max_pixels``.
        UnsupportedFormatError: Not GIF, WebP or PNG.
        ImageError: Unreadable, truncated, or more than :data:`MAX_FRAMES` frames.
    """
    src: Path | bytes = source if isinstance(source, bytes) else Path(source)
    label = name or (str(src) if isinstance(src, Path) else "<bytes>")
    with _open(src, label) as im:
        if im.format not in ANIMATION_FORMATS.values():
            msg = f"{label}: {im.format} is not an animation format (GIF, WebP, PNG)"
            raise UnsupportedFormatError(msg)
        w, h = im.size
        if w * h > max_pixels:
            msg = f"{label}: image too large ({w}x{h} = {w * h} pixels > max_pixels={max_pixels})"
            raise ImageTooLargeError(msg)
        n = _count_frames(im, label)
        if n > MAX_FRAMES:
            msg = f"{label}: {n} frames (at most {MAX_FRAMES})"
            raise ImageError(msg)
        fmt = str(im.format)
        loop = im.info.get("loop")
        icc = im.info.get("icc_profile")
        frames: list[np.ndarray] = []
        durations: list[int] = []
        try:
            for frame in ImageSequence.Iterator(im):
                frames.append(np.asarray(frame.convert("RGBA")))  # WebP sets duration on load
                durations.append(round(float(frame.info.get("duration", 100) or 0)))
        except Exception as err:
            msg = f"{label}: truncated or corrupt {fmt} animation ({one_line(err)})"
            raise ImageError(msg) from None
    if all(bool((f[:, :, 3] == 255).all()) for f in frames):
        frames = [np.ascontiguousarray(f[:, :, :3]) for f in frames]
    return Animation(
        frames=frames,
        durations=durations,
        loop=int(loop) if isinstance(loop, int) else None,
        format=fmt,
        meta=ImageMeta(icc_profile=icc if isinstance(icc, bytes) and icc else None),
    )


def save_animation(
    path: str | os.PathLike[str],
    animation: Animation,
    *,
    quality: int | None = None,
    lossless: bool | None = None,
) -> Path:
    """Write ``animation`` atomically as a GIF, WebP or APNG, by the extension of ``path``.

    Args:
        path: ``.gif``, ``.webp`` or ``.png`` file.
        animation: Frames (all the same size), durations, loop count and ICC profile.
        quality: WebP only: lossy at this quality (default lossless).
        lossless: WebP only.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        UnsupportedFormatError: An extension that holds no animation.
        ConfigError: ``quality``/``lossless`` where they have no effect.
        ImageError: No frames, frames of different sizes, encoding or writing failed.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in ANIMATION_FORMATS:
        msg = f"{p}: {ext or 'this format'} cannot hold an animation (use .gif, .webp or .png)"
        raise UnsupportedFormatError(msg)
    if ext != ".webp" or lossless:
        check_encode_options(ext, quality=quality, lossless=lossless)
    frames = animation.frames
    if not frames or len({f.shape for f in frames}) != 1 or len(animation.durations) != len(frames):
        msg = f"{p}: an animation needs frames of one size and one duration per frame"
        raise ImageError(msg)
    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    kwargs: dict[str, Any] = {"save_all": True, "append_images": images[1:]}
    kwargs["duration"] = list(animation.durations)
    if animation.loop is not None:
        kwargs["loop"] = animation.loop
    if animation.meta.icc_profile and ext != ".gif":
        kwargs["icc_profile"] = animation.meta.icc_profile
    if ext == ".gif":
        kwargs["disposal"] = 2 if frames[0].shape[2] == 4 else 1
        kwargs["optimize"] = False
    elif ext == ".webp":
        lossy = quality is not None and not lossless
        kwargs.update({"quality": quality} if lossy else {"lossless": True, "exact": True})
    buf = io.BytesIO()
    try:
        images[0].save(buf, format=ANIMATION_FORMATS[ext], **kwargs)
        atomic_write_bytes(p, buf.getvalue())
    except OSError as err:
        msg = f"{p}: cannot write animation ({err.strerror or one_line(err)})"
        raise ImageError(msg) from None
    except Exception as err:
        msg = f"{p}: cannot encode animation ({one_line(err)})"
        raise ImageError(msg) from None
    return p
