"""What an image file carries besides its pixels: ICC colour profile, EXIF and XMP.

:func:`read_meta` takes them from a file opened with Pillow (header only); the encoders of
:mod:`~lesrcnn_deploy.data.image_encode` write them back. Since decoded pixels are already turned
upright, the EXIF orientation tag (and XMP ``tiff:Orientation``) becomes 1, and the EXIF pixel
dimensions are set to the written size; everything else (camera, dates, GPS, maker notes) is kept
byte for byte. :meth:`ImageMeta.stripped` drops EXIF (GPS included) and XMP but keeps the ICC
profile, which is part of what the pixel values mean.

Where each is written: ICC in PNG (``iCCP``), JPEG (``APP2``), WebP, TIFF, AVIF, JPEG XL; EXIF in
PNG (``eXIf``), JPEG (``APP1``), WebP, TIFF (8-bit), AVIF, JPEG XL; XMP in PNG (``iTXt``), JPEG,
WebP, TIFF, AVIF. BMP and GIF keep none. PNG and JPEG get the chunks/segments spliced into
OpenCV's encoding, so 16-bit PNG keeps them too.
"""

from __future__ import annotations

import re
import struct
import warnings
import zlib
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

__all__ = [
    "ImageMeta",
    "add_to_jpeg",
    "add_to_png",
    "add_to_tiff",
    "exif_for_output",
    "read_meta",
    "tiff_tags",
]

_EXIF_PREFIX = b"Exif\x00\x00"
_XMP_JPEG_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
_ICC_JPEG_PREFIX = b"ICC_PROFILE\x00"
_ORIENTATION, _EXIF_IFD, _GPS_IFD = 0x0112, 0x8769, 0x8825
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
# TIFF tags describing the picture (not the storage) that a TIFF input's EXIF is made of.
_TIFF_DESCRIPTIVE = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)
_XMP_ORIENTATION = re.compile(rb"(tiff:Orientation(?:=\"|>))(\d)")


@dataclass(frozen=True)
class ImageMeta:
    """Metadata of one image.

    Attributes:
        icc_profile: The ICC profile bytes, or None.
        exif: EXIF as a TIFF structure (``II*\\0...`` / ``MM\\0*...``, no ``Exif\\0\\0``
            prefix), orientation already 1; or None.
        xmp: The XMP packet (UTF-8 XML bytes), orientation already 1; or None.
    """

    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None

    @property
    def empty(self) -> bool:
        """True when nothing is carried."""
        return not (self.icc_profile or self.exif or self.xmp)

    def stripped(self) -> ImageMeta:
        """The same with EXIF (GPS included) and XMP dropped; the ICC profile stays."""
        return replace(self, exif=None, xmp=None)


