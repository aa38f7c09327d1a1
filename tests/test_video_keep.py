"""Video: chapters, subtitles, HDR metadata, any output size, even sides, sample aspect ratio.

The clips are made here by the system ffmpeg (installed by ``.ci/run``; these tests fail under
``CI=true`` without it) and upscaled by a random-weight x2 model or a nearest-neighbour x3
upscaler (any object with ``scale`` and ``upscale`` is the API's documented input).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

av = pytest.importorskip("av")

from lesrcnn_deploy.data.outsize import resize_to  # noqa: E402
from lesrcnn_deploy.upscale import Upscaler  # noqa: E402
from lesrcnn_deploy.video import upscale_video  # noqa: E402
from lesrcnn_deploy.video.hdr import HdrMetadata, read_hdr  # noqa: E402

# SMPTE ST 2086 of a P3-D65 mastering display at 1000 cd/m² (x265/x264 units) and its CLL.
MASTER = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
HDR_IN = HdrMetadata(
    primaries=(
        (Fraction(34000, 50000), Fraction(16000, 50000)),
        (Fraction(13250, 50000), Fraction(34500, 50000)),
        (Fraction(7500, 50000), Fraction(3000, 50000)),
    ),
    white_point=(Fraction(15635, 50000), Fraction(16450, 50000)),
    luminance=(Fraction(1, 10000), Fraction(1000)),
    max_cll=1000,
    max_fall=400,
)


def ffmpeg(*args: str | Path) -> None:
    """Run the system ffmpeg (fail under CI=true when it is missing, else skip)."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the system ffmpeg is required under CI=true (.ci/run installs it)")
        pytest.skip("no system ffmpeg")
    subprocess.run([exe, "-v", "error", "-nostdin", "-y", *map(str, args)], check=True)


def pattern(size: str, *, seconds: float = 1.0, rate: int = 5) -> list[str]:
    """ffmpeg input arguments of a moving test pattern."""
    return ["-f", "lavfi", "-t", f"{seconds:g}", "-i", f"testsrc2=size={size}:rate={rate}"]


@pytest.fixture(scope="module")
def upscaler(random_fp32: Path) -> Upscaler:
    return Upscaler(2, "fp32", model=random_fp32, threads=1)


