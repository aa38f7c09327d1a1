"""Bad input, faults, untrusted files: one-line errors naming the file, exit 2, no partial output.

Each case runs through the real command line (``python -m lesrcnn_deploy``) where it matters, so
what is asserted is what a user sees. Fuzz tests (Hypothesis) check that the image loader and the
dataset readers raise nothing but the toolkit's own errors.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lesrcnn_deploy.cli import main
from lesrcnn_deploy.core.errors import LesrcnnError, ModelError
from lesrcnn_deploy.data import load_image, open_dataset, save_image
from lesrcnn_deploy.runtime.ort import OnnxRunner


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run(
        [sys.executable, "-m", "lesrcnn_deploy", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
        env=env,
    )


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    raw = proc.stderr.replace("\r", "\n").splitlines()
    lines = [line for line in raw if line.strip() and not re.search(r"\d+%\|", line)]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _png(path: Path, h: int = 16, w: int = 16, seed: int = 0) -> Path:
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    save_image(path, img)
    return path


def _hr_lr(root: Path, names: list[str], scale: int = 2, hr: int = 32) -> Path:
    for i, n in enumerate(names):
        _png(root / "HR" / f"{n}.png", hr, hr, i)
        _png(root / "LR_bicubic" / f"X{scale}" / f"{n}x{scale}.png", hr // scale, hr // scale, i)
    return root


@pytest.fixture(scope="module")
def tiny_model(random_fp32: Path) -> Path:
    return random_fp32


# ---------------------------------------------------------------- models and weights


def test_truncated_and_corrupted_onnx(tiny_model: Path, tmp_path: Path) -> None:
    data = tiny_model.read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 3])
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    for bad in (truncated, garbage, empty):
        proc = _cli("evaluate", "--model", str(bad), "--dataset", str(tmp_path), "--scale", "2")
        _one_line_error(proc, str(bad))


def test_onnx_model_of_another_network(tmp_path: Path) -> None:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 8, 8])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "other", [x], [y])
    path = tmp_path / "other.onnx"
    onnx.save(onnx.helper.make_model(graph), path)
    with pytest.raises(ModelError, match="not a lesrcnn-deploy model"):
        OnnxRunner(path)
    proc = _cli("evaluate", "--model", str(path), "--dataset", str(tmp_path), "--scale", "2")
    _one_line_error(proc, "other.onnx", "not a lesrcnn-deploy model")


def test_pickled_payload_through_the_cli(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    evil = tmp_path / "evil.pth"
    torch.save({"upsample.up.body.0.weight": Payload()}, evil)
    proc = _cli("evaluate", "--model", str(evil), "--dataset", str(tmp_path), "--scale", "2")
    _one_line_error(proc, "evil.pth", "refused to load")
    assert not (tmp_path / "PWNED").exists()


# ---------------------------------------------------------------- datasets


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "names",
        "counts",
        "lr_size",
        "truncated_lr",
        "text_as_png",
        "smaller_than_crop",
        "one_pixel",
    ],
)
def test_bad_datasets(tiny_model: Path, tmp_path: Path, case: str) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    needles: tuple[str, ...]
    if case == "empty":
        needles = ("ds",)
    elif case == "names":
        _hr_lr(root, ["a", "b"])
        (root / "LR_bicubic" / "X2" / "bx2.png").rename(root / "LR_bicubic" / "X2" / "cx2.png")
        needles = ("b",)
    elif case == "counts":
        _hr_lr(root, ["a", "b"])
        (root / "LR_bicubic" / "X2" / "bx2.png").unlink()
        needles = ("b",)
    elif case == "lr_size":
        _hr_lr(root, ["a"])
        _png(root / "LR_bicubic" / "X2" / "ax2.png", 15, 16)
        needles = ("ax2.png", "LR size")
    elif case == "truncated_lr":
        _hr_lr(root, ["a"])
        lr = root / "LR_bicubic" / "X2" / "ax2.png"
        lr.write_bytes(lr.read_bytes()[:60])
        needles = ("ax2.png",)
    elif case == "text_as_png":
        _hr_lr(root, ["a"])
        (root / "LR_bicubic" / "X2" / "ax2.png").write_text("not an image\n")
        needles = ("ax2.png",)
    elif case == "smaller_than_crop":
        _hr_lr(root, ["a"], hr=12)  # x2 output 12x12, border 2 -> 8x8 < SSIM window
        needles = ("a.png", "cannot be scored")
    else:  # a 1x1 HR image cannot make a x2 pair
        _png(root / "HR" / "a.png", 1, 1)
        _png(root / "LR_bicubic" / "X2" / "ax2.png", 1, 1)
        needles = ("a",)
    out = tmp_path / "result.json"
    proc = _cli(
        "evaluate",
        "--model",
        str(tiny_model),
        "--dataset",
        str(root),
        "--scale",
        "2",
        "--json",
        str(out),
    )
    _one_line_error(proc, *needles)
    assert not out.exists()


# ---------------------------------------------------------------- faults


def test_full_disk_while_writing_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ENOSPC in the middle of writing: one-line error, exit 2, nothing left behind."""
    import lesrcnn_deploy.core.fileio as fileio

    real_fsync = os.fsync

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full_disk)
    out = tmp_path / "out" / "x2.onnx"
    weights = Path(__file__).resolve().parents[1].parent / "shared" / "weights" / "lesrcnn_x2.pth"
    if not weights.is_file():  # a random-weight checkpoint does as well here
        weights = tmp_path / "w.pth"
        from lesrcnn_deploy.network.lesrcnn import build_model

        torch.save(build_model(2).state_dict(), weights)
    code = main(
        [
            "export",
            "--scale",
            "2",
            "--weights",
            str(weights),
            "--allow-custom-weights",
            "--output",
            str(out),
        ]
    )
    monkeypatch.setattr(fileio.os, "fsync", real_fsync)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0]
    assert list(out.parent.iterdir()) == []


