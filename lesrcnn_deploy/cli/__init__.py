"""The command line, on top of every layer: one module per sub-command, parsing and printing only.

``lesrcnn-deploy <command>``: :func:`main` is the console script's entry point.
"""

from __future__ import annotations

from .main import build_parser as build_parser
from .main import main as main

__all__ = ["build_parser", "main"]