class Nearest3:
    """An x3 nearest-neighbour upscaler: the output of every frame is known exactly."""

    scale = 3

    def upscale(self, img: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(img, 3, axis=0), 3, axis=1)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def _video(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        first = next(c.decode(v))
        return {
            "size": (first.width, first.height),
            "sar": v.sample_aspect_ratio,
            "pix_fmt": first.format.name,
            "tags": (first.color_primaries, first.color_trc, first.colorspace),
            "hdr": read_hdr(first),
        }


# --- chapters and subtitles ------------------------------------------------------------------


def test_chapters_kept_with_titles_and_times(tmp_path: Path, upscaler: Upscaler) -> None:
    meta = tmp_path / "chapters.txt"
    meta.write_text(
        ";FFMETADATA1\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=800\ntitle=Opening\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=800\nEND=2000\ntitle=Second part\n"
    )
    src = tmp_path / "in.mkv"
    ffmpeg(*pattern("64x48", seconds=2), "-i", meta, "-map", "0:v", "-map_chapters", "1",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", src)  # fmt: skip

    def chapters(path: Path) -> list[tuple[str, float, float]]:
        with av.open(str(path)) as c:
            return [
                (ch["metadata"].get("title", ""), float(ch["start"] * ch["time_base"]),
                 float(ch["end"] * ch["time_base"]))
                for ch in c.chapters()
            ]  # fmt: skip

    want = [("Opening", 0.0, 0.8), ("Second part", 0.8, 2.0)]
    assert chapters(src) == want
    for ext in (".mkv", ".mp4"):
        res = upscale_video(src, tmp_path / f"out{ext}", upscaler=upscaler, progress=False)
        assert res.chapters == 2
        got = chapters(tmp_path / f"out{ext}")
        assert [g[0] for g in got] == ["Opening", "Second part"]
        assert np.allclose([g[1:] for g in got], [w[1:] for w in want], atol=1e-3)
        assert len(_frames(tmp_path / f"out{ext}")) == 10


@pytest.mark.parametrize(("ext", "codec"), [(".mkv", "srt"), (".mp4", "mov_text")])
def test_subtitles_copied_packet_for_packet(
    tmp_path: Path, upscaler: Upscaler, ext: str, codec: str
) -> None:
    srt = tmp_path / "subs.srt"
    srt.write_text(
        "1\n00:00:00,200 --> 00:00:00,900\nHello there\n\n"
        "2\n00:00:01,000 --> 00:00:01,700\nSecond line\n"
    )
    src = tmp_path / f"in{ext}"
    ffmpeg(*pattern("64x48", seconds=2), "-i", srt, "-map", "0:v", "-map", "1:s",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:s", codec,
           "-metadata:s:s:0", "language=fra", src)  # fmt: skip
    dst = tmp_path / f"out{ext}"
    res = upscale_video(src, dst, upscaler=upscaler, progress=False)

    def subs(path: Path) -> tuple[str, str | None, list[tuple[Any, ...]], list[str]]:
        with av.open(str(path)) as c:
            (s,) = c.streams.subtitles
            name, lang = s.codec_context.name, s.language
            packets = [(p.pts, p.duration, bytes(p)) for p in c.demux(s) if p.size]
        with av.open(str(path)) as c:
            texts = [
                sub.dialogue.decode() if isinstance(sub.dialogue, bytes) else str(sub.dialogue)
                for packet in c.demux(c.streams.subtitles[0])
                for sub in packet.decode()
            ]
        return name, lang, packets, texts

    name_in, lang_in, packets_in, texts_in = subs(src)
    name_out, lang_out, packets_out, texts_out = subs(dst)
    assert (name_out, lang_out) == (name_in, lang_in) == (name_in, "fra")
    # mov_text also stores the gaps (empty samples): 2 cues are 2 or 4 packets.
    assert len(packets_in) in (2, 4) and packets_out == packets_in  # bytes, times, durations
    assert texts_out == texts_in
    assert [t for t in texts_out if t.strip()][:2] == ["Hello there", "Second line"]
    assert res.copied_packets == {1: len(packets_in)} and res.frames == 10


# --- HDR ---------------------------------------------------------------------------------------


def test_hdr_metadata_and_colour_tags_kept(tmp_path: Path, upscaler: Upscaler) -> None:
    src = tmp_path / "hdr.mkv"
    ffmpeg(*pattern("64x48", seconds=0.6), "-c:v", "libx265", "-pix_fmt", "yuv420p10le",
           "-x265-params", f"log-level=error:master-display={MASTER}:max-cll=1000,400",
           "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc",
           src)  # fmt: skip
    info = _video(src)
    assert info["hdr"] == HDR_IN  # what the parser reads back from ffmpeg's SEI
    assert info["tags"] == (9, 16, 9)  # BT.2020, PQ, BT.2020 non-constant
    for ext, codec in ((".mkv", None), (".mp4", "libx265")):
        res = upscale_video(
            src, tmp_path / f"out{ext}", upscaler=upscaler, codec=codec, progress=False
        )
        out = _video(tmp_path / f"out{ext}")
        assert out["hdr"] == HDR_IN, (ext, codec)
        assert out["tags"] == info["tags"] and out["pix_fmt"] == "yuv420p10le"
        assert out["size"] == (128, 96) and res.notes == ()
    # SVT-AV1 stores them in AV1's fixed point (chromaticity 1/65536, luminance 1/256 and
    # 1/16384 cd/m²): the same values to that precision.
    upscale_video(src, tmp_path / "av1.mkv", upscaler=upscaler, codec="libsvtav1", progress=False)
    av1 = _video(tmp_path / "av1.mkv")["hdr"]

    def numbers(h: HdrMetadata) -> list[float]:
        assert h.primaries and h.white_point and h.luminance
        return [float(v) for v in (*np.ravel(h.primaries), *h.white_point, *h.luminance)]

    assert np.allclose(numbers(av1), numbers(HDR_IN), rtol=1e-4, atol=1e-4)
    assert (av1.max_cll, av1.max_fall) == (1000, 400)
    # An encoder without HDR options says so instead of dropping the metadata silently.
    res = upscale_video(
        src, tmp_path / "lossless.mkv", upscaler=upscaler, codec="ffv1", progress=False
    )
    assert not _video(tmp_path / "lossless.mkv")["hdr"].present
    assert len(res.notes) == 1 and "HDR" in res.notes[0] and "ffv1" in res.notes[0]


# --- any output size, even sides, sample aspect ratio ----------------------------------------


def test_outscale_gives_the_exact_size_through_the_model(
    tmp_path: Path, upscaler: Upscaler
) -> None:
    src = tmp_path / "in.mkv"
    ffmpeg(*pattern("64x48"), "-c:v", "ffv1", src)
    dst = tmp_path / "out.mkv"
    res = upscale_video(
        src, dst, upscaler=upscaler, outscale=1.5, codec="ffv1", pix_fmt="bgr0", progress=False
    )
    assert (res.size, res.scale, res.frames) == ((96, 72), 2, 5)
    out = _video(dst)
    assert out["size"] == (96, 72) and out["sar"] in (None, Fraction(0), Fraction(1))
    for a, b in zip(_frames(src), _frames(dst), strict=True):
        np.testing.assert_array_equal(b, resize_to(upscaler.upscale(a), (96, 72)))


def test_fit_even_sides_and_sample_aspect_ratio(tmp_path: Path, upscaler: Upscaler) -> None:
    square = tmp_path / "square.mkv"
    ffmpeg(*pattern("64x48"), "-c:v", "libx264", "-pix_fmt", "yuv420p", square)
    # 100 x (48 * 100 / 64 = 75) -> 100x74: even, and the pixels get 75/74 taller.
    res = upscale_video(
        square, tmp_path / "fit.mp4", upscaler=upscaler, fit="100x100", progress=False
    )
    out = _video(tmp_path / "fit.mp4")
    assert res.size == out["size"] == (100, 74)
    assert out["sar"] == Fraction(74, 75)
    assert out["size"][0] * out["sar"] / out["size"][1] == Fraction(64, 48)  # same shape shown
    # Anamorphic input (SAR 4:3): exact x2 keeps the SAR; a fit keeps the displayed shape.
    wide = tmp_path / "wide.mkv"
    ffmpeg(*pattern("64x48"), "-vf", "setsar=4/3", "-c:v", "libx264", "-pix_fmt", "yuv420p", wide)
    assert _video(wide)["sar"] == Fraction(4, 3)
    upscale_video(wide, tmp_path / "wide2.mkv", upscaler=upscaler, outscale=2, progress=False)
    assert _video(tmp_path / "wide2.mkv")["sar"] == Fraction(4, 3)
    upscale_video(wide, tmp_path / "widefit.mkv", upscaler=upscaler, fit=(100, 100), progress=False)
    out = _video(tmp_path / "widefit.mkv")
    assert out["size"] == (100, 74)
    assert out["size"][0] * out["sar"] / out["size"][1] == Fraction(64 * 4, 48 * 3)


def test_odd_sizes_become_even(tmp_path: Path) -> None:
    src = tmp_path / "odd.mkv"
    ffmpeg(*pattern("64x48"), "-vf", "scale=63:47,format=yuv444p", "-c:v", "ffv1", src)
    assert _video(src)["size"] == (63, 47)
    # x3 of 63x47 is 189x141: the right column and bottom row go, the pixels stay the model's.
    dst = tmp_path / "odd_x3.mkv"
    res = upscale_video(src, dst, upscaler=Nearest3(), codec="ffv1", pix_fmt="bgr0", progress=False)
    assert res.size == _video(dst)["size"] == (188, 140)
    assert _video(dst)["sar"] in (None, Fraction(0), Fraction(1))  # a crop stretches nothing
    for a, b in zip(_frames(src), _frames(dst), strict=True):
        np.testing.assert_array_equal(b, Nearest3().upscale(a)[:140, :188])
    # A 4:2:0 encoder with odd --outscale sizes: 63 * 1.5 = 94.5 -> 95 -> 94, 47 * 1.5 -> 70.
    res = upscale_video(
        src,
        tmp_path / "odd.mp4",
        upscaler=Nearest3(),
        outscale=1.5,
        pix_fmt="yuv420p",
        progress=False,
    )
    out = _video(tmp_path / "odd.mp4")
    assert res.size == out["size"] == (94, 70) and out["pix_fmt"] == "yuv420p"
    assert out["size"][0] * out["sar"] / out["size"][1] == Fraction(63, 47)


def test_fit_box_is_the_displayed_orientation(tmp_path: Path, upscaler: Upscaler) -> None:
    from lesrcnn_deploy.video import probe_video

    # A phone clip: stored 64x48, shown rotated by 90 degrees (PyAV writes the display matrix;
    # Debian's ffmpeg 5 has no -display_rotation).
    src = tmp_path / "portrait.mp4"
    with av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=5)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.set_display_rotation(90)
        for i in range(3):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            f.pts = i
            c.mux(v.encode(f))
        c.mux(v.encode(None))
    assert probe_video(src).rotation == 90
    # Shown as 48x64 (portrait): a 96x128 box is exactly x2 of what the viewer sees.
    res = upscale_video(src, tmp_path / "out.mp4", upscaler=upscaler, fit="96x128", progress=False)
    assert res.size == (128, 96) and res.scale == 2
    assert probe_video(tmp_path / "out.mp4").rotation == 90


def test_cli_outscale_and_fit_for_video(
    tmp_path: Path, random_fp32: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lesrcnn_deploy.cli import main

    src = tmp_path / "clip.mp4"
    ffmpeg(*pattern("64x48"), "-c:v", "libx264", "-pix_fmt", "yuv420p", src)
    args = [str(src), "--model", str(random_fp32), "--quiet"]
    assert main(["upscale", *args, "--outscale", "1.5"]) == 0
    assert _video(tmp_path / "clip_x1.5.mp4")["size"] == (96, 72)
    assert main(["upscale", *args, "--fit", "100x100"]) == 0
    out = _video(tmp_path / "clip_fit100x100.mp4")
    assert out["size"] == (100, 74) and out["sar"] == Fraction(74, 75)
    assert len(_frames(tmp_path / "clip_fit100x100.mp4")) == 5
    # A bad box is one line and exit 2, before any output.
    capsys.readouterr()
    assert main(["upscale", *args, "--fit", "100by100"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fit" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clip.mp4",
        "clip_fit100x100.mp4",
        "clip_x1.5.mp4",
    ]
