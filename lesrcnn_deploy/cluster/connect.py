"""Start or join Ray: a local instance without an address, the user's cluster with one."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from ..core.errors import ConfigError
from ..core.extras import require

__all__ = ["connect_ray"]


def connect_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    object_store_memory: int | None = None,
    what: str = "--ray",
) -> ModuleType:
    """Return the ``ray`` module, initialised once per process.

    Args:
        address: ``None`` or ``""`` starts a local Ray (the embedded default); ``"auto"``, a
            ``host:port`` of a head node or a ``ray://host:10001`` client address joins a cluster.
        num_cpus: CPUs of a local instance (ignored when joining a cluster).
        object_store_memory: object store bytes of a local instance (ignored when joining).
        what: the feature asking, for the missing-extra message.

    Raises:
        ConfigError: the cluster refused this machine's authentication token (or its absence).
        MissingExtraError: Ray is not installed.
    """
    ray = require("ray", "ray", what=what)
    if ray.is_initialized():
        return ray
    # WARNING: Ray's INFO lines ("Connecting to existing Ray cluster ...") would break the
    # CLI's one-line errors on stderr.
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
    }
    if address:
        kwargs["address"] = address
    else:
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        if object_store_memory is not None:
            kwargs["object_store_memory"] = object_store_memory
    try:
        with _held_stderr(bool(address)):
            ray.init(**kwargs)
    except (ConnectionError, RuntimeError) as exc:  # Ray's AuthenticationError is a RuntimeError
        if not address or "InvalidAuthToken" not in _chain(exc):
            raise
        msg = (
            f"Ray cluster at {address}: authentication token missing or incorrect; set "
            "RAY_AUTH_MODE=token and give this machine the head's token (~/.ray/auth_token, "
            "RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN)"
        )
        raise ConfigError(msg) from None
    return ray


@contextlib.contextmanager
def _held_stderr(hold: bool) -> Iterator[None]:
    """Hold what Ray's C++ client writes to file descriptor 2 while joining a cluster (a refused
    token logs one line per retry, ~20): given back unless joining failed, which becomes one
    line of ours instead."""
    if not hold:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode(errors="replace")
            if text and not failed:
                sys.stderr.write(text)


def _chain(exc: BaseException) -> str:
    """The messages of ``exc`` and its causes (Ray wraps the authentication error)."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 10:
        parts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    return " ".join(parts)
