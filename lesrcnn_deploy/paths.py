"""Where the toolkit looks for things: project root, model cache and the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["models_dir", "project_root", "reports_dir", "shared_dir"]


def project_root() -> Path:
    """The source checkout (folder holding ``pyproject.toml``) or, for an installed package, CWD."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file():
        return here
    return Path.cwd()


def models_dir() -> Path:
    """Cache of downloaded checkpoints and built ONNX models (``LESRCNN_CACHE_DIR`` overrides)."""
    env = os.environ.get("LESRCNN_CACHE_DIR")
    return Path(env) if env else project_root() / "models"


def shared_dir() -> Path:
    """The read-only data folder beside the checkout (``LESRCNN_SHARED_DIR`` overrides)."""
    env = os.environ.get("LESRCNN_SHARED_DIR")
    return Path(env) if env else project_root().parent / "shared"


def reports_dir() -> Path:
    """Where benchmark reports go (outside git)."""
    return project_root() / "reports"
