"""lesrcnn-deploy: LESRCNN super-resolution from the official checkpoints to int8 ONNX Runtime.

``from lesrcnn_deploy import Upscaler`` is the one-line way in. The package root imports nothing
when it is imported: :class:`~lesrcnn_deploy.upscale.Upscaler` is loaded on first use (PEP 562),
and never imports PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers only; at run time `__getattr__` below loads it
    from .upscale import Upscaler as Upscaler

__version__ = "0.1.0"

_LAZY = {"Upscaler": "lesrcnn_deploy.upscale"}
"""Public name -> the module that defines it, imported when the name is first read."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["Upscaler", "__version__"]
