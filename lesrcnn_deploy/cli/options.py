"""Argument types shared by every sub-command's parser (one-line messages, no tracebacks)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..core.vocab import DEFAULT_THREADS, DEFAULT_TILES, RUNTIMES, SCALES

__all__ = [
    "add_runtime_option",
    "add_threads_option",
    "add_tile_options",
    "int_at_least",
    "positive_int",
    "require_build",
    "scale_arg",
]


def scale_arg(value: str) -> int:
    """Parse an upscaling factor; only :data:`~lesrcnn_deploy.core.vocab.SCALES` are accepted."""
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


def add_threads_option(parser: argparse.ArgumentParser, what: str = "intra-op threads") -> None:
    """The one ``--threads N`` option of every command (same meaning, same default)."""
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=DEFAULT_THREADS,
        help=f"{what} (default {DEFAULT_THREADS})",
    )


def add_tile_options(parser: argparse.ArgumentParser) -> None:
    """The one ``--tile N`` / ``--no-tile`` pair of every command that upscales (``--tile 0`` is
    ``--no-tile``: the whole image in one call); the value lands in ``args.tile``."""
    t = parser.add_mutually_exclusive_group()
    t.add_argument(
        "--tile",
        type=int_at_least(0),
        default=None,
        help="largest tile side in LR pixels, 0 = whole image (default by runtime, at x"
        + "/x".join(map(str, SCALES))
        + ": "
        + ", ".join(
            f"{runtime} {'/'.join(str(by_scale[s]) for s in SCALES)}"
            for runtime, by_scale in DEFAULT_TILES.items()
        )
        + ")",
    )
    t.add_argument(
        "--no-tile",
        action="store_const",
        const=0,
        dest="tile",
        help="whole image in one call (memory grows with size)",
    )


def add_runtime_option(parser: argparse.ArgumentParser, *, default: str | None = None) -> None:
    """The one ``--runtime ort|openvino|auto`` option of every command that runs a model.

    ``default=None`` (deployed paths): ``args.runtime`` stays ``None`` unless given, and the
    runtime layer runs :func:`~lesrcnn_deploy.runtime.choice.default_runtime` (``auto`` with
    OpenVINO installed, else ``ort``). ``evaluate`` passes ``"ort"``, its reference runtime.
    """
    if default is None:
        text = (
            "ort (ONNX Runtime), openvino, or auto (the faster one for this model here, measured "
            "once and cached); default: auto when OpenVINO is installed, else ort"
        )
    else:
        text = f"ort (ONNX Runtime), openvino, or auto (measured, cached); default {default}"
    parser.add_argument("--runtime", choices=list(RUNTIMES), default=default, help=text)


def require_build(what: str, *, extra: str = "build") -> None:
    """The build side (PyTorch, onnx) or one line naming the extra that brings it.

    Raises:
        MissingExtraError: ``{what} needs torch, which is not installed: pip install
            'lesrcnn-deploy[build]'`` (or ``[bench]``).
    """
    from ..core.extras import require

    for module in ("torch", "onnx"):
        require(module, extra, what=what)
