"""Batch and CLI: every format and mode, naming, skip/overwrite rules, failures, interruption."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesrcnn_deploy.cli import main
from lesrcnn_deploy.core.errors import ConfigError
from lesrcnn_deploy.data import load_image, save_image
from lesrcnn_deploy.upscale import Upscaler, plan_jobs, run_batch


@pytest.fixture(scope="module")
def x2_model(random_models: dict[int, Path]) -> Path:
    return random_models[2]


@pytest.fixture(scope="module")
def up(x2_model: Path) -> Upscaler:
    return Upscaler(2, "fp32", model=x2_model, tile=16, threads=1)


def _px(h: int, w: int, c: int, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, top + 1, (h, w, c), dtype=dtype)


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob(".*") if p.is_file()]


# (file name, channels, dtype): every input format, gray, alpha and 16 bit
CASES = [
    ("rgb.png", 3, np.uint8),
    ("rgb.jpg", 3, np.uint8),
    ("rgb.webp", 3, np.uint8),
    ("rgb.bmp", 3, np.uint8),
    ("rgb.tif", 3, np.uint8),
    ("gray.png", 1, np.uint8),
    ("gray.jpg", 1, np.uint8),
    ("rgba.png", 4, np.uint8),
    ("rgba.webp", 4, np.uint8),
    ("rgb16.png", 3, np.uint16),
    ("gray16.tif", 1, np.uint16),
    ("rgba16.png", 4, np.uint16),
]


@pytest.mark.parametrize(("name", "channels", "dtype"), CASES)
def test_formats_modes_and_bit_depth(
    up: Upscaler, tmp_path: Path, name: str, channels: int, dtype: type
) -> None:
    src = save_image(tmp_path / name, _px(13, 18, channels, dtype))
    [job] = plan_jobs([src], scale=2)
    # default: beside the input, in the input's format (-f auto: 16-bit and alpha kept)
    assert job.output == tmp_path / f"{Path(name).stem}_x2{Path(name).suffix}" and not job.note
    result = run_batch(up, [job], progress=False)
    assert result.ok and len(result.done) == 1
    out = load_image(job.output).pixels
    assert out.shape == (26, 36, channels) and out.dtype == dtype
    if channels == 4:  # alpha carried over (bicubic of the stored alpha)
        import cv2

        alpha = load_image(src).pixels[:, :, 3]
        assert np.array_equal(out[:, :, 3], cv2.resize(alpha, (36, 26), interpolation=2))


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "bmp", "tif"])
def test_output_format_follows_output_extension(up: Upscaler, tmp_path: Path, ext: str) -> None:
    src = save_image(tmp_path / "in.png", _px(10, 12, 3))
    target = tmp_path / "out" / f"result.{ext}"
    [job] = plan_jobs([src], scale=2, output=target)
    assert job.output == target
    assert run_batch(up, [job], progress=False).ok
    with Image.open(target) as im:
        assert im.format == {"jpg": "JPEG", "tif": "TIFF"}.get(ext, ext.upper())
        assert im.size == (24, 20)


def test_exif_orientation_applied(up: Upscaler, tmp_path: Path) -> None:
    im = Image.fromarray(_px(10, 16, 3))  # stored 16 wide, 10 high
    exif = im.getexif()
    exif[0x0112] = 6  # displayed rotated 90 degrees: 10 wide, 16 high
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes())
    src = tmp_path / "rotated.jpg"
    src.write_bytes(buf.getvalue())
    [job] = plan_jobs([src], scale=2)
    assert run_batch(up, [job], progress=False).ok
    assert load_image(job.output).pixels.shape == (32, 20, 3)


def test_sixteen_bit_to_jpeg_fails_with_reason(up: Upscaler, tmp_path: Path) -> None:
    src = save_image(tmp_path / "deep.png", _px(8, 8, 3, np.uint16))
    result = run_batch(up, plan_jobs([src], scale=2, output=tmp_path / "o.jpg"), progress=False)
    assert not result.ok and "16-bit" in result.failed[0].reason
    assert not (tmp_path / "o.jpg").exists() and _no_temp_files(tmp_path)


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    save_image(root / "a.png", _px(8, 9, 3, seed=1))
    save_image(root / "b.jpg", _px(9, 8, 3, seed=2))
    save_image(root / "sub" / "c.webp", _px(7, 7, 3, seed=3))
    return root


def test_folder_naming_default_recursive_and_format(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    flat = plan_jobs([root], scale=3)
    assert [j.output for j in flat] == [  # -f auto: each keeps its own format
        tmp_path / "photos_x3" / "a_x3.png",
        tmp_path / "photos_x3" / "b_x3.jpg",
    ]
    deep = plan_jobs([root], scale=2, recursive=True, output=tmp_path / "out", fmt="webp")
    assert [j.output.relative_to(tmp_path / "out").as_posix() for j in deep] == [
        "a_x2.webp",
        "b_x2.webp",
        "sub/c_x2.webp",
    ]


def test_plan_errors(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    with pytest.raises(ConfigError, match="no such file or folder"):
        plan_jobs([tmp_path / "nope.png"], scale=2)
    with pytest.raises(ConfigError, match="exactly one input image"):
        plan_jobs([root], scale=2, output=tmp_path / "one.png")
    with pytest.raises(ConfigError, match="two inputs map to this output"):
        plan_jobs([root / "a.png", tmp_path / "photos" / "a.png"], scale=2, output=tmp_path / "o")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no images found"):
        plan_jobs([tmp_path / "empty"], scale=2)
    with pytest.raises(ConfigError, match="either"):
        plan_jobs([root / "a.png"], scale=2, output=tmp_path / "x.png", fmt="png")


def test_folder_run_summary_skip_overwrite_and_failures(up: Upscaler, tmp_path: Path) -> None:
    root = _folder(tmp_path)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    jobs = plan_jobs([root], scale=2, recursive=True)
    first = run_batch(up, jobs, progress=False)
    assert len(first.done) == 3 and len(first.failed) == 1
    assert first.failed[0].job.source.name == "broken.png"
    assert "unreadable" in first.failed[0].reason  # load_image's reason, path stripped
    summary = first.summary()
    assert summary.startswith("done 3, skipped 0, failed 1") and "broken.png" in summary

    out = jobs[0].output
    os.utime(out, ns=(0, 0))
    again = run_batch(up, jobs, progress=False)  # outputs exist: skipped, never a failure
    assert len(again.skipped) == 3 and len(again.failed) == 1 and len(again.done) == 0
    assert "--overwrite" in again.skipped[0].reason and out.stat().st_mtime_ns == 0
    assert again.summary().startswith(
        "done 0, skipped 3 (outputs exist; --overwrite redoes them), failed 1"
    )
    redone = run_batch(up, jobs, overwrite=True, progress=False)
    assert len(redone.done) == 3 and out.stat().st_mtime_ns != 0


def test_never_writes_over_an_input(up: Upscaler, tmp_path: Path) -> None:
    src = save_image(tmp_path / "in.png", _px(6, 6, 3))
    original = src.read_bytes()
    [job] = plan_jobs([src], scale=2, output=src)
    result = run_batch(up, [job], progress=False)
    assert not result.ok and "input itself" in result.failed[0].reason
    assert src.read_bytes() == original
    # an output that is *another* input is refused even with --overwrite
    other = save_image(tmp_path / "in_x2.png", _px(6, 6, 3, seed=5))
    other_bytes = other.read_bytes()
    jobs = plan_jobs([src, other], scale=2, output=tmp_path)
    result = run_batch(up, jobs, overwrite=True, progress=False)
    assert "another input" in result.failed[0].reason and other.read_bytes() == other_bytes
    # with --overwrite a single file may be replaced by its own upscaled version
    assert run_batch(up, [job], overwrite=True, progress=False).ok
    assert load_image(src).pixels.shape == (12, 12, 3)


class _InterruptAt:
    """Fake upscaler that presses Ctrl-C on the n-th image."""

    scale = 2

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0

    def upscale(self, img: np.ndarray) -> np.ndarray:
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt
        return np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)


def test_interrupted_run_leaves_no_partial_file_and_resumes(
    up: Upscaler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _folder(tmp_path)
    jobs = plan_jobs([root], scale=2, recursive=True)
    with pytest.raises(KeyboardInterrupt):
        run_batch(_InterruptAt(2), jobs, progress=False)
    assert jobs[0].output.is_file() and not jobs[1].output.exists()
    # Ctrl-C in the middle of writing: the rename never happens, the temporary file is removed
    import lesrcnn_deploy.data.image_io as image_io

    def interrupted_replace(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(image_io.os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        run_batch(up, jobs, progress=False)
    monkeypatch.undo()
    assert not jobs[1].output.exists() and _no_temp_files(tmp_path)
    finished = run_batch(up, jobs, progress=False)  # the same run again finishes it
    assert len(finished.skipped) == 1 and len(finished.done) == 2
    assert all(j.output.is_file() for j in jobs)


def test_cli_single_file_and_folder(
    x2_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = save_image(tmp_path / "one.png", _px(9, 11, 3))
    out = tmp_path / "one_big.webp"
    code = main(["upscale", str(src), "--scale", "2", "--model", str(x2_model), "--output",
                 str(out), "--tile", "8", "--threads", "1", "--quiet"])  # fmt: skip
    assert code == 0 and load_image(out).pixels.shape == (18, 22, 3)
    root = _folder(tmp_path)
    (root / "bad.bmp").write_bytes(b"BM")
    argv = ["upscale", str(root), "--scale", "2", "--model", str(x2_model), "--recursive",
            "--output", str(tmp_path / "res"), "--format", "tif", "--quiet"]  # fmt: skip
    assert main(argv) == 1  # one failure -> exit 1, the rest written
    err = capsys.readouterr().err
    assert "done 3, skipped 0, failed 1" in err and "bad.bmp" in err
    assert (tmp_path / "res" / "sub" / "c_x2.tif").is_file()
    assert main([*argv, "--skip-existing"]) == 1  # the default, accepted
    assert "skipped 3" in capsys.readouterr().err


def test_cli_errors_are_one_line(
    x2_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = save_image(tmp_path / "one.png", _px(9, 11, 3))
    assert main(["upscale", str(src), "--scale", "3", "--model", str(x2_model)]) == 2
    err = capsys.readouterr().err.strip()
    assert "x2 model, asked for x3" in err and len(err.splitlines()) == 1
    assert main(["upscale", str(tmp_path / "missing"), "--scale", "2"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["upscale", str(src), "--scale", "2", "--overwrite", "--skip-existing"])


def test_the_api_and_the_cli_refuse_the_same_runs(
    x2_model: Path, up: Upscaler, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rules of a run live in the library (check_plan, InferenceSettings): run_batch,
    run_batch_ray and Upscaler refuse what the CLI refuses, with the same one line."""
    from lesrcnn_deploy.cluster.batch import run_batch_ray
    from lesrcnn_deploy.models import InferenceSettings
    from lesrcnn_deploy.upscale.output import OutputOptions

    still = tmp_path / "still.png"
    save_image(still, _px(8, 8, 3))
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 64)  # planned by its container; the refusal comes before reading
    settings = InferenceSettings(scale=2, precision="fp32", model=x2_model)
    cases = [  # (CLI arguments, the same run through the API, the one-line reason)
        (
            [str(still), "--format", "gif"],
            lambda: run_batch(up, plan_jobs([still], scale=2, fmt="gif"), progress=False),
            "GIF output is for animated inputs",
        ),
        (
            [str(still), "--quality", "80"],
            lambda: run_batch(
                up, plan_jobs([still], scale=2), options=OutputOptions(quality=80), progress=False
            ),
            "--quality has no effect on png output",
        ),
        (
            [str(clip), "--quality", "80"],
            lambda: run_batch(
                up, plan_jobs([clip], scale=2), options=OutputOptions(quality=80), progress=False
            ),
            "apply to images; videos use --crf/--bitrate",
        ),
        (
            [str(clip), "--ray", "--fit", "640x360"],
            lambda: run_batch_ray(
                plan_jobs([clip], scale=2), settings, options=OutputOptions(fit=(640, 360))
            ),
            "apply to local runs, not --ray",
        ),
        (
            [str(still), "--ray", "--outscale", "1.5"],
            lambda: run_batch_ray(
                plan_jobs([still], scale=2), settings, options=OutputOptions(outscale=1.5)
            ),
            "apply to local runs, not --ray",
        ),
        (
            [str(still), "--no-tile", "--tile-overlap", "4"],
            lambda: Upscaler(2, "fp32", model=x2_model, tile=0, tile_overlap=4),
            "--tile-overlap has no effect with --no-tile",
        ),
    ]
    for argv, api, reason in cases:
        with pytest.raises(ConfigError) as err:
            api()
        code = main(["upscale", *argv, "--model", str(x2_model), "--quiet"])
        cli = capsys.readouterr().err.strip()
        assert code == 2 and cli == f"lesrcnn-deploy: error: {err.value}", argv
        assert reason in cli and len(cli.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "still.png"]
