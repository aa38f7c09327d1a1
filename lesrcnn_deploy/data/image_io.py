"""Read images: PNG, JPEG, WebP, BMP, TIFF and AVIF, 8 or 16 bit, gray / RGB / RGBA, with metadata.

Every array crossing this module's API is **RGB** (or RGBA, or single-channel gray), ``(H, W, C)``,
uint8 or uint16; the BGR order of OpenCV never leaks out. Decoding and encoding use OpenCV; Pillow
reads only the header first (size, format, EXIF orientation, without decoding the pixels), and
decodes a TIFF that OpenCV cannot (e.g. one with a rotating orientation tag).

EXIF orientation: ``cv2.IMREAD_UNCHANGED`` ignores it, so :func:`load_image` reads the tag with
Pillow and applies the flip/rotation itself with numpy; the result is the image as a viewer shows it
(what ``PIL.ImageOps.exif_transpose`` gives). TIFF decoders already apply the TIFF orientation tag.

The ICC profile, EXIF and XMP are read too (:class:`~lesrcnn_deploy.data.image_meta.ImageMeta`,
orientation reset to 1); :func:`save_image` / :func:`encode_image` (from
:mod:`~lesrcnn_deploy.data.image_encode`) write them back.

Every failure is raised as a one-line :class:`~lesrcnn_deploy.core.errors.ImageError` that names the
file; no OpenCV or Pillow exception escapes.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.errors import (
    ImageError,
    ImageTooLargeError,
    LesrcnnError,
    UnsupportedFormatError,
    one_line,
)
from ..core.noise import decoder_output, decoder_reason
from .image_encode import encode_image, save_image
from .image_meta import ImageMeta, read_meta

# Decoder damage is reported as one ImageError line; OpenCV's own warnings would be noise on stderr.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SUPPORTED_EXTENSIONS",
    "ImageMode",
    "LoadedImage",
    "check_pixels",
    "decode_image",
    "encode_image",
    "image_size",
    "load_image",
    "read_image_size",
    "save_image",
    "to_rgb_uint8",
]

SUPPORTED_EXTENSIONS: tuple[str, ...] = (
    ".avif",
    ".bmp",
    ".jpeg",
    ".jpg",
    ".png",
    ".tif",
    ".tiff",
    ".webp",
)
"""File extensions (lower case) that :func:`load_image` and :func:`save_image` accept."""

DEFAULT_MAX_PIXELS = 100_000_000
"""Default refusal threshold of :func:`load_image`, in pixels (width * height from the header)."""

ImageMode = Literal["gray", "rgb", "rgba"]

# Pillow's name of the format -> our name; "MPO" is how Pillow names many camera JPEGs.
_PIL_FORMATS: dict[str, str] = {
    "PNG": "PNG",
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "WEBP": "WebP",
    "BMP": "BMP",
    "TIFF": "TIFF",
    "AVIF": "AVIF",
}
# The first bytes of the formats we read (PNG, JPEG, BMP, TIFF, WebP, AVIF/HEIF boxes).
_SIGNATURE = re.compile(
    rb"^(\x89PNG|\xff\xd8\xff|BM|II\*\x00|MM\x00\*|RIFF....WEBP|....ftyp)", re.DOTALL
)
_SIXTEEN_BIT_EXTENSIONS = (".png", ".tif", ".tiff")
_ALPHA_EXTENSIONS = (".png", ".tif", ".tiff", ".webp", ".bmp")
_MODES: dict[int, ImageMode] = {1: "gray", 3: "rgb", 4: "rgba"}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image, as stored (gray stays gray, 16 bit stays 16 bit).

    Attributes:
        pixels: ``(H, W, C)`` array, C = 1 (gray), 3 (RGB) or 4 (RGBA, alpha last), dtype uint8
            (range [0, 255]) or uint16 (range [0, 65535]); EXIF orientation already applied.
        path: The file it came from, or None for an image made in memory.
        meta: ICC profile, EXIF and XMP of the file (EXIF/XMP orientation reset to 1).
    """

    pixels: npt.NDArray[np.unsignedinteger[Any]]
    path: Path | None = None
    meta: ImageMeta = field(default_factory=ImageMeta)

    def __post_init__(self) -> None:
        px = self.pixels
        where = self.path if self.path is not None else "<array>"
        if not isinstance(px, np.ndarray) or px.ndim != 3 or px.shape[2] not in _MODES:
            shape = getattr(px, "shape", None)
            msg = f"{where}: pixels must be (H, W, C) with C in 1, 3, 4, got shape {shape}"
            raise ImageError(msg)
        if px.dtype not in (np.uint8, np.uint16):
            msg = f"{where}: pixels must be uint8 or uint16, got {px.dtype}"
            raise ImageError(msg)

    @property
    def mode(self) -> ImageMode:
        """``"gray"``, ``"rgb"`` or ``"rgba"``, from the number of channels."""
        return _MODES[self.pixels.shape[2]]

    @property
    def bit_depth(self) -> Literal[8, 16]:
        """8 for uint8 pixels, 16 for uint16 pixels."""
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def height(self) -> int:
        """Number of rows H."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Number of columns W."""
        return int(self.pixels.shape[1])


