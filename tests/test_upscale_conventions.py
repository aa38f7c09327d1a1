"""The conventions upscaler users bring (Real-ESRGAN, realesrgan-ncnn-vulkan, upscayl), held
against the real ``lesrcnn-deploy`` process and the shipped int8 model: short flags, a default
scale, outputs in the input's format (``-f auto``), ``--suffix``, existing outputs skipped,
``--json PATH|-``; and the Python API that takes arrays, PIL images and paths."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesrcnn_deploy import Upscaler
from lesrcnn_deploy.cli.main import build_parser
from lesrcnn_deploy.core.vocab import DEFAULT_SCALE
from lesrcnn_deploy.data import load_image, save_image


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LESRCNN_CACHE_DIR": str(cwd / ".cache")}
    return subprocess.run(
        [sys.executable, "-m", "lesrcnn_deploy", "upscale", *args, "--runtime", "ort"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
        env=env,
    )


def _photo(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    """A smooth picture with some texture (JPEG-friendly, not noise)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    base = np.stack([x / w, y / h, (x + y) / (w + h)], axis=2) * 200 + 20
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def _jpeg(path: Path, quality: int = 90) -> Path:
    im = Image.fromarray(_photo())
    exif = im.getexif()
    exif[0x010F] = "lesrcnn-test-camera"  # Make
    im.save(path, quality=quality, exif=exif.tobytes())
    return path


