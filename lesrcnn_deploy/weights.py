"""Registry of the official LESRCNN checkpoints, and finding, downloading and loading them.

One frozen :class:`WeightsRecord` per checkpoint (URL at the pinned upstream commit, SHA256, scale,
parameter count, published metrics), exposed as one enum per scale with a ``DEFAULT`` member, in the
manner of torchvision's weights API. Every load of an official checkpoint verifies its SHA256.

A checkpoint is found by: explicit path, then ``$LESRCNN_WEIGHTS_DIR``, then the model cache
(``models/``), then ``../shared/weights``, then a download (atomic, checksum-verified).
"""

from __future__ import annotations

import enum
import os
import pickle
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import torch

from .errors import ChecksumError, DownloadError, WeightsError
from .fileio import atomic_path, sha256_file
from .model import LESRCNN, check_scale
from .paths import models_dir, shared_dir

__all__ = [
    "UPSTREAM_COMMIT",
    "LESRCNN_Blind_Weights",
    "LESRCNN_X2_Weights",
    "LESRCNN_X3_Weights",
    "LESRCNN_X4_Weights",
    "WeightsRecord",
    "checkpoint_scale",
    "download",
    "get_weights",
    "list_weights",
    "load_model",
    "read_state_dict",
    "resolve_checkpoint",
]

UPSTREAM_COMMIT = "e3729ed3884cbaa67c1534a1ac9626c71d670d27"
_REPO = "https://github.com/hellloxiaotian/LESRCNN/raw/" + UPSTREAM_COMMIT
_PAPER = "Tian et al., Lightweight image super-resolution with enhanced CNN, KBS 2020"


def _frozen(d: Mapping[str, Mapping[str, float]]) -> Mapping[str, Mapping[str, float]]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in d.items()})


@dataclass(frozen=True)
class WeightsRecord:
    """One checkpoint: where it comes from, how to check it, what it is published to score.

    Attributes:
        name: registry name, e.g. ``"lesrcnn_x2"``.
        scale: 2, 3 or 4; ``None`` for the blind model (scale chosen at call time).
        filename: upstream file name (``lesrcnn_x2.pth``).
        url: download URL at the pinned upstream commit.
        sha256: full hex digest of the file, or ``None`` where no digest is on record (then the
            file can't be downloaded or found automatically, only given by path).
        num_params: parameter count including the two mean-shift convs (the card's convention).
        metrics: published fp32 numbers, ``{"Set5": {"psnr_y": .., "ssim_y": ..}, ...}``; the
            ``DIV2K_seed128`` entry is the model-zoo card's (RGB, 128x128 LR, see REFERENCE 3).
        input_contract: what the network eats.
    """

    name: str
    scale: int | None
    filename: str
    url: str
    sha256: str | None
    num_params: int
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    input_contract: str = "RGB float32 in [0, 1], NCHW"
    source: str = f"github.com/hellloxiaotian/LESRCNN @ {UPSTREAM_COMMIT[:7]}"
    paper: str = _PAPER

    @property
    def cache_name(self) -> str:
        """File name in the model cache: upstream stem plus the 8-hex SHA256 prefix."""
        stem = self.filename.removesuffix(".pth")
        return f"{stem}-{self.sha256[:8]}.pth" if self.sha256 else self.filename


class _WeightsEnum(enum.Enum):
    @property
    def record(self) -> WeightsRecord:
        value = self.value
        assert isinstance(value, WeightsRecord)
        return value


class LESRCNN_X2_Weights(_WeightsEnum):
    """Official x2 checkpoint."""

    OFFICIAL = WeightsRecord(
        name="lesrcnn_x2",
        scale=2,
        filename="lesrcnn_x2.pth",
        url=f"{_REPO}/x2/lesrcnn_x2.pth",
        sha256="66b4b2ddb268486f78a3d49758a016417e64f602ef963667b5ce34039200bcde",
        num_params=626_328,
        metrics=_frozen(
            {
                "Set5": {"psnr_y": 37.65, "ssim_y": 0.9586},
                "Set14": {"psnr_y": 33.32, "ssim_y": 0.9148},
                "B100": {"psnr_y": 31.95, "ssim_y": 0.8964},
                "Urban100": {"psnr_y": 31.45, "ssim_y": 0.9206},
                "DIV2K_seed128": {
                    "psnr": 29.763,
                    "ssim": 0.916,
                    "int8_psnr": 27.575,
                    "int8_ssim": 0.877,
                },
            }
        ),
    )
    DEFAULT = OFFICIAL


