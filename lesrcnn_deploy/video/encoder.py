"""Encoder policy: which container, which encoder, which pixel format, which quality options.

Everything here decides *how* the upscaled frames are encoded, before any frame exists: the
muxer from the output extension, the first usable encoder of :data:`DEFAULT_CODECS`, the pixel
format (the input's when the encoder takes it) and the crf/bitrate options.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from .probe import OUTPUT_CONTAINERS, import_av

__all__ = [
    "DEFAULT_CODECS",
    "EncoderSettings",
    "choose_codec",
    "container_format",
    "encoder_options",
    "pick_pix_fmt",
]

DEFAULT_CODECS: tuple[str, ...] = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "mpeg4")
"""Encoders tried in order when no codec is given: the first the FFmpeg build and container take."""

_DEFAULT_CRF: dict[str, int] = {"libx264": 18, "libx265": 20, "libvpx-vp9": 24, "libsvtav1": 28}
"""Quality used when neither crf nor bitrate is given (visually transparent for upscaled video)."""


@dataclass(frozen=True)
class EncoderSettings:
    """How the upscaled video is encoded.

    Attributes:
        codec: FFmpeg encoder name (e.g. ``"libx264"``, ``"libx265"``, ``"libvpx-vp9"``,
            ``"ffv1"``); ``None`` picks the first of :data:`DEFAULT_CODECS` that the FFmpeg
            build and the output container support.
        crf: constant-quality factor (encoders with a ``crf`` option); exclusive with bitrate.
        bitrate: target bits per second; exclusive with crf.
        pix_fmt: encoder pixel format (e.g. ``"yuv420p"``, ``"yuv444p"``, ``"gbrp"``); ``None``
            keeps the input's when the encoder takes it, else the encoder's first.
        options: extra encoder options (FFmpeg ``AVOption`` names -> values), e.g.
            ``{"preset": "slow"}``.
    """

    codec: str | None = None
    crf: float | None = None
    bitrate: int | None = None
    pix_fmt: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.crf is not None and self.bitrate is not None:
            msg = "give either crf or bitrate, not both"
            raise ConfigError(msg)
        if self.crf is not None and not (0 <= self.crf <= 63):
            msg = f"crf must be in [0, 63], got {self.crf}"
            raise ConfigError(msg)
        if self.bitrate is not None and self.bitrate < 1:
            msg = f"bitrate must be >= 1 bit/s, got {self.bitrate}"
            raise ConfigError(msg)


def container_format(dst: str | os.PathLike[str]) -> str:
    """FFmpeg muxer for ``dst``'s extension (see :data:`OUTPUT_CONTAINERS`).

    Raises:
        ConfigError: an extension we do not write.
    """
    ext = Path(dst).suffix.lower()
    if ext not in OUTPUT_CONTAINERS:
        msg = (
            f"{dst}: unsupported video output extension {ext or '(none)'} "
            f"(supported: {', '.join(OUTPUT_CONTAINERS)})"
        )
        raise ConfigError(msg)
    return OUTPUT_CONTAINERS[ext]


def choose_codec(fmt: str, requested: str | None = None) -> str:
    """The encoder to use in muxer ``fmt``: ``requested`` if usable, else the first default.

    Raises:
        ConfigError: ``requested`` has no encoder in this FFmpeg build or the container cannot
            hold it, or no default encoder fits.
        MissingExtraError: PyAV is not installed.
    """
    av = import_av()
    probe = av.open(os.devnull, "w", format=fmt)
    try:
        supported = set(probe.supported_codecs)
    finally:
        probe.close()

    def usable(name: str) -> bool:
        try:
            codec = av.Codec(name, "w")
        except (av.FFmpegError, ValueError):
            return False
        return codec.type == "video" and (name in supported or codec.name in supported)

    if requested is not None:
        try:
            codec = av.Codec(requested, "w")
        except (av.FFmpegError, ValueError):
            msg = f"no encoder {requested!r} in this FFmpeg build (PyAV {av.__version__})"
            raise ConfigError(msg) from None
        if codec.type != "video":
            msg = f"{requested!r} is a {codec.type} encoder, not a video encoder"
            raise ConfigError(msg)
        if not usable(requested):
            msg = f"the {fmt} container cannot hold {requested!r} video (try .mkv)"
            raise ConfigError(msg)
        return str(codec.name)
    for name in DEFAULT_CODECS:
        if usable(name):
            return name
    msg = f"no video encoder for the {fmt} container in this FFmpeg build"
    raise ConfigError(msg)


def pick_pix_fmt(codec: str, source: str, *, requested: str | None = None) -> str:
    """The encoder pixel format: ``requested``, else ``source`` when ``codec`` takes it.

    Raises:
        ConfigError: ``codec`` does not take ``requested``.
    """
    av = import_av()
    formats = [f.name for f in (av.Codec(codec, "w").video_formats or [])]
    if requested is not None:
        if formats and requested not in formats:
            msg = f"encoder {codec!r} does not take pix_fmt {requested!r} (takes {formats})"
            raise ConfigError(msg)
        return requested
    if not formats or source in formats:
        return source
    return formats[0]


def encoder_options(ctx: Any, settings: EncoderSettings) -> dict[str, str]:
    """Set ``settings``' bitrate on the encoder context ``ctx`` and return its options.

    The options are ``settings.options`` plus ``crf`` (the codec's default quality when neither
    crf nor bitrate is given); libvpx-vp9 also gets ``b=0`` (constant, not constrained, quality).

    Raises:
        ConfigError: a crf for an encoder without a ``crf`` option.
    """
    codec_name = ctx.name
    options = dict(settings.options)
    opts = ctx.supported_options
    supported = {o.name for o in (*opts.generic, *opts.private)}
    crf = settings.crf
    if crf is None and settings.bitrate is None:
        crf = _DEFAULT_CRF.get(codec_name)
    if crf is not None:
        if "crf" not in supported:
            msg = f"encoder {codec_name!r} has no crf option; give a bitrate instead"
            raise ConfigError(msg)
        options.setdefault("crf", f"{crf:g}")
        if codec_name == "libvpx-vp9":
            options.setdefault("b", "0")  # constant quality, not constrained quality
    if settings.bitrate is not None:
        ctx.bit_rate = int(settings.bitrate)
    return options
