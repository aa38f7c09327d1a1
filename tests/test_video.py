"""Video upscaling: timing, audio, rotation and pixels kept; bad input and interruptions refused.

Every clip is generated here with PyAV (64x48, about 2 s, a few frames per second, a sine tone as
AAC) and upscaled by a random-weight x2 model, so the tests are fast and need no data.
"""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

av = pytest.importorskip("av")

from lesrcnn_deploy.cli import main  # noqa: E402
from lesrcnn_deploy.core.errors import ConfigError, MissingExtraError, VideoError  # noqa: E402
from lesrcnn_deploy.upscale import Upscaler, plan_jobs  # noqa: E402
from lesrcnn_deploy.video import is_video, probe_video, upscale_frames, upscale_video  # noqa: E402

W, H = 64, 48
# Gaps between frames in ms: variable frame rate (VFR) clips cycle through these.
VFR_GAPS_MS = (100, 250, 150, 300)


def make_clip(
    path: Path,
    *,
    frames: int = 10,
    fps: int = 5,
    vfr: bool = False,
    audio: bool = True,
    video: bool = True,
    rotate: float | None = None,
    seed: int = 0,
) -> Path:
    """Write a small H.264 (+ AAC) clip: smooth random colour blobs, a title tag."""
    rng = np.random.default_rng(seed)
    c = av.open(str(path), "w")
    c.metadata["title"] = "lesrcnn test clip"
    v = a = None
    tb = Fraction(1, 1000) if vfr else Fraction(1, fps)
    if video:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.codec_context.time_base = tb
        if rotate is not None:
            v.set_display_rotation(rotate)
    if audio:
        a = c.add_stream("aac", rate=16000)
        a.layout = "mono"
    t_ms = 0
    for i in range(frames if video else 0):
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        img = np.kron(small, np.ones((8, 8, 1), dtype=np.uint8))  # 48x64 blocks
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        f.pts = t_ms if vfr else i
        f.time_base = tb
        t_ms += VFR_GAPS_MS[i % len(VFR_GAPS_MS)]
        assert v is not None
        c.mux(v.encode(f))
    if v is not None:
        c.mux(v.encode(None))
    if a is not None:
        seconds = t_ms / 1000 if vfr else max(frames / fps, 2.0)
        n, s = int(16000 * seconds), 0
        while s < n:
            k = min(1024, n - s)
            tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(s, s + k) / 16000)
            af = av.AudioFrame.from_ndarray(
                tone.astype(np.float32)[None], format="fltp", layout="mono"
            )
            af.sample_rate, af.pts, af.time_base = 16000, s, Fraction(1, 16000)
            c.mux(a.encode(af))
            s += k
        c.mux(a.encode(None))
    c.close()
    return path


@pytest.fixture(scope="module")
def upscaler(random_fp32: Path) -> Upscaler:
    return Upscaler(2, "fp32", model=random_fp32, threads=1)


def _video_frames(path: Path) -> list[Any]:
    with av.open(str(path)) as c:
        return list(c.decode(c.streams.video[0]))


def _packets(path: Path, kind: str) -> list[tuple[Any, ...]]:
    with av.open(str(path)) as c:
        s = next(s for s in c.streams if s.type == kind)
        return [(p.pts, p.dts, p.duration, bytes(p)) for p in c.demux(s) if p.size]


