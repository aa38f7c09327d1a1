"""The JSON manifest written beside every int8 model: what it is, what it came from, how."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.fileio import atomic_write_json
from ..core.versions import library_versions

__all__ = ["MANIFEST_VERSION", "write_manifest"]

MANIFEST_VERSION = 2


def write_manifest(
    path: str | os.PathLike[str],
    *,
    artifact: Path,
    sha256: str,
    source: Mapping[str, Any],
    recipe_source: str,
    summary: Mapping[str, Any],
) -> Path:
    """Write the manifest atomically; returns its path.

    Args:
        path: the manifest file (``<model>.json``).
        artifact: the int8 model it describes (its file name is recorded).
        sha256: the int8 model's digest.
        source: the fp32 model: ``{"path", "sha256", "metadata"}``.
        recipe_source: where the recipe came from (a path, or ``""`` when trained just now).
        summary: the configuration, calibration and check results
            (:meth:`~.replay.QuantizationResult.to_dict`).
    """
    manifest = {
        "version": MANIFEST_VERSION,
        "artifact": artifact.name,
        "sha256": sha256,
        "source": dict(source),
        "recipe_source": recipe_source or "trained in this run",
        "versions": library_versions(),
        **dict(summary),
    }
    atomic_write_json(path, manifest)
    return Path(path)
