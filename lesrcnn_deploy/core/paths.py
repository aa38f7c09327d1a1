"""Where the toolkit reads and writes: the checkout, the per-user cache and the shared data folder.

In a source checkout (the folder holding ``pyproject.toml`` and ``calibration/``), built models go
to ``<checkout>/models``, reports to ``<checkout>/reports`` and retrained recipes to
``<checkout>/calibration``, as the Makefile expects. Installed as a package, all of them live in
the per-user cache directory of the platform (``~/.cache/lesrcnn-deploy`` on Linux,
``~/Library/Caches/lesrcnn-deploy`` on macOS, ``%LOCALAPPDATA%\\lesrcnn-deploy\\Cache`` on
Windows), never in the current folder. ``LESRCNN_CACHE_DIR`` (or the CLI's ``--cache-dir``)
moves all of it elsewhere. Measurements of this machine (the ``auto`` runtime choice) always go
to the per-user cache (:func:`user_cache_dir`), also in a checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "CACHE_ENV",
    "cache_dir",
    "checkout_root",
    "models_dir",
    "recipes_dir",
    "reports_dir",
    "shared_dir",
    "user_cache_dir",
]

CACHE_ENV = "LESRCNN_CACHE_DIR"
"""Environment variable that overrides the cache directory (models, recipes, reports)."""


def checkout_root() -> Path | None:
    """The source checkout this package runs from, or ``None`` for an installed package."""
    here = Path(__file__).resolve().parents[2]  # <root>/lesrcnn_deploy/core/paths.py
    if (here / "pyproject.toml").is_file() and (here / "calibration").is_dir():
        return here
    return None


def cache_dir() -> Path:
    """Root of everything the toolkit writes on its own (``$LESRCNN_CACHE_DIR``, else the
    checkout, else the platform's per-user cache directory)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    root = checkout_root()
    if root is not None:
        return root
    from platformdirs import user_cache_path

    return user_cache_path("lesrcnn-deploy", appauthor=False)


def user_cache_dir() -> Path:
    """The per-user, per-machine cache (``$LESRCNN_CACHE_DIR``, else the platform's user cache
    directory, even in a checkout): what was measured on this machine, e.g. the ``auto`` runtime
    choices, which a checkout shared between machines must not carry."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    from platformdirs import user_cache_path

    return user_cache_path("lesrcnn-deploy", appauthor=False)


def models_dir() -> Path:
    """Downloaded checkpoints and built ONNX models (``<cache>/models``)."""
    return cache_dir() / "models"


def reports_dir() -> Path:
    """Benchmark reports (``<cache>/reports``)."""
    return cache_dir() / "reports"


def recipes_dir() -> Path:
    """Where retrained recipes are written: the checkout's committed ``calibration/`` folder (a
    deliberate rewrite by ``make finetune``), else ``<cache>/recipes``."""
    root = checkout_root()
    if root is not None and not os.environ.get(CACHE_ENV):
        return root / "calibration"
    return cache_dir() / "recipes"


def shared_dir() -> Path:
    """The read-only data folder (``$LESRCNN_SHARED_DIR``, else ``shared/`` beside the checkout,
    else ``<cache>/shared``, which a user may fill)."""
    env = os.environ.get("LESRCNN_SHARED_DIR")
    if env:
        return Path(env)
    root = checkout_root()
    return root.parent / "shared" if root is not None else cache_dir() / "shared"