def test_full_disk_while_writing_an_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(LesrcnnError, match=r"out\.png"):
        save_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_two_runs_writing_the_same_output(tmp_path: Path) -> None:
    """Concurrent exports to one path: both succeed, the survivor is a complete, valid model."""
    from lesrcnn_deploy.network.lesrcnn import build_model

    weights = tmp_path / "w.pth"
    torch.save(build_model(2).state_dict(), weights)
    out = tmp_path / "same.onnx"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    args = [
        sys.executable,
        "-m",
        "lesrcnn_deploy",
        "export",
        "--scale",
        "2",
        "--weights",
        str(weights),
        "--allow-custom-weights",
        "--output",
        str(out),
    ]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(2)
    ]
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0, 0]
    onnx.checker.check_model(onnx.load(out))
    assert OnnxRunner(out).scale == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.json", "same.onnx", "w.pth"]


# ---------------------------------------------------------------- fuzz

_EXTS = [".png", ".jpg", ".webp", ".bmp", ".tif", ".gif", ".txt", ""]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2048), ext=st.sampled_from(_EXTS))
def test_fuzz_loader_random_bytes(tmp_path: Path, data: bytes, ext: str) -> None:
    path = tmp_path / f"f{ext}"
    path.write_bytes(data)
    try:
        img = load_image(path)
    except LesrcnnError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:
        assert img.pixels.ndim == 3


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    channels=st.sampled_from([1, 3, 4]),
    depth=st.sampled_from([np.uint8, np.uint16]),
    ext=st.sampled_from([".png", ".tif", ".bmp", ".jpg", ".webp"]),
    cut=st.one_of(st.none(), st.integers(0, 400)),
)
def test_fuzz_loader_valid_and_damaged_images(
    tmp_path: Path, h: int, w: int, channels: int, depth: type, ext: str, cut: int | None
) -> None:
    rng = np.random.default_rng(h * 1000 + w)
    arr = rng.integers(0, np.iinfo(depth).max, (h, w, channels), dtype=depth)
    bgr = arr if channels == 1 else arr[..., [2, 1, 0, 3][:channels]]
    ok, buf = cv2.imencode(
        ext, bgr if depth is np.uint8 or ext in (".png", ".tif") else (bgr >> 8).astype(np.uint8)
    )
    if not ok:
        return
    blob = buf.tobytes() if cut is None else buf.tobytes()[:cut]
    path = tmp_path / f"img{ext}"
    path.write_bytes(blob)
    try:
        img = load_image(path)
    except LesrcnnError as exc:
        assert "\n" not in str(exc)
    else:
        assert img.pixels.shape[:2] == (h, w)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    layout=st.sampled_from(["official", "hr_lr", "hr_only"]),
    files=st.lists(
        st.tuples(
            st.text("abc_x12HRL", min_size=1, max_size=6),
            st.integers(1, 24),
            st.integers(1, 24),
            st.booleans(),
        ),
        min_size=0,
        max_size=4,
    ),
    scale=st.sampled_from([2, 3, 4]),
)
def test_fuzz_dataset_readers(
    tmp_path_factory: pytest.TempPathFactory,
    layout: str,
    files: list[tuple[str, int, int, bool]],
    scale: int,
) -> None:
    root = tmp_path_factory.mktemp("fz")
    for i, (name, h, w, garbage) in enumerate(files):
        if layout == "official":
            sub, hr_name, lr_name = root / f"x{scale}", f"{name}_HR.png", f"{name}_LR.png"
            hr_dir = lr_dir = sub
        elif layout == "hr_lr":
            hr_dir, lr_dir = root / "HR", root / "LR_bicubic" / f"X{scale}"
            hr_name, lr_name = f"{name}.png", f"{name}x{scale}.png"
        else:
            hr_dir, lr_dir, hr_name, lr_name = root, None, f"{name}.png", ""
        hr_dir.mkdir(parents=True, exist_ok=True)
        if garbage:
            (hr_dir / hr_name).write_bytes(b"\x89PNG garbage" * i)
        else:
            _png(hr_dir / hr_name, h, w, i)
        if lr_dir is not None:
            lr_dir.mkdir(parents=True, exist_ok=True)
            _png(lr_dir / lr_name, max(1, h // scale), max(1, w // scale), i)
    try:
        ds = open_dataset(root, scale)
        for pair in ds:
            hr, lr = ds.load(pair)
            assert hr.shape[:2] == (lr.shape[0] * scale, lr.shape[1] * scale)
    except LesrcnnError as exc:
        assert "\n" not in str(exc)


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["upscale", "x.png", "--scale", "2", "--tile", "big"], "--tile: expected an integer >= 0"),
        (["upscale", "x.png", "--scale", "2", "--tile", "-64"], "--tile: expected an integer >= 0"),
        (["upscale", "x.png", "--scale", "2", "--tile-overlap", "-1"], "--tile-overlap"),
        (["upscale", "x.png", "--scale", "8"], "unknown scale '8'"),
        (
            ["evaluate", "--model", "m.onnx", "--dataset", ".", "--scale", "2", "--limit", "0"],
            "--limit: expected an integer >= 1",
        ),
    ],
)
def test_bad_options(args: list[str], needle: str) -> None:
    _one_line_error(_cli(*args), needle)


def test_upscale_current_folder_names_output_after_it(tiny_model: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    _png(photos / "a.png", 8, 8)
    proc = _cli("upscale", ".", "--scale", "2", "--model", str(tiny_model), "--quiet", cwd=photos)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "photos_x2" / "a_x2.png").is_file()
