"""Image reading/writing: formats, modes, EXIF orientation, bad files, atomic save."""

from __future__ import annotations

import errno
import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from lesrcnn_deploy.core.errors import ImageError
from lesrcnn_deploy.data import image_io
from lesrcnn_deploy.data.image_io import (
    LoadedImage,
    load_image,
    read_image_size,
    save_image,
    to_rgb_uint8,
)


def _rgb(h: int = 24, w: int = 36, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _quadrants(h: int = 40, w: int = 60) -> np.ndarray:
    """Asymmetric, JPEG-friendly RGB test card: four flat coloured quadrants."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (255, 0, 0)
    a[: h // 2, w // 2 :] = (0, 255, 0)
    a[h // 2 :, w // 2 :] = (0, 0, 255)
    return a


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR (valid CRC) claims ``width x height`` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


# --- formats and modes -------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".tiff", ".webp", ".PNG"])
def test_lossless_roundtrip_rgb(tmp_path: Path, ext: str) -> None:
    a = _rgb()
    path = save_image(tmp_path / f"a{ext}", a)
    img = load_image(path)
    assert img.mode == "rgb" and img.bit_depth == 8 and img.path == path
    np.testing.assert_array_equal(img.pixels, a)


@pytest.mark.parametrize("ext", [".jpg", ".jpeg"])
def test_jpeg_roundtrip_is_rgb_order(tmp_path: Path, ext: str) -> None:
    a = _quadrants()
    img = load_image(save_image(tmp_path / f"a{ext}", a))
    assert img.pixels.shape == (40, 60, 3)
    assert np.abs(img.pixels.astype(int) - a).mean() < 8  # a BGR swap would give ~113
    assert img.pixels[5, 5, 0] > 200 and img.pixels[5, 5, 2] < 50


def test_rgb_order_matches_pillow(tmp_path: Path) -> None:
    a = _rgb()
    Image.fromarray(a).save(tmp_path / "p.png")
    np.testing.assert_array_equal(load_image(tmp_path / "p.png").pixels, a)


def test_gray_rgba_and_16bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (10, 12), dtype=np.uint8)
    rgba = rng.integers(0, 256, (10, 12, 4), dtype=np.uint8)
    deep = rng.integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    g = load_image(save_image(tmp_path / "g.png", gray))
    assert g.mode == "gray" and g.pixels.shape == (10, 12, 1)
    np.testing.assert_array_equal(g.pixels[:, :, 0], gray)
    r = load_image(save_image(tmp_path / "r.png", rgba))
    assert r.mode == "rgba" and r.bit_depth == 8
    np.testing.assert_array_equal(r.pixels, rgba)
    for ext in (".png", ".tif"):
        d = load_image(save_image(tmp_path / f"d{ext}", deep))
        assert d.bit_depth == 16 and d.pixels.dtype == np.uint16 and d.mode == "rgb"
        np.testing.assert_array_equal(d.pixels, deep)
    # RGB order check of the 16-bit path against Pillow's reading of a 16-bit gray PNG
    Image.fromarray(deep[:, :, 0]).save(tmp_path / "g16.png")
    g16 = load_image(tmp_path / "g16.png")
    assert g16.bit_depth == 16 and g16.mode == "gray"
    np.testing.assert_array_equal(g16.pixels[:, :, 0], deep[:, :, 0])


def test_palette_and_gray_alpha_png(tmp_path: Path) -> None:
    a = _quadrants(8, 8)
    Image.fromarray(a).convert("P").save(tmp_path / "pal.png")
    pal = load_image(tmp_path / "pal.png")
    assert pal.mode == "rgb"
    np.testing.assert_array_equal(pal.pixels, a)
    Image.fromarray(a).convert("P").save(tmp_path / "palt.png", transparency=0)
    assert load_image(tmp_path / "palt.png").mode == "rgba"
    la = np.dstack([np.full((8, 8), 77, np.uint8), np.full((8, 8), 200, np.uint8)])
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    img = load_image(tmp_path / "la.png")
    assert img.mode == "rgba"
    np.testing.assert_array_equal(img.pixels[0, 0], [77, 77, 77, 200])


def test_float_tiff_refused(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(ImageError, match=r"f\.tif: unsupported pixel type float32"):
        load_image(tmp_path / "f.tif")


def test_to_rgb_uint8() -> None:
    gray = LoadedImage(np.arange(6, dtype=np.uint8).reshape(2, 3, 1))
    out = to_rgb_uint8(gray)
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    rgba = LoadedImage(np.dstack([_rgb(2, 3), np.zeros((2, 3), np.uint8)]))
    np.testing.assert_array_equal(to_rgb_uint8(rgba), rgba.pixels[:, :, :3])
    x = np.array([0, 128, 129, 257, 385, 386, 65535], dtype=np.uint16)
    deep = LoadedImage(np.repeat(x.reshape(1, -1, 1), 3, axis=2))
    got = to_rgb_uint8(deep)[0, :, 0]
    np.testing.assert_array_equal(got, np.round(x / 257).astype(np.uint8))
    np.testing.assert_array_equal(got, [0, 0, 1, 1, 1, 2, 255])


def test_loaded_image_validates() -> None:
    with pytest.raises(ImageError, match="C in 1, 3, 4"):
        LoadedImage(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ImageError, match="uint8 or uint16"):
        LoadedImage(np.zeros((2, 2, 3), np.float32))


# --- EXIF orientation --------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_png_matches_pillow(tmp_path: Path, orientation: int) -> None:
    a = _rgb(6, 10, seed=orientation)
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    im.save(path, exif=exif.tobytes())
    want = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    got = load_image(path).pixels
    np.testing.assert_array_equal(got, want)


def test_exif_orientation_jpeg(tmp_path: Path) -> None:
    a = _quadrants()  # stored 40x60 (HxW); tag 6 = display rotated 90 degrees clockwise
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6
    path = tmp_path / "rot.jpg"
    im.save(path, exif=exif.tobytes(), quality=100)
    img = load_image(path)
    assert img.pixels.shape == (60, 40, 3)
    assert read_image_size(path) == (40, 60)  # the header size is the stored one
    want = np.rot90(a, -1)
    err = np.abs(img.pixels.astype(int) - want).mean()
    assert err < 8  # JPEG noise at the colour edges only
    for wrong in (np.rot90(a, 1), np.rot90(a, -1)[::-1], a.transpose(1, 0, 2)):
        assert np.abs(img.pixels.astype(int) - wrong).mean() > 10 * err


def test_exif_orientation_tiff(tmp_path: Path) -> None:
    # OpenCV cannot decode such a TIFF; the Pillow fallback must still give the displayed image.
    a = _quadrants()
    for orientation, want in ((3, a[::-1, ::-1]), (6, np.rot90(a, -1))):
        im = Image.fromarray(a)
        exif = im.getexif()
        exif[0x0112] = orientation
        path = tmp_path / f"o{orientation}.tif"
        im.save(path, exif=exif.tobytes())
        np.testing.assert_array_equal(load_image(path).pixels, want)


# --- bad files ---------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nope\.png: no such file"):
        load_image(tmp_path / "nope.png")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"e\.png: empty file"):
        load_image(tmp_path / "e.png")
    with pytest.raises(ImageError, match=r"e\.png: empty file"):
        read_image_size(tmp_path / "e.png")


def test_text_named_png(tmp_path: Path) -> None:
    (tmp_path / "t.png").write_text("hello, I am not a picture\n")
    with pytest.raises(ImageError, match=r"t\.png: not an image"):
        load_image(tmp_path / "t.png")


def test_unsupported_extension_and_format(tmp_path: Path) -> None:
    (tmp_path / "a.gif").write_bytes(b"GIF89a")
    with pytest.raises(ImageError, match=r"a\.gif: unsupported file extension \.gif"):
        load_image(tmp_path / "a.gif")
    Image.fromarray(_rgb()).save(tmp_path / "g.png", format="GIF")
    with pytest.raises(ImageError, match=r"g\.png: unsupported image format GIF"):
        load_image(tmp_path / "g.png")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ImageError, match=r"d\.png: is a directory"):
        load_image(tmp_path / "d.png")


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp", ".tif"])
def test_truncated(tmp_path: Path, ext: str) -> None:
    a = _rgb(64, 64)
    full = tmp_path / f"full{ext}"
    save_image(full, a)
    data = full.read_bytes()
    for cut in (len(data) // 2, len(data) - 3):
        bad = tmp_path / f"cut{cut}{ext}"
        bad.write_bytes(data[:cut])
        with pytest.raises(ImageError, match=rf"cut{cut}\{ext}: ") as info:
            load_image(bad)
        assert "\n" not in str(info.value)


def test_huge_header_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(100_000, 100_000))
    assert path.stat().st_size < 100
    with pytest.raises(ImageError, match=r"bomb\.png: image too large"):
        load_image(path)
    path.write_bytes(_png_header_only(12_000, 12_000))  # > max_pixels, < Pillow's hard limit
    with pytest.raises(ImageError, match=r"12000x12000 = 144000000 pixels > max_pixels"):
        load_image(path)
    with pytest.raises(ImageError, match="max_pixels=100"):
        load_image(save_image(tmp_path / "small.png", _rgb()), max_pixels=100)


def test_zero_size_image(tmp_path: Path) -> None:
    path = tmp_path / "zero.png"
    path.write_bytes(_png_header_only(0, 0))
    with pytest.raises(ImageError, match=r"zero\.png: ") as info:
        load_image(path)
    assert "\n" not in str(info.value)


def test_no_library_exception_escapes(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    good = save_image(tmp_path / "g.png", _rgb()).read_bytes()
    outcomes: list[str] = []
    for i in range(20):
        data = bytearray(good)
        for pos in rng.integers(8, len(data), 5):
            data[pos] = int(rng.integers(0, 256))
        path = tmp_path / f"x{i}.png"
        path.write_bytes(bytes(data))
        try:
            img = load_image(path)
        except ImageError as err:
            assert str(path) in str(err) and "\n" not in str(err)
            outcomes.append("refused")
        else:  # a corruption the decoders accept still gives a whole image of the right shape
            assert img.pixels.shape == _rgb().shape and img.pixels.dtype == np.uint8
            outcomes.append("decoded")
    # PNG chunks carry CRCs: most random byte flips are caught, as one-line ImageErrors.
    assert outcomes.count("refused") >= 10, outcomes


# --- saving ------------------------------------------------------------------------------------


def test_save_checks(tmp_path: Path) -> None:
    a = _rgb()
    with pytest.raises(ImageError, match=r"x\.gif: unsupported file extension"):
        save_image(tmp_path / "x.gif", a)
    with pytest.raises(ImageError, match="cannot store 16-bit"):
        save_image(tmp_path / "x.jpg", a.astype(np.uint16))
    with pytest.raises(ImageError, match="cannot store an alpha"):
        save_image(tmp_path / "x.jpg", np.dstack([a, a[:, :, :1]]))
    with pytest.raises(ImageError, match="float32"):
        save_image(tmp_path / "x.png", a.astype(np.float32))
    with pytest.raises(ImageError, match="shape"):
        save_image(tmp_path / "x.png", a[:, :, :2])
    assert list(tmp_path.iterdir()) == []


def test_save_overwrite(tmp_path: Path) -> None:
    path = save_image(tmp_path / "sub" / "o.png", _rgb(seed=1))
    with pytest.raises(ImageError, match="file exists"):
        save_image(path, _rgb(seed=2), overwrite=False)
    np.testing.assert_array_equal(load_image(path).pixels, _rgb(seed=1))
    save_image(path, _rgb(seed=2))
    np.testing.assert_array_equal(load_image(path).pixels, _rgb(seed=2))
    assert sorted(p.name for p in path.parent.iterdir()) == ["o.png"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_save_disk_full_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = save_image(tmp_path / "keep.png", _rgb(seed=1))
    before = target.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(image_io.os, "fsync", full_disk)
    with pytest.raises(ImageError, match=r"keep\.png: cannot write image \(No space left"):
        save_image(target, _rgb(seed=2))
    with pytest.raises(ImageError, match=r"new\.png: cannot write image"):
        save_image(tmp_path / "new.png", _rgb(seed=2))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]  # no temp, no partial file


def test_save_gray_variants(tmp_path: Path) -> None:
    g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    a = load_image(save_image(tmp_path / "a.png", g))
    b = load_image(save_image(tmp_path / "b.bmp", g[:, :, None]))
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert a.mode == "gray"


def test_cv2_reads_what_we_write_as_bgr(tmp_path: Path) -> None:
    a = _rgb()
    save_image(tmp_path / "c.png", a)
    bgr = cv2.imread(str(tmp_path / "c.png"), cv2.IMREAD_UNCHANGED)
    assert bgr is not None
    np.testing.assert_array_equal(bgr[:, :, ::-1], a)
    with Image.open(io.BytesIO((tmp_path / "c.png").read_bytes())) as im:
        np.testing.assert_array_equal(np.asarray(im), a)
