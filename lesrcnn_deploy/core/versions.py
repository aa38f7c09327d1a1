"""Versions of the libraries that the toolkit's numbers and artifacts depend on (one list)."""

from __future__ import annotations

import platform
from importlib import metadata

__all__ = ["LIBRARIES", "library_versions"]

LIBRARIES = (
    "onnxruntime",
    "onnx",
    "torch",
    "numpy",
    "opencv-python-headless",
    "openvino",
    "nncf",
)
"""Distributions recorded in manifests and reports (``"-"`` when not installed)."""


def library_versions() -> dict[str, str]:
    """``{"lesrcnn_deploy": ..., "python": ..., <library>: version or "-"}``, without importing
    the libraries themselves (read from the installed distributions' metadata)."""
    from .. import __version__

    out = {"lesrcnn_deploy": __version__, "python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "-"
    return out
