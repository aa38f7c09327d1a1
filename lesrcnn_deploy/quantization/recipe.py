"""Quantization recipes: everything needed to rebuild an int8 model from its fp32 model, in seconds.

A recipe is the result of the slow, seeded part of quantization (calibration, then
quantization-aware fine-tuning or weight rounding), saved so that the fast, exact part (graph
rewrites, ONNX Runtime's quantizer, the DepthToSpace check) can be replayed anywhere:

* ``<name>.recipe.json``: the fp32 model's SHA256, the full :class:`~.config.QuantizationConfig`
  and its digest, the calibration table (ranges before training, with the calibration images'
  digests), the final activation ranges handed to ONNX Runtime, a summary of the training, its
  provenance (library versions, CPU, training time: information, outside the checksum), and the
  recipe's own checksum (``sha256`` over everything else and the tensors' digest);
* ``<name>.recipe.npz`` (only when training changed weights): the trained float32 initializers of
  the prepared fp32 graph and, with ``tail_weights``, the int8 weights and float32 scales of the
  float output conv (``<weight>_w8``, ``<weight>_w8_scale``), written as an uncompressed zip with
  fixed timestamps so that the same tensors always give the same bytes.

Replaying a recipe (:func:`~.replay.apply_recipe`) on the fp32 model it names gives a
byte-identical int8 model: ONNX Runtime's quantizer rounds the stored float32 weights with plain
IEEE arithmetic, which does not depend on the CPU's float kernels, and the stored int8 weights
are attached as they are.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.errors import CalibrationError, ChecksumError, ConfigError, QuantizationError
from ..core.fileio import atomic_write_bytes, read_json, sha256_file
from .calibration import CalibrationTable
from .config import QuantizationConfig

__all__ = [
    "RECIPE_VERSION",
    "Recipe",
    "RecipeMismatch",
    "config_digest",
    "load_recipe",
    "recipe_paths",
    "save_recipe",
]

RECIPE_VERSION = 1
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def config_digest(config: QuantizationConfig) -> str:
    """SHA256 of the configuration's canonical JSON (the preset name is not part of it)."""
    data = config.to_dict()
    data.pop("name", None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _tensors_digest(tensors: Mapping[str, npt.NDArray[np.generic]]) -> str:
    """SHA256 over every tensor's name, dtype, shape and little-endian bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Recipe:
    """A replayable int8 build of one fp32 model.

    Attributes:
        fp32_sha256: SHA256 of the fp32 ``.onnx`` file the recipe applies to.
        config: the quantization configuration (its digest is part of the recipe).
        calibration: the calibration table (ranges of the prepared fp32 graph before training).
        ranges: ``{tensor: (min, max)}`` handed to ONNX Runtime's quantizer (after training).
        tensors: ``{initializer name: float32 array}`` of the prepared fp32 graph replaced by
            training (empty for post-training quantization), plus the int8 output-conv weights
            and their scales when the configuration has ``tail_weights``.
        training: JSON-ready summary of the fine-tuning or weight rounding (empty for none).
        provenance: where and how long it was trained: ``{"versions": {library: version},
            "cpu": ..., "seconds": ...}`` (information: not part of the checksum, so a retrain
            that reproduces the recipe has the same checksum).
        scale: the model's upscale factor (0 when unknown).
    """

    fp32_sha256: str
    config: QuantizationConfig
    calibration: CalibrationTable
    ranges: Mapping[str, tuple[float, float]]
    tensors: Mapping[str, npt.NDArray[np.generic]] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    scale: int = 0

    @property
    def config_sha256(self) -> str:
        """:func:`config_digest` of :attr:`config`."""
        return config_digest(self.config)

    @property
    def tensors_sha256(self) -> str:
        """Digest of the trained tensors (names, dtypes, shapes, bytes)."""
        return _tensors_digest(self.tensors)

    def _body(self) -> dict[str, Any]:
        return {
            "version": RECIPE_VERSION,
            "scale": self.scale,
            "fp32_sha256": self.fp32_sha256,
            "config": self.config.to_dict(),
            "config_sha256": self.config_sha256,
            "calibration": self.calibration.to_dict(),
            "ranges": {k: [float(lo), float(hi)] for k, (lo, hi) in sorted(self.ranges.items())},
            "tensors": {
                "count": len(self.tensors),
                "parameters": int(sum(a.size for a in self.tensors.values())),
                "sha256": self.tensors_sha256,
            },
            "training": dict(self.training),
        }

    @property
    def sha256(self) -> str:
        """The recipe's own checksum: SHA256 of its canonical JSON body (everything but the
        provenance, which is informative), tensors included through their digest."""
        text = json.dumps(self._body(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the body, the provenance and the checksum."""
        return {
            **self._body(),
            "provenance": dict(self.provenance),
            "sha256": self.sha256,
        }

    def check_applies_to(
        self, fp32_sha256: str, config: QuantizationConfig | None, *, where: str
    ) -> None:
        """Raise :class:`RecipeMismatch` unless the recipe was made for this fp32 model (and,
        when ``config`` is given, this configuration)."""
        if fp32_sha256 != self.fp32_sha256:
            msg = (
                f"{where}: made for the fp32 model {self.fp32_sha256[:12]}, this fp32 model is "
                f"{fp32_sha256[:12]}; rebuild the recipe with `lesrcnn-deploy quantize --retrain` "
                "(make finetune)"
            )
            raise RecipeMismatch(msg)
        if config is not None and config_digest(config) != self.config_sha256:
            msg = (
                f"{where}: made with another quantization configuration (recipe "
                f"{self.config_sha256[:12]}, asked {config_digest(config)[:12]}); rebuild it with "
                "`lesrcnn-deploy quantize --retrain` (make finetune)"
            )
            raise RecipeMismatch(msg)


