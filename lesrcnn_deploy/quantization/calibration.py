"""Calibration: seeded LR patches -> ONNX Runtime calibrator -> per-tensor activation ranges.

The patches come from an image folder (a DIV2K training split is the natural choice) or from the
built-in set of natural photos that ships with scikit-image (so CI and offline users can calibrate
without a download). Evaluation sets must never be used. The resulting :class:`CalibrationTable`
is saved as JSON (under ``calibration/`` by default) and can be replayed to re-quantize a model
without the images.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.errors import CalibrationError, ConfigError, DatasetError, ImageError
from ..core.fileio import atomic_write_json, read_json, sha256_file
from .config import CalibrationConfig, CalibrationMethod

__all__ = [
    "BUILTIN_PHOTOS",
    "TABLE_VERSION",
    "CalibrationImages",
    "CalibrationTable",
    "builtin_photo_paths",
    "calibrate",
    "collect_patches",
    "compute_ranges",
    "load_calibration_images",
    "load_table",
    "save_table",
]

TABLE_VERSION = 1

BUILTIN_PHOTOS: tuple[str, ...] = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "ihc.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "motorcycle_left.png",
    "camera.png",
    "moon.png",
    "grass.png",
    "gravel.png",
    "brick.png",
)
"""scikit-image sample photos used as the built-in calibration set (gray ones replicated to RGB)."""

Ranges = dict[str, tuple[float, float]]


def builtin_photo_paths() -> list[Path]:
    """Paths of :data:`BUILTIN_PHOTOS` inside the installed scikit-image (``skimage/data``).

    Raises:
        CalibrationError: scikit-image is missing or ships none of the photos.
    """
    try:
        import skimage.data
    except ModuleNotFoundError:
        msg = "the built-in calibration set needs scikit-image (pip install scikit-image)"
        raise CalibrationError(msg) from None
    root = Path(skimage.data.__file__).parent
    found = [root / n for n in BUILTIN_PHOTOS if (root / n).is_file()]
    if not found:
        msg = f"{root}: none of scikit-image's sample photos were found"
        raise CalibrationError(msg)
    return found


@dataclass(frozen=True, eq=False)
class CalibrationImages:
    """Decoded calibration images with their provenance.

    Attributes:
        images: ``(H, W, 3)`` uint8 RGB arrays, each at least ``crop`` on both sides.
        names: file names (relative to the folder), same order.
        sha256: ``{name: hex digest}`` of each file used.
        skipped: names of images too small for the crop (not used).
    """

    images: tuple[npt.NDArray[np.uint8], ...]
    names: tuple[str, ...]
    sha256: dict[str, str]
    skipped: tuple[str, ...] = ()


def _read_rgb(path: Path) -> npt.NDArray[np.uint8]:
    """One image as ``(H, W, 3)`` uint8 RGB (the data package's loader, gray replicated)."""
    from ..data import load_image, to_rgb_uint8

    return to_rgb_uint8(load_image(path))


def load_calibration_images(config: CalibrationConfig) -> CalibrationImages:
    """Read every image of ``config.source`` that is at least ``config.crop`` pixels on each side.

    Raises:
        CalibrationError: the folder does not exist, holds no image, an image is unreadable, or
            no image is large enough for the crop. One line, naming the folder or the file.
    """
    if config.is_builtin:
        paths = builtin_photo_paths()
        root = paths[0].parent
    else:
        root = Path(config.source)
        try:
            from ..data import list_images

            paths = list_images(root)
        except DatasetError as exc:
            msg = f"calibration folder {exc}"
            raise CalibrationError(msg) from None
        if not paths:
            msg = f"calibration folder {root} holds no images (png, jpg, webp, bmp, tif)"
            raise CalibrationError(msg)
    images: list[npt.NDArray[np.uint8]] = []
    names: list[str] = []
    digests: dict[str, str] = {}
    skipped: list[str] = []
    for p in paths:
        try:
            rgb = _read_rgb(p)
        except ImageError as exc:
            msg = f"unreadable calibration image: {exc}"
            raise CalibrationError(msg) from None
        except OSError as exc:
            msg = f"unreadable calibration image {p}: {exc.strerror or exc}"
            raise CalibrationError(msg) from None
        name = p.name
        if min(rgb.shape[:2]) < config.crop:
            skipped.append(name)
            continue
        images.append(rgb)
        names.append(name)
        digests[name] = sha256_file(p)
    if not images:
        msg = (
            f"calibration images in {root} are all smaller than the {config.crop} px crop "
            f"(largest short side {max(_short_sides(paths), default=0)} px): use a smaller --crop"
        )
        raise CalibrationError(msg)
    return CalibrationImages(tuple(images), tuple(names), digests, tuple(skipped))


def _short_sides(paths: Sequence[Path]) -> Iterator[int]:
    from ..data import read_image_size

    for p in paths:
        try:
            w, h = read_image_size(p)
        except (ImageError, OSError):
            continue
        yield min(w, h)


def collect_patches(
    images: CalibrationImages, *, count: int, crop: int, seed: int
) -> npt.NDArray[np.float32]:
    """Seeded random square patches, cycling over the images in a seeded order.

    Returns:
        ``(count, 3, crop, crop)`` float32 RGB in [0, 1] (the model's input convention).
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images.images))
    out = np.empty((count, 3, crop, crop), dtype=np.float32)
    for k in range(count):
        img = images.images[int(order[k % len(order)])]
        h, w = img.shape[:2]
        y = int(rng.integers(0, h - crop + 1))
        x = int(rng.integers(0, w - crop + 1))
        patch = img[y : y + crop, x : x + crop]
        out[k] = patch.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)
    return out


@dataclass(frozen=True)
class CalibrationTable:
    """Per-tensor activation ranges and where they came from.

    Attributes:
        ranges: ``{tensor name: (min, max)}`` of the (rewritten) fp32 graph, floats.
        calibration: the :class:`CalibrationConfig` used.
        images: ``{file name: sha256}`` of the calibration images used.
        model_sha256: sha256 of the fp32 graph that was calibrated (after graph rewrites).
        skipped: images too small for the crop.
    """

    ranges: Mapping[str, tuple[float, float]]
    calibration: CalibrationConfig
    images: Mapping[str, str] = field(default_factory=dict)
    model_sha256: str = ""
    skipped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (see :func:`save_table`)."""
        return {
            "version": TABLE_VERSION,
            "calibration": self.calibration.to_dict(),
            "images": dict(sorted(self.images.items())),
            "skipped": list(self.skipped),
            "model_sha256": self.model_sha256,
            "ranges": {k: [float(lo), float(hi)] for k, (lo, hi) in sorted(self.ranges.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "<dict>") -> CalibrationTable:
        """Rebuild from :meth:`to_dict` output.

        Raises:
            CalibrationError: missing keys, wrong version or malformed ranges.
        """
        try:
            if data.get("version") != TABLE_VERSION:
                msg = (
                    f"{where}: calibration table version {data.get('version')!r} != {TABLE_VERSION}"
                )
                raise CalibrationError(msg)
            ranges = {}
            for k, v in data["ranges"].items():
                lo, hi = (float(v[0]), float(v[1]))
                if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
                    msg = f"{where}: bad range for tensor {k!r}: {v!r}"
                    raise CalibrationError(msg)
                ranges[str(k)] = (lo, hi)
            return cls(
                ranges=ranges,
                calibration=CalibrationConfig.from_dict(data["calibration"]),
                images={str(k): str(v) for k, v in data.get("images", {}).items()},
                model_sha256=str(data.get("model_sha256", "")),
                skipped=tuple(str(s) for s in data.get("skipped", [])),
            )
        except (KeyError, TypeError, IndexError, ValueError, ConfigError) as exc:
            if isinstance(exc, CalibrationError):
                raise
            msg = f"{where}: not a calibration table ({type(exc).__name__}: {exc})"
            raise CalibrationError(msg) from None


def save_table(table: CalibrationTable, path: str | os.PathLike[str]) -> Path:
    """Write ``table`` as JSON to ``path`` atomically; returns the path."""
    atomic_write_json(path, table.to_dict())
    return Path(path)


def load_table(path: str | os.PathLike[str]) -> CalibrationTable:
    """Read a table written by :func:`save_table`.

    Raises:
        CalibrationError: the file is missing, not JSON or not a calibration table.
    """
    p = Path(path)
    data = read_json(p, "calibration table", error=CalibrationError)
    if not isinstance(data, dict):
        msg = f"{p}: not a calibration table (expected a JSON object)"
        raise CalibrationError(msg)
    return CalibrationTable.from_dict(data, where=str(p))


def compute_ranges(
    model_path: str | os.PathLike[str],
    patches: npt.NDArray[np.float32],
    *,
    config: CalibrationConfig,
    progress: bool = True,
    threads: int | None = None,
) -> Ranges:
    """Run ONNX Runtime's calibrator on ``patches`` and return per-tensor ranges.

    The calibrator is built with ``create_calibrator`` directly so that ``entropy`` gets
    ``config.num_bins`` histogram bins (real KL search) rather than ``quantize_static``'s 128.
    Patches are fed ``config.batch`` at a time; histograms are merged incrementally.

    Args:
        model_path: fp32 ONNX model (input ``input``, NCHW float32).
        patches: ``(N, 3, h, w)`` float32 in [0, 1].
        config: method and histogram settings.
        progress: show a tqdm progress bar.
        threads: intra-op threads of the calibration session (``None`` = ORT default).

    Returns:
        ``{tensor name: (min, max)}`` for every float activation of the graph.
    """
    from onnxruntime.quantization import CalibrationMethod as OrtMethod
    from onnxruntime.quantization import create_calibrator
    from tqdm import tqdm

    method = {
        CalibrationMethod.MINMAX: OrtMethod.MinMax,
        CalibrationMethod.PERCENTILE: OrtMethod.Percentile,
        CalibrationMethod.ENTROPY: OrtMethod.Entropy,
    }[config.method]
    extra: dict[str, Any] = {}
    if config.method is CalibrationMethod.PERCENTILE:
        extra = {"num_bins": config.num_bins, "percentile": config.percentile}
    elif config.method is CalibrationMethod.ENTROPY:
        extra = {"num_bins": config.num_bins, "num_quantized_bins": config.num_quantized_bins}
    with tempfile.TemporaryDirectory(prefix="lesrcnn-calib-") as tmp:
        calibrator = create_calibrator(
            Path(model_path),
            None,
            augmented_model_path=os.path.join(tmp, "augmented.onnx"),
            calibrate_method=method,
            extra_options=extra,
        )
        if threads is not None:  # rebuild the session with the requested thread count
            from ..core.onnx_io import open_session

            calibrator.infer_session = open_session(
                calibrator.augmented_model_path, threads=threads
            )
        bar = tqdm(
            range(0, len(patches), config.batch),
            desc=f"calibrating ({config.method.value})",
            unit="batch",
            disable=not progress,
            leave=False,
        )
        for start in bar:
            chunk = patches[start : start + config.batch]
            calibrator.collect_data(_Reader([{"input": chunk}]))
        with contextlib.redirect_stdout(io.StringIO()):  # ORT prints histogram summaries
            data = calibrator.compute_data()
    ranges: Ranges = {}
    for name, td in data.items():
        lo, hi = td.range_value
        ranges[str(name)] = (float(np.ravel(lo)[0]), float(np.ravel(hi)[0]))
    return dict(sorted(ranges.items()))


class _Reader:
    """The minimal ``CalibrationDataReader``: hands out a list of feeds once."""

    def __init__(self, feeds: list[dict[str, npt.NDArray[np.float32]]]) -> None:
        self._it = iter(feeds)

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        return next(self._it, None)


def calibrate(
    model_path: str | os.PathLike[str],
    config: CalibrationConfig | None = None,
    *,
    progress: bool = True,
    threads: int | None = None,
    patches_hook: Callable[[npt.NDArray[np.float32]], None] | None = None,
) -> CalibrationTable:
    """Collect seeded patches per ``config`` and compute the ranges of ``model_path``.

    Args:
        model_path: the fp32 graph to calibrate (already rewritten, see
            :func:`lesrcnn_deploy.quantization.graph.prepare_graph`).
        config: calibration settings (default: built-in photos, 32 patches of 96 px, percentile).
        progress: show a tqdm progress bar.
        threads: intra-op threads of the calibration session.
        patches_hook: called with the patches (tests, debugging).

    Raises:
        CalibrationError: see :func:`load_calibration_images`.
    """
    cfg = config or CalibrationConfig()
    imgs = load_calibration_images(cfg)
    patches = collect_patches(imgs, count=cfg.count, crop=cfg.crop, seed=cfg.seed)
    if patches_hook is not None:
        patches_hook(patches)
    with contextlib.redirect_stdout(io.StringIO()):  # ORT prints per-batch chatter
        ranges = compute_ranges(model_path, patches, config=cfg, progress=progress, threads=threads)
    source_images = dict(sorted(imgs.sha256.items()))
    return CalibrationTable(
        ranges=ranges,
        calibration=cfg,
        images=source_images,
        model_sha256=sha256_file(model_path),
        skipped=imgs.skipped,
    )
