"""Argument types shared by every sub-command's parser (one-line messages, no tracebacks)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .scales import SCALES

__all__ = ["int_at_least", "positive_int", "scale_arg"]


def scale_arg(value: str) -> int:
    """Parse an upscaling factor; only :data:`~lesrcnn_deploy.model.SCALES` are accepted."""
    try:
        s = int(value)
    except ValueError:
        s = -1
    if s not in SCALES:
        msg = f"unknown scale {value!r}: choose from {', '.join(map(str, SCALES))}"
        raise argparse.ArgumentTypeError(msg)
    return s


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type accepting integers >= ``minimum``."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            n = minimum - 1
        if n < minimum:
            msg = f"expected an integer >= {minimum}, got {value!r}"
            raise argparse.ArgumentTypeError(msg)
        return n

    return parse


positive_int = int_at_least(1)
"""An argparse type accepting integers >= 1."""
