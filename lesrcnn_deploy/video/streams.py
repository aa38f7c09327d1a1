"""Output streams: the encoded video stream and the copied ones, with what the input carries.

The video stream gets the input's time base, frame rate, sample aspect ratio (corrected when a
resize stretches the pixels), colour tags, HDR static metadata (see :mod:`.hdr`), display matrix
(rotation and flips) and tags; audio and subtitle streams are copied from their
input templates (packets pass through untouched) with their tags and dispositions; the container
gets the input's tags and chapters (titles and times). Tags the muxer writes itself are not
copied (they would be stale).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..core.errors import VideoError
from .encoder import EncoderSettings, encoder_options, pick_pix_fmt
from .hdr import HDR_ENCODERS, HdrMetadata, hdr_encoder_options, read_hdr
from .probe import display_matrix, import_av

__all__ = [
    "Encoding",
    "add_copied_streams",
    "add_video_stream",
    "copy_chapters",
    "sample_aspect_ratio",
    "tags",
]

# Container/stream tags the muxer writes itself; copying the input's would be stale.
_MUXER_TAGS = frozenset(
    {"major_brand", "minor_version", "compatible_brands", "encoder", "duration", "creation_time"}
)


@dataclass(frozen=True)
class Encoding:
    """Per-run constants of the encode stage.

    Attributes:
        time_base: the input (and output) video stream's time base.
        rgb_format: ``"rgb24"``, or ``"rgb48le"`` for inputs deeper than 8 bits.
        pix_fmt: the encoder's pixel format.
        colorspace: FFmpeg ``AVColorSpace`` to convert to (``None``: unspecified).
        color_range: FFmpeg ``AVColorRange`` to convert to (``None``: unspecified).
        size: the input frame ``(width, height)``.
        out_size: the encoded frame ``(width, height)``.
        hdr: the input's HDR static metadata (written when the encoder can, see :mod:`.hdr`).
        hdr_written: ``hdr`` is present and the encoder writes it.
    """

    time_base: Fraction
    rgb_format: str
    pix_fmt: str
    colorspace: int | None
    color_range: int | None
    size: tuple[int, int]
    out_size: tuple[int, int]
    hdr: HdrMetadata = field(default_factory=HdrMetadata)
    hdr_written: bool = False


def tags(meta: Any) -> dict[str, str]:
    """``meta``'s tags as strings, without those the muxer writes itself."""
    return {str(k): str(v) for k, v in dict(meta).items() if str(k).lower() not in _MUXER_TAGS}


