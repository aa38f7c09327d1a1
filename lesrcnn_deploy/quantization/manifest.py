"""The JSON manifest written beside every int8 model (what it is, what it came from, how): its
one writer and its one reader."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.fileio import atomic_write_json
from ..core.versions import library_versions

__all__ = ["MANIFEST_VERSION", "manifest_path", "read_manifest", "write_manifest"]

MANIFEST_VERSION = 2


def manifest_path(model: str | os.PathLike[str]) -> Path:
    """Where the manifest of the int8 ``model`` lives: ``<model>.json`` beside it."""
    return Path(model).with_suffix(".json")


def read_manifest(model: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest beside the int8 ``model`` (:func:`manifest_path`), or ``None`` when there is
    none or it is not a readable JSON object (a model built elsewhere, copied without it)."""
    try:
        data = json.loads(manifest_path(model).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
