"""What the upscaled file looks like: any size, metadata kept or stripped, quality, animations.

* **Size**: ``outscale`` or ``fit`` (see :mod:`~lesrcnn_deploy.data.outsize`): the network runs at
  the smallest scale that reaches the size, among the scales a :class:`ScaleSet` can open (one
  fixed scale when ``--scale``/``--model`` is given), then area (shrinking) or Lanczos (enlarging)
  resizing gives the exact size.
* **Metadata**: the ICC profile is always kept; EXIF (orientation reset to 1) and XMP too unless
  ``strip_metadata`` (then GPS positions never leave the machine).
* **Encoding**: ``quality``/``lossless``, see :mod:`~lesrcnn_deploy.data.image_encode`.
* **Animations**: every frame of a GIF/WebP/APNG goes through the model; the output is the same
  kind of animation with the same durations, loop count and transparency.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..core.errors import ConfigError, ImageTooLargeError
from ..core.vocab import SCALES, check_scale
from ..data.animation import Animation, load_animation, probe_animation, save_animation
from ..data.image_encode import check_encode_options, check_writable
from ..data.image_meta import ImageMeta
from ..data.outsize import (
    DEFAULT_MAX_OUTPUT_PIXELS,
    OutputPlan,
    check_output_pixels,
    check_outscale,
    parse_fit,
    resize_to,
    target_size,
)

__all__ = [
    "ImageUpscaler",
    "OutputOptions",
    "ScaleSet",
    "upscale_animation",
    "upscale_pixels",
]

MAX_ANIMATION_OUTPUT_PIXELS = 400_000_000
"""Largest ``frames * output width * output height`` of an animation (all frames are held in
memory to be encoded: 400 M RGBA pixels are 1.6 GB); larger ones are refused before decoding."""

Pixels = npt.NDArray[np.unsignedinteger[Any]]


class ImageUpscaler(Protocol):
    """A scale and ``upscale(HWC uint8/uint16) -> same kind``."""

    scale: int

    def upscale(self, img: Pixels) -> Pixels: ...


@dataclass(frozen=True)
class OutputOptions:
    """How outputs are sized, which metadata they keep and how they are encoded.

    Attributes:
        outscale: Final size = input size x this factor (any number in (0, 16]).
        fit: Final size = the largest with the input's aspect ratio inside ``(width, height)``.
        strip_metadata: Drop EXIF (GPS included) and XMP; the ICC profile is always kept.
        quality: JPEG/WebP/AVIF/JPEG XL quality 1-100 (None = the format's default).
        lossless: WebP only (lossless is already WebP's default without ``quality``).
        max_output_pixels: Largest ``width * height`` of the network's output and of the final
            image (:data:`~lesrcnn_deploy.data.outsize.DEFAULT_MAX_OUTPUT_PIXELS`); :meth:`plan`
            refuses more, before any work.
    """

    outscale: float | None = None
    fit: tuple[int, int] | None = None
    strip_metadata: bool = False
    quality: int | None = None
    lossless: bool | None = None
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS

    def __post_init__(self) -> None:
        limit = self.max_output_pixels
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            msg = f"max_output_pixels must be an integer >= 1, got {limit!r}"
            raise ConfigError(msg)
        if self.outscale is not None and self.fit is not None:
            msg = "give either --outscale or --fit, not both"
            raise ConfigError(msg)
        if self.outscale is not None:
            object.__setattr__(self, "outscale", check_outscale(self.outscale))
        if self.fit is not None:
            fit = self.fit if isinstance(self.fit, str) else f"{self.fit[0]}x{self.fit[1]}"
            object.__setattr__(self, "fit", parse_fit(fit))

    @property
    def resizes(self) -> bool:
        """True when the output size is not simply the network scale's."""
        return self.outscale is not None or self.fit is not None

    def suffix(self, scale: int) -> str:
        """The name tag of outputs: ``x4``, ``x1.5`` (outscale) or ``fit3840x2160``."""
        if self.outscale is not None:
            return f"x{self.outscale:g}"
        if self.fit is not None:
            return f"fit{self.fit[0]}x{self.fit[1]}"
        return f"x{scale}"

    def meta(self, meta: ImageMeta) -> ImageMeta:
        """What of ``meta`` to write: all of it, or only the ICC profile with ``strip_metadata``."""
        return meta.stripped() if self.strip_metadata else meta

    def check_format(self, fmt: str) -> None:
        """Refuse an unavailable ``fmt`` (AVIF, JPEG XL) and ``quality``/``lossless`` that would
        have no effect on it (one-line errors, before any work)."""
        if fmt.lower().lstrip(".") != "gif":  # GIF: animations only (save_animation)
            check_writable(fmt, name="output")
        check_encode_options(fmt, quality=self.quality, lossless=self.lossless)

    def takes_encoding(self, fmt: str) -> bool:
        """True when ``quality``/``lossless`` (if given) have an effect on ``fmt``."""
        if self.quality is None and not self.lossless:
            return True
        try:
            check_encode_options(fmt, quality=self.quality, lossless=self.lossless)
        except ConfigError:
            return False
        return True

    def for_format(self, fmt: str) -> OutputOptions:
        """These options without the ``quality``/``lossless`` that ``fmt`` does not take: how a
        run whose outputs follow their inputs' formats (``-f auto``) applies ``--quality 90`` to
        its JPEGs and leaves its PNGs alone."""
        if self.takes_encoding(fmt):
            return self
        return dataclasses.replace(self, quality=None, lossless=None)

    def plan(
        self, size: tuple[int, int], scales: tuple[int, ...], *, name: str = "image"
    ) -> OutputPlan:
        """The :class:`~lesrcnn_deploy.data.outsize.OutputPlan` for an input ``(w, h)``.

        Raises:
            ImageTooLargeError: the output would pass ``max_output_pixels`` (``name`` is the
                input in the message).
        """
        if not self.resizes:
            s = scales[0]
            plan = OutputPlan(s, (size[0] * s, size[1] * s), (size[0] * s, size[1] * s))
        else:
            plan = target_size(size, outscale=self.outscale, fit=self.fit, scales=scales)
        return check_output_pixels(plan, self.max_output_pixels, name=name)


class ScaleSet:
    """The upscalers a run may use, one per scale, each opened on first use.

    Args:
        opener: Opens the upscaler of a scale (e.g. ``lambda s: Upscaler(s, "int8")``).
        scales: The scales it may open; the smallest that reaches an output size is used.
        first: An upscaler already open (its scale must be in ``scales``).
    """

    def __init__(
        self,
        opener: Callable[[int], ImageUpscaler],
        *,
        scales: tuple[int, ...] = SCALES,
        first: ImageUpscaler | None = None,
    ) -> None:
        self.scales = tuple(sorted(check_scale(s) for s in scales))
        self._opener = opener
        self._open: dict[int, ImageUpscaler] = {first.scale: first} if first is not None else {}
        self._lock = threading.Lock()

    @classmethod
    def fixed(cls, upscaler: ImageUpscaler) -> ScaleSet:
        """Only ``upscaler``'s scale (``--scale``/``--model`` given)."""

        def never(scale: int) -> ImageUpscaler:  # pragma: no cover - scales has one entry
            return upscaler

        return cls(never, scales=(upscaler.scale,), first=upscaler)

    def get(self, scale: int) -> ImageUpscaler:
        """The upscaler of ``scale``, opened now if it is not yet."""
        with self._lock:
            if scale not in self._open:
                self._open[scale] = self._opener(scale)
            return self._open[scale]


def upscale_pixels(
    upscalers: ScaleSet | ImageUpscaler, pixels: Pixels, *, options: OutputOptions
) -> Pixels:
    """Upscale one image to the size ``options`` asks for.

    Args:
        upscalers: a :class:`ScaleSet`, or one upscaler (its scale only).
        pixels: ``(H, W[, C])`` uint8/uint16 gray, RGB or RGBA.
        options: the size wanted (``outscale``/``fit``; neither = the network scale).

    Returns:
        The upscaled image, exactly the planned size, same dtype and shape kind.
    """
    ups = upscalers if isinstance(upscalers, ScaleSet) else ScaleSet.fixed(upscalers)
    plan = options.plan((int(pixels.shape[1]), int(pixels.shape[0])), ups.scales)
    out = ups.get(plan.scale).upscale(pixels)
    return resize_to(out, plan.size) if plan.needs_resize else out


def upscale_animation(
    upscalers: ScaleSet | ImageUpscaler,
    source: Path,
    *,
    output: Path,
    options: OutputOptions,
    max_pixels: int,
) -> Animation:
    """Upscale every frame of an animated GIF/WebP/APNG into an animation of ``output``'s kind.

    Returns:
        The written :class:`~lesrcnn_deploy.data.animation.Animation`.

    Raises:
        ImageTooLargeError: more than :data:`MAX_ANIMATION_OUTPUT_PIXELS` output pixels in all.
        ImageError: unreadable input; an output extension that holds no animation.
        ConfigError: ``quality``/``lossless`` where they have no effect.
    """
    n, size = probe_animation(source)
    if size[0] * size[1] <= max_pixels:  # else load_animation says "too large" itself
        ups = upscalers if isinstance(upscalers, ScaleSet) else ScaleSet.fixed(upscalers)
        w, h = options.plan(size, ups.scales, name=str(source)).size
        if n * w * h > MAX_ANIMATION_OUTPUT_PIXELS:
            msg = (
                f"{source}: animation too large: {n} frames of {w}x{h} output pixels "
                f"(at most {MAX_ANIMATION_OUTPUT_PIXELS} pixels in all)"
            )
            raise ImageTooLargeError(msg)
    anim = load_animation(source, max_pixels=max_pixels)
    frames = [upscale_pixels(upscalers, f, options=options) for f in anim.frames]
    out = Animation(
        frames=frames,  # uint8 in, uint8 out
        durations=anim.durations,
        loop=anim.loop,
        format=anim.format,
        meta=anim.meta,
    )
    save_animation(output, out, quality=options.quality, lossless=options.lossless)
    return out