def add_video_stream(
    out: Any,
    vin: Any,
    *,
    first: Any,
    out_size: tuple[int, int],
    codec: str,
    settings: EncoderSettings,
    stretch: Fraction = Fraction(1),
) -> tuple[Any, Encoding]:
    """Add the encoded video stream to ``out``, set up like the input stream ``vin``.

    Args:
        out: the output container.
        vin: the input video stream.
        first: its first decoded frame (size, pixel format, colour tags, display matrix).
        out_size: the encoded frame ``(width, height)``.
        codec: the encoder (see :func:`~lesrcnn_deploy.video.encoder.choose_codec`).
        settings: quality and pixel format settings.
        stretch: how much wider than tall each pixel becomes (a resize to ``out_size`` that
            does not keep the exact aspect ratio); the sample aspect ratio is multiplied by it.

    Returns:
        The output stream and the encode stage's constants.

    Raises:
        ConfigError: settings the encoder does not take.
    """
    av = import_av()
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    vout = out.add_stream(codec, rate=rate)
    ctx = vout.codec_context
    ctx.width, ctx.height = out_size
    ctx.pix_fmt = pick_pix_fmt(codec, first.format.name, requested=settings.pix_fmt)
    ctx.time_base = vin.time_base
    vout.time_base = vin.time_base
    sar = sample_aspect_ratio(vin.sample_aspect_ratio, stretch=stretch)
    if sar is not None:
        ctx.sample_aspect_ratio = sar
    deep = max(c.bits for c in first.format.components) > 8
    is_rgb = av.VideoFormat(ctx.pix_fmt).is_rgb
    # FFmpeg's AVColorSpace / AVColorRange values; 0 and 2 mean "unspecified" (BT.601, limited).
    colorspace = int(first.colorspace) if int(first.colorspace) not in (0, 2) else None
    color_range = int(first.color_range) or None
    if not is_rgb:
        if color_range:
            ctx.color_range = color_range
        if colorspace:
            ctx.colorspace = colorspace
    if int(first.color_primaries) not in (0, 2):
        ctx.color_primaries = int(first.color_primaries)
    if int(first.color_trc) not in (0, 2):
        ctx.color_trc = int(first.color_trc)
    options = encoder_options(ctx, settings)
    hdr = read_hdr(first)
    hdr_written = hdr.present and codec in HDR_ENCODERS
    if hdr_written:
        options = hdr_encoder_options(codec, hdr, options=options)
    ctx.options = options
    vout.metadata.update(tags(vin.metadata))
    matrix = display_matrix(first)
    if matrix is not None:
        vout.set_display_matrix(list(matrix))
    enc = Encoding(
        time_base=vin.time_base,
        rgb_format="rgb48le" if deep else "rgb24",
        pix_fmt=ctx.pix_fmt,
        colorspace=colorspace,
        color_range=color_range,
        size=(first.width, first.height),
        out_size=out_size,
        hdr=hdr,
        hdr_written=hdr_written,
    )
    return vout, enc


def sample_aspect_ratio(source: Any, *, stretch: Fraction = Fraction(1)) -> Fraction | None:
    """The output's sample aspect ratio: ``source``'s times ``stretch`` (``None``: unset).

    An unset input (square pixels) stays unset unless a resize stretches the pixels. Numerator
    and denominator stay below 65536, as H.264/HEVC store them.
    """
    sar = Fraction(source) if source else None
    if stretch != 1:
        sar = (sar or Fraction(1)) * stretch
    if sar is None:
        return None
    if sar.numerator > 65535 or sar.denominator > 65535:
        sar = sar.limit_denominator(65535)
        if sar.numerator > 65535:
            sar = 1 / (1 / sar).limit_denominator(65535)
    return sar


def copy_chapters(out: Any, inp: Any) -> int:
    """Give ``out`` the chapters of ``inp`` (ids, start and end times, titles); their number."""
    chapters = list(inp.chapters())
    if chapters:
        out.set_chapters(chapters)
    return len(chapters)


def add_copied_streams(
    out: Any, inp: Any, *, skip: int, fmt: str
) -> tuple[dict[int, Any], list[str]]:
    """Add a copy of every audio and subtitle stream of ``inp`` to ``out``.

    Args:
        out: the output container.
        inp: the input container.
        skip: the index of the input video stream (encoded, not copied).
        fmt: the output muxer name (for the message).

    Returns:
        Input stream index -> output stream, and ``"#index type codec"`` of the streams dropped
        (data tracks, attachments, extra video tracks, cover pictures).

    Raises:
        VideoError: the container cannot hold a stream without re-encoding it.
    """
    copies: dict[int, Any] = {}
    dropped: list[str] = []
    for s in inp.streams:
        if s.index == skip:
            continue
        codec = s.codec_context.name if s.codec_context is not None else "?"
        if s.type not in ("audio", "subtitle"):
            dropped.append(f"#{s.index} {s.type} {codec}")
            continue
        try:
            ostream = out.add_stream_from_template(s)
        except ValueError:
            msg = (
                f"the {fmt} container cannot hold the input's {s.type} stream #{s.index} "
                f"({codec}) without re-encoding; write .mkv instead"
            )
            raise VideoError(msg) from None
        ostream.metadata.update(tags(s.metadata))
        ostream.disposition = s.disposition
        copies[s.index] = ostream
    return copies, dropped