class RecipeMismatch(QuantizationError):
    """A recipe does not belong to the fp32 model or the configuration it is used with."""


def recipe_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(x.recipe.json, x.recipe.npz)`` for ``x.recipe.json``, ``x.recipe.npz`` or ``x``."""
    p = Path(path)
    name = p.name
    for suffix in (".recipe.json", ".recipe.npz", ".json", ".npz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(f"{name}.recipe.json"), p.with_name(f"{name}.recipe.npz")


def _npz_bytes(tensors: Mapping[str, npt.NDArray[np.generic]]) -> bytes:
    """An ``.npz`` (stored, not deflated) with fixed timestamps: same tensors, same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(tensors):
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.ascontiguousarray(tensors[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, arr.getvalue())
    return buf.getvalue()


def save_recipe(recipe: Recipe, path: str | os.PathLike[str]) -> Path:
    """Write ``recipe`` to ``<name>.recipe.json`` (and ``<name>.recipe.npz`` when it has tensors),
    each atomically, the tensors first. Returns the JSON path."""
    json_path, npz_path = recipe_paths(path)
    if recipe.tensors:
        atomic_write_bytes(npz_path, _npz_bytes(recipe.tensors))
    else:
        npz_path.unlink(missing_ok=True)
    text = json.dumps(recipe.to_dict(), indent=1, sort_keys=True) + "\n"
    atomic_write_bytes(json_path, text.encode("utf-8"))
    return json_path


def _read_tensors(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in z.files}
    except FileNotFoundError:
        msg = f"{path}: the recipe's tensor file is missing"
        raise ChecksumError(msg) from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        msg = f"{path}: unreadable recipe tensors ({type(exc).__name__})"
        raise ChecksumError(msg) from None


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read a recipe written by :func:`save_recipe` and verify its checksum.

    Raises:
        QuantizationError: the JSON is missing, unreadable or malformed.
        ChecksumError: the tensors or the JSON do not match the recorded checksums.
    """
    json_path, npz_path = recipe_paths(path)
    data = read_json(json_path, "recipe", error=QuantizationError)
    where = str(json_path)
    try:
        if not isinstance(data, dict) or data.get("version") != RECIPE_VERSION:
            version = data.get("version") if isinstance(data, dict) else None
            msg = f"{where}: not a version-{RECIPE_VERSION} recipe (version {version!r})"
            raise QuantizationError(msg)
        info = data["tensors"]
        tensors = _read_tensors(npz_path) if int(info["count"]) else {}
        recipe = Recipe(
            fp32_sha256=str(data["fp32_sha256"]),
            config=QuantizationConfig.from_dict(data["config"]),
            calibration=CalibrationTable.from_dict(data["calibration"], where=where),
            ranges={str(k): (float(v[0]), float(v[1])) for k, v in data["ranges"].items()},
            tensors=tensors,
            training=dict(data.get("training") or {}),
            provenance=dict(data.get("provenance") or {}),
            scale=int(data.get("scale", 0)),
        )
    except (KeyError, TypeError, ValueError, IndexError, ConfigError, CalibrationError) as exc:
        if isinstance(exc, QuantizationError):
            raise
        msg = f"{where}: malformed recipe ({type(exc).__name__}: {exc})"
        raise QuantizationError(msg) from None
    if tensors and recipe.tensors_sha256 != info["sha256"]:
        msg = f"{npz_path}: tensors do not match the recipe's digest (file changed or corrupt)"
        raise ChecksumError(msg)
    if recipe.sha256 != data.get("sha256"):
        msg = f"{where}: recipe checksum mismatch (edited by hand or corrupt)"
        raise ChecksumError(msg)
    return recipe


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA256 of a recipe's JSON file (used in build keys)."""
    return sha256_file(recipe_paths(path)[0])
