"""Safe loading of checkpoints into :class:`~lesrcnn_deploy.network.lesrcnn.LESRCNN` (PyTorch)."""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import WeightsError, one_line
from ..core.extras import require
from ..core.fileio import sha256_file
from .download import resolve_checkpoint, verify
from .registry import get_weights

if TYPE_CHECKING:  # PyTorch only when a checkpoint is loaded: the registry stays importable
    import torch

    from ..network.lesrcnn import LESRCNN

__all__ = ["checkpoint_scale", "load_model", "read_state_dict"]


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint with ``weights_only=True`` (no code in the file is ever run).

    Accepts a plain ``state_dict`` or a dict holding one under ``state_dict``/``model``/``params``.

    Raises:
        WeightsError: unreadable, truncated, not a checkpoint, or carrying a pickled code payload.
    """
    torch = require("torch", "build", what="loading a PyTorch checkpoint")
    p = Path(path)
    if p.stat().st_size == 0:
        msg = f"{p}: empty file, not a checkpoint"
        raise WeightsError(msg)
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = one_line(exc)
        msg = f"{p}: refused to load: the file holds objects other than tensors ({first[:120]})"
        raise WeightsError(msg) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError) as exc:
        msg = (
            f"{p}: not a readable PyTorch checkpoint (truncated or corrupted: {type(exc).__name__})"
        )
        raise WeightsError(msg) from exc
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "params"):
            inner = obj.get(key)
            if isinstance(inner, dict):
                obj = inner
                break
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        msg = f"{p}: not a state_dict (expected a mapping of names to tensors)"
        raise WeightsError(msg)
    return {k.removeprefix("module."): v for k, v in obj.items()}


def checkpoint_scale(state: Mapping[str, torch.Tensor]) -> int | None:
    """Scale a LESRCNN state_dict was trained for (``None`` = blind), from its upsample keys.

    Raises:
        WeightsError: the dict has no LESRCNN upsample block.
    """
    if "upsample.up2.body.0.weight" in state:
        return None
    w = state.get("upsample.up.body.0.weight")
    if w is None or w.ndim != 4:
        msg = "not a LESRCNN checkpoint (no upsample.up.body.0.weight)"
        raise WeightsError(msg)
    if "upsample.up.body.2.weight" in state:
        return 4
    return 3 if w.shape[0] == 9 * w.shape[1] else 2


def load_model(
    scale: int | None,
    weights: str | os.PathLike[str] | None = None,
    *,
    allow_custom: bool = False,
    fuse_upsample: bool = False,
    allow_download: bool = True,
) -> tuple[LESRCNN, Path, str]:
    """Build LESRCNN for ``scale`` and load its checkpoint (strict, ``weights_only=True``).

    Args:
        scale: 2, 3, 4, or ``None`` for the blind model.
        weights: explicit checkpoint path; found automatically when ``None``.
        allow_custom: accept an explicit file whose SHA256 is not the official one (e.g.
            fine-tuned weights). Files found automatically are always verified.
        fuse_upsample: see :class:`~lesrcnn_deploy.network.lesrcnn.LESRCNN`.
        allow_download: permit the download step of the search.

    Returns:
        ``(model in eval mode, checkpoint path, checkpoint sha256)``.

    Raises:
        WeightsError, ChecksumError: see :func:`resolve_checkpoint` and :func:`read_state_dict`;
            also a checkpoint of another scale, or missing/unexpected/mis-shaped keys.
    """
    record = get_weights(scale)
    path = resolve_checkpoint(scale, weights, allow_download=allow_download)
    if weights is not None and not allow_custom:
        verify(path, record)
    digest = sha256_file(path)
    state = read_state_dict(path)
    try:
        found = checkpoint_scale(state)
    except WeightsError as exc:
        msg = f"{path}: {exc}"
        raise WeightsError(msg) from None
    if found != scale:
        what = "blind (multi-scale)" if found is None else f"x{found}"
        want = "blind (multi-scale)" if scale is None else f"x{scale}"
        msg = f"{path}: this is a {what} checkpoint, asked for {want}"
        raise WeightsError(msg)
    require("torch", "build", what="building the PyTorch model")
    from ..network.lesrcnn import LESRCNN

    model = LESRCNN(scale, fuse_upsample=fuse_upsample)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}")
        if unexpected:
            extra = ", ".join(unexpected[:3]) + (" …" if len(unexpected) > 3 else "")
            parts.append(f"unexpected keys {extra}")
        msg = f"{path}: not a LESRCNN checkpoint: {'; '.join(parts)}"
        raise WeightsError(msg)
    for k, v in state.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            msg = f"{path}: {k} has shape {tuple(v.shape)}, expected {tuple(expected[k].shape)}"
            raise WeightsError(msg)
    model.load_state_dict(state, strict=True)
    return model.eval(), path, digest
