"""Calibration data: clear one-line errors for bad folders, seeded patches, table round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesrcnn_deploy.core.errors import CalibrationError
from lesrcnn_deploy.quantization.calibration import (
    CalibrationTable,
    builtin_photo_paths,
    collect_patches,
    load_calibration_images,
    load_table,
    save_table,
)
from lesrcnn_deploy.quantization.config import CalibrationConfig


def _png(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _one_line(exc: pytest.ExceptionInfo[CalibrationError]) -> str:
    text = str(exc.value)
    assert "\n" not in text and text
    return text


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError) as exc:
        load_calibration_images(CalibrationConfig(source=str(tmp_path / "nope")))
    assert "no such folder" in _one_line(exc)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(CalibrationError) as exc:
        load_calibration_images(CalibrationConfig(source=str(tmp_path)))
    assert "holds no images" in _one_line(exc) and str(tmp_path) in str(exc.value)


def test_unreadable_image(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", (128, 128))
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(CalibrationError) as exc:
        load_calibration_images(CalibrationConfig(source=str(tmp_path)))
    msg = _one_line(exc)
    assert "unreadable calibration image" in msg and "b.png" in msg


def test_images_smaller_than_crop(tmp_path: Path) -> None:
    _png(tmp_path / "small.png", (40, 30))
    with pytest.raises(CalibrationError) as exc:
        load_calibration_images(CalibrationConfig(source=str(tmp_path), crop=64))
    msg = _one_line(exc)
    assert "smaller than the 64 px crop" in msg and "30 px" in msg


def test_small_images_are_skipped_when_others_fit(tmp_path: Path) -> None:
    _png(tmp_path / "big.png", (100, 80))
    _png(tmp_path / "small.png", (20, 20))
    imgs = load_calibration_images(CalibrationConfig(source=str(tmp_path), crop=64))
    assert imgs.names == ("big.png",) and imgs.skipped == ("small.png",)
    assert set(imgs.sha256) == {"big.png"}


def test_patches_are_seeded_and_in_range(tmp_path: Path) -> None:
    for k in range(3):
        _png(tmp_path / f"{k}.png", (90, 70), seed=k)
    imgs = load_calibration_images(CalibrationConfig(source=str(tmp_path), crop=32))
    a = collect_patches(imgs, count=7, crop=32, seed=5)
    b = collect_patches(imgs, count=7, crop=32, seed=5)
    c = collect_patches(imgs, count=7, crop=32, seed=6)
    assert a.shape == (7, 3, 32, 32) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_builtin_photos_are_natural_photos_not_eval_sets() -> None:
    paths = builtin_photo_paths()
    assert len(paths) >= 8
    names = {p.name for p in paths}
    assert "astronaut.png" in names and not any("SRF" in n or "baboon" in n for n in names)
    imgs = load_calibration_images(CalibrationConfig(crop=96))
    assert all(img.shape[2] == 3 and img.dtype == np.uint8 for img in imgs.images)


def test_table_round_trip_and_bad_tables(tmp_path: Path) -> None:
    t = CalibrationTable(
        ranges={"b": (0.0, 1.5), "a": (-0.25, 0.75)},
        calibration=CalibrationConfig(count=4),
        images={"x.png": "ab" * 32},
        model_sha256="cd" * 32,
    )
    path = save_table(t, tmp_path / "calibration" / "t.json")
    back = load_table(path)
    assert back == t
    assert list(path.read_text().split('"ranges"')[1].split('"a"'))  # sorted, human-readable
    with pytest.raises(CalibrationError, match="calibration table not found"):
        load_table(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"version": 1, "ranges": {"a": [2, 1]}, "calibration": {}}')
    with pytest.raises(CalibrationError, match="bad range for tensor 'a'"):
        load_table(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text('{"version": 0}')
    with pytest.raises(CalibrationError, match="version"):
        load_table(tmp_path / "old.json")


@pytest.mark.parametrize("case", ["empty", "unreadable", "small"])
def test_cli_calibration_errors_are_one_line(
    case: str, random_fp32: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lesrcnn_deploy.cli import main

    folder = tmp_path / "calib"
    folder.mkdir()
    if case == "unreadable":
        (folder / "x.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    elif case == "small":
        _png(folder / "tiny.png", (24, 24))
    out = tmp_path / "int8.onnx"
    code = main(
        [
            "quantize",
            "--model",
            str(random_fp32),
            "--calib-dir",
            str(folder),
            "--output",
            str(out),
            "--preset",
            "ptq",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("lesrcnn-deploy: error:")
    assert {"empty": "holds no images", "unreadable": "unreadable", "small": "px crop"}[case] in err
    assert not out.exists()


@pytest.mark.slow  # moved out of the fast tier: `make test` stays under 10 min
def test_cli_retrain_writes_recipe_and_table_then_replays_them(
    random_fp32: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lesrcnn_deploy.cli import main

    recipe = tmp_path / "recipes" / "r.recipe.json"
    table = tmp_path / "t.json"
    base = ["quantize", "--model", str(random_fp32), "--quiet"]
    train = [
        *base,
        "--retrain",
        "--finetune-steps",
        "3",
        "--calib-count",
        "4",
        "--calib-crop",
        "32",
        "--save-recipe",
        str(recipe),
        "--save-calib-table",
        str(table),
    ]
    assert main([*train, "--output", str(tmp_path / "a.onnx")]) == 0
    out = capsys.readouterr().out
    assert recipe.is_file() and recipe.with_suffix("").with_suffix(".recipe.npz").is_file()
    assert "recipe:" in out and "calibration table:" in out and "fine-tuning: 3 steps" in out
    # replaying the recipe: no calibration, no training, the same bytes
    assert main([*base, "--recipe", str(recipe), "--output", str(tmp_path / "b.onnx")]) == 0
    assert "replayed recipe" in capsys.readouterr().out
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
    manifest = json.loads((tmp_path / "b.json").read_text())
    assert manifest["calibration"]["config"]["count"] == 4
    assert manifest["training"]["finetune"]["steps"] == 3
    # the table alone replays calibration: post-training quantization from it, no calibration
    assert (
        main(
            [
                *base,
                "--preset",
                "ptq",
                "--calib-table",
                str(table),
                "--output",
                str(tmp_path / "c.onnx"),
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ([], "configuration trains"),  # default preset, custom model, no recipe: never trains
        (["--finetune-steps", "5"], "add --retrain"),
        (["--recipe", "r.json", "--retrain"], "exclude each other"),
        (["--recipe", "r.json", "--calib-count", "4"], "no effect when a recipe is replayed"),
        (["--preset", "ptq", "--calib-table", "t.json", "--calib-seed", "3"], "no effect"),
        (["--recipe", "missing.recipe.json"], "recipe not found"),
    ],
)
def test_cli_never_trains_by_surprise_and_refuses_useless_options(
    extra: list[str],
    needle: str,
    random_fp32: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lesrcnn_deploy.cli import main

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "int8.onnx"
    code = main(["quantize", "--model", str(random_fp32), "--output", str(out), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and needle in err, err
    assert not out.exists()