def _check_extension(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        shown = ext or "(none)"
        msg = (
            f"{path}: unsupported file extension {shown} "
            f"(supported: {', '.join(SUPPORTED_EXTENSIONS)})"
        )
        raise UnsupportedFormatError(msg)
    return ext


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn the OS errors of reading ``path`` into one-line :class:`ImageError` s."""
    try:
        yield
    except FileNotFoundError:
        msg = f"{path}: no such file"
        raise ImageError(msg) from None
    except IsADirectoryError:
        msg = f"{path}: is a directory, not an image file"
        raise ImageError(msg) from None
    except OSError as err:
        if isinstance(err, LesrcnnError):
            raise
        msg = f"{path}: cannot read ({err.strerror or err})"
        raise ImageError(msg) from None


def _read_bytes(path: Path) -> bytes:
    with _reading(path):
        data = path.read_bytes()
    if not data:
        msg = f"{path}: empty file (0 bytes)"
        raise ImageError(msg)
    return data


def _open_header(path: Path | str, fp: BinaryIO) -> Image.Image:
    """Open with Pillow without decoding the pixels; check format and emptiness."""
    try:
        with warnings.catch_warnings():
            # Our own max_pixels check replaces Pillow's decompression-bomb warning (its hard error
            # is caught below); Pillow's other warnings about damaged files become our errors.
            warnings.simplefilter("ignore")
            im = Image.open(fp)
    except Image.DecompressionBombError:
        msg = f"{path}: image too large (header size beyond Pillow's decompression-bomb limit)"
        raise ImageTooLargeError(msg) from None
    except UnidentifiedImageError:
        fp.seek(0)
        if _SIGNATURE.match(fp.read(12)):  # starts like one of ours: damaged, not foreign
            msg = f"{path}: unreadable image header (damaged or truncated)"
            raise ImageError(msg) from None
        msg = f"{path}: not an image (content is not PNG, JPEG, WebP, BMP, TIFF or AVIF)"
        raise UnsupportedFormatError(msg) from None
    except Exception as err:  # Pillow raises SyntaxError, OSError, ValueError... on bad headers
        msg = f"{path}: unreadable image header ({type(err).__name__}: {one_line(err)})"
        raise ImageError(msg) from None
    if im.format not in _PIL_FORMATS:
        msg = f"{path}: unsupported image format {im.format} (need PNG/JPEG/WebP/BMP/TIFF/AVIF)"
        raise UnsupportedFormatError(msg)
    w, h = im.size
    if w <= 0 or h <= 0:
        msg = f"{path}: empty image ({w}x{h} pixels)"
        raise ImageError(msg)
    return im


def read_image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Return ``(height, width)`` from the file's header, without decoding the pixels.

    The size is the stored one: EXIF orientation is not applied (a JPEG tagged "rotate 90" reports
    its stored, unrotated size).

    Raises:
        ImageError: missing/empty file, unsupported extension or format, unreadable header, 0x0.
    """
    p = Path(path)
    _check_extension(p)
    with _reading(p), p.open("rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            msg = f"{p}: empty file (0 bytes)"
            raise ImageError(msg)
        w, h = _open_header(p, f).size
    return h, w


def check_pixels(size: tuple[int, int], max_pixels: int, *, name: str) -> None:
    """Refuse an input of ``size`` = ``(w, h)`` beyond ``max_pixels``.

    Raises:
        ImageTooLargeError: one line naming ``name``, the size and the limit.
    """
    w, h = size
    if w * h > max_pixels:
        msg = f"{name}: image too large ({w}x{h} = {w * h} pixels > max_pixels={max_pixels})"
        raise ImageTooLargeError(msg)


def image_size(
    source: bytes | str | os.PathLike[str], *, name: str = "", any_extension: bool = False
) -> tuple[int, int]:
    """The displayed ``(width, height)`` of an encoded image (bytes) or a file, from its header
    only (EXIF orientation applied: a JPEG tagged "rotate 90" reports its turned size).

    Args:
        source: the encoded bytes, or a file path.
        name: what error messages call the image (default: the path, or ``<bytes>``).
        any_extension: read a file whatever its extension (the content decides).

    Raises:
        ImageError: empty, not an image, unsupported extension (a path) or format, unreadable
            header.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        where: Path | str = name or "<bytes>"
        if not source:
            msg = f"{where}: empty (0 bytes)"
            raise ImageError(msg)
        header = _open_header(where, io.BytesIO(bytes(source)))
        w, h = header.size
        return (h, w) if _orientation(header) in (5, 6, 7, 8) else (w, h)
    path = Path(source)
    if not any_extension:
        _check_extension(path)
    shown: Path | str = name or path
    with _reading(path), path.open("rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            msg = f"{shown}: empty file (0 bytes)"
            raise ImageError(msg)
        header = _open_header(shown, f)
        w, h = header.size
        return (h, w) if _orientation(header) in (5, 6, 7, 8) else (w, h)


def _orientation(im: Image.Image) -> int:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data" and the like
            value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a malformed EXIF block must not make the image unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _apply_orientation(px: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels ``(H, W, C)`` into displayed pixels (EXIF tag 0x0112 values 1-8)."""
    if orientation == 2:  # mirrored left-right
        px = px[:, ::-1]
    elif orientation == 3:  # rotated 180
        px = px[::-1, ::-1]
    elif orientation == 4:  # mirrored top-bottom
        px = px[::-1, :]
    elif orientation == 5:  # transposed (mirror across the main diagonal)
        px = px.transpose(1, 0, 2)
    elif orientation == 6:  # needs a 90 degree clockwise turn
        px = np.rot90(px, -1)
    elif orientation == 7:  # transversed (mirror across the anti-diagonal)
        px = px.transpose(1, 0, 2)[::-1, ::-1]
    elif orientation == 8:  # needs a 90 degree counter-clockwise turn
        px = np.rot90(px, 1)
    return np.ascontiguousarray(px)


def _decode_with_pil(path: Path | str, data: bytes) -> np.ndarray:
    """Fallback decoder (used for TIFF only): RGB(A)/gray array, orientation applied."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # size already checked; damage raises below
            im = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
            if im.mode == "1":
                im = im.convert("L")
            elif im.mode in ("P", "PA"):
                im = im.convert("RGBA" if "transparency" in im.info or im.mode == "PA" else "RGB")
            elif im.mode == "LA":
                im = im.convert("RGBA")
            elif im.mode == "CMYK":
                im = im.convert("RGB")
            elif im.mode in ("I;16", "I;16L", "I;16B"):
                return np.asarray(im).astype(np.uint16)
            if im.mode not in ("L", "RGB", "RGBA"):
                msg = f"{path}: unsupported pixel format (Pillow mode {im.mode})"
                raise ImageError(msg)
            return np.asarray(im)
    except ImageError:
        raise
    except Exception as err:
        msg = f"{path}: truncated or corrupt image (cannot decode: {one_line(err)})"
        raise ImageError(msg) from None


def load_image(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> LoadedImage:
    """Read an image file as stored: gray, RGB or RGBA; 8 or 16 bit; EXIF orientation applied.

    The header is read first (Pillow, no pixel decoding): images whose header claims more than
    ``max_pixels`` pixels are refused before any large allocation. Palette images become RGB (RGBA
    when the palette has transparency), gray + alpha becomes RGBA (gray replicated), 16-bit
    PNG/TIFF stay uint16. Float, signed or 32-bit integer images are refused.

    Args:
        path: File with extension .png, .jpg, .jpeg, .webp, .bmp, .tif or .tiff (any case).
        max_pixels: Largest accepted ``width * height`` (header size), >= 1.

    Returns:
        The :class:`LoadedImage`; ``pixels`` is ``(H, W, C)`` in **RGB / RGBA / gray** order, uint8
        or uint16, and ``(H, W)`` is the displayed (EXIF-rotated) size.

    Raises:
        ImageError: One line naming the file: missing, empty, unsupported extension or format, not
            an image, too large, 0x0, truncated or undecodable, unsupported pixel type.
    """
    p = Path(path)
    _check_extension(p)
    return _decode(_read_bytes(p), p, max_pixels)


def decode_image(
    data: bytes, *, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS
) -> LoadedImage:
    """Decode image bytes in memory with exactly the rules of :func:`load_image`.

    The format comes from the content (PNG, JPEG, WebP, BMP, TIFF or AVIF), not from a file name.

    Args:
        data: The encoded image.
        name: What error messages call the image (e.g. ``"request body"``).
        max_pixels: Largest accepted ``width * height`` (header size), >= 1.

    Returns:
        The :class:`LoadedImage` (``path`` is None); pixels as for :func:`load_image`.

    Raises:
        ImageTooLargeError: The header claims more than ``max_pixels`` pixels.
        UnsupportedFormatError: A recognised image format that is not supported (e.g. GIF).
        ImageError: Empty, not an image, truncated or undecodable, unsupported pixel type.
    """
    if not data:
        msg = f"{name}: empty (0 bytes)"
        raise ImageError(msg)
    return _decode(bytes(data), name, max_pixels)


def _decode(data: bytes, p: Path | str, max_pixels: int) -> LoadedImage:
    header = _open_header(p, io.BytesIO(data))
    w, h = header.size
    fmt = _PIL_FORMATS[str(header.format)]
    check_pixels((w, h), max_pixels, name=str(p))
    orientation = _orientation(header)

    with decoder_output() as noise:  # libpng/libjpeg print to stderr: keep it for the message
        try:
            decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        except cv2.error:
            decoded = None
    if decoded is None:
        if fmt != "TIFF":
            reason = decoder_reason(noise)
            why = f"cannot decode: {reason}" if reason else "cannot decode"
            msg = f"{p}: truncated or corrupt {fmt} ({why})"
            raise ImageError(msg)
        px = _decode_with_pil(p, data)  # already in RGB order and display orientation
    else:
        px = _cv2_to_rgb(p, decoded)
        if fmt != "TIFF":  # libtiff applies the TIFF orientation tag itself
            px = _apply_orientation(px, orientation)

    if px.ndim == 2:
        px = px[:, :, None]
    if px.dtype not in (np.uint8, np.uint16):
        msg = f"{p}: unsupported pixel type {px.dtype} (only 8- and 16-bit unsigned images)"
        raise ImageError(msg)
    if px.ndim != 3 or px.shape[2] not in _MODES:
        msg = f"{p}: unsupported channel layout {px.shape} (gray, RGB or RGBA only)"
        raise ImageError(msg)
    if px.shape[0] == 0 or px.shape[1] == 0:
        msg = f"{p}: empty image ({px.shape[1]}x{px.shape[0]} pixels)"
        raise ImageError(msg)
    return LoadedImage(
        pixels=np.ascontiguousarray(px),
        path=p if isinstance(p, Path) else None,
        meta=read_meta(header),
    )


def _cv2_to_rgb(path: Path | str, bgr: np.ndarray) -> np.ndarray:
    """OpenCV's BGR/BGRA/gray(+alpha) to RGB/RGBA/gray; refuses non-8/16-bit data."""
    if bgr.dtype not in (np.uint8, np.uint16):
        msg = f"{path}: unsupported pixel type {bgr.dtype} (only 8- and 16-bit unsigned images)"
        raise ImageError(msg)
    if bgr.ndim == 2:
        return bgr[:, :, None]
    channels = bgr.shape[2]
    if channels == 1:
        return bgr
    if channels == 2:  # gray + alpha -> RGBA
        gray, alpha = bgr[:, :, :1], bgr[:, :, 1:]
        return np.concatenate([gray, gray, gray, alpha], axis=2)
    if channels == 3:
        return bgr[:, :, ::-1]
    if channels == 4:
        return bgr[:, :, [2, 1, 0, 3]]
    msg = f"{path}: unsupported number of channels ({channels})"
    raise ImageError(msg)


def to_rgb_uint8(img: LoadedImage) -> npt.NDArray[np.uint8]:
    """Convert to the network's input: 8-bit RGB.

    Gray is replicated to three equal channels, alpha is dropped (not composited), and 16-bit
    values become 8-bit by rounding ``x / 257`` to the nearest integer (65535 -> 255; there are no
    ties since 257 is odd).

    Args:
        img: Any :class:`LoadedImage`.

    Returns:
        A new C-contiguous ``(H, W, 3)`` uint8 array in **RGB** order, range [0, 255].
    """
    px = img.pixels
    if px.dtype == np.uint16:
        # round(x / 257) == floor((x + 128) / 257) for integers (257 is odd, so no .5 ties)
        px8 = ((px.astype(np.uint32) + 128) // 257).astype(np.uint8)
    else:
        px8 = px.astype(np.uint8, copy=False)
    if px8.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(px8, 3, axis=2))
    return np.ascontiguousarray(px8[:, :, :3])
