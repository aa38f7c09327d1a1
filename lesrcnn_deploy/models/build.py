"""The default models built: the fp32 export of the official checkpoint and the int8 replay of
its recipe. For ``export``, ``quantize``, the benchmark, the gate and the tests; inference never
comes here (it runs the shipped int8 models, equal to this build, tested, see :mod:`.find`).

* fp32: :func:`~.names.model_path` ``(S)``, exported from the official checkpoint (found in
  ``$LESRCNN_WEIGHTS_DIR``, the models folder or ``shared/weights``, else downloaded and
  checksum-verified), with the fused upsampler and the parity check against PyTorch; exported
  again when the file there is not this toolkit version's export of the official checkpoint.
* int8: :func:`~.names.model_path` ``(S, "int8")``, built in seconds by replaying the x{S}
  recipe (:mod:`~lesrcnn_deploy.quantization.recipe`): a retrained one in
  :func:`~lesrcnn_deploy.core.paths.recipes_dir` when present, else the one shipped inside the
  package. An int8 model is reused only while its metadata names the current fp32 model's SHA256
  and the recipe's checksum (which covers the configuration); otherwise it is rebuilt. Nothing
  here ever trains: a recipe that does not match the fp32 model is an error that says how to
  retrain.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..core.errors import ModelError
from ..core.paths import recipes_dir
from ..core.vocab import check_model_precision, check_scale
from .names import model_path, recipe_file_name
from .record import ModelFile, is_official_fp32, open_model

__all__ = [
    "build",
    "build_fp32",
    "default_recipe_path",
    "fp32_is_current",
    "shipped_recipe_path",
]


def shipped_recipe_path(scale: int) -> Path:
    """The x``scale`` recipe shipped with the package (``calibration/`` of the checkout)."""
    return Path(str(resources.files("lesrcnn_deploy.recipes"))) / recipe_file_name(scale)


def default_recipe_path(scale: int) -> Path:
    """The recipe the default x``scale`` int8 model is built from: a retrained one in
    :func:`~lesrcnn_deploy.core.paths.recipes_dir` if there is one, else
    :func:`shipped_recipe_path`."""
    own = recipes_dir() / recipe_file_name(scale)
    return own if own.is_file() else shipped_recipe_path(scale)


def build_fp32(scale: int, output: Path | None = None) -> Path:
    """Export the official x``scale`` checkpoint to ``output`` (default
    :func:`~.names.model_path`): fused upsampler, parity-checked against the unfused graph."""
    from ..network.export import export_onnx
    from ..weights import load_model

    out = output or model_path(scale, "fp32")
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


def _current(path: Path, scale: int) -> ModelFile | None:
    """The opened ``path`` when it is a readable x``scale`` model, else None."""
    if not path.is_file():
        return None
    try:
        return open_model(path, scale=scale)
    except ModelError:
        return None


def fp32_is_current(fp32: Path, scale: int) -> bool:
    """True when ``fp32`` exists and is an export of the official x``scale`` checkpoint by this
    toolkit version."""
    found = _current(fp32, scale)
    return found is not None and is_official_fp32(found)


def build(scale: int, precision: str, *, build: bool = True) -> ModelFile:
    """The default x``scale`` model of file ``precision``, built if missing or out of date.

    Args:
        scale: 2, 3 or 4.
        precision: ``"int8"`` or ``"fp32"``.
        build: export / replay when needed (else a missing or stale model is an error).

    Returns:
        The opened, up-to-date model.

    Raises:
        ConfigError: unknown scale or precision.
        ModelError: the model is missing and ``build`` is False.
        RecipeMismatch: the recipe was made for another fp32 model (the message says how to
            retrain).
        WeightsError, ChecksumError, DownloadError: the checkpoint cannot be had.
    """
    s = check_scale(scale)
    prec = check_model_precision(precision)
    fp32_path = model_path(s, "fp32")
    fp32 = _current(fp32_path, s)
    if fp32 is None or not is_official_fp32(fp32):
        if not build:
            msg = f"{fp32_path}: model not found or not the official export (run `make export`)"
            raise ModelError(msg)
        fp32 = open_model(build_fp32(s, fp32_path), scale=s, precision="fp32")
    if prec == "fp32":
        return fp32
    from ..quantization.recipe import load_recipe
    from ..quantization.replay import apply_recipe

    int8_path = model_path(s, "int8")
    source = default_recipe_path(s)
    recipe = load_recipe(source)
    int8 = _current(int8_path, s)
    if (
        int8 is not None
        and int8.metadata.get("fp32_sha256") == fp32.sha256
        and int8.metadata.get("recipe_sha256") == recipe.sha256
    ):
        return int8
    if not build:
        msg = f"{int8_path}: model missing or out of date (run `make quantize`)"
        raise ModelError(msg)
    made = apply_recipe(fp32.path, recipe, output=int8_path, recipe_source=_display(source))
    return open_model(made.path, scale=s, precision="int8")


def _display(path: Path) -> str:
    """A recipe path as recorded in manifests: relative to the package for shipped recipes."""
    shipped = shipped_recipe_path(2).parent
    try:
        return f"lesrcnn_deploy.recipes/{path.relative_to(shipped)}"
    except ValueError:
        return str(path)