def test_short_flags_mean_the_long_ones(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    short_argv = "upscale -i a.jpg -i b/ -o out -s 2 -t 64 -f webp -m x2.onnx --suffix big"
    long_argv = (
        "upscale --input a.jpg --input b/ --output out --scale 2 --tile 64 --format webp "
        "--model x2.onnx --suffix big"
    )
    short = parser.parse_args(short_argv.split(" "))
    long = parser.parse_args(long_argv.split(" "))
    assert vars(short) == vars(long)
    assert short.more_inputs == ["a.jpg", "b/"] and short.inputs == []
    assert (short.output, short.scale, short.tile, short.format) == ("out", 2, 64, "webp")
    defaults = parser.parse_args(["upscale", "x.png"])
    assert (defaults.format, defaults.scale, defaults.suffix) == ("auto", None, None)
    with pytest.raises(SystemExit):
        parser.parse_args(["upscale", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    assert f"-s SCALE, --scale SCALE 2, 3 or 4 (default {DEFAULT_SCALE}" in helptext
    assert "-f {auto," in helptext and "(default auto:" in helptext


def test_photo_stays_jpeg_at_the_default_scale_and_a_rerun_skips(tmp_path: Path) -> None:
    src = _jpeg(tmp_path / "photo.jpg")
    first = _cli("photo.jpg", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = tmp_path / f"photo_x{DEFAULT_SCALE}.jpg"
    assert first.stdout.strip() == f"wrote photo_x{DEFAULT_SCALE}.jpg"
    assert first.stderr.startswith("runtime: ONNX Runtime") and "Traceback" not in first.stderr
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.size == (32 * DEFAULT_SCALE, 24 * DEFAULT_SCALE)
        assert im.quantization[0][0] == 2  # the luminance table of quality 95, our JPEG default
        assert im.getexif()[0x010F] == "lesrcnn-test-camera"  # metadata kept
    # JPEG in, JPEG out: a fraction of what a PNG of the same pixels takes
    png = io.BytesIO()
    Image.open(out).save(png, format="PNG")
    assert out.stat().st_size < png.tell() / 2
    os.utime(out, ns=(0, 0))
    again = _cli("photo.jpg", cwd=tmp_path)  # the same command again: skipped, exit 0
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("skipped photo.jpg: output exists") and "--overwrite" in (
        again.stdout
    )
    assert out.stat().st_mtime_ns == 0
    redo = _cli("-i", "photo.jpg", "--overwrite", "--quality", "50", "--quiet", cwd=tmp_path)
    assert redo.returncode == 0, redo.stderr and out.stat().st_mtime_ns != 0
    with Image.open(out) as im:
        assert im.quantization[0][0] == 16  # quality 50's table
    assert src.is_file()


def test_folder_auto_formats_notes_json_and_skip_counts(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    _jpeg(photos / "a.jpg")
    deep = (np.arange(24 * 32 * 3, dtype=np.uint16).reshape(24, 32, 3) * 29).astype(np.uint16)
    save_image(photos / "b16.png", deep)
    rgba = np.dstack([_photo(seed=1), np.full((24, 32), 128, np.uint8)])
    save_image(photos / "c.webp", rgba)
    Image.fromarray(_photo(6, 8400, seed=2)).save(photos / "wide.webp", lossless=True)
    frames = [Image.fromarray(_photo(seed=s)).convert("P") for s in (3, 4)]
    frames[0].save(photos / "anim.gif", save_all=True, append_images=frames[1:], duration=80)

    run = _cli("photos", "-s", "2", "--quality", "80", "--json", "-", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]  # stdout: JSON only
    by_name = {Path(r["input"]).name: r for r in records}
    assert sorted(by_name) == ["a.jpg", "anim.gif", "b16.png", "c.webp", "wide.webp"]
    outs = {k: Path(r["output"]).name for k, r in by_name.items()}
    assert outs == {
        "a.jpg": "a_x2.jpg",
        "anim.gif": "anim_x2.gif",
        "b16.png": "b16_x2.png",
        "c.webp": "c_x2.webp",
        "wide.webp": "wide_x2.png",  # WebP holds 16383 pixels a side: 16800 wide is PNG
    }
    for r in records:
        assert r["status"] == "done" and r["reason"] == "" and r["milliseconds"] > 0
        assert r["runtime"] == "ort int8 x2"
        assert r["output_size"] == [2 * r["input_size"][0], 2 * r["input_size"][1]]
        assert r["output_bytes"] == (tmp_path / r["output"]).stat().st_size
    assert "16383" in by_name["wide.webp"]["note"] and by_name["a.jpg"]["note"] == ""
    assert "wide.webp" in run.stderr and "PNG" in run.stderr  # the note, on stderr
    out = tmp_path / "photos_x2"
    assert load_image(out / "b16_x2.png").pixels.dtype == np.uint16  # 16-bit stays 16-bit
    assert load_image(out / "c_x2.webp").pixels.shape == (48, 64, 4)  # alpha stays
    with Image.open(out / "anim_x2.gif") as im:
        assert im.n_frames == 2
    with Image.open(out / "a_x2.jpg") as im:  # --quality applies to the JPEG, not the PNGs
        assert im.quantization[0][0] == 6

    listing = tmp_path / "run.jsonl"
    again = _cli("photos", "-s", "2", "--json", str(listing), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "done 0, skipped 5 (outputs exist; --overwrite redoes them), failed 0" in again.stdout
    lines = listing.read_text().splitlines()
    assert [json.loads(x)["status"] for x in lines] == ["skipped"] * 5


def test_suffix_and_format(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a.jpg")
    tagged = _cli("a.jpg", "-s", "2", "--suffix", "out", "-f", "webp", "--quiet", cwd=tmp_path)
    assert tagged.returncode == 0 and (tmp_path / "a_out.webp").is_file(), tagged.stderr
    same_name = _cli("a.jpg", "-s", "2", "--suffix", "", "-o", "big", "--quiet", cwd=tmp_path)
    assert same_name.returncode == 0 and (tmp_path / "big" / "a.jpg").is_file(), same_name.stderr
    over_input = _cli("a.jpg", "-s", "2", "--suffix", "", cwd=tmp_path)
    assert over_input.returncode == 1
    assert over_input.stderr.strip().splitlines()[-1] == (
        "lesrcnn-deploy: error: a.jpg: output is the input itself "
        "(give -o/--output or a --suffix, or --overwrite)"
    )
    bad = _cli("a.jpg", "--suffix", "x/y", cwd=tmp_path)
    assert bad.returncode == 2 and "not a path" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    nothing = _cli(cwd=tmp_path)
    assert nothing.returncode == 2 and "no input" in nothing.stderr


@pytest.fixture(scope="module")
def up() -> Upscaler:
    return Upscaler(precision="int8", runtime="ort", threads=1)


def test_api_default_scale_pil_and_paths(up: Upscaler, tmp_path: Path) -> None:
    assert up.scale == DEFAULT_SCALE  # the command line's default
    rgb = _photo()
    want = up.upscale(rgb)
    pil = up.upscale(Image.fromarray(rgb))
    assert isinstance(pil, Image.Image) and pil.mode == "RGB"
    assert np.array_equal(np.asarray(pil), want)
    gray = up.upscale(Image.fromarray(rgb[:, :, 0]))
    assert gray.mode == "L" and gray.size == (32 * DEFAULT_SCALE, 24 * DEFAULT_SCALE)
    paletted = up.upscale(Image.fromarray(rgb).convert("P"))
    assert paletted.mode == "RGB"  # converted on the way in
    path = save_image(tmp_path / "p.png", rgb)
    assert np.array_equal(up.upscale(path), want) and np.array_equal(up.upscale(str(path)), want)
    with pytest.raises(Exception, match=r"missing\.png"):
        up.upscale(tmp_path / "missing.png")


def test_upscale_file_equals_the_cli(up: Upscaler, tmp_path: Path) -> None:
    """``upscale_file`` writes the bytes the command line writes (metadata kept)."""
    _jpeg(tmp_path / "a.jpg")
    api_out = up.upscale_file(tmp_path / "a.jpg", tmp_path / "api.png")
    cli = _cli("a.jpg", "-f", "png", "--threads", "1", "--quiet", cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    assert api_out.read_bytes() == (tmp_path / f"a_x{DEFAULT_SCALE}.png").read_bytes()
    with Image.open(api_out) as im:
        assert im.getexif()[0x010F] == "lesrcnn-test-camera"
    half = up.upscale_file(tmp_path / "a.jpg", tmp_path / "half.jpg", outscale=2, quality=70)
    with Image.open(half) as im:
        assert im.size == (64, 48) and im.format == "JPEG"
    with pytest.raises(Exception, match="no effect on png"):
        up.upscale_file(tmp_path / "a.jpg", tmp_path / "q.png", quality=70)
    assert not (tmp_path / "q.png").exists()
