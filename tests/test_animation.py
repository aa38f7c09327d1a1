"""Animated GIF, WebP and APNG: every frame through the model, same kind out, timing kept.

The animations are made here with Pillow: three distinct frames with a transparent corner,
durations 100/200/150 ms and a loop count of 3. The model is the shipped x2 int8 model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesrcnn_deploy.cli import main
from lesrcnn_deploy.core.errors import ImageError, UnsupportedFormatError
from lesrcnn_deploy.data.animation import Animation, is_animated, load_animation, save_animation
from lesrcnn_deploy.models import artifacts_dir
from lesrcnn_deploy.upscale import Upscaler, plan_jobs, run_batch

DURATIONS = [100, 200, 150]


def _frames(h: int = 16, w: int = 20, alpha: bool = True) -> list[np.ndarray]:
    out = []
    for i in range(3):
        a = np.zeros((h, w, 4), np.uint8)
        a[..., 0] = 40 + 80 * i
        a[..., 1] = 120
        a[h // 2 :, :, 2] = 200
        a[..., 3] = 255
        if alpha:
            a[:4, :4, 3] = 0  # a transparent corner
        out.append(a if alpha else np.ascontiguousarray(a[..., :3]))
    return out


def _write(path: Path, frames: list[np.ndarray], **kwargs: object) -> Path:
    ims = [Image.fromarray(f) for f in frames]
    fmt = {".gif": "GIF", ".webp": "WEBP", ".png": "PNG"}[path.suffix]
    extra: dict[str, object] = {"disposal": 2} if fmt == "GIF" else {}
    if fmt == "WEBP":
        extra["lossless"] = True
    extra.update(kwargs)
    ims[0].save(path, fmt, save_all=True, append_images=ims[1:], duration=DURATIONS, **extra)
    return path


@pytest.fixture(scope="module")
def up() -> Upscaler:
    return Upscaler(2, "int8", model=artifacts_dir() / "lesrcnn_x2_int8.onnx", tile=0, threads=1)


@pytest.mark.parametrize("ext", [".gif", ".webp", ".png"])
def test_read_write_round_trip(tmp_path: Path, ext: str) -> None:
    src = _write(tmp_path / f"a{ext}", _frames(), loop=3)
    assert is_animated(src)
    anim = load_animation(src, max_pixels=10_000)
    assert len(anim.frames) == 3 and anim.durations == DURATIONS and anim.loop == 3
    assert anim.frames[0].shape == (16, 20, 4)
    assert anim.frames[1][0, 0, 3] == 0 and anim.frames[1][10, 10, 3] == 255
    assert anim.frames[2][10, 10, 0] == 200  # distinct, full frames
    out = save_animation(tmp_path / f"b{ext}", anim)
    again = load_animation(out, max_pixels=10_000)
    assert again.durations == DURATIONS and again.loop == 3 and len(again.frames) == 3
    for a, b in zip(anim.frames, again.frames, strict=True):
        assert np.array_equal(a[..., 3], b[..., 3])
        assert np.abs(a.astype(int) - b.astype(int))[a[..., 3] > 0].max() <= 8  # GIF palette


def test_still_images_are_not_animations(tmp_path: Path) -> None:
    Image.fromarray(_frames()[0]).save(tmp_path / "still.png")
    Image.fromarray(_frames()[0]).save(tmp_path / "still.webp")
    assert not is_animated(tmp_path / "still.png") and not is_animated(tmp_path / "still.webp")
    one = tmp_path / "one.gif"
    Image.fromarray(_frames()[0]).save(one)
    assert is_animated(one)  # a GIF always goes the animation way (GIF out)


def test_refusals(tmp_path: Path) -> None:
    src = _write(tmp_path / "a.gif", _frames())
    with pytest.raises(ImageError, match="too large"):
        load_animation(src, max_pixels=100)
    anim = load_animation(src, max_pixels=10_000)
    assert anim.loop is None  # no NETSCAPE loop block: played once
    with pytest.raises(UnsupportedFormatError, match="cannot hold an animation"):
        save_animation(tmp_path / "a.jpg", anim)
    bad = Animation(frames=anim.frames, durations=[100], loop=None, format="GIF")
    with pytest.raises(ImageError, match="one duration per frame"):
        save_animation(tmp_path / "b.gif", bad)


@pytest.mark.parametrize("ext", [".gif", ".webp", ".png"])
def test_every_frame_through_the_model(up: Upscaler, tmp_path: Path, ext: str) -> None:
    src = _write(tmp_path / f"anim{ext}", _frames(), loop=0)
    [job] = plan_jobs([src], scale=2)
    assert job.output.name == f"anim_x2{ext}"  # the same kind out (GIF stays GIF, WebP WebP)
    result = run_batch(up, [job], progress=False)
    assert result.ok, result.summary()
    out = load_animation(job.output, max_pixels=10_000)
    assert len(out.frames) == 3 and out.durations == DURATIONS and out.loop == 0
    with Image.open(job.output) as im:
        assert im.format == {".gif": "GIF", ".webp": "WEBP", ".png": "PNG"}[ext]
    for i, frame in enumerate(out.frames):
        assert frame.shape == (32, 40, 4)
        assert frame[0, 0, 3] == 0 and frame[20, 20, 3] == 255  # transparency kept
        # each frame is its own input upscaled: red steps 40 -> 120 -> 200
        assert abs(int(frame[20, 20, 0]) - (40 + 80 * i)) <= 12


def test_cli_animated_webp_with_outscale_and_quality(up: Upscaler, tmp_path: Path) -> None:
    src = _write(tmp_path / "a.webp", _frames(alpha=False), loop=2)
    model = artifacts_dir() / "lesrcnn_x2_int8.onnx"
    argv = ["upscale", str(src), "--model", str(model), "--outscale", "1.5", "--quiet"]
    assert main([*argv, "--quality", "80"]) == 0
    out = load_animation(tmp_path / "a_x1.5.webp", max_pixels=10_000)
    assert [f.shape for f in out.frames] == [(24, 30, 3)] * 3
    assert out.durations == DURATIONS and out.loop == 2
    # an animation cannot become a JPEG: that job fails with one line, nothing is written
    assert main([*argv, "--format", "jpg", "--output", str(tmp_path / "o")]) == 1
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_too_many_output_pixels_refused_before_decoding(up: Upscaler, tmp_path: Path) -> None:
    from lesrcnn_deploy.upscale.output import (
        MAX_ANIMATION_OUTPUT_PIXELS,
        OutputOptions,
        upscale_animation,
    )

    src = _write(tmp_path / "a.gif", _frames())
    assert MAX_ANIMATION_OUTPUT_PIXELS == 400_000_000
    frames = [np.full((2000, 2000, 3), v, np.uint8) for v in (0, 255)]  # 2 x 32000 x 32000 out
    big = tmp_path / "big.gif"
    ims = [Image.fromarray(f) for f in frames]
    ims[0].save(big, save_all=True, append_images=ims[1:], duration=[50, 50])
    with pytest.raises(ImageError, match="animation too large: 2 frames of 32000x32000"):
        upscale_animation(
            up,
            big,
            output=tmp_path / "o.gif",
            # each frame within a raised per-image cap: the animation's total is what refuses
            options=OutputOptions(outscale=16, max_output_pixels=32000 * 32000),
            max_pixels=10**8,
        )
    assert not (tmp_path / "o.gif").exists()
    out = upscale_animation(
        up, src, output=tmp_path / "s.gif", options=OutputOptions(), max_pixels=10**4
    )
    assert len(out.frames) == 3


@pytest.mark.parametrize("ext", [".gif", ".webp", ".png"])
def test_damaged_animations_fail_with_one_line(tmp_path: Path, ext: str) -> None:
    good = _write(tmp_path / f"a{ext}", _frames(), loop=1).read_bytes()
    rng = np.random.default_rng(5)
    for i, cut in enumerate([10, len(good) // 3, len(good) // 2, len(good) - 20]):
        bad = tmp_path / f"bad{i}{ext}"
        noise = rng.integers(0, 256, 40, dtype=np.uint8).tobytes()
        bad.write_bytes(good[:cut] + (noise if i % 2 else b""))
        try:
            anim = load_animation(bad, max_pixels=10_000)
        except ImageError as exc:
            assert "\n" not in str(exc) and str(bad) in str(exc)
        else:  # a decoder may recover some frames; they must still be whole frames
            assert all(f.shape[:2] == (16, 20) for f in anim.frames)
