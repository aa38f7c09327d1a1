"""Finding and downloading official checkpoints, always verified by SHA256.

A checkpoint is found by: explicit path, then ``$LESRCNN_WEIGHTS_DIR``, then the model cache
(``models/``), then ``../shared/weights``, then a download (atomic, checksum-verified).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from ..core.errors import ChecksumError, DownloadError, WeightsError
from ..core.fileio import atomic_path, sha256_file
from ..core.paths import models_dir, shared_dir
from .registry import WeightsRecord, get_weights

__all__ = ["download", "resolve_checkpoint", "verify"]


def verify(path: Path, record: WeightsRecord) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the record's SHA256 (no-op without one)."""
    if record.sha256 is None:
        return
    digest = sha256_file(path)
    if digest != record.sha256:
        msg = (
            f"{path}: SHA256 {digest[:12]}… does not match the official {record.filename} "
            f"({record.sha256[:12]}…): corrupted or not the official checkpoint"
        )
        raise ChecksumError(msg)


def download(url: str, dest: Path, *, sha256: str | None, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying ``sha256`` before the file appears.

    A cut or failed download leaves nothing at ``dest`` (the partial file is removed), so the next
    run starts again and verifies again. ``file://`` URLs work too (used by the tests).
    """
    from tqdm import tqdm

    try:
        with atomic_path(dest, suffix=".part") as tmp:
            with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=dest.name,
                    disable=not progress,
                    leave=False,
                ) as bar:
                    while block := resp.read(1 << 16):
                        out.write(block)
                        bar.update(len(block))
                if total is not None and out.tell() != total:
                    msg = f"{url}: download cut short ({out.tell()} of {total} bytes)"
                    raise DownloadError(msg)
            if sha256 is not None:
                digest = sha256_file(tmp)
                if digest != sha256:
                    msg = (
                        f"{url}: downloaded file has SHA256 {digest[:12]}…, expected {sha256[:12]}…"
                    )
                    raise ChecksumError(msg)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        msg = f"{url}: download failed ({reason})"
        raise DownloadError(msg) from exc
    return dest


def _candidates(record: WeightsRecord) -> list[Path]:
    dirs: list[Path] = []
    env = os.environ.get("LESRCNN_WEIGHTS_DIR")
    if env:
        dirs.append(Path(env))
    dirs += [models_dir(), shared_dir() / "weights"]
    names = dict.fromkeys([record.cache_name, record.filename])
    return [d / n for d in dirs for n in names]


def resolve_checkpoint(
    scale: int | None, path: str | os.PathLike[str] | None = None, *, allow_download: bool = True
) -> Path:
    """Find the checkpoint file for ``scale`` (see module docstring for the search order).

    An explicit ``path`` is returned as is (it must exist); found official files are checksum-
    verified; a download goes to the model cache.

    Raises:
        WeightsError: nothing found and downloading is off or impossible.
        ChecksumError: a found or downloaded file is not the official one.
    """
    record = get_weights(scale)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            msg = f"{p}: checkpoint file not found"
            raise WeightsError(msg)
        return p
    if record.sha256 is None:
        msg = (
            f"no SHA256 is on record for the {record.name} checkpoint, so it is not looked up or "
            "downloaded automatically: give the file with --weights PATH"
        )
        raise WeightsError(msg)
    for cand in _candidates(record):
        if cand.is_file():
            verify(cand, record)
            return cand
    if not allow_download:
        msg = (
            f"{record.filename} not found in $LESRCNN_WEIGHTS_DIR, {models_dir()} or shared/weights"
        )
        raise WeightsError(msg)
    return download(record.url, models_dir() / record.cache_name, sha256=record.sha256)
