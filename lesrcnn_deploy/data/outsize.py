"""Any output size: plan the network scale for a wanted size, then resize to it exactly.

LESRCNN only upscales by 2, 3 or 4. For any other final size (``--outscale 1.5``, ``--fit
3840x2160``) the network runs at the **smallest model scale that reaches the size** (the largest
scale when none does), and :func:`resize_to` then brings its output to the exact size:

* **shrinking** (neither side grows): OpenCV ``INTER_AREA`` (pixel-area averaging, no aliasing);
* **enlarging** (a side grows, i.e. the wanted size is beyond x4): OpenCV ``INTER_LANCZOS4``
  (8x8 Lanczos), saturated to the dtype's range.

Sizes are ``(width, height)`` everywhere in this module, like OpenCV and Pillow; arrays are
``(H, W, C)`` uint8 or uint16. Rounding: ``--outscale F`` gives ``round(w * F)`` (halves round
up), at least 1 pixel per side; ``--fit WxH`` keeps the aspect ratio, touches the box on the
binding side exactly, and rounds the other side the same way (never beyond the box).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ..core.errors import ConfigError, ImageError, ImageTooLargeError

__all__ = [
    "DEFAULT_MAX_OUTPUT_PIXELS",
    "MAX_OUTSCALE",
    "MAX_SIDE",
    "OutputPlan",
    "check_output_pixels",
    "check_outscale",
    "parse_fit",
    "resize_to",
    "target_size",
]

MAX_OUTSCALE = 16.0
"""Largest accepted ``outscale`` factor."""

MAX_SIDE = 65_535
"""Largest accepted side of a ``fit`` box (and of any planned output), in pixels."""

DEFAULT_MAX_OUTPUT_PIXELS = 7680 * 4320
"""Default of ``--max-output-pixels``: the largest ``width * height`` of the network's output and
of the final image, 8K UHD (33,177,600). Memory grows with the output, not the input: the network
writes float32 (12 bytes per RGB pixel) before the 8/16-bit result and the encoder's buffer, so a
request at this limit peaks about 1.3 GB RSS (``tests/test_upscale_memory.py``, x4 of 1920x1080),
well within a 2 GB container; ``fit=65535x65535`` would be about 30 GB."""

_FIT_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


@dataclass(frozen=True)
class OutputPlan:
    """How to reach a wanted output size.

    Attributes:
        scale: The network (model) scale to run: one of the ``scales`` given to
            :func:`target_size`.
        size: The exact final ``(width, height)``.
        network_size: ``(width, height)`` of the network's output (input size times ``scale``).
    """

    scale: int
    size: tuple[int, int]
    network_size: tuple[int, int]

    @property
    def needs_resize(self) -> bool:
        """True when the network's output must be resized to reach :attr:`size`."""
        return self.size != self.network_size


def check_output_pixels(plan: OutputPlan, limit: int, *, name: str = "image") -> OutputPlan:
    """Return ``plan`` if neither the network's output nor the final size exceeds ``limit`` pixels.

    Checked from the header size, before any decoding or inference.

    Args:
        plan: from :func:`target_size` (or the plain network scale).
        limit: largest ``width * height`` (``--max-output-pixels``).
        name: what the message calls the input (a file name, ``request body``).

    Raises:
        ImageTooLargeError: one line naming both sizes and the limit (HTTP 413).
    """
    for what, (w, h) in (("output", plan.size), ("network output", plan.network_size)):
        if w * h > limit:
            msg = (
                f"{name}: {what} too large ({w}x{h} = {w * h} pixels > "
                f"max_output_pixels={limit}; raise --max-output-pixels or ask for a smaller size)"
            )
            raise ImageTooLargeError(msg)
    return plan


def check_outscale(outscale: float) -> float:
    """Return ``outscale`` as a float if it is a finite number in ``(0, MAX_OUTSCALE]``.

    Raises:
        ConfigError: Not a number, not finite, <= 0 or above :data:`MAX_OUTSCALE`.
    """
    if isinstance(outscale, bool) or not isinstance(outscale, (int, float)):
        msg = f"outscale must be a number, got {outscale!r}"
        raise ConfigError(msg)
    value = float(outscale)
    if not math.isfinite(value) or value <= 0 or value > MAX_OUTSCALE:
        msg = f"outscale must be > 0 and <= {MAX_OUTSCALE:g}, got {outscale!r}"
        raise ConfigError(msg)
    return value


def parse_fit(text: str) -> tuple[int, int]:
    """Parse a ``"WxH"`` box (e.g. ``"3840x2160"``) into ``(width, height)``.

    Raises:
        ConfigError: Not of the form ``WxH`` with integers in ``[1, MAX_SIDE]``.
    """
    m = _FIT_RE.match(text) if isinstance(text, str) else None
    if m is None:
        msg = f"fit must look like WIDTHxHEIGHT (e.g. 3840x2160), got {text!r}"
        raise ConfigError(msg)
    w, h = int(m.group(1)), int(m.group(2))
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        msg = f"fit sides must be between 1 and {MAX_SIDE}, got {text!r}"
        raise ConfigError(msg)
    return w, h


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _even(n: int) -> int:
    return max(2, n - n % 2)


