"""Every error a user of ``upscale`` or ``serve`` can meet, with its HTTP status and CLI exit code.

The statuses of the error classes are the classes' own (``http_status``, which the service
answers); the CLI exit code follows one rule: ``upscale`` exits 1 when inputs failed on their own
content (an image or video error: the others are written, as ``cp`` or ``ffmpeg`` do) and 2 when
the command stopped (options, models), as argparse does. ``docs/robustness.md`` shows
:func:`markdown_table`; ``tests/test_serve_hostile.py`` holds every row against the real server
and CLI.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import (
    ConfigError,
    ImageError,
    ImageTooLargeError,
    LesrcnnError,
    ModelError,
    UnsupportedFormatError,
    VideoError,
    VideoTooLargeError,
)

__all__ = ["ErrorRow", "error_rows", "markdown_table"]


@dataclass(frozen=True)
class ErrorRow:
    """One row: what happened, the HTTP answer and the CLI exit code (``None``: not in the CLI)."""

    what: str
    http: str
    cli: int | None


_CLASSES: tuple[tuple[type[LesrcnnError], str], ...] = (
    (ConfigError, "a bad option or query parameter (`fit=abc`, `--scale 5`)"),
    (ImageError, "an image that cannot be read: empty, truncated, damaged pixels"),
    (UnsupportedFormatError, "content we do not read: SVG, a GIF still, unknown bytes"),
    (
        ImageTooLargeError,
        "input beyond `--max-pixels`, output (or network output) beyond "
        "`--max-output-pixels`, or a decompression-bomb header: refused from the header",
    ),
    (VideoError, "a video that cannot be read: no video stream, truncated"),
    (VideoTooLargeError, "video frames beyond `--max-pixels` or `--max-output-pixels`"),
    (ModelError, "a model file missing, unreadable or of another scale (the server won't start)"),
)

_SERVICE: tuple[ErrorRow, ...] = (
    ErrorRow("missing or wrong bearer token", "401", None),
    ErrorRow("request headers not complete within `--header-timeout`", "408, closed", None),
    ErrorRow(
        "request body stalled `--body-timeout` seconds, or slower than `--body-min-rate`",
        "408",
        None,
    ),
    ErrorRow("body beyond `--max-body-bytes` (an upload: `--max-job-bytes`)", "413", None),
    ErrorRow("more than `--max-jobs` jobs queued", "429 + Retry-After", None),
    ErrorRow("the client went away (counted in `/metrics`, nothing to answer)", "499", None),
    ErrorRow("queue full, job storage full (uploads in flight count), models loading", "503", None),
    ErrorRow("more than `--limit-concurrency` connections and requests", "503", None),
    ErrorRow("cut at shutdown: still running `--shutdown-timeout` after SIGTERM", "503", None),
    ErrorRow("Ctrl-C", "-", 130),
)


def _cli_exit(kind: type[LesrcnnError]) -> int:
    return 1 if issubclass(kind, ImageError | VideoError) else 2


def error_rows() -> list[ErrorRow]:
    """The rows: each error class (its ``http_status``), then the service's own answers."""
    rows = [
        ErrorRow(f"`{kind.__name__}`: {what}", str(kind.http_status), _cli_exit(kind))
        for kind, what in _CLASSES
    ]
    return rows + list(_SERVICE)


def markdown_table() -> str:
    """The rows as a Markdown table (``docs/robustness.md``)."""
    lines = ["| What happened | HTTP status | CLI exit code |", "| --- | --- | --- |"]
    for row in error_rows():
        cli = "-" if row.cli is None else str(row.cli)
        lines.append(f"| {row.what} | {row.http} | {cli} |")
    return "\n".join(lines)