class LESRCNN_X3_Weights(_WeightsEnum):
    """Official x3 checkpoint."""

    OFFICIAL = WeightsRecord(
        name="lesrcnn_x3",
        scale=3,
        filename="lesrcnn_x3.pth",
        url=f"{_REPO}/x3/lesrcnn_x3.pth",
        sha256="95cbabcbd243e5582118d3bba44fd751a80dd19a291d5f3b1ebd7c9b3b61346a",
        num_params=810_968,
        metrics=_frozen(
            {
                "Set5": {"psnr_y": 33.93, "ssim_y": 0.9231},
                "Set14": {"psnr_y": 30.12, "ssim_y": 0.8380},
                "B100": {"psnr_y": 28.91, "ssim_y": 0.8005},
                "Urban100": {"psnr_y": 27.70, "ssim_y": 0.8415},
            }
        ),
    )
    DEFAULT = OFFICIAL


class LESRCNN_X4_Weights(_WeightsEnum):
    """Official x4 checkpoint."""

    OFFICIAL = WeightsRecord(
        name="lesrcnn_x4",
        scale=4,
        filename="lesrcnn_x4.pth",
        url=f"{_REPO}/x4/lesrcnn_x4.pth",
        sha256="1de9d0e1b1817de43fba3ce9c4b966fd8cde81e160d7432a844d6a2296f90cbc",
        num_params=774_040,
        metrics=_frozen(
            {
                "Set5": {"psnr_y": 31.88, "ssim_y": 0.8903},
                "Set14": {"psnr_y": 28.44, "ssim_y": 0.7772},
                "B100": {"psnr_y": 27.45, "ssim_y": 0.7313},
                "Urban100": {"psnr_y": 25.77, "ssim_y": 0.7732},
                "DIV2K_seed128": {
                    "psnr": 25.951,
                    "ssim": 0.769,
                    "int8_psnr": 25.258,
                    "int8_ssim": 0.752,
                },
            }
        ),
    )
    DEFAULT = OFFICIAL


class LESRCNN_Blind_Weights(_WeightsEnum):
    """Official blind (multi-scale) checkpoint ``lesrcnn_b/lesrcnn.pth``.

    No SHA256 is on record for it (the file was not available when this registry was written),
    so it is never downloaded or picked up automatically: give it by path.
    """

    OFFICIAL = WeightsRecord(
        name="lesrcnn_blind",
        scale=None,
        filename="lesrcnn.pth",
        url=f"{_REPO}/lesrcnn_b/lesrcnn.pth",
        sha256=None,
        num_params=1_254_104,  # two mean shifts + trunk + up2/up3/up4 heads (computed, see tests)
        metrics=_frozen(
            {
                "Set5_x2": {"psnr_y": 37.57, "ssim_y": 0.9582},
                "Set5_x3": {"psnr_y": 34.05, "ssim_y": 0.9238},
                "Set5_x4": {"psnr_y": 31.88, "ssim_y": 0.8907},
            }
        ),
    )
    DEFAULT = OFFICIAL


_BY_SCALE: dict[int | None, type[_WeightsEnum]] = {
    2: LESRCNN_X2_Weights,
    3: LESRCNN_X3_Weights,
    4: LESRCNN_X4_Weights,
    None: LESRCNN_Blind_Weights,
}


def get_weights(scale: int | None) -> WeightsRecord:
    """The DEFAULT record for ``scale`` (2, 3, 4; ``None`` for the blind model)."""
    if scale is not None:
        check_scale(scale)
    return _BY_SCALE[scale]["DEFAULT"].record


def list_weights() -> list[WeightsRecord]:
    """Every record in the registry, fixed scales first."""
    return [_BY_SCALE[s]["DEFAULT"].record for s in (2, 3, 4, None)]


def _verify(path: Path, record: WeightsRecord) -> None:
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
            _verify(cand, record)
            return cand
    if not allow_download:
        msg = (
            f"{record.filename} not found in $LESRCNN_WEIGHTS_DIR, {models_dir()} or shared/weights"
        )
        raise WeightsError(msg)
    return download(record.url, models_dir() / record.cache_name, sha256=record.sha256)


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint with ``weights_only=True`` (no code in the file is ever run).

    Accepts a plain ``state_dict`` or a dict holding one under ``state_dict``/``model``/``params``.

    Raises:
        WeightsError: unreadable, truncated, not a checkpoint, or carrying a pickled code payload.
    """
    p = Path(path)
    if p.stat().st_size == 0:
        msg = f"{p}: empty file, not a checkpoint"
        raise WeightsError(msg)
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
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
        fuse_upsample: see :class:`~lesrcnn_deploy.model.LESRCNN`.
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
        _verify(path, record)
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
