"""Write images: PNG, JPEG, WebP, BMP, TIFF, AVIF and JPEG XL, with their metadata and quality.

Every array crossing this module's API is **RGB** (or RGBA, or single-channel gray), ``(H, W, C)``,
uint8 or uint16. PNG, JPEG, BMP and TIFF are encoded by OpenCV (PNG/JPEG metadata is spliced in,
see :mod:`~lesrcnn_deploy.data.image_meta`); WebP, AVIF, JPEG XL and a TIFF with metadata by
Pillow. 16-bit pixels need PNG or TIFF; alpha needs PNG, TIFF, WebP, BMP, AVIF or JPEG XL.

Quality: ``quality`` (1-100) applies to JPEG (default 95), WebP (makes it lossy), AVIF and
JPEG XL (default 90 for both); ``lossless`` to WebP only (the default: WebP is written
losslessly unless a quality is given). An option that would have no effect is refused
(:func:`check_encode_options`).
AVIF needs a Pillow built with libavif (Pillow >= 11.2 wheels); JPEG XL needs the
``pillow-jxl-plugin`` package (extra ``jxl``), which keeps EXIF and XMP but not the ICC profile:
without them, one line says so.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from ..core.errors import (
    ConfigError,
    ImageError,
    MissingExtraError,
    UnsupportedFormatError,
    one_line,
)
from ..core.fileio import atomic_write_bytes
from .image_meta import ImageMeta, add_to_jpeg, add_to_png, add_to_tiff, exif_for_output, tiff_tags

__all__ = [
    "DEFAULT_AVIF_QUALITY",
    "DEFAULT_JPEG_QUALITY",
    "WRITE_EXTENSIONS",
    "check_encode_options",
    "check_writable",
    "encode_image",
    "save_image",
]

WRITE_EXTENSIONS: tuple[str, ...] = (
    ".avif",
    ".bmp",
    ".jpeg",
    ".jpg",
    ".jxl",
    ".png",
    ".tif",
    ".tiff",
    ".webp",
)
"""File extensions (lower case) that :func:`save_image` writes (AVIF/JPEG XL when available)."""

DEFAULT_JPEG_QUALITY = 95
DEFAULT_AVIF_QUALITY = 90

_SIXTEEN_BIT = (".png", ".tif", ".tiff")
_ALPHA = (".png", ".tif", ".tiff", ".webp", ".bmp", ".avif", ".jxl")
_QUALITY = (".jpg", ".jpeg", ".webp", ".avif", ".jxl")
_CHANNELS = (1, 3, 4)
_PIL_NAMES = {".webp": "WEBP", ".avif": "AVIF", ".jxl": "JXL", ".tif": "TIFF", ".tiff": "TIFF"}


def _ext(fmt: str) -> str:
    return "." + fmt.lower().lstrip(".")


def check_encode_options(
    fmt: str, *, quality: int | None = None, lossless: bool | None = None
) -> None:
    """Refuse ``quality``/``lossless`` where they would have no effect.

    Args:
        fmt: Output format or extension (``jpg``, ``.webp``...).
        quality: 1-100, for JPEG, WebP (lossy), AVIF and JPEG XL only.
        lossless: For WebP only; not together with ``quality``.

    Raises:
        ConfigError: One line naming the option and the format.
    """
    ext = _ext(fmt)
    if quality is not None:
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            msg = f"quality must be an integer from 1 to 100, got {quality!r}"
            raise ConfigError(msg)
        if ext not in _QUALITY:
            msg = f"--quality has no effect on {ext[1:]} output (JPEG, WebP, AVIF, JPEG XL only)"
            raise ConfigError(msg)
    if lossless:
        if ext != ".webp":
            msg = f"--lossless has no effect on {ext[1:]} output (WebP only)"
            raise ConfigError(msg)
        if quality is not None:
            msg = "--quality and --lossless exclude each other (lossless WebP has no quality)"
            raise ConfigError(msg)


def check_writable(fmt: str, *, name: str = "<image>") -> str:
    """Return the extension of ``fmt`` if this installation can write it.

    Raises:
        UnsupportedFormatError: Unknown format, or AVIF without libavif in Pillow.
        MissingExtraError: JPEG XL without the ``pillow-jxl-plugin`` package.
    """
    ext = _ext(fmt)
    if ext not in WRITE_EXTENSIONS:
        known = ", ".join(e.lstrip(".") for e in WRITE_EXTENSIONS)
        msg = f"{name}: unsupported output format {fmt!r} (supported: {known})"
        raise UnsupportedFormatError(msg)
    if ext == ".avif":
        from PIL import features

        if not features.check("avif"):
            msg = f"{name}: cannot write AVIF: this Pillow has no libavif (Pillow>=11.2 has it)"
            raise UnsupportedFormatError(msg)
    if ext == ".jxl":
        try:
            import pillow_jxl  # noqa: F401  (registers the JXL plugin)
        except ImportError:
            msg = (
                f"{name}: cannot write JPEG XL: pillow-jxl-plugin is not installed: "
                "pip install 'lesrcnn-deploy[jxl]'"
            )
            raise MissingExtraError(msg) from None
    return ext


def _check_pixels(name: str, ext: str, pixels: object) -> np.ndarray:
    if not isinstance(pixels, np.ndarray):
        msg = f"{name}: pixels must be a numpy array, got {type(pixels).__name__}"
        raise ImageError(msg)
    if pixels.dtype not in (np.uint8, np.uint16):
        msg = f"{name}: cannot save {pixels.dtype} pixels (uint8 or uint16 only)"
        raise ImageError(msg)
    px = pixels[:, :, None] if pixels.ndim == 2 else pixels
    if px.ndim != 3 or px.shape[2] not in _CHANNELS or px.shape[0] == 0 or px.shape[1] == 0:
        msg = f"{name}: cannot save shape {pixels.shape} (need non-empty (H, W[, 1|3|4]))"
        raise ImageError(msg)
    if px.dtype == np.uint16 and ext not in _SIXTEEN_BIT:
        msg = f"{name}: {ext} cannot store 16-bit pixels (use .png or .tif, or convert to uint8)"
        raise UnsupportedFormatError(msg)
    if px.shape[2] == 4 and ext not in _ALPHA:
        msg = f"{name}: {ext} cannot store an alpha channel (use .png, or drop alpha)"
        raise UnsupportedFormatError(msg)
    return px


def _to_bgr(px: np.ndarray) -> np.ndarray:
    if px.shape[2] == 1:
        return np.ascontiguousarray(px[:, :, 0])
    if px.shape[2] == 3:
        return np.ascontiguousarray(px[:, :, ::-1])
    return np.ascontiguousarray(px[:, :, [2, 1, 0, 3]])


def _encode_cv2(name: str, ext: str, px: np.ndarray, quality: int | None) -> bytes:
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, quality or DEFAULT_JPEG_QUALITY]
    try:
        ok, buf = cv2.imencode(ext, _to_bgr(px), params)
    except cv2.error as err:
        msg = f"{name}: cannot encode {ext} ({one_line(err)})"
        raise ImageError(msg) from None
    if not ok:
        msg = f"{name}: cannot encode {ext} (OpenCV refused {px.shape} {px.dtype})"
        raise ImageError(msg)
    return bytes(buf.tobytes())


def _encode_pil(
    name: str, ext: str, px: np.ndarray, meta: ImageMeta, quality: int | None, lossless: bool
) -> bytes:
    im = Image.fromarray(np.ascontiguousarray(px[:, :, 0] if px.shape[2] == 1 else px))
    size = (px.shape[1], px.shape[0])
    kwargs: dict[str, Any] = {}
    if meta.icc_profile:
        kwargs["icc_profile"] = meta.icc_profile
    if ext in (".tif", ".tiff"):
        kwargs["tiffinfo"] = tiff_tags(meta, size)
    else:
        if meta.exif:
            kwargs["exif"] = exif_for_output(meta.exif, size)
        if meta.xmp:
            kwargs["xmp"] = meta.xmp
    if ext == ".webp":
        lossy = quality is not None and not lossless
        kwargs.update({"quality": quality} if lossy else {"lossless": True, "exact": True})
    elif ext in (".avif", ".jxl"):
        kwargs["quality"] = quality or DEFAULT_AVIF_QUALITY
    buf = io.BytesIO()
    try:
        im.save(buf, format=_PIL_NAMES[ext], **kwargs)
    except Exception as err:  # Pillow raises OSError, ValueError, KeyError... on encoder trouble
        msg = f"{name}: cannot encode {ext} ({one_line(err)})"
        raise ImageError(msg) from None
    return buf.getvalue()


def encode_image(
    pixels: npt.NDArray[np.unsignedinteger[Any]],
    fmt: str,
    *,
    name: str = "<image>",
    meta: ImageMeta | None = None,
    quality: int | None = None,
    lossless: bool | None = None,
) -> bytes:
    """Encode in memory exactly as :func:`save_image` writes a file of that extension.

    Args:
        pixels: As for :func:`save_image` (gray, **RGB** or **RGBA**, uint8 or uint16).
        fmt: ``png``, ``jpg``, ``jpeg``, ``webp``, ``bmp``, ``tif``, ``tiff``, ``avif`` or
            ``jxl`` (dot optional).
        name: What error messages call the image.
        meta: ICC/EXIF/XMP to write where the format holds them (see the module docstring).
        quality: JPEG/WebP/AVIF/JPEG XL quality 1-100 (see :func:`check_encode_options`).
        lossless: WebP only: lossless (the default for WebP without ``quality``).

    Returns:
        The encoded bytes (same bytes as the file :func:`save_image` would write).

    Raises:
        UnsupportedFormatError: Unknown or unavailable format, or one that cannot store this
            content (16 bit in JPEG/WebP/AVIF, alpha in JPEG).
        ConfigError: ``quality``/``lossless`` where they have no effect.
        ImageError: Bad dtype or shape, encoder failure.
    """
    ext = check_writable(fmt, name=name)
    check_encode_options(ext, quality=quality, lossless=lossless)
    px = _check_pixels(name, ext, pixels)
    info = meta or ImageMeta()
    size = (px.shape[1], px.shape[0])
    if ext == ".png":
        return add_to_png(_encode_cv2(name, ext, px, None), info, size=size)
    if ext in (".jpg", ".jpeg"):
        return add_to_jpeg(_encode_cv2(name, ext, px, quality), info, size=size)
    if ext == ".bmp" or (ext in (".tif", ".tiff") and info.empty):
        return _encode_cv2(name, ext, px, None)
    if ext in (".tif", ".tiff") and _tiff_cv2_only(px):
        return add_to_tiff(_encode_cv2(name, ext, px, None), info)
    return _encode_pil(name, ext, px, info, quality, bool(lossless))


def _tiff_cv2_only(px: np.ndarray) -> bool:
    """Pillow cannot build 16-bit RGB(A) images: OpenCV writes them, with ICC and XMP only."""
    return bool(px.dtype == np.uint16 and px.shape[2] != 1)


def save_image(
    path: str | os.PathLike[str],
    pixels: npt.NDArray[np.unsignedinteger[Any]],
    *,
    overwrite: bool = True,
    meta: ImageMeta | None = None,
    quality: int | None = None,
    lossless: bool | None = None,
) -> Path:
    """Write an image atomically; the format comes from the extension.

    The file is encoded in memory, written to a temporary file in the same folder, flushed and
    fsync'ed, then renamed over ``path`` with :func:`os.replace`: a reader sees either the old file
    or the complete new one, and on any error the temporary file is removed and ``path`` is left as
    it was. Missing parent folders are created. JPEG is written at quality 95, WebP losslessly,
    AVIF at quality 90, unless ``quality``/``lossless`` say otherwise.

    Args:
        path: Target file; extension .png, .jpg, .jpeg, .webp, .bmp, .tif, .tiff, .avif or .jxl.
        pixels: ``(H, W)``, ``(H, W, 1)`` gray, ``(H, W, 3)`` **RGB** or ``(H, W, 4)`` **RGBA**,
            uint8 (any format) or uint16 (PNG and TIFF only).
        overwrite: If False and ``path`` exists, refuse instead of replacing it.
        meta: ICC profile, EXIF and XMP to write where the format holds them.
        quality: JPEG/WebP/AVIF quality 1-100.
        lossless: WebP only.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ImageError: One line naming the file: unsupported extension, dtype, shape or
            format/content combination, file exists (``overwrite=False``), encoding or writing
            failed (e.g. disk full).
        ConfigError: ``quality``/``lossless`` where they have no effect.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in WRITE_EXTENSIONS:
        shown = ext or "(none)"
        msg = f"{p}: unsupported file extension {shown} (supported: {', '.join(WRITE_EXTENSIONS)})"
        raise UnsupportedFormatError(msg)
    data = encode_image(pixels, ext, name=str(p), meta=meta, quality=quality, lossless=lossless)
    if not overwrite and p.exists():
        msg = f"{p}: file exists (pass overwrite=True to replace it)"
        raise ImageError(msg)
    try:
        atomic_write_bytes(p, data)
    except OSError as err:
        msg = f"{p}: cannot write image ({err.strerror or one_line(err)})"
        raise ImageError(msg) from None
    return p
