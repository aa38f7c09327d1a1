"""Import an optional dependency, or fail with one line naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError

__all__ = ["require"]


def require(module: str, extra: str, *, what: str) -> ModuleType:
    """Import ``module``; if it is missing, raise a one-line error naming the extra.

    Args:
        module: e.g. ``"uvicorn"`` or ``"ray.data"``.
        extra: the optional-dependency group providing it, e.g. ``"serve"``.
        what: the feature that needs it, e.g. ``"lesrcnn-deploy serve"``.

    Raises:
        MissingExtraError: ``{what} needs {module}: pip install 'lesrcnn-deploy[{extra}]'``.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        top = module.split(".")[0]
        if err.name is None or err.name.split(".")[0] != top:
            raise
        msg = f"{what} needs {top}, which is not installed: pip install 'lesrcnn-deploy[{extra}]'"
        raise MissingExtraError(msg) from None