def _stream_info(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return {
            "time_base": v.time_base,
            "rate": v.average_rate,
            "duration": v.duration,
            "tag_duration": dict(v.metadata).get("DURATION"),
            "container_duration": c.duration,
            "title": dict(c.metadata).get("title"),
            "audio_time_base": c.streams.audio[0].time_base if c.streams.audio else None,
        }


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
@pytest.mark.parametrize("vfr", [False, True], ids=["cfr", "vfr"])
def test_timing_frames_and_audio_kept(
    tmp_path: Path, upscaler: Upscaler, ext: str, vfr: bool
) -> None:
    src = make_clip(tmp_path / f"in{ext}", vfr=vfr)
    dst = tmp_path / f"out{ext}"
    res = upscale_video(src, dst, upscaler=upscaler, progress=False)

    fin, fout = _video_frames(src), _video_frames(dst)
    assert res.frames == len(fin) == len(fout) == 10
    assert [f.pts for f in fout] == [f.pts for f in fin]
    if vfr:  # the clip really is VFR: its gaps are the generated ones
        gaps = np.diff([float(f.pts * f.time_base) for f in fin]) * 1000
        assert np.allclose(gaps, [VFR_GAPS_MS[i % 4] for i in range(9)])
    assert all((f.width, f.height) == (2 * W, 2 * H) for f in fout)

    si, so = _stream_info(src), _stream_info(dst)
    assert so["time_base"] == si["time_base"]
    assert so["rate"] == si["rate"]
    assert so["title"] == "lesrcnn test clip"
    if ext == ".mp4":
        assert so["duration"] == si["duration"]  # video track ends where the last frame ends
        assert so["container_duration"] == si["container_duration"]
    else:
        # Matroska tags each stream's DURATION; the video's must match to the nanosecond.
        assert so["tag_duration"] == si["tag_duration"]

    ain, aout = _packets(src, "audio"), _packets(dst, "audio")
    assert len(aout) == len(ain) > 10
    assert [p[3] for p in aout] == [p[3] for p in ain]  # bytes, packet for packet
    assert [p[:3] for p in aout] == [p[:3] for p in ain]  # pts, dts, duration
    assert res.copied_packets == {1: len(ain)}


def test_lossless_frames_equal_image_path(tmp_path: Path, upscaler: Upscaler) -> None:
    src = make_clip(tmp_path / "in.mkv", frames=6, audio=False)
    dst = tmp_path / "out.mkv"
    res = upscale_video(src, dst, upscaler=upscaler, codec="ffv1", pix_fmt="bgr0", progress=False)
    assert (res.codec, res.pix_fmt) == ("ffv1", "bgr0")
    fin, fout = _video_frames(src), _video_frames(dst)
    assert len(fin) == len(fout) == 6
    for a, b in zip(fin, fout, strict=True):
        want = upscaler.upscale(a.to_ndarray(format="rgb24"))
        got = b.to_ndarray(format="rgb24")
        assert got.shape == want.shape == (2 * H, 2 * W, 3)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # within 1/255


def test_rotation_kept(tmp_path: Path, upscaler: Upscaler) -> None:
    src = make_clip(tmp_path / "rot.mp4", frames=4, rotate=90)
    assert probe_video(src).rotation == 90
    dst = tmp_path / "rot_x2.mp4"
    upscale_video(src, dst, upscaler=upscaler, progress=False)
    info_in, info_out = probe_video(src), probe_video(dst)
    assert info_out.rotation == 90
    assert info_out.display_matrix == info_in.display_matrix is not None
    assert (info_out.width, info_out.height) == (2 * W, 2 * H)


def test_probe(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", frames=4)
    info = probe_video(clip)
    assert (info.width, info.height, info.codec, info.frames) == (W, H, "h264", 4)
    assert (info.audio, info.subtitles, info.other) == (1, 0, 0)
    assert info.frame_rate == 5
    assert is_video(clip)
    png = tmp_path / "x.png"
    import cv2

    cv2.imwrite(str(png), np.zeros((8, 8, 3), np.uint8))
    assert not is_video(png)
    assert not is_video(tmp_path / "missing.mp4")


def test_truncated_files_refused(tmp_path: Path, upscaler: Upscaler) -> None:
    for ext in (".mp4", ".mkv"):
        whole = make_clip(tmp_path / f"whole{ext}", frames=10)
        data = whole.read_bytes()
        cut = tmp_path / f"cut{ext}"
        cut.write_bytes(data[: len(data) // 2])
        dst = tmp_path / f"cut_x2{ext}"
        with pytest.raises(VideoError, match="cut"):
            upscale_video(cut, dst, upscaler=upscaler, progress=False)
        assert not dst.exists()
    assert _leftovers(tmp_path) == []


def test_audio_only_and_non_video_refused(tmp_path: Path, upscaler: Upscaler) -> None:
    song = make_clip(tmp_path / "song.mp4", video=False)
    with pytest.raises(VideoError, match="no video stream"):
        upscale_video(song, tmp_path / "song_x2.mp4", upscaler=upscaler, progress=False)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(VideoError, match="not a readable video"):
        upscale_video(text, tmp_path / "notes_x2.mp4", upscaler=upscaler, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4", "song.mp4"]


class _Interrupting:
    """Upscales like ``inner`` but raises ``exc`` on frame ``at`` (0-based)."""

    def __init__(self, inner: Upscaler, at: int, exc: BaseException) -> None:
        self.inner, self.at, self.exc, self.scale, self.calls = inner, at, exc, inner.scale, 0

    def upscale(self, img: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls > self.at:
            raise self.exc
        return self.inner.upscale(img)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), RuntimeError("boom")])
def test_interrupted_run_leaves_nothing(
    tmp_path: Path, upscaler: Upscaler, exc: BaseException
) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=10)
    dst = tmp_path / "in_x2.mp4"
    with pytest.raises(type(exc)):
        upscale_video(src, dst, upscaler=_Interrupting(upscaler, 4, exc), progress=False)
    assert not dst.exists()
    assert _leftovers(tmp_path) == []
    # An existing output stays as it was.
    dst.write_bytes(b"old")
    with pytest.raises(type(exc)):
        upscale_video(
            src, dst, upscaler=_Interrupting(upscaler, 2, exc), overwrite=True, progress=False
        )
    assert dst.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_encoder_settings_checked(tmp_path: Path, upscaler: Upscaler) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    with pytest.raises(ConfigError, match="crf or bitrate"):
        upscale_video(src, tmp_path / "a.mp4", upscaler=upscaler, crf=20, bitrate=10**6)
    with pytest.raises(ConfigError, match="no encoder"):
        upscale_video(src, tmp_path / "a.mp4", upscaler=upscaler, codec="no-such-codec")
    with pytest.raises(ConfigError, match="cannot hold"):
        upscale_video(src, tmp_path / "a.webm", upscaler=upscaler, codec="libx264")
    with pytest.raises(ConfigError, match="extension"):
        upscale_video(src, tmp_path / "a.gif", upscaler=upscaler)
    with pytest.raises(ConfigError, match="crf option"):
        upscale_video(src, tmp_path / "a.mkv", upscaler=upscaler, codec="ffv1", crf=10)
    res = upscale_video(
        src,
        tmp_path / "b.mp4",
        upscaler=upscaler,
        bitrate=200_000,
        pix_fmt="yuv444p",
        progress=False,
    )
    assert (res.codec, res.pix_fmt, res.frames) == ("libx264", "yuv444p", 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.mp4", "in.mp4"]


def test_upscale_frames_streams_lazily_like_the_video_path(
    tmp_path: Path, upscaler: Upscaler
) -> None:
    # A camera-like source: upscale_frames must pull one frame per output frame.
    src = make_clip(tmp_path / "in.mkv", frames=4, audio=False)
    decoded = [f.to_ndarray(format="rgb24") for f in _video_frames(src)]
    pulled: list[int] = []

    def camera() -> Any:
        for i in range(64):  # "endless": reading it all ahead fails below
            if len(pulled) > len(outs_taken) + 1:
                msg = f"upscale_frames read {len(pulled)} frames for {len(outs_taken)} out"
                raise AssertionError(msg)
            pulled.append(i)
            yield decoded[i % len(decoded)]

    outs_taken: list[np.ndarray] = []
    outs = upscale_frames(upscaler, camera())
    for _ in range(4):
        outs_taken.append(next(outs))
    assert pulled == [0, 1, 2, 3]  # lazy: nothing read ahead
    first, *rest = outs_taken
    # The same frames through the whole video path, written losslessly, come out the same.
    dst = tmp_path / "out.mkv"
    upscale_video(src, dst, upscaler=upscaler, codec="ffv1", pix_fmt="bgr0", progress=False)
    written = [f.to_ndarray(format="rgb24") for f in _video_frames(dst)]
    for got, want in zip([first, *rest], written, strict=True):
        assert got.shape == (2 * H, 2 * W, 3) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
    # Different input frames give different outputs, in order (not one frame repeated).
    assert not np.array_equal(first, rest[0])
    # uint16 frames (10-bit and deeper sources) stay uint16 and keep their order of magnitude.
    deep = next(upscale_frames(upscaler, iter([decoded[0].astype(np.uint16) * 257])))
    assert deep.dtype == np.uint16 and deep.shape == (2 * H, 2 * W, 3)
    assert np.abs(deep.astype(int) // 257 - first.astype(int)).max() <= 1
    with pytest.raises(ConfigError, match="upscale"):
        next(upscale_frames(object(), iter(decoded)))  # type: ignore[arg-type]


def test_missing_pyav_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from lesrcnn_deploy.video.probe import import_av

    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'lesrcnn-deploy\[video\]'"):
        import_av()


# --- command line -----------------------------------------------------------------------------


def _cli(*args: str | Path) -> int:
    return main(["upscale", *map(str, args), "--quiet"])


def test_cli_video_default_name_and_probe(
    tmp_path: Path, random_fp32: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=3)
    assert _cli(clip, "--scale", "2", "--model", random_fp32, "--crf", "23") == 0
    out = tmp_path / "clip_x2.mp4"
    assert len(_video_frames(out)) == 3
    # Recognised by its container, not by its extension; written as .mkv.
    odd = tmp_path / "clip.bin"
    odd.write_bytes(clip.read_bytes())
    assert _cli(odd, "--scale", "2", "--model", random_fp32) == 0
    assert len(_video_frames(tmp_path / "clip_x2.mkv")) == 3
    # Existing output: skipped (as an image's), one line, exit 0; the file is not touched.
    capsys.readouterr()
    os.utime(out, ns=(0, 0))
    assert _cli(clip, "--scale", "2", "--model", random_fp32) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "output exists" in lines[0] and "--overwrite" in lines[0]
    assert out.stat().st_mtime_ns == 0


def test_cli_bad_video_exit_1(
    tmp_path: Path, random_fp32: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    song = make_clip(tmp_path / "song.mp4", video=False)
    whole = make_clip(tmp_path / "whole.mp4", frames=6).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    for bad, why in ((song, "no video stream"), (cut, "not a readable video")):
        capsys.readouterr()  # a bad input exits 1, as a bad image does (docs/robustness.md)
        assert _cli(bad, "--scale", "2", "--model", random_fp32) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and why in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "song.mp4", "whole.mp4"]
    # --crf and --bitrate together: argparse error, exit 2.
    with pytest.raises(SystemExit) as info:
        _cli(song, "--scale", "2", "--crf", "20", "--bitrate", "1M")
    assert info.value.code == 2


def test_cli_ctrl_c_exit_130(
    tmp_path: Path, random_fp32: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=6)
    calls = {"n": 0}
    real = Upscaler.upscale

    def upscale(self: Upscaler, img: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, img)

    monkeypatch.setattr(Upscaler, "upscale", upscale)
    assert _cli(clip, "--scale", "2", "--model", random_fp32) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_cli_folder_mixes_images_and_videos(tmp_path: Path, random_fp32: Path) -> None:
    import cv2

    folder = tmp_path / "media"
    folder.mkdir()
    make_clip(folder / "clip.mkv", frames=3)
    cv2.imwrite(str(folder / "still.png"), np.full((H, W, 3), 99, np.uint8))
    jobs = plan_jobs([folder], scale=2)
    assert [(j.source.name, j.output.name, j.kind) for j in jobs] == [
        ("clip.mkv", "clip_x2.mkv", "video"),
        ("still.png", "still_x2.png", "image"),
    ]
    assert _cli(folder, "--scale", "2", "--model", random_fp32) == 0
    out = tmp_path / "media_x2"
    assert sorted(p.name for p in out.iterdir()) == ["clip_x2.mkv", "still_x2.png"]
    assert len(_video_frames(out / "clip_x2.mkv")) == 3


def test_display_matrix_parsed_as_int32() -> None:
    from lesrcnn_deploy.video.probe import display_matrix

    class _SD:
        type = "DISPLAYMATRIX"

        def __bytes__(self) -> bytes:
            return struct.pack("<9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)

    class _Frame:
        side_data = (_SD(),)

    assert display_matrix(_Frame()) == (0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)


# --- benchmark --------------------------------------------------------------------------------


def test_bench_video_rows_and_report(random_fp32: Path) -> None:
    from lesrcnn_deploy.bench.report import BenchResults, render_markdown, to_json
    from lesrcnn_deploy.bench.video import bench_video
    from lesrcnn_deploy.runtime.choice import default_runtime, installed_runtimes

    r = bench_video({"fp32": random_fp32}, size=(64, 48), seconds=0.5, fps=8, threads=1)
    default, ort = r["rows"]  # the default runtime, then ONNX Runtime forced
    assert default["runtime_asked"] == "default" and ort["runtime_asked"] == "ort"
    assert ort["runtime"] == "ort" and ort["runtime_note"] == "runtime: ONNX Runtime (forced)"
    assert default["runtime_note"].startswith("runtime: ") and "default" in default["runtime_note"]
    for row in (default, ort):
        assert row["frames"] == r["clip"]["frames"] == 4
        assert row["fps"] > 0 and row["infer_s"] > 0 and row["decode_s"] > 0
        assert row["encode_s"] > 0
        shares = row["decode_share"] + row["inference_share"] + row["encode_share"]
        assert shares == pytest.approx(1.0)
    raw = r["raw"]["fp32"]  # the bare runner of every installed runtime on one whole frame
    assert sorted(raw) == sorted(installed_runtimes()) and all(v["fps"] > 0 for v in raw.values())
    fastest = max(v["fps"] for v in raw.values())
    assert default["vs_raw"] == pytest.approx(default["fps"] / fastest)
    summary = r["summary"]["fp32"]
    assert summary["default_vs_ort"] == pytest.approx(default["fps"] / ort["fps"])
    assert summary["meets_bar"] == (default["vs_raw"] >= 0.8)
    assert summary["default_runtime"] == default["runtime"]
    assert default_runtime() != "auto" or default["runtime"] in raw
    assert r["clip"]["output_size"] == [128, 96]
    assert "| fp32 | ort | 4 |" in r["markdown"] and "Raw frame rate of fp32" in r["markdown"]
    assert "the fastest runner's raw frame rate" in r["markdown"]
    from lesrcnn_deploy.runtime.choice import resolve_runtime

    config = {"default_runtime": resolve_runtime(random_fp32, "ort").to_dict()}
    system = {"openvino_int8_amx": "no (0 of 22 int8 convs)"}
    res = BenchResults(config=config, system=system, video=r)
    md = render_markdown(res)
    assert "Default runtime: ONNX Runtime (forced) (every deployed path runs it)." in md
    assert "## Video" in md and r["markdown"] in md
    assert "Int8 convolutions on AMX (OpenVINO's runtime graph): no (0 of 22" in md
    assert to_json(res)["video"]["rows"][0]["model"] == "fp32"
