"""The upscale command's outputs: any size, metadata kept or stripped, quality options.

Real files (a JPEG with a Display P3 profile, EXIF with orientation 6 and GPS, XMP) through the
shipped int8 models; output sizes are checked exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_image_metadata import P3, XMP, camera_exif

from lesrcnn_deploy.cli import main
from lesrcnn_deploy.core.errors import ConfigError
from lesrcnn_deploy.data import load_image, save_image
from lesrcnn_deploy.models import artifacts_dir
from lesrcnn_deploy.upscale import Upscaler, plan_jobs, run_batch
from lesrcnn_deploy.upscale.output import OutputOptions, ScaleSet, upscale_pixels


def _model(scale: int) -> Path:
    return artifacts_dir() / f"lesrcnn_x{scale}_int8.onnx"


def _phone_jpeg(path: Path, h: int = 20, w: int = 30) -> Path:
    rng = np.random.default_rng(0)
    px = np.clip(rng.normal(128, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(px).save(path, quality=95, icc_profile=P3, exif=camera_exif(6), xmp=XMP)
    return path


@pytest.fixture(scope="module")
def opened() -> list[int]:
    return []


@pytest.fixture(scope="module")
def scales(opened: list[int]) -> ScaleSet:
    def opener(scale: int) -> Upscaler:
        opened.append(scale)
        return Upscaler(scale, "int8", model=_model(scale), tile=0, threads=1)

    return ScaleSet(opener)


def test_cli_keeps_profile_and_exif_at_any_scale(tmp_path: Path) -> None:
    src = _phone_jpeg(tmp_path / "phone.jpg")
    argv = ["upscale", str(src), "--model", str(_model(2)), "--quiet"]
    assert main([*argv, "--outscale", "1.5", "--format", "jpg", "--quality", "90"]) == 0
    out = tmp_path / "phone_x1.5.jpg"
    with Image.open(out) as im:
        assert im.size == (30, 45)  # displayed 20x30 (orientation 6) x 1.5
        assert im.info["icc_profile"] == P3
        exif = im.getexif()
        assert exif[0x0112] == 1 and exif[0x010F] == "TestCam"
        assert exif.get_ifd(0x8825)[0x0001] == "N"  # GPS kept by default in the CLI
        assert b'tiff:Orientation="1"' in im.info["xmp"]
    assert main([*argv, "--strip-metadata", "--output", str(tmp_path / "s.png")]) == 0
    with Image.open(tmp_path / "s.png") as im:
        assert im.size == (40, 60) and im.info["icc_profile"] == P3
        assert len(im.getexif()) == 0 and "XML:com.adobe.xmp" not in im.info


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (["--format", "png", "--quality", "80"], "--quality has no effect on png output"),
        (["--format", "jpg", "--lossless"], "--lossless has no effect on jpg output"),
        (["--format", "webp", "--lossless", "--quality", "80"], "exclude each other"),
        (["--outscale", "0"], "outscale must be > 0"),
        (["--fit", "big"], "fit must look like WIDTHxHEIGHT"),
    ],
)
def test_cli_refuses_useless_or_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], text: str
) -> None:
    src = _phone_jpeg(tmp_path / "p.jpg")
    code = main(["upscale", str(src), "--model", str(_model(2)), "--quiet", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and text in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jpg"]  # nothing written


def test_fit_uses_the_smallest_scale_that_reaches_the_box(
    scales: ScaleSet, opened: list[int], tmp_path: Path
) -> None:
    a = save_image(tmp_path / "a.png", np.full((30, 40, 3), 90, np.uint8))  # 4:3
    b = save_image(tmp_path / "b.png", np.full((10, 40, 3), 90, np.uint8))  # 4:1
    options = OutputOptions(fit=(100, 100))
    jobs = plan_jobs([a, b], tag=options.suffix(0), output=tmp_path / "out")
    assert [j.output.name for j in jobs] == ["a_fit100x100.png", "b_fit100x100.png"]
    result = run_batch(scales, jobs, progress=False, options=options)
    assert result.ok, result.summary()
    assert load_image(jobs[0].output).pixels.shape == (75, 100, 3)  # x3 (120x90), area down
    assert load_image(jobs[1].output).pixels.shape == (25, 100, 3)  # x3 (120x30), area down
    assert opened == [3]
    big = upscale_pixels(
        scales, np.full((10, 10, 3), 90, np.uint8), options=OutputOptions(outscale=6)
    )
    assert big.shape == (60, 60, 3) and opened == [3, 4]  # x4, then Lanczos to x6
    small = upscale_pixels(
        scales, np.full((9, 7), 90, np.uint8), options=OutputOptions(outscale=1.5)
    )
    assert small.shape == (14, 11) and opened == [3, 4, 2]  # 13.5 -> 14, 10.5 -> 11


def test_outscale_with_a_fixed_scale_and_16_bit(tmp_path: Path) -> None:
    up = Upscaler(4, "int8", model=_model(4), tile=0, threads=1)
    px = (np.random.default_rng(1).integers(0, 65536, (12, 10, 3))).astype(np.uint16)
    out = upscale_pixels(up, px, options=OutputOptions(outscale=3))  # x4 then area down to x3
    assert out.shape == (36, 30, 3) and out.dtype == np.uint16


def test_options_check_themselves() -> None:
    with pytest.raises(ConfigError, match="not both"):
        OutputOptions(outscale=2, fit=(10, 10))
    assert OutputOptions(outscale=3.5).suffix(4) == "x3.5"
    assert OutputOptions().suffix(2) == "x2"
    assert OutputOptions(fit="1920x1080").fit == (1920, 1080)  # type: ignore[arg-type]


def test_missing_jpeg_xl_plugin_is_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pillow_jxl", None)  # as if the 'jxl' extra were missing
    src = _phone_jpeg(tmp_path / "p.jpg")
    code = main(["upscale", str(src), "--model", str(_model(2)), "--format", "jxl", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "pip install 'lesrcnn-deploy[jxl]'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jpg"]


def test_gif_output_is_for_animations_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _phone_jpeg(tmp_path / "p.jpg")
    code = main(["upscale", str(src), "--model", str(_model(2)), "--format", "gif", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "GIF output is for animated inputs" in err and len(err.splitlines()) == 1


def test_image_options_refused_for_videos_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    av = pytest.importorskip("av")
    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as box:
        stream = box.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 40 * i, np.uint8), "rgb24")
            box.mux(stream.encode(frame))
        box.mux(stream.encode())
    code = main(["upscale", str(clip), "--model", str(_model(2)), "--quality", "80", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "videos use --crf/--bitrate" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
