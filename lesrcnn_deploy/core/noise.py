"""Keep third-party noise off stderr: what C decoders print, and library warnings.

* C libraries inside OpenCV write to file descriptor 2 themselves: libpng's ``libpng error: IDAT:
  incorrect data check``, libjpeg's ``Corrupt JPEG data: ...``. :func:`decoder_output` runs one
  decoder call with descriptor 2 sent to a temporary file and returns those lines, so our one-line
  error can carry them as its reason; anything else written meanwhile (another thread's log line)
  is written back to stderr afterwards. Calls are serialized (one decode at a time holds the
  redirect), which costs a decode's time, never an inference's.
* :func:`quiet_library_warnings`: Python warnings raised inside torch, ONNX, ONNX Runtime,
  OpenVINO, Pillow or PyAV are not shown by the CLI (they are about the library, not the user's
  input; a real problem becomes one of our errors).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator

__all__ = ["decoder_output", "decoder_reason", "quiet_library_warnings"]

_LOCK = threading.Lock()
_NOISE = re.compile(
    r"^(libpng |Corrupt JPEG|Premature end of JPEG|Invalid JPEG|Invalid SOS|Bogus |"
    r"Unsupported marker|Unknown APP|JPEG |TIFF|libtiff|OpenJPEG|libwebp)"
)
_LIBRARIES = r"(torch|torchvision|onnx|onnxruntime|openvino|PIL|av)(\.|$)"


@contextlib.contextmanager
def decoder_output() -> Iterator[list[str]]:
    """Capture what C code writes to descriptor 2 while the block runs.

    Yields:
        A list, filled when the block ends, with the decoder lines written meanwhile (other
        lines are written back to stderr).
    """
    lines: list[str] = []
    with _LOCK, tempfile.TemporaryFile() as capture:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no descriptor 2: nothing to keep clean
            yield lines
            return
        os.dup2(capture.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            other: list[str] = []
            for line in capture.read().decode(errors="replace").splitlines():
                (lines if _NOISE.match(line) else other).append(line)
            if other:
                with contextlib.suppress(OSError):
                    os.write(2, ("\n".join(other) + "\n").encode())


def decoder_reason(lines: list[str]) -> str:
    """The last decoder line as a reason (``IDAT: incorrect data check``), or ``""``."""
    if not lines:
        return ""
    text = lines[-1].strip()
    for prefix in ("libpng error: ", "libpng warning: "):
        text = text.removeprefix(prefix)
    return " ".join(text.split())


def quiet_library_warnings() -> None:
    """Hide Python warnings raised inside the third-party libraries (see the module doc)."""
    warnings.filterwarnings("ignore", module=_LIBRARIES)
