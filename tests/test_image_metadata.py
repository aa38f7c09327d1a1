"""ICC profiles, EXIF and XMP survive reading and writing; quality options; AVIF and JPEG XL.

Every file is made here with Pillow: a Display P3 ICC profile (matrix/TRC, built byte by byte and
checked by LittleCMS through ``PIL.ImageCms``), EXIF with camera, date, GPS and orientation, XMP.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from lesrcnn_deploy.core.errors import ConfigError, UnsupportedFormatError
from lesrcnn_deploy.data import decode_image, load_image
from lesrcnn_deploy.data.image_encode import check_encode_options, encode_image, save_image
from lesrcnn_deploy.data.image_meta import ImageMeta

# Display P3 primaries adapted to D50 (as in Apple's profile), D50 white, the sRGB curve.
_P3 = {
    b"rXYZ": (0.515121, 0.241196, -0.001053),
    b"gXYZ": (0.291977, 0.692245, 0.041885),
    b"bXYZ": (0.157104, 0.066574, 0.784073),
    b"wtpt": (0.9642, 1.0, 0.8249),
}


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def display_p3_profile() -> bytes:
    """A v2 RGB display profile with Display P3's primaries and the sRGB transfer curve."""
    name = b"Display P3 (test)"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(name) + 1) + name + b"\0" + bytes(8 + 3 + 67)
    curve = b"para" + bytes(4) + struct.pack(">HH", 3, 0)
    curve += b"".join(_s15(v) for v in (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045))
    tags: list[tuple[bytes, bytes]] = [(b"desc", desc), (b"cprt", b"text" + bytes(4) + b"none\0")]
    tags += [(sig, b"XYZ " + bytes(4) + b"".join(_s15(v) for v in xyz)) for sig, xyz in _P3.items()]
    tags += [(sig, curve) for sig in (b"rTRC", b"gTRC", b"bTRC")]
    offset = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for sig, body in tags:
        body += bytes(-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
    header += struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acspAPPL" + bytes(4 + 4 + 4 + 8 + 4)
    header += b"".join(_s15(v) for v in _P3[b"wtpt"]) + b"lcms" + bytes(16 + 28)
    assert len(header) == 128
    return header + table + data


P3 = display_p3_profile()
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
    b'syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
    b'tiff:Orientation="6" tiff:Make="TestCam"/></rdf:RDF></x:xmpmeta>'
)


def camera_exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model 7"  # Model
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = "2026:01:02 03:04:05"  # DateTimeOriginal
    exif.get_ifd(0x8769)[0xA002] = 36  # PixelXDimension (stored size)
    exif.get_ifd(0x8769)[0xA003] = 24
    exif.get_ifd(0x8825)[0x0001] = "N"  # GPSLatitudeRef
    exif.get_ifd(0x8825)[0x0002] = (48.0, 51.0, 30.0)
    return exif


def _card(h: int = 24, w: int = 36) -> np.ndarray:
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (230, 20, 20)
    a[: h // 2, w // 2 :] = (20, 200, 40)
    a[h // 2 :] = (30, 40, 220)
    return a


def test_the_profile_is_a_real_display_p3_profile() -> None:
    profile = ImageCms.ImageCmsProfile(io.BytesIO(P3))
    assert ImageCms.getProfileDescription(profile).strip() == "Display P3 (test)"
    # Pure P3 red is outside sRGB: converted to sRGB it clips to red with no green or blue left.
    red = Image.new("RGB", (1, 1), (255, 0, 0))
    srgb = ImageCms.profileToProfile(red, profile, ImageCms.createProfile("sRGB"))
    assert srgb is not None
    assert srgb.getpixel((0, 0)) == (255, 0, 0)
    # P3 green (0, 255, 0) is far more saturated: in sRGB its red turns negative -> clipped to 0.
    green = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), (128, 200, 128)), profile, ImageCms.createProfile("sRGB")
    )
    assert green is not None
    assert green.getpixel((0, 0)) != (128, 200, 128)  # the profile changes the colours


