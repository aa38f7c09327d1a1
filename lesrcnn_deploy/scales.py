"""The upscaling factors LESRCNN supports, checked without importing PyTorch."""

from __future__ import annotations

from .errors import ConfigError

__all__ = ["SCALES", "check_scale"]

SCALES: tuple[int, ...] = (2, 3, 4)
"""Upscaling factors that LESRCNN supports."""


def check_scale(scale: int) -> int:
    """Return ``scale`` if it is one of :data:`SCALES`, else raise :class:`ConfigError`."""
    if isinstance(scale, bool) or scale not in SCALES:
        msg = f"unknown scale {scale!r}: LESRCNN supports {', '.join(map(str, SCALES))}"
        raise ConfigError(msg)
    return int(scale)