def target_size(
    in_wh: tuple[int, int],
    *,
    outscale: float | None = None,
    fit: tuple[int, int] | str | None = None,
    scales: tuple[int, ...] = (2, 3, 4),
    even: bool = False,
) -> OutputPlan:
    """Plan the network scale and the exact final size for one input size.

    Exactly one of ``outscale`` and ``fit`` is given. For ``outscale`` the network scale is the
    smallest of ``scales`` that is >= ``outscale`` (so it is the same for every input size); for
    ``fit`` it is the smallest whose output covers the final size on both sides. When no scale
    reaches the size, the largest is used and :func:`resize_to` enlarges the rest (Lanczos).

    Args:
        in_wh: Input ``(width, height)``, both >= 1.
        outscale: Final size is ``round(w * outscale) x round(h * outscale)`` (at least 1 each).
        fit: ``(width, height)`` box or ``"WxH"``: the largest size with the input's aspect ratio
            that fits inside the box (the box may also be smaller than the input).
        scales: The model scales available, e.g. ``(2, 3, 4)``.
        even: Round each final side down to an even number (>= 2), for video encoders.

    Returns:
        The :class:`OutputPlan`.

    Raises:
        ConfigError: Neither or both of ``outscale``/``fit``, bad values, empty ``scales``, bad
            input size, or a final side above :data:`MAX_SIDE`.
    """
    w, h = (int(v) for v in in_wh)
    if w < 1 or h < 1:
        msg = f"input size must be at least 1x1, got {w}x{h}"
        raise ConfigError(msg)
    if not scales or any(isinstance(s, bool) or int(s) != s or s < 1 for s in scales):
        msg = f"scales must be positive integers, got {scales!r}"
        raise ConfigError(msg)
    ordered = sorted(int(s) for s in scales)
    if (outscale is None) == (fit is None):
        msg = "give exactly one of outscale and fit"
        raise ConfigError(msg)
    if outscale is not None:
        factor = check_outscale(outscale)
        size = (max(1, _round_half_up(w * factor)), max(1, _round_half_up(h * factor)))
        # From the factor, not the rounded size: one scale for every input size.
        scale = next((s for s in ordered if s >= factor - 1e-9), ordered[-1])
    else:
        box_w, box_h = parse_fit(fit) if isinstance(fit, str) else _check_box(fit)
        if box_w * h <= box_h * w:  # the width binds
            size = (box_w, min(box_h, max(1, _round_half_up(h * box_w / w))))
        else:
            size = (min(box_w, max(1, _round_half_up(w * box_h / h))), box_h)
        scale = next((s for s in ordered if s * w >= size[0] and s * h >= size[1]), ordered[-1])
    if even:
        size = (_even(size[0]), _even(size[1]))
    if max(size) > MAX_SIDE:
        msg = f"output size {size[0]}x{size[1]} exceeds {MAX_SIDE} pixels per side"
        raise ConfigError(msg)
    return OutputPlan(scale=scale, size=size, network_size=(w * scale, h * scale))


def _check_box(fit: object) -> tuple[int, int]:
    ok = (
        isinstance(fit, tuple)
        and len(fit) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in fit)
    )
    if not ok:
        msg = f"fit must be a (width, height) pair of integers or 'WxH', got {fit!r}"
        raise ConfigError(msg)
    return parse_fit(f"{fit[0]}x{fit[1]}")  # type: ignore[index]


def resize_to(
    img: npt.NDArray[np.unsignedinteger[Any]], size: tuple[int, int]
) -> npt.NDArray[np.unsignedinteger[Any]]:
    """Resize ``img`` to exactly ``size`` = ``(width, height)``.

    Area averaging (``INTER_AREA``) when neither side grows, Lanczos (``INTER_LANCZOS4``, values
    saturated to the dtype) when a side grows. The same size returns the input unchanged.

    Args:
        img: ``(H, W)`` or ``(H, W, C)`` with C in 1..4, uint8 or uint16.
        size: Target ``(width, height)``, both >= 1.

    Returns:
        An array of the same dtype and shape kind, ``(height, width[, C])``.

    Raises:
        ImageError: Not a uint8/uint16 ``(H, W[, C])`` array, or a size below 1x1.
    """
    if not isinstance(img, np.ndarray) or img.dtype not in (np.uint8, np.uint16):
        msg = f"resize_to needs a uint8 or uint16 array, got {getattr(img, 'dtype', type(img))}"
        raise ImageError(msg)
    if img.ndim not in (2, 3) or (img.ndim == 3 and not 1 <= img.shape[2] <= 4) or img.size == 0:
        msg = f"resize_to needs a non-empty (H, W[, C<=4]) array, got shape {img.shape}"
        raise ImageError(msg)
    out_w, out_h = (int(v) for v in size)
    if out_w < 1 or out_h < 1:
        msg = f"resize_to: target size must be at least 1x1, got {out_w}x{out_h}"
        raise ImageError(msg)
    in_h, in_w = img.shape[:2]
    if (out_w, out_h) == (in_w, in_h):
        return img
    shrinking = out_w <= in_w and out_h <= in_h
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    out = cv2.resize(np.ascontiguousarray(img), (out_w, out_h), interpolation=interpolation)
    if img.ndim == 3 and out.ndim == 2:  # OpenCV drops a single channel axis
        out = out[:, :, None]
    return out.astype(img.dtype, copy=False)
