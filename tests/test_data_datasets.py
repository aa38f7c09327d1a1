"""Dataset layout detection, pairing errors, and the real Set5/Set14 folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesrcnn_deploy.core.errors import ConfigError, DatasetError
from lesrcnn_deploy.data import SRDataset, bicubic_downscale, list_images, open_dataset, save_image


def _img(h: int, w: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    shape = (h, w, channels) if channels > 1 else (h, w)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _official(root: Path, s: int, names: list[str], hr_hw: tuple[int, int] = (12, 12)) -> None:
    for i, n in enumerate(names):
        hr = _img(*hr_hw, seed=i)
        save_image(root / f"x{s}" / f"{n}_SRF_{s}_HR.png", hr)
        save_image(root / f"x{s}" / f"{n}_SRF_{s}_LR.png", bicubic_downscale(hr, s))


def _bicubic(
    root: Path, s: int, names: list[str], prefix: str = "", hr_hw: tuple[int, int] = (13, 14)
) -> None:
    hr_dir = root / (f"{prefix}_HR" if prefix else "HR")
    lr_dir = root / (f"{prefix}_LR_bicubic" if prefix else "LR_bicubic") / f"X{s}"
    for i, n in enumerate(names):
        hr = _img(*hr_hw, seed=i)
        save_image(hr_dir / f"{n}.png", hr)
        save_image(lr_dir / f"{n}x{s}.png", bicubic_downscale(hr, s))


# --- layouts -----------------------------------------------------------------------------------


def test_official_layout(tmp_path: Path) -> None:
    root = tmp_path / "Set5"
    _official(root, 2, ["img_002", "img_001"])
    _official(root, 3, ["img_001"], hr_hw=(12, 15))
    ds = open_dataset(root, 2)
    assert isinstance(ds, SRDataset)
    assert (ds.name, ds.layout, ds.scale, len(ds)) == ("Set5", "official", 2, 2)
    assert [p.name for p in ds] == ["img_001", "img_002"]
    hr, lr = ds.load(ds.pairs[0])
    assert hr.shape == (12, 12, 3) and lr.shape == (6, 6, 3) and hr.dtype == np.uint8
    assert len(open_dataset(root, 3)) == 1
    with pytest.raises(DatasetError, match=r"Set5: no images for scale 4 .*found x2, x3"):
        open_dataset(root, 4)


def test_hr_lr_bicubic_layout_and_modcrop(tmp_path: Path) -> None:
    root = tmp_path / "Set14"
    _bicubic(root, 3, ["zebra", "baboon"])  # 13x14 HR -> 4x4 LR, HR cropped to 12x12
    ds = open_dataset(root, 3)
    assert (ds.name, ds.layout, len(ds)) == ("Set14", "hr_lr_bicubic", 2)
    assert [p.name for p in ds.pairs] == ["baboon", "zebra"]
    hr, lr = ds.load(ds.pairs[0])
    assert hr.shape == (12, 12, 3) and lr.shape == (4, 4, 3)
    raw_hr, raw_lr = ds.load_raw(ds.pairs[0])
    assert raw_hr.pixels.shape == (13, 14, 3) and raw_lr.path == ds.pairs[0].lr_path
    # root may also be the HR folder itself
    direct = open_dataset(root / "HR", 3)
    assert direct.name == "Set14" and direct.pairs == ds.pairs


def test_div2k_layout(tmp_path: Path) -> None:
    root = tmp_path / "DIV2K"
    _bicubic(root, 2, ["0802", "0801"], prefix="DIV2K_valid")
    ds = open_dataset(root, 2, limit=1)
    assert (ds.name, ds.layout, len(ds)) == ("DIV2K_valid", "hr_lr_bicubic", 1)
    assert ds.pairs[0].name == "0801"
    assert ds.pairs[0].lr_path == root / "DIV2K_valid_LR_bicubic" / "X2" / "0801x2.png"
    assert open_dataset(root / "DIV2K_valid_HR", 2).name == "DIV2K_valid"
    _bicubic(root, 2, ["0001"], prefix="DIV2K_train")
    with pytest.raises(DatasetError, match=r"several HR folders .*DIV2K_train_HR, DIV2K_valid_HR"):
        open_dataset(root, 2)
    assert len(open_dataset(root / "DIV2K_train_HR", 2)) == 1


def test_hr_only_layout(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    save_image(root / "b.JPG", _img(10, 9, seed=1))
    save_image(root / "a.png", _img(9, 9, seed=2, channels=1))
    (root / "notes.txt").write_text("not an image")
    (root / "sub").mkdir()
    save_image(root / "sub" / "c.png", _img(8, 8))
    ds = open_dataset(root, 2)
    assert (ds.layout, ds.name, [p.name for p in ds]) == ("hr_only", "mine", ["a", "b"])
    assert all(p.lr_path is None for p in ds)
    hr, lr = ds.load(ds.pairs[0])  # gray 9x9 -> RGB 8x8 HR, 4x4 LR
    assert hr.shape == (8, 8, 3) and lr.shape == (4, 4, 3)
    assert (hr[..., 0] == hr[..., 2]).all() and (lr[..., 0] == lr[..., 1]).all()
    np.testing.assert_array_equal(lr, bicubic_downscale(hr, 2))
    raw_hr, raw_lr = ds.load_raw(ds.pairs[0])
    assert raw_hr.mode == "gray" and raw_lr.mode == "gray" and raw_lr.path is None
    assert raw_lr.pixels.shape == (4, 4, 1)


def test_list_images(tmp_path: Path) -> None:
    for name in ("b.PNG", "a.jpeg", "c.tiff", "d.webp", "e.bmp", ".hidden.png", "f.gif"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "g.jpg").write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == [
        "a.jpeg",
        "b.PNG",
        "c.tiff",
        "d.webp",
        "e.bmp",
    ]
    assert [p.name for p in list_images(tmp_path, recursive=True)][-1] == "g.jpg"
    with pytest.raises(DatasetError, match="no such folder"):
        list_images(tmp_path / "missing")


# --- errors ------------------------------------------------------------------------------------


def test_missing_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nothere: no such dataset folder"):
        open_dataset(tmp_path / "nothere", 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: empty or unrecognised dataset folder"):
        open_dataset(tmp_path / "empty", 2)
    (tmp_path / "f.png").write_bytes(b"x")
    with pytest.raises(DatasetError, match="is not a folder"):
        open_dataset(tmp_path / "f.png", 2)


def test_bad_scale_and_limit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown scale 5"):
        open_dataset(tmp_path, 5)
    with pytest.raises(ConfigError, match="limit"):
        open_dataset(tmp_path, 2, limit=0)


def test_no_lr_for_scale(tmp_path: Path) -> None:
    root = tmp_path / "Set14"
    _bicubic(root, 2, ["a"])
    with pytest.raises(DatasetError, match=r"LR_bicubic: no LR images for scale 4 .*X2"):
        open_dataset(root, 4)
    (root / "LR_bicubic" / "X3").mkdir()
    with pytest.raises(DatasetError, match=r"X3: no LR images for scale 3 \(folder is empty\)"):
        open_dataset(root, 3)


def test_names_do_not_match(tmp_path: Path) -> None:
    root = tmp_path / "S"
    _bicubic(root, 2, ["a", "b", "c"])
    (root / "LR_bicubic" / "X2" / "cx2.png").unlink()
    save_image(root / "LR_bicubic" / "X2" / "zx2.png", _img(6, 7))
    with pytest.raises(DatasetError) as info:
        open_dataset(root, 2)
    text = str(info.value)
    assert "do not match (3 HR, 3 LR; 1 HR without LR: c; 1 LR without HR: z)" in text
    assert "\n" not in text


def test_official_counts_do_not_match(tmp_path: Path) -> None:
    root = tmp_path / "Set5"
    _official(root, 2, [f"img_{i:03d}" for i in range(1, 9)])
    for i in range(1, 8):
        (root / "x2" / f"img_{i:03d}_SRF_2_LR.png").unlink()
    with pytest.raises(
        DatasetError, match=r"8 HR, 1 LR; 7 HR without LR: img_001, .*img_005, \.\.\."
    ):
        open_dataset(root, 2)


def test_lr_size_mismatch(tmp_path: Path) -> None:
    root = tmp_path / "S"
    _bicubic(root, 2, ["a"])  # HR 13x14 (HxW) -> LR 6x7
    save_image(root / "LR_bicubic" / "X2" / "ax2.png", _img(6, 6))
    with pytest.raises(
        DatasetError,
        match=r"ax2\.png: LR size 6x6 is not HR size 14x13 divided by 2 \(expected 7x6",
    ):
        open_dataset(root, 2)


def test_hr_only_too_small(tmp_path: Path) -> None:
    save_image(tmp_path / "tiny" / "t.png", _img(3, 8))
    with pytest.raises(DatasetError, match=r"t\.png: HR size 8x3 is smaller than the scale 4"):
        open_dataset(tmp_path / "tiny", 4)


# --- real data ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_real_set5(set5: Path, scale: int) -> None:
    ds = open_dataset(set5, scale)
    assert (ds.name, ds.layout, len(ds)) == ("Set5", "official", 5)
    assert [p.name for p in ds] == [f"img_{i:03d}" for i in range(1, 6)]
    for pair in ds:
        hr, lr = ds.load(pair)
        assert hr.shape == (lr.shape[0] * scale, lr.shape[1] * scale, 3)
        assert hr.dtype == lr.dtype == np.uint8


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_real_set14(set14: Path, scale: int) -> None:
    ds = open_dataset(set14, scale)
    assert (ds.name, ds.layout, len(ds)) == ("Set14", "hr_lr_bicubic", 14)
    names = [p.name for p in ds]
    assert names == sorted(names) and "baboon" in names and "bridge" in names
    for pair in ds:
        hr, lr = ds.load(pair)
        assert hr.shape == (lr.shape[0] * scale, lr.shape[1] * scale, 3)
        if pair.name == "bridge":
            raw_hr, raw_lr = ds.load_raw(pair)
            assert raw_hr.mode == "gray" and raw_lr.mode == "gray"
            for img in (hr, lr):
                assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
        if pair.name == "baboon" and scale == 3:
            assert hr.shape == (480, 498, 3) and lr.shape == (160, 166, 3)  # 500 -> 498 modcrop
