"""Start or join Ray: a local instance without an address, the user's cluster with one."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

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
    ray.init(**kwargs)
    return ray
