"""The default models: one function builds (or finds) the model of a scale and precision.

* fp32: ``models_dir()/lesrcnn_x{S}.onnx``, exported from the official checkpoint (found in
  ``$LESRCNN_WEIGHTS_DIR``, the models folder or ``shared/weights``, else downloaded and
  checksum-verified), with the fused upsampler and the parity check against PyTorch; exported
  again when the file there is not this toolkit version's export of the official checkpoint.
* int8: ``models_dir()/lesrcnn_x{S}_int8.onnx``, built in seconds by replaying the x{S} recipe
  (:mod:`~lesrcnn_deploy.quantization.recipe`): a retrained one in :func:`~.paths.recipes_dir`
  when present, else the one shipped inside the package. An int8 model is reused only while its
  metadata names the current fp32 model's SHA256 and the recipe's checksum (which covers the
  configuration); otherwise it is rebuilt. Nothing here ever trains: a recipe that does not match
  the fp32 model is an error that says how to retrain.

``export``, ``quantize``, the benchmark, the gate and the tests call :func:`default_model`, so they
share one build. Inference (``upscale``, ``serve``, Ray, video) never comes here: it runs the int8
models shipped in :mod:`~lesrcnn_deploy.artifacts` (equal to this build, tested) or a given file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .core.errors import ModelError
from .core.fileio import sha256_file
from .core.paths import models_dir, recipes_dir
from .core.vocab import check_model_precision, check_scale

__all__ = [
    "build_fp32_model",
    "default_model",
    "default_model_path",
    "default_recipe_path",
    "fp32_is_current",
    "int8_is_current",
    "shipped_recipe_path",
]


def default_model_path(scale: int, precision: str) -> Path:
    """``models_dir()/lesrcnn_x{S}.onnx`` (fp32) or ``.../lesrcnn_x{S}_int8.onnx`` (int8)."""
    s = check_scale(scale)
    suffix = "_int8" if check_model_precision(precision) == "int8" else ""
    return models_dir() / f"lesrcnn_x{s}{suffix}.onnx"


def shipped_recipe_path(scale: int) -> Path:
    """The x``scale`` recipe shipped with the package (``calibration/`` of the checkout)."""
    root = resources.files("lesrcnn_deploy.recipes")
    return Path(str(root)) / f"lesrcnn_x{check_scale(scale)}_int8.recipe.json"


def default_recipe_path(scale: int) -> Path:
    """The recipe the default x``scale`` int8 model is built from: a retrained one in
    :func:`~.paths.recipes_dir` if there is one, else :func:`shipped_recipe_path`."""
    own = recipes_dir() / f"lesrcnn_x{check_scale(scale)}_int8.recipe.json"
    return own if own.is_file() else shipped_recipe_path(scale)


def build_fp32_model(scale: int, output: Path | None = None) -> Path:
    """Export the official x``scale`` checkpoint to ``output`` (default
    :func:`default_model_path`): fused upsampler, parity-checked against the unfused graph."""
    from .network.export import export_onnx
    from .weights import load_model

    out = output or default_model_path(scale, "fp32")
    reference, ckpt, digest = load_model(scale)
    fused, _, _ = load_model(scale, ckpt, allow_custom=True, fuse_upsample=True)
    result = export_onnx(
        fused,
        out,
        scale=scale,
        checkpoint_sha256=digest,
        checkpoint_path=str(ckpt),
        reference=reference,
    )
    return result.path


def fp32_is_current(fp32: Path, scale: int) -> bool:
    """True when ``fp32`` exists and is an export of the official x``scale`` checkpoint by this
    toolkit version (its metadata names the checkpoint's SHA256 and the version)."""
    from . import __version__
    from .core.onnx_io import read_metadata
    from .weights.registry import get_weights

    if not fp32.is_file():
        return False
    try:
        meta = read_metadata(fp32)
    except ModelError:
        return False
    return (
        meta.get("checkpoint_sha256") == get_weights(scale).sha256
        and meta.get("toolkit_version") == __version__
        and meta.get("precision", "fp32") == "fp32"
    )


def int8_is_current(int8: Path, fp32: Path, *, recipe_sha256: str) -> bool:
    """True when ``int8`` exists and was built from ``fp32`` (SHA256) with that recipe."""
    from .core.onnx_io import read_metadata

    if not int8.is_file() or not fp32.is_file():
        return False
    try:
        meta = read_metadata(int8)
    except ModelError:
        return False
    return (
        meta.get("fp32_sha256") == sha256_file(fp32) and meta.get("recipe_sha256") == recipe_sha256
    )


def default_model(scale: int, precision: str, *, build: bool = True) -> Path:
    """The default x``scale`` model of ``precision``, built if missing or out of date.

    Args:
        scale: 2, 3 or 4.
        precision: ``"int8"`` or ``"fp32"``.
        build: export / replay when needed (else a missing or stale model is an error).

    Returns:
        Path of an up-to-date ONNX model.

    Raises:
        ConfigError: unknown scale or precision.
        ModelError: the model is missing and ``build`` is False.
        RecipeMismatch: the recipe was made for another fp32 model (the message says how to
            retrain).
        WeightsError, ChecksumError, DownloadError: the checkpoint cannot be had.
    """
    s = check_scale(scale)
    fp32 = default_model_path(s, "fp32")
    if not fp32_is_current(fp32, s):
        if not build:
            msg = f"{fp32}: model not found or not the official export (run `make export`)"
            raise ModelError(msg)
        build_fp32_model(s, fp32)
    if check_model_precision(precision) == "fp32":
        return fp32
    from .quantization.recipe import load_recipe
    from .quantization.replay import apply_recipe

    int8 = default_model_path(s, "int8")
    source = default_recipe_path(s)
    recipe = load_recipe(source)
    if int8_is_current(int8, fp32, recipe_sha256=recipe.sha256):
        return int8
    if not build:
        msg = f"{int8}: model missing or out of date (run `make quantize`)"
        raise ModelError(msg)
    return apply_recipe(fp32, recipe, output=int8, recipe_source=_display(source)).path


def _display(path: Path) -> str:
    """A recipe path as recorded in manifests: relative to the package for shipped recipes."""
    shipped = shipped_recipe_path(2).parent
    try:
        return f"lesrcnn_deploy.recipes/{path.relative_to(shipped)}"
    except ValueError:
        return str(path)