def read_meta(im: Image.Image) -> ImageMeta:
    """Read ICC, EXIF and XMP from an image opened with Pillow (no pixel decoding needed).

    Never raises: a malformed block is dropped, the rest is kept.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        icc = _guard(lambda: im.info.get("icc_profile"))
        exif = _guard(lambda: _read_exif(im))
        xmp = _guard(lambda: _read_xmp(im))
    return ImageMeta(
        icc_profile=bytes(icc) if isinstance(icc, bytes) and icc else None,
        exif=exif or None,
        xmp=_XMP_ORIENTATION.sub(rb"\g<1>1", xmp) if xmp else None,
    )


def _guard(fn: Any) -> Any:
    try:
        return fn()
    except Exception:  # metadata is best effort: never make an image unreadable
        return None


def _read_exif(im: Image.Image) -> bytes | None:
    raw = im.info.get("exif")
    if isinstance(raw, bytes) and raw:
        raw = raw.removeprefix(_EXIF_PREFIX)
        return _patched(raw, {_ORIENTATION: 1}) if raw[:4] in (b"II*\x00", b"MM\x00*") else None
    if im.format != "TIFF":
        return None
    src = im.getexif()
    exif = Image.Exif()
    for tag in _TIFF_DESCRIPTIVE:
        if tag in src:
            exif[tag] = src[tag]
    for ifd in (_EXIF_IFD, _GPS_IFD):
        sub = src.get_ifd(ifd)
        if sub:
            exif.get_ifd(ifd).update(sub)
    return exif.tobytes() if len(exif) or exif.get_ifd(_EXIF_IFD) else None


def _read_xmp(im: Image.Image) -> bytes | None:
    value: Any = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if value is None and im.format == "TIFF":
        value = getattr(im, "tag_v2", {}).get(700)
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, tuple):  # some TIFF writers store XMP as a BYTE array
        value = bytes(value)
    return value if isinstance(value, bytes) and value.strip() else None


def _patched(tiff: bytes, values: dict[int, int]) -> bytes:
    """``tiff`` with SHORT/LONG tags of IFD0 and the Exif IFD set in place (others untouched)."""
    order = "<" if tiff[:2] == b"II" else ">"
    out = bytearray(tiff)

    def patch(ifd_offset: int) -> int | None:
        (count,) = struct.unpack_from(order + "H", out, ifd_offset)
        sub = None
        for i in range(count):
            at = ifd_offset + 2 + 12 * i
            tag, kind, n = struct.unpack_from(order + "HHI", out, at)
            if tag == _EXIF_IFD and kind in (4, 13):
                (sub,) = struct.unpack_from(order + "I", out, at + 8)
            if tag in values and kind in (3, 4) and n == 1:
                value = values[tag]
                if kind == 3 and value > 0xFFFF:
                    kind = 4
                struct.pack_into(order + "H", out, at + 2, kind)
                fmt = order + ("HH" if kind == 3 else "I")
                struct.pack_into(fmt, out, at + 8, *((value, 0) if kind == 3 else (value,)))
        return sub

    try:
        (first,) = struct.unpack_from(order + "I", out, 4)
        sub = patch(first)
        if sub:
            patch(sub)
    except struct.error:  # truncated IFD: keep what was patched, the rest as it was
        pass
    return bytes(out)


def exif_for_output(exif: bytes, size: tuple[int, int]) -> bytes:
    """EXIF for a written image: orientation 1 and the pixel dimensions set to ``size`` (w, h)."""
    return _patched(exif, {_ORIENTATION: 1, _PIXEL_X: size[0], _PIXEL_Y: size[1]})


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def add_to_png(png: bytes, meta: ImageMeta, *, size: tuple[int, int]) -> bytes:
    """Splice ``iCCP``, ``eXIf`` and ``iTXt`` (XMP) chunks right after the IHDR of ``png``."""
    if meta.empty:
        return png
    chunks = b""
    if meta.icc_profile:
        chunks += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(meta.icc_profile))
    if meta.exif:
        chunks += _png_chunk(b"eXIf", exif_for_output(meta.exif, size))
    if meta.xmp:
        chunks += _png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + meta.xmp)
    (ihdr_len,) = struct.unpack_from(">I", png, 8)
    end = 8 + 12 + ihdr_len
    return png[:end] + chunks + png[end:]


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def add_to_jpeg(jpeg: bytes, meta: ImageMeta, *, size: tuple[int, int]) -> bytes:
    """Insert APP1 (EXIF, XMP) and APP2 (ICC, split in chunks) segments after SOI/JFIF.

    EXIF or XMP larger than one segment (64 KB) is left out (extended XMP is not written).
    """
    if meta.empty:
        return jpeg
    segments = b""
    exif = exif_for_output(meta.exif, size) if meta.exif else b""
    if exif and len(exif) + len(_EXIF_PREFIX) <= 65533:
        segments += _jpeg_segment(0xE1, _EXIF_PREFIX + exif)
    if meta.xmp and len(meta.xmp) + len(_XMP_JPEG_PREFIX) <= 65533:
        segments += _jpeg_segment(0xE1, _XMP_JPEG_PREFIX + meta.xmp)
    if meta.icc_profile:
        step = 65519
        parts = [meta.icc_profile[i : i + step] for i in range(0, len(meta.icc_profile), step)]
        for i, part in enumerate(parts, 1):
            segments += _jpeg_segment(0xE2, _ICC_JPEG_PREFIX + bytes([i, len(parts)]) + part)
    at = 2  # after SOI; after the JFIF APP0 when there is one
    if jpeg[2:4] == b"\xff\xe0":
        (length,) = struct.unpack_from(">H", jpeg, 4)
        at = 4 + length
    return jpeg[:at] + segments + jpeg[at:]


def add_to_tiff(tiff: bytes, meta: ImageMeta) -> bytes:
    """Add ICC (tag 34675) and XMP (tag 700) to the first IFD of a classic TIFF.

    The data and a rewritten copy of the IFD are appended; the header then points at the copy (the
    old IFD stays as unused bytes, every other offset is unchanged). Used for the 16-bit RGB(A)
    TIFFs that OpenCV writes and Pillow cannot; EXIF is not added (it would need an Exif IFD).
    """
    if not (meta.icc_profile or meta.xmp) or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return tiff
    order = "<" if tiff[:2] == b"II" else ">"
    (first,) = struct.unpack_from(order + "I", tiff, 4)
    (count,) = struct.unpack_from(order + "H", tiff, first)
    entries = [tiff[first + 2 + 12 * i : first + 14 + 12 * i] for i in range(count)]
    (next_ifd,) = struct.unpack_from(order + "I", tiff, first + 2 + 12 * count)
    out = bytearray(tiff)
    added: dict[int, bytes] = {}
    for tag, kind, data in ((700, 1, meta.xmp), (34675, 7, meta.icc_profile)):
        if data:
            out += bytes(len(out) % 2)  # word alignment
            added[tag] = struct.pack(order + "HHII", tag, kind, len(data), len(out))
            out += data
    kept = [e for e in entries if struct.unpack_from(order + "H", e)[0] not in added]
    ifd = sorted([*kept, *added.values()], key=lambda e: struct.unpack_from(order + "H", e)[0])
    out += bytes(len(out) % 2)
    struct.pack_into(order + "I", out, 4, len(out))
    out += struct.pack(order + "H", len(ifd)) + b"".join(ifd) + struct.pack(order + "I", next_ifd)
    return bytes(out)


def tiff_tags(meta: ImageMeta, size: tuple[int, int]) -> Any:
    """Pillow ``tiffinfo`` for a TIFF: ICC goes separately; EXIF tags, Exif/GPS IFDs and XMP."""
    from PIL import TiffImagePlugin

    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    if meta.exif:
        exif = Image.Exif()
        exif.load(exif_for_output(meta.exif, size))
        for tag in _TIFF_DESCRIPTIVE:
            if tag in exif:
                ifd[tag] = exif[tag]
        for sub in (_EXIF_IFD, _GPS_IFD):
            if exif.get_ifd(sub):
                ifd[sub] = exif.get_ifd(sub)
    if meta.xmp:
        ifd[700] = meta.xmp
    return ifd
