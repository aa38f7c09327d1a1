"""HDR static metadata: read from decoded frames, written through the encoder's own options.

FFmpeg attaches the mastering display colour volume (SMPTE ST 2086) and the content light level
(MaxCLL, MaxFALL) to decoded frames when they come from the bitstream (HEVC/H.264 SEI, AV1
metadata OBUs; tested) and, since FFmpeg 7, from the container (mp4 ``mdcv``/``clli``, Matroska
``MasteringMetadata``) as global side data (not tested: Debian's ffmpeg 5.1, which makes the test
files, cannot write a file with only those). PyAV exposes that frame side data, but it cannot
set a stream's side data (only its display matrix), so the output carries them in the
bitstream: the x264, x265 and SVT-AV1 encoders take them as options and write the SEI /
metadata OBUs that every decoder reads back. Other encoders (VP9, FFV1, MPEG-4) have no such
option: the metadata is then reported as not carried.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

__all__ = ["HDR_ENCODERS", "HdrMetadata", "hdr_encoder_options", "hdr_note", "read_hdr"]

HDR_ENCODERS: tuple[str, ...] = ("libx264", "libx265", "libsvtav1")
"""Encoders that can write the mastering display and content light level metadata."""

_PARAMS_OPTION = {"libx264": "x264-params", "libx265": "x265-params", "libsvtav1": "svtav1-params"}
_PARAM_NAMES = {
    "libx264": ("mastering-display", "cll"),
    "libx265": ("master-display", "max-cll"),
    "libsvtav1": ("mastering-display", "content-light"),
}


@dataclass(frozen=True)
class HdrMetadata:
    """The HDR static metadata of a stream (``None`` fields: not present).

    Attributes:
        primaries: CIE 1931 ``(x, y)`` of the red, green and blue mastering display primaries.
        white_point: CIE 1931 ``(x, y)`` of the mastering display white point.
        luminance: mastering display ``(min, max)`` luminance in cd/m².
        max_cll: maximum content light level in cd/m².
        max_fall: maximum frame-average light level in cd/m².
    """

    primaries: tuple[tuple[Fraction, Fraction], ...] | None = None
    white_point: tuple[Fraction, Fraction] | None = None
    luminance: tuple[Fraction, Fraction] | None = None
    max_cll: int | None = None
    max_fall: int | None = None

    @property
    def present(self) -> bool:
        """True when any of the metadata is present."""
        return self.primaries is not None or self.luminance is not None or self.max_cll is not None


def read_hdr(frame: Any) -> HdrMetadata:
    """The mastering display and content light level side data of a decoded ``frame``."""
    fields: dict[str, Any] = {}
    for sd in frame.side_data:
        kind = str(getattr(sd.type, "name", sd.type)).upper()
        raw = bytes(sd)
        if kind.endswith("MASTERING_DISPLAY_METADATA") and len(raw) >= 88:
            # AVMasteringDisplayMetadata: 10 AVRationals (R, G, B primaries x/y, white point
            # x/y, min and max luminance), then has_primaries and has_luminance (int32).
            ints = struct.unpack("<22i", raw[:88])
            q = [Fraction(ints[2 * i], ints[2 * i + 1] or 1) for i in range(10)]
            if ints[20]:
                fields["primaries"] = ((q[0], q[1]), (q[2], q[3]), (q[4], q[5]))
                fields["white_point"] = (q[6], q[7])
            if ints[21]:
                fields["luminance"] = (q[8], q[9])
        elif kind.endswith("CONTENT_LIGHT_LEVEL") and len(raw) >= 8:
            fields["max_cll"], fields["max_fall"] = struct.unpack("<2I", raw[:8])
    return HdrMetadata(**fields)


def hdr_encoder_options(codec: str, hdr: HdrMetadata, *, options: dict[str, str]) -> dict[str, str]:
    """``options`` plus the encoder parameters that write ``hdr`` (unchanged when absent).

    The parameters are appended to the encoder's ``x264-params`` / ``x265-params`` /
    ``svtav1-params`` string, after any the user gave. x264 and x265 take chromaticities in
    units of 0.00002 and luminance in units of 0.0001 cd/m², SVT-AV1 takes decimal numbers;
    all three list the primaries green, blue, red.

    Raises:
        KeyError: ``codec`` is not one of :data:`HDR_ENCODERS`.
    """
    key = _PARAMS_OPTION[codec]
    display_key, cll_key = _PARAM_NAMES[codec]
    decimal = codec == "libsvtav1"

    def chroma(v: Fraction) -> str:
        return f"{float(v):.5f}" if decimal else str(round(v * 50000))

    def lum(v: Fraction) -> str:
        return f"{float(v):.4f}" if decimal else str(round(v * 10000))

    params = []
    if hdr.primaries is not None and hdr.white_point is not None and hdr.luminance is not None:
        r, g, b = hdr.primaries
        points = (("G", g), ("B", b), ("R", r), ("WP", hdr.white_point))
        display = "".join(f"{n}({chroma(p[0])},{chroma(p[1])})" for n, p in points)
        low, high = hdr.luminance
        params.append(f"{display_key}={display}L({lum(high)},{lum(low)})")
    if hdr.max_cll is not None:
        params.append(f"{cll_key}={hdr.max_cll},{hdr.max_fall or 0}")
    if not params:
        return dict(options)
    given = options.get(key, "")
    return {**options, key: ":".join(p for p in (given, *params) if p)}


def hdr_note(codec: str) -> str:
    """The note of a run whose input has HDR static metadata that ``codec`` cannot write."""
    return (
        f"HDR mastering display / content light level metadata not written: {codec} has no "
        f"option for it (use {' or '.join(HDR_ENCODERS)})"
    )
