"""Upscaler API: RGB, gray, alpha, 16 bit, tiled == whole, model resolution and errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from lesrcnn_deploy.core.errors import ConfigError, ImageError, ModelError
from lesrcnn_deploy.models import find, model_path
from lesrcnn_deploy.upscale import Upscaler


@pytest.fixture(scope="module")
def x2_model(random_models: dict[int, Path]) -> Path:
    return random_models[2]


@pytest.fixture(scope="module")
def up(x2_model: Path) -> Upscaler:
    return Upscaler(2, "fp32", model=x2_model, tile=16, threads=1)


def _img(shape: tuple[int, ...], dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, top + 1, shape, dtype=dtype)


def test_rgb_uint8(up: Upscaler) -> None:
    img = _img((21, 34, 3))
    out = up.upscale(img)
    assert out.shape == (42, 68, 3) and out.dtype == np.uint8
    x = img.transpose(2, 0, 1)[None].astype(np.float32) / 255
    ref = up.runner(x)[0].clip(0, 1).transpose(1, 2, 0) * 255
    assert np.abs(out.astype(float) - ref).max() <= 0.5 + 1e-3  # rounding only


def test_tiled_equals_whole_image_uint8(up: Upscaler, x2_model: Path) -> None:
    img = _img((50, 61, 3), seed=1)
    whole = Upscaler(2, "fp32", model=x2_model, tile=0).upscale(img)
    tiled = up.upscale(img)  # tile 16, overlap = receptive field 13
    assert up.tile_overlap == 13
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


@pytest.mark.parametrize("shape", [(19, 23), (19, 23, 1)])
def test_gray_stays_gray(up: Upscaler, shape: tuple[int, ...]) -> None:
    img = _img(shape, seed=2)
    out = up.upscale(img)
    assert out.shape == (38, 46, *shape[2:]) and out.dtype == np.uint8
    rgb = up.upscale(np.repeat(img.reshape(19, 23, 1), 3, axis=2)).astype(float)
    assert np.abs(out.reshape(38, 46) - rgb.mean(axis=2)).max() <= 1.0  # mean of the channels


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_alpha_upscaled_separately_with_bicubic(up: Upscaler, dtype: type) -> None:
    img = _img((17, 25, 4), dtype, seed=3)
    out = up.upscale(img)
    assert out.shape == (34, 50, 4) and out.dtype == dtype
    alpha = cv2.resize(img[:, :, 3], (50, 34), interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(out[:, :, 3], alpha)
    assert np.array_equal(out[:, :, :3], up.upscale(np.ascontiguousarray(img[:, :, :3])))


def test_sixteen_bit_keeps_sixteen_bits(up: Upscaler) -> None:
    img8 = _img((20, 22, 3), seed=4)
    img16 = img8.astype(np.uint16) * 257  # same picture at 16 bit
    out16 = up.upscale(img16)
    out8 = up.upscale(img8)
    assert out16.dtype == np.uint16 and out16.shape == (40, 44, 3)
    assert np.abs(out16.astype(float) / 257 - out8).max() <= 0.51
    # the 16-bit path is not 8-bit rounded: it uses values between the 8-bit steps
    assert (out16 % 257 != 0).mean() > 0.5


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((4, 4, 3), np.float32), "uint8 or uint16"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        ([[1, 2]], "numpy array"),
    ],
)
def test_rejects_bad_images(up: Upscaler, bad: object, match: str) -> None:
    with pytest.raises(ImageError, match=match):
        up.upscale(bad)  # type: ignore[arg-type]


def test_rejects_bad_options(x2_model: Path) -> None:
    with pytest.raises(ConfigError, match="precision"):
        Upscaler(2, "int4", model=x2_model)
    with pytest.raises(ConfigError, match="scale"):
        Upscaler(5, "fp32", model=x2_model)
    with pytest.raises(ConfigError, match="tile must be"):
        Upscaler(2, "fp32", model=x2_model, tile=-1)
    with pytest.raises(ConfigError, match="tile_overlap"):
        Upscaler(2, "fp32", model=x2_model, tile_overlap=-3)
    with pytest.raises(ModelError, match="fp32 model, asked for int8"):
        Upscaler(2, "int8", model=x2_model)
    with pytest.raises(ModelError, match="x2 model, asked for x3"):
        Upscaler(3, "fp32", model=x2_model)
    with pytest.raises(ModelError, match="not found"):
        Upscaler(2, "fp32", model=x2_model.parent / "missing.onnx")


def test_default_model_paths(
    x2_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import stand_in_for_official

    from lesrcnn_deploy.models import shipped

    monkeypatch.setenv("LESRCNN_CACHE_DIR", str(tmp_path))
    models = tmp_path / "models"
    assert model_path(3, "fp32") == models / "lesrcnn_x3.onnx"
    assert model_path(3, "int8") == models / "lesrcnn_x3_int8.onnx"  # where a build goes
    # int8 inference: the model shipped in the package, never one built in the cache
    assert find(3, "int8") == shipped(3) and find(3, "int8").path.parent != models
    assert not models.exists()
    stand_in_for_official(x2_model, models / "lesrcnn_x2.onnx")
    assert find(2, "fp32").path == models / "lesrcnn_x2.onnx"
    # inference never exports: a missing fp32 model is one line saying how to get one
    with pytest.raises(ModelError) as err:
        find(4, "fp32")
    assert str(err.value) == (
        f"{models / 'lesrcnn_x4.onnx'}: fp32 model not found: run `lesrcnn-deploy export "
        "--scale 4` (needs pip install 'lesrcnn-deploy[build]') or give a model file (--model)"
    )
    assert sorted(p.name for p in models.iterdir()) == ["lesrcnn_x2.onnx"]
    shutil.copy(x2_model, models / "lesrcnn_x3.onnx")  # not the official export
    with pytest.raises(ModelError, match=r"is not lesrcnn-deploy .*'s export of the official"):
        find(3, "fp32")


def test_fp32_model_built_from_official_weights(
    weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skimage import data

    from lesrcnn_deploy.data import bicubic_downscale
    from lesrcnn_deploy.models.build import build

    monkeypatch.setenv("LESRCNN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("LESRCNN_WEIGHTS_DIR", str(weights_dir))
    built = build(2, "fp32").path  # the build side (export), as `lesrcnn-deploy export` does
    up = Upscaler(2, "fp32", tile=32, threads=1)
    assert up.model_path == built == tmp_path / "models" / "lesrcnn_x2.onnx"
    hr = np.asarray(data.chelsea())[60:156, 100:196]  # 96x96 RGB uint8, fur and whiskers
    lr = bicubic_downscale(hr, 2)  # the degradation LESRCNN was trained on
    sr = up.upscale(lr)
    bic = cv2.resize(lr, (96, 96), interpolation=cv2.INTER_CUBIC)

    def mse(a: np.ndarray) -> float:
        return float(((a.astype(float) - hr) ** 2).mean())

    assert sr.shape == hr.shape and mse(sr) < mse(bic)


@pytest.mark.parametrize("runtime", ["ort", "openvino", "auto"])
def test_one_upscaler_reads_its_model_once(
    x2_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: str
) -> None:
    """One ``Upscaler()`` opens its model file once from Python: the metadata is read and
    checked, and the SHA256 computed, from that one read (the runtimes load the file in C++)."""
    import builtins
    import io

    import lesrcnn_deploy.models.packaged as shipped_module
    from lesrcnn_deploy.runtime.ov import openvino_available

    if runtime == "openvino" and not openvino_available():
        pytest.skip("OpenVINO is not installed")
    monkeypatch.setenv("LESRCNN_CACHE_DIR", str(tmp_path))  # `auto` measures, then caches
    monkeypatch.setattr(shipped_module, "_opened", {})  # as in a fresh process
    opened: list[Path] = []
    real_open = io.open

    def counting_open(file: object, *args: object, **kwargs: object) -> object:
        if isinstance(file, str | Path) and Path(file).name.endswith(".onnx"):
            opened.append(Path(file).resolve())
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(io, "open", counting_open)
    monkeypatch.setattr(builtins, "open", counting_open)
    for explicit in (x2_model, None):  # a given file, and the shipped int8 model
        opened.clear()
        precision = "fp32" if explicit is not None else "int8"
        up = Upscaler(2, precision, model=explicit, runtime=runtime, tile=0, threads=1)
        assert opened == [up.model.path.resolve()], opened
        assert up.runner.record is up.model  # type: ignore[attr-defined]
        assert up.model.metadata["scale"] == "2" and up.model.precision == precision
    opened.clear()
    Upscaler(2, "int8", runtime=runtime, tile=0, threads=1)  # the shipped model, checked once
    assert opened == []


def test_example_picture_shows_the_shipped_int8_model(tmp_path: Path) -> None:
    """docs/upscale_example.png's maker: bicubic | LESRCNN x4 int8 | original, each 120x120 crop
    zoomed x2 under a label; the middle panel is the shipped int8 model's output."""
    pytest.importorskip("skimage")
    from lesrcnn_deploy.data import load_image
    from lesrcnn_deploy.upscale.example import make_example

    img = load_image(make_example(tmp_path / "example.png")).pixels
    assert img.shape == (22 + 240, 3 * 240 + 2 * 6, 3)
    bicubic, lesrcnn, original = (img[22:, k * 246 : k * 246 + 240].astype(int) for k in range(3))
    # LESRCNN is closer to the original than bicubic, and it is not the original
    assert np.abs(lesrcnn - original).mean() < np.abs(bicubic - original).mean()
    assert np.abs(lesrcnn - original).mean() > 1