def _jpeg_with_everything(path: Path) -> None:
    Image.fromarray(_card()).save(
        path, quality=95, icc_profile=P3, exif=camera_exif(6).tobytes(), xmp=XMP
    )


def test_load_reads_icc_exif_xmp_and_resets_orientation(tmp_path: Path) -> None:
    src = tmp_path / "phone.jpg"
    _jpeg_with_everything(src)
    img = load_image(src)
    assert img.pixels.shape == (36, 24, 3)  # orientation 6: turned upright
    assert img.meta.icc_profile == P3
    exif = Image.Exif()
    assert img.meta.exif is not None
    exif.load(img.meta.exif)
    assert exif[0x0112] == 1 and exif[0x010F] == "TestCam"
    assert exif.get_ifd(0x8825)[0x0001] == "N"
    assert img.meta.xmp is not None
    assert b'tiff:Orientation="1"' in img.meta.xmp and b"TestCam" in img.meta.xmp
    stripped = img.meta.stripped()
    assert stripped == ImageMeta(icc_profile=P3)
    same = decode_image(src.read_bytes())
    assert same.meta == img.meta


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".tif", ".avif"])
def test_written_files_keep_icc_exif_and_xmp(tmp_path: Path, ext: str) -> None:
    src = tmp_path / "phone.jpg"
    _jpeg_with_everything(src)
    img = load_image(src)
    big = np.ascontiguousarray(np.repeat(np.repeat(img.pixels, 2, axis=0), 2, axis=1))
    out = save_image(tmp_path / f"out{ext}", big, meta=img.meta)
    with Image.open(out) as im:
        assert im.size == (48, 72)
        assert im.info.get("icc_profile") == P3  # byte-identical profile
        exif = im.getexif()
        assert exif.get(0x0112, 1) == 1  # already upright
        assert exif[0x010F] == "TestCam" and exif[0x0110] == "Model 7"
        sub = exif.get_ifd(0x8769)
        assert sub[0x9003] == "2026:01:02 03:04:05"
        assert (sub[0xA002], sub[0xA003]) == (48, 72)  # the written size
        assert exif.get_ifd(0x8825)[0x0002] == (48.0, 51.0, 30.0)
        tags = getattr(im, "tag_v2", {})
        xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp") or tags.get(700)
    xmp_bytes = xmp.encode() if isinstance(xmp, str) else bytes(xmp)
    assert b'tiff:Orientation="1"' in xmp_bytes and b'tiff:Make="TestCam"' in xmp_bytes
    again = load_image(out)
    assert again.meta.icc_profile == P3 and again.pixels.shape == (72, 48, 3)


def test_stripped_meta_keeps_only_the_profile(tmp_path: Path) -> None:
    src = tmp_path / "phone.jpg"
    _jpeg_with_everything(src)
    img = load_image(src)
    out = save_image(tmp_path / "out.jpg", img.pixels, meta=img.meta.stripped())
    with Image.open(out) as im:
        assert im.info["icc_profile"] == P3
        assert "exif" not in im.info and "xmp" not in im.info
        assert len(im.getexif()) == 0


def test_sixteen_bit_png_keeps_icc_and_exif(tmp_path: Path) -> None:
    px = (np.arange(8 * 10 * 3, dtype=np.uint16).reshape(8, 10, 3) * 257).astype(np.uint16)
    meta = ImageMeta(icc_profile=P3, exif=camera_exif(1).tobytes(), xmp=XMP)
    out = save_image(tmp_path / "deep.png", px, meta=meta)
    back = load_image(out)
    assert back.pixels.dtype == np.uint16 and np.array_equal(back.pixels, px)
    assert back.meta.icc_profile == P3
    with Image.open(out) as im:
        assert im.getexif()[0x010F] == "TestCam"


