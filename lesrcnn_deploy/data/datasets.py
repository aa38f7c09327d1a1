"""Super-resolution test sets: find HR/LR pairs in a folder and load them as RGB uint8.

Three folder layouts are recognised (see :func:`open_dataset`):

* ``"official"``: the official LESRCNN repository's layout, ``root/x{s}/<name>_SRF_{s}_HR.png`` next
  to ``root/x{s}/<name>_SRF_{s}_LR.png`` (Set5 of that repository);
* ``"hr_lr_bicubic"``: the DIV2K/EDSR layout, ``root/HR/<stem>.png`` with
  ``root/LR_bicubic/X{s}/<stem>x{s}.png``, or ``root/<P>_HR/`` with ``root/<P>_LR_bicubic/X{s}/``
  (``DIV2K_valid_HR`` + ``DIV2K_valid_LR_bicubic``); ``root`` may also be the HR folder itself;
* ``"hr_only"``: a folder of images; the LR images are made with MATLAB bicubic
  (:func:`~lesrcnn_deploy.data.matlab_resize.bicubic_downscale`).

Arrays returned are ``(H, W, 3)`` uint8 **RGB** in [0, 255]; gray files come back as three equal
channels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from ..core.errors import ConfigError, DatasetError
from ..core.vocab import check_scale
from .image_io import SUPPORTED_EXTENSIONS, LoadedImage, load_image, read_image_size, to_rgb_uint8
from .matlab_resize import bicubic_downscale, modcrop

__all__ = ["DatasetLayout", "SRDataset", "SRPair", "list_images", "open_dataset"]

DatasetLayout = Literal["official", "hr_lr_bicubic", "hr_only"]

_MAX_NAMED = 5  # how many unmatched names an error message lists
_SCALE_DIR = re.compile(r"[xX](\d+)")
_OFFICIAL_SUFFIX = re.compile(r"(?:_SRF_\d+)?_(HR|LR)$")


@dataclass(frozen=True)
class SRPair:
    """One test image.

    Attributes:
        name: Image name without scale tags or extension, e.g. ``"baboon"``, ``"img_001"``,
            ``"0801"``.
        hr_path: The HR file.
        lr_path: The LR file, or None when the LR image is made by bicubic downscaling.
    """

    name: str
    hr_path: Path
    lr_path: Path | None


@dataclass(frozen=True)
class SRDataset:
    """HR/LR pairs of one folder for one scale, sorted by name. Iterating yields :class:`SRPair`.

    Attributes:
        root: The folder given to :func:`open_dataset` (resolved).
        name: Dataset name: the root folder's name (``"Set5"``, ``"Set14"``), or the HR folder's
            prefix for ``<P>_HR`` folders (``"DIV2K_valid"``).
        scale: Upscaling factor, one of 2, 3, 4.
        layout: ``"official"``, ``"hr_lr_bicubic"`` or ``"hr_only"``.
        pairs: The pairs, sorted by name.
    """

    root: Path
    name: str
    scale: int
    layout: DatasetLayout
    pairs: tuple[SRPair, ...]

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[SRPair]:
        return iter(self.pairs)

    def load_raw(self, pair: SRPair) -> tuple[LoadedImage, LoadedImage]:
        """Load the pair as stored: no colour conversion and no cropping.

        For ``lr_path is None`` the LR image is :func:`bicubic_downscale` of the whole HR image (all
        channels, same dtype; it covers the modcropped HR) and its ``path`` is None.

        Returns:
            ``(hr, lr)`` :class:`LoadedImage` objects (RGB / RGBA / gray, uint8 or uint16).

        Raises:
            ImageError: A file cannot be read.
        """
        hr = load_image(pair.hr_path)
        if pair.lr_path is None:
            _check_big_enough(pair.hr_path, hr.height, hr.width, self.scale)
            return hr, LoadedImage(pixels=bicubic_downscale(hr.pixels, self.scale), path=None)
        return hr, load_image(pair.lr_path)

    def load(self, pair: SRPair) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
        """Load the pair as the network sees it.

        Returns:
            ``(hr, lr)``: ``(lr_h * scale, lr_w * scale, 3)`` and ``(lr_h, lr_w, 3)`` uint8 **RGB**
            arrays in [0, 255]. Gray becomes 3 equal channels, alpha is dropped, 16 bit is rounded
            to 8 bit (:func:`to_rgb_uint8`). The HR is cropped at the top-left corner (modcrop).
            Without an LR file the LR is :func:`bicubic_downscale` of the 8-bit RGB HR.

        Raises:
            ImageError: A file cannot be read.
            DatasetError: The decoded LR size is not ``floor(HR size / scale)``.
        """
        s = self.scale
        hr = to_rgb_uint8(load_image(pair.hr_path))
        if pair.lr_path is None:
            _check_big_enough(pair.hr_path, hr.shape[0], hr.shape[1], s)
            hr = np.ascontiguousarray(modcrop(hr, s))
            return hr, bicubic_downscale(hr, s)
        lr = to_rgb_uint8(load_image(pair.lr_path))
        _check_lr_size(pair.lr_path, hr.shape[:2], lr.shape[:2], s)
        lr_h, lr_w = lr.shape[:2]
        return np.ascontiguousarray(hr[: lr_h * s, : lr_w * s]), lr


def list_images(folder: str | os.PathLike[str], *, recursive: bool = False) -> list[Path]:
    """Image files of a folder, by extension (.png .jpg .jpeg .webp .bmp .tif .tiff, any case).

    Hidden files (name starting with ``.``, e.g. macOS ``._x.png``) are skipped.

    Args:
        folder: The folder to list.
        recursive: Also list sub-folders (hidden sub-folders are skipped).

    Returns:
        Sorted list of file paths (possibly empty).

    Raises:
        DatasetError: ``folder`` does not exist or is not a folder.
    """
    root = Path(folder)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "no such folder"
        msg = f"{root}: {what}"
        raise DatasetError(msg)
    candidates = root.rglob("*") if recursive else root.iterdir()
    found = []
    for p in candidates:
        rel = p.relative_to(root).parts
        if any(part.startswith(".") for part in rel):
            continue
        if p.suffix.lower() in SUPPORTED_EXTENSIONS and p.is_file():
            found.append(p)
    return sorted(found)


def open_dataset(
    root: str | os.PathLike[str], scale: int, *, limit: int | None = None
) -> SRDataset:
    """Find the HR/LR pairs of ``root`` for ``scale`` and check that they match.

    Layout detection, in this order:

    1. ``root/x{n}/`` folders holding ``*_HR.*`` files -> ``"official"``; the pair of
       ``<base>_HR.png`` is ``<base>_LR.png`` and its name is ``<base>`` without ``_SRF_{n}``.
    2. ``root/HR/`` or exactly one ``root/<P>_HR/`` -> ``"hr_lr_bicubic"`` with LR files
       ``root/LR_bicubic/X{s}/<stem>x{s}.*`` (resp. ``root/<P>_LR_bicubic/X{s}/``). ``root`` may
       also be such an HR folder itself, next to its LR_bicubic folder.
    3. Image files directly in ``root`` -> ``"hr_only"``.

    Every pair's sizes are checked from the file headers (no decoding): LR must be
    ``floor(HR / scale)`` in both dimensions (for hr_only, HR must be at least ``scale`` pixels).

    Args:
        root: Dataset folder.
        scale: 2, 3 or 4.
        limit: Keep only the first ``limit`` pairs (by name); None keeps all.

    Returns:
        The :class:`SRDataset`.

    Raises:
        ConfigError: ``scale`` is not 2, 3 or 4, or ``limit`` is not a positive integer.
        DatasetError: One line naming the folder or file: folder missing or without a recognised
            layout/images, no images for ``scale``, HR and LR names do not match, an LR size is not
            ``floor(HR size / scale)``, several ``*_HR`` folders (ambiguous).
        ImageError: A header cannot be read.
    """
    s = check_scale(scale)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        msg = f"limit must be a positive integer or None, got {limit!r}"
        raise ConfigError(msg)
    folder = Path(root).resolve()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "no such dataset folder"
        msg = f"{folder}: {what}"
        raise DatasetError(msg)

    found = _try_official(folder, s) or _try_hr_lr_bicubic(folder, s) or _try_hr_only(folder)
    if found is None:
        msg = (
            f"{folder}: empty or unrecognised dataset folder (expected x{s}/*_HR.png, "
            f"HR/ + LR_bicubic/X{s}/, or image files)"
        )
        raise DatasetError(msg)
    name, layout, pairs = found
    pairs = sorted(pairs, key=lambda p: p.name)
    if limit is not None:
        pairs = pairs[:limit]
    for pair in pairs:
        hr_h, hr_w = read_image_size(pair.hr_path)
        if pair.lr_path is None:
            _check_big_enough(pair.hr_path, hr_h, hr_w, s)
        else:
            _check_lr_size(pair.lr_path, (hr_h, hr_w), read_image_size(pair.lr_path), s)
    return SRDataset(root=folder, name=name, scale=s, layout=layout, pairs=tuple(pairs))


_Found = tuple[str, DatasetLayout, list[SRPair]]


def _check_lr_size(lr_path: Path, hr_hw: tuple[int, ...], lr_hw: tuple[int, ...], s: int) -> None:
    want = (hr_hw[0] // s, hr_hw[1] // s)
    if tuple(lr_hw) != want or min(want) < 1:
        msg = (
            f"{lr_path}: LR size {lr_hw[1]}x{lr_hw[0]} is not HR size {hr_hw[1]}x{hr_hw[0]} "
            f"divided by {s} (expected {want[1]}x{want[0]}, WxH)"
        )
        raise DatasetError(msg)


def _check_big_enough(hr_path: Path, h: int, w: int, s: int) -> None:
    if h < s or w < s:
        msg = f"{hr_path}: HR size {w}x{h} is smaller than the scale {s} (WxH)"
        raise DatasetError(msg)


def _match(hr: dict[str, Path], lr: dict[str, Path], hr_dir: Path, lr_dir: Path) -> list[SRPair]:
    """Pair HR and LR files by name; any name on one side only is an error."""
    only_hr = sorted(set(hr) - set(lr))
    only_lr = sorted(set(lr) - set(hr))
    if only_hr or only_lr:
        parts = []
        if only_hr:
            parts.append(f"{len(only_hr)} HR without LR: {_few(only_hr)}")
        if only_lr:
            parts.append(f"{len(only_lr)} LR without HR: {_few(only_lr)}")
        msg = (
            f"{hr_dir} and {lr_dir}: HR and LR files do not match "
            f"({len(hr)} HR, {len(lr)} LR; {'; '.join(parts)})"
        )
        raise DatasetError(msg)
    return [SRPair(name=n, hr_path=hr[n], lr_path=lr[n]) for n in hr]


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMED])
    return shown + (", ..." if len(names) > _MAX_NAMED else "")


def _by_key(files: list[Path], key_of: dict[Path, str], where: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in files:
        key = key_of[f]
        if key in out:
            msg = f"{where}: two files for image {key!r}: {out[key].name} and {f.name}"
            raise DatasetError(msg)
        out[key] = f
    return out


def _try_official(folder: Path, s: int) -> _Found | None:
    scale_dirs = {
        int(m.group(1)): d
        for d in sorted(folder.iterdir())
        if d.is_dir() and (m := _SCALE_DIR.fullmatch(d.name))
    }
    if not any(_official_files(d, "HR") for d in scale_dirs.values()):
        return None
    sub = scale_dirs.get(s)
    hr_files = _official_files(sub, "HR") if sub is not None else []
    if sub is None or not hr_files:
        have = ", ".join(f"x{n}" for n in sorted(scale_dirs))
        msg = f"{folder}: no images for scale {s} (official layout, found {have})"
        raise DatasetError(msg)
    lr_files = _official_files(sub, "LR")
    key_of = {f: _OFFICIAL_SUFFIX.sub("", f.stem) for f in hr_files + lr_files}
    hr = _by_key(hr_files, key_of, sub)
    lr = _by_key(lr_files, key_of, sub)
    return folder.name, "official", _match(hr, lr, sub, sub)


def _official_files(folder: Path, kind: str) -> list[Path]:
    return [f for f in list_images(folder) if f.stem.endswith(f"_{kind}")]


def _lr_dir_for(hr_dir: Path) -> tuple[str, Path] | None:
    """(dataset name, LR_bicubic folder) for an HR folder named ``HR`` or ``<P>_HR``."""
    if hr_dir.name == "HR":
        return hr_dir.parent.name, hr_dir.parent / "LR_bicubic"
    if hr_dir.name.endswith("_HR") and len(hr_dir.name) > 3:
        prefix = hr_dir.name[:-3]
        return prefix, hr_dir.parent / f"{prefix}_LR_bicubic"
    return None


def _try_hr_lr_bicubic(folder: Path, s: int) -> _Found | None:
    hr_dirs = [
        d
        for d in sorted(folder.iterdir())
        if d.is_dir() and (d.name == "HR" or d.name.endswith("_HR")) and _lr_dir_for(d)
    ]
    if len(hr_dirs) > 1:
        names = ", ".join(d.name for d in hr_dirs)
        msg = f"{folder}: several HR folders ({names}); pass one of them as the dataset root"
        raise DatasetError(msg)
    candidate = hr_dirs[0] if hr_dirs else folder
    named = _lr_dir_for(candidate)
    if named is None or (not hr_dirs and not named[1].is_dir()):
        # ``root`` is neither a parent of an HR folder nor an HR folder beside its LR_bicubic.
        return None
    hr_dir = candidate
    name, lr_root = named
    lr_dir = next((lr_root / f"{x}{s}" for x in "Xx" if (lr_root / f"{x}{s}").is_dir()), None)
    hr_files = list_images(hr_dir)
    if not hr_files:
        msg = f"{hr_dir}: HR folder has no images"
        raise DatasetError(msg)
    if lr_dir is None:
        have = sorted(d.name for d in lr_root.iterdir() if d.is_dir()) if lr_root.is_dir() else []
        found = ", ".join(have) or "nothing"
        msg = f"{lr_root}: no LR images for scale {s} (no X{s} folder; found {found})"
        raise DatasetError(msg)
    lr_files = list_images(lr_dir)
    if not lr_files:
        msg = f"{lr_dir}: no LR images for scale {s} (folder is empty)"
        raise DatasetError(msg)
    tag = re.compile(rf"[xX]{s}$")
    key_of = {f: f.stem for f in hr_files}
    key_of.update({f: tag.sub("", f.stem) for f in lr_files})
    hr = _by_key(hr_files, key_of, hr_dir)
    lr = _by_key(lr_files, key_of, lr_dir)
    return name, "hr_lr_bicubic", _match(hr, lr, hr_dir, lr_dir)


def _try_hr_only(folder: Path) -> _Found | None:
    files = list_images(folder)
    if not files:
        return None
    key_of = {f: f.stem for f in files}
    hr = _by_key(files, key_of, folder)
    pairs = [SRPair(name=n, hr_path=p, lr_path=None) for n, p in hr.items()]
    return folder.name, "hr_only", pairs
