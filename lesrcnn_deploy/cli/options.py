"""Argument types shared by every sub-command's parser (one-line messages, no tracebacks)."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from ..core.vocab import (
    DEFAULT_THREADS,
    DEFAULT_TILES,
    MODEL_PRECISIONS,
    RUNTIMES,
    SCALES,
)

__all__ = [
    "ListAction",
    "add_json_option",
    "add_list_option",
    "add_runtime_option",
    "add_threads_option",
    "add_tile_options",
    "comma_list",
    "int_at_least",
    "model_precision_arg",
    "positive_int",
    "report_stream",
    "require_build",
    "scale_arg",
    "write_json_output",
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


@functools.cache
def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type accepting integers >= ``minimum`` (one function per minimum, so that the
    same option has the same type in every command)."""

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


def model_precision_arg(value: str) -> str:
    """Parse a model file's precision: one of
    :data:`~lesrcnn_deploy.core.vocab.MODEL_PRECISIONS`."""
    if value not in MODEL_PRECISIONS:
        msg = f"unknown precision {value!r}: choose from {', '.join(MODEL_PRECISIONS)}"
        raise argparse.ArgumentTypeError(msg)
    return value


@functools.cache
def comma_list(item: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    """An argparse type splitting one command-line word at commas and parsing each part with
    ``item`` (empty parts are skipped): ``"2,3"`` -> ``(2, 3)``. One function per ``item``."""

    def parse(value: str) -> tuple[Any, ...]:
        return tuple(item(part.strip()) for part in value.split(",") if part.strip())

    parse.__name__ = getattr(item, "__name__", "value")  # argparse names it in its messages
    parse.item = item  # type: ignore[attr-defined]  # what one value is (read by the tests)
    return parse


class ListAction(argparse.Action):
    """The one multi-value option: ``nargs="+"``, each word may hold several comma-separated
    values (``--scales 2,3,4`` = ``--scales 2 3 4`` = ``--scales 2 --scales 3,4``). The values are
    flattened, deduplicated in order, and accumulate over repeats of the option; the default is
    replaced, not extended. An empty list (``--keep-float ""``) is refused unless
    ``allow_empty``."""

    allow_empty = False

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        current = getattr(namespace, self.dest, None)
        out = [] if current is None or current is self.default else list(current)
        for value in values if isinstance(values, list) else [values]:
            for v in value if isinstance(value, tuple) else (value,):
                if v not in out:
                    out.append(v)
        if not out and not self.allow_empty:
            parser.error(f"{option_string}: expected at least one value")
        setattr(namespace, self.dest, out)


def add_list_option(
    parser: argparse.ArgumentParser | argparse._ActionsContainer,
    flag: str,
    *,
    item: Callable[[str], Any] = str,
    split: bool = True,
    allow_empty: bool = False,
    **kwargs: Any,
) -> argparse.Action:
    """Add a multi-value option (:class:`ListAction`) to ``parser`` (a parser or a group).

    ``item`` parses one value; with ``split`` (the default) a word is also split at commas, so
    ``2,3,4`` and ``2 3 4`` are the same list. Lists of file paths pass ``split=False``: a comma
    is legal in a file name, so they take ``A B`` or repeats. ``allow_empty`` accepts ``""``
    (an empty list). ``kwargs`` go to ``add_argument`` (``help``, ``default``, ``metavar``,
    ``required``, ``dest``).
    """
    kind = comma_list(item) if split else item
    action = parser.add_argument(flag, nargs="+", action=ListAction, type=kind, **kwargs)
    if allow_empty and isinstance(action, ListAction):
        action.allow_empty = True
    return action


def add_json_option(parser: argparse.ArgumentParser, what: str) -> None:
    """The one ``--json PATH`` option: also write ``what`` as JSON to PATH; ``-`` writes it to
    stdout, and the command's report lines go to stderr (:func:`report_stream`)."""
    parser.add_argument(
        "--json",
        metavar="PATH",
        help=f"also write {what} as JSON to PATH; - writes it to stdout (the report then goes "
        "to stderr)",
    )


def report_stream(args: argparse.Namespace) -> TextIO:
    """Where a command prints its human-readable lines: stderr when ``--json -`` owns stdout."""
    return sys.stderr if getattr(args, "json", None) == "-" else sys.stdout


def write_json_output(target: str, data: Any) -> str | None:
    """Write ``data`` for ``--json``: to stdout for ``-`` (returns None), else atomically to the
    file ``target`` (returns the line to print, ``wrote PATH``)."""
    if target == "-":
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()
        return None
    from ..core.fileio import atomic_write_json

    atomic_write_json(target, data)
    return f"wrote {target}"


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
        "-t",
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