def test_png_input_metadata_round_trips(tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    Image.fromarray(_card()).save(src, icc_profile=P3, exif=camera_exif(3))
    img = load_image(src)
    assert img.meta.icc_profile == P3 and img.meta.exif is not None
    assert np.array_equal(img.pixels, _card()[::-1, ::-1])  # orientation 3 applied
    out = save_image(tmp_path / "out.webp", img.pixels, meta=img.meta)
    with Image.open(out) as im:
        assert im.info["icc_profile"] == P3 and im.getexif().get(0x0112) == 1


def test_quality_and_lossless(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    noisy = np.clip(_card(96, 128).astype(int) + rng.integers(-30, 30, (96, 128, 3)), 0, 255)
    px = noisy.astype(np.uint8)
    small, big = encode_image(px, "jpg", quality=40), encode_image(px, "jpg")
    assert len(small) < len(big) * 0.6  # default is 95
    lossless = encode_image(px, "webp")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(lossless))), px)
    assert encode_image(px, "webp", lossless=True) == lossless
    lossy = np.asarray(Image.open(io.BytesIO(encode_image(px, "webp", quality=60))))
    assert not np.array_equal(lossy, px) and np.abs(lossy.astype(int) - px).mean() < 20
    a50 = encode_image(px, "avif", quality=50)
    a90 = encode_image(px, "avif")
    assert len(a50) < len(a90)
    assert np.asarray(Image.open(io.BytesIO(a90))).shape == (96, 128, 3)


@pytest.mark.parametrize(
    ("fmt", "kwargs", "text"),
    [
        ("png", {"quality": 80}, "--quality has no effect on png output"),
        ("tif", {"quality": 80}, "--quality has no effect on tif output"),
        ("jpg", {"lossless": True}, "--lossless has no effect on jpg output"),
        ("avif", {"lossless": True}, "--lossless has no effect on avif output"),
        ("webp", {"lossless": True, "quality": 90}, "exclude each other"),
        ("jpg", {"quality": 0}, "from 1 to 100"),
        ("jpg", {"quality": 101}, "from 1 to 100"),
    ],
)
def test_options_refused_where_they_have_no_effect(
    fmt: str, kwargs: dict[str, object], text: str
) -> None:
    with pytest.raises(ConfigError, match=text) as err:
        check_encode_options(fmt, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=text):
        encode_image(_card(), fmt, **kwargs)  # type: ignore[arg-type]


def test_avif_and_jpeg_xl_outputs(tmp_path: Path) -> None:
    px = np.dstack([_card(), np.full((24, 36), 200, np.uint8)])  # RGBA
    meta = ImageMeta(exif=camera_exif(1).tobytes())
    out = save_image(tmp_path / "a.avif", px, meta=meta)
    with Image.open(out) as im:
        assert im.size == (36, 24) and im.mode == "RGBA"
        assert im.getexif()[0x010F] == "TestCam"
    # JPEG XL: the 'jxl' extra (pillow-jxl-plugin) is installed by `make install` and CI.
    out = save_image(tmp_path / "a.jxl", px, meta=meta, quality=95)
    with Image.open(out) as im:
        assert im.format == "JXL" and im.size == (36, 24)
        assert np.abs(np.asarray(im).astype(int) - px).mean() < 3
    with pytest.raises(UnsupportedFormatError, match="16-bit"):
        encode_image(np.zeros((4, 4, 3), np.uint16), "avif")


@pytest.mark.parametrize("channels", [3, 4])
def test_sixteen_bit_rgb_tiff_keeps_icc_and_xmp(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(2)
    px = rng.integers(0, 65536, (9, 11, channels)).astype(np.uint16)
    meta = ImageMeta(icc_profile=P3, exif=camera_exif(1).tobytes(), xmp=XMP)
    out = save_image(tmp_path / "deep.tif", px, meta=meta)
    back = load_image(out)
    assert back.pixels.dtype == np.uint16 and np.array_equal(back.pixels, px)
    assert back.meta.icc_profile == P3
    assert back.meta.xmp is not None and b'tiff:Make="TestCam"' in back.meta.xmp
    with Image.open(out) as im:  # libtiff reads the rewritten directory
        assert im.size == (11, 9) and im.info["icc_profile"] == P3
