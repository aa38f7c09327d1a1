"""Segmented video: cut at keyframes, upscaled per segment, joined by stream copy, resumable.

The clips are real files: the video (variable frame rate, a keyframe about every second, rotated
for mp4) written with PyAV, then audio, subtitles and chapters muxed in by the system ffmpeg. The
segmented output is compared with the single pass's: with a lossless encoder the decoded frames
and their timestamps are identical, and audio, subtitles, chapters, tags, rotation and the
track's timing are the same. A process killed with SIGKILL mid-job resumes: only unfinished
segments are redone, and a corrupt segment in the work folder is found and redone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

av = pytest.importorskip("av")

from test_video_keep import ffmpeg  # noqa: E402

from lesrcnn_deploy.cli import main  # noqa: E402
from lesrcnn_deploy.video import probe_video, upscale_video  # noqa: E402
from lesrcnn_deploy.video.segments import plan_segments  # noqa: E402
from lesrcnn_deploy.video.workdir import work_folder_for  # noqa: E402

GAPS_MS = (100, 140, 60)  # variable frame rate: the gaps cycle through these


class Nearest2:
    """An x2 nearest-neighbour upscaler (the API takes any object with scale and upscale);
    ``stop_at``: raise KeyboardInterrupt at that frame (0-based) of this process, as Ctrl-C."""

    scale = 2

    def __init__(self, stop_at: int | None = None) -> None:
        self.stop_at, self.calls = stop_at, 0

    def upscale(self, img: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.stop_at is not None and self.calls > self.stop_at:
            raise KeyboardInterrupt
        return np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)


def make_rich_clip(folder: Path, ext: str, *, frames: int = 40, rotate: bool = False) -> Path:
    """A VFR H.264 clip (keyframe every 10 frames at most) with AAC audio, subtitles, chapters."""
    video = folder / f"video{ext}"
    with av.open(str(video), "w") as c:
        v = c.add_stream("libx264", rate=10, options={"g": "10", "sc_threshold": "0"})
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.codec_context.time_base = Fraction(1, 1000)
        if rotate:
            v.set_display_rotation(90)
        rng = np.random.default_rng(3)
        t = 0
        for i in range(frames):
            small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
            img = np.kron(small, np.ones((8, 8, 1), dtype=np.uint8))
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            f.pts, f.time_base = t, Fraction(1, 1000)
            t += GAPS_MS[i % len(GAPS_MS)]
            c.mux(v.encode(f))
        c.mux(v.encode(None))
    srt = folder / "subs.srt"
    srt.write_text(
        "1\n00:00:00,200 --> 00:00:00,900\nHello\n\n2\n00:00:02,500 --> 00:00:03,200\nLater\n"
    )
    chapters = folder / "chapters.txt"
    chapters.write_text(
        ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1500\ntitle=One\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1500\nEND=4000\ntitle=Two\n"
    )
    out = folder / f"clip{ext}"
    sub_codec = "mov_text" if ext == ".mp4" else "srt"
    ffmpeg("-i", video, "-f", "lavfi", "-t", f"{t / 1000:g}", "-i", "sine=f=440:r=16000",
           "-i", srt, "-i", chapters, "-map", "0:v", "-map", "1:a", "-map", "2:s",
           "-map_chapters", "3", "-c:v", "copy", "-c:a", "aac", "-c:s", sub_codec,
           "-metadata", "title=segmented", out)  # fmt: skip
    video.unlink()
    return out


def everything(path: Path) -> dict[str, Any]:
    """What a viewer gets from ``path``: frames with pts, other streams' packets, metadata."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(v)]
    with av.open(str(path)) as c:
        others = {
            s.index: [(p.pts, p.dts, p.duration, bytes(p)) for p in c.demux(s) if p.size]
            for s in c.streams
            if s.type != "video"
        }
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        meta = {
            "tags": dict(c.metadata),
            "chapters": [(ch["start"], ch["end"], dict(ch["metadata"])) for ch in c.chapters()],
            "streams": [
                (s.type, s.codec_context and s.codec_context.name, dict(s.metadata))
                for s in c.streams
            ],
            "video": (v.time_base, v.average_rate, v.duration, c.duration, v.sample_aspect_ratio),
        }
    return {"frames": frames, "others": others, "meta": meta}


def assert_same_output(a: Path, b: Path, *, lossless: bool = True) -> float:
    """``a`` and ``b`` hold the same frames (pixels when ``lossless``), timestamps, audio,
    subtitles, chapters and tags; the lowest PSNR of a frame of ``a`` against ``b``, dB."""
    ea, eb = everything(a), everything(b)
    assert [f[0] for f in ea["frames"]] == [f[0] for f in eb["frames"]]  # pts, VFR included
    assert ea["others"] == eb["others"] and ea["meta"] == eb["meta"]
    worst = float("inf")
    for (_, x), (_, y) in zip(ea["frames"], eb["frames"], strict=True):
        if lossless:
            np.testing.assert_array_equal(x, y)
        mse = float(np.mean((x.astype(float) - y.astype(float)) ** 2))
        worst = min(worst, 10 * np.log10(255**2 / mse) if mse else float("inf"))
    return worst


@pytest.mark.parametrize(
    ("ext", "codec", "crf"), [(".mkv", "ffv1", None), (".mp4", "libx264", 0)], ids=["mkv", "mp4"]
)
def test_segmented_equals_single_pass(tmp_path: Path, ext: str, codec: str, crf: int) -> None:
    src = make_rich_clip(tmp_path, ext, rotate=ext == ".mp4")
    plan = plan_segments(src, 1.0)
    assert len(plan.segments) >= 3 and plan.frames == 40
    assert sum(s.frames for s in plan.segments) == 40
    kw: dict[str, Any] = {"upscaler": Nearest2(), "codec": codec, "crf": crf, "progress": False}
    one = upscale_video(src, tmp_path / f"one{ext}", **kw)
    seg = upscale_video(src, tmp_path / f"seg{ext}", segment_seconds=1.0, **kw)
    assert (seg.segments, seg.resumed, one.segments) == (len(plan.segments), 0, 0)
    assert seg.frames == one.frames == 40 and seg.chapters == one.chapters == 2
    assert seg.copied_packets == one.copied_packets and len(seg.copied_packets) == 2
    assert_same_output(tmp_path / f"seg{ext}", tmp_path / f"one{ext}")  # crf 0: lossless x264
    if ext == ".mp4":
        assert probe_video(tmp_path / f"seg{ext}").rotation == 90
    assert not work_folder_for(tmp_path / f"seg{ext}").exists()  # a finished job cleans up


def test_hdr_metadata_and_colour_tags_in_every_segment(tmp_path: Path) -> None:
    from test_video_keep import HDR_IN, MASTER, _video, pattern

    from lesrcnn_deploy.video.hdr import read_hdr

    src = tmp_path / "hdr.mkv"
    ffmpeg(*pattern("64x48", seconds=2), "-c:v", "libx265", "-pix_fmt", "yuv420p10le",
           "-x265-params",
           f"log-level=error:keyint=5:min-keyint=5:master-display={MASTER}:max-cll=1000,400",
           "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc",
           src)  # fmt: skip
    dst = tmp_path / "out.mkv"
    res = upscale_video(src, dst, upscaler=Nearest2(), segment_seconds=1.0, progress=False)
    assert res.segments == 2 and res.notes == () and res.frames == 10
    out = _video(dst)
    assert out["hdr"] == HDR_IN and out["tags"] == (9, 16, 9) and out["pix_fmt"] == "yuv420p10le"
    with av.open(str(dst)) as c:  # each segment's first frame carries it (its own SEI)
        keys = [read_hdr(f) for f in c.decode(c.streams.video[0]) if f.key_frame]
    assert len(keys) >= 2 and all(k == HDR_IN for k in keys)
    res = upscale_video(
        src, tmp_path / "ffv1.mkv", upscaler=Nearest2(), codec="ffv1", segment_seconds=1.0,
        progress=False,
    )  # fmt: skip
    assert len(res.notes) == 1 and "HDR" in res.notes[0] and "ffv1" in res.notes[0]


def test_lossy_segments_close_to_single_pass(tmp_path: Path) -> None:
    src = make_rich_clip(tmp_path, ".mkv")
    kw: dict[str, Any] = {"upscaler": Nearest2(), "progress": False}  # libx264 crf 18
    upscale_video(src, tmp_path / "one.mkv", **kw)
    upscale_video(src, tmp_path / "seg.mkv", segment_seconds=1.0, **kw)
    # Only the encoder's rate control differs at segment starts (worst frame 42.5 dB measured on
    # these random 8x8 blocks, a hard case for x264).
    assert assert_same_output(tmp_path / "seg.mkv", tmp_path / "one.mkv", lossless=False) > 30


def test_interrupted_run_resumes_and_redoes_a_corrupt_segment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_rich_clip(tmp_path, ".mkv")
    plan = plan_segments(src, 1.0)
    dst = tmp_path / "out.mkv"
    kw: dict[str, Any] = {"codec": "ffv1", "segment_seconds": 1.0}
    first_two = plan.segments[0].frames + plan.segments[1].frames
    with pytest.raises(KeyboardInterrupt):  # stops inside the third segment
        upscale_video(src, dst, upscaler=Nearest2(stop_at=first_two + 2), progress=False, **kw)
    work = work_folder_for(dst)
    assert not dst.exists()
    assert sorted(p.name for p in work.glob("seg_*")) == [
        "seg_00000.json", "seg_00000.nut", "seg_00001.json", "seg_00001.nut",
    ]  # fmt: skip
    # Resumed: the two finished segments are kept, the progress bar starts at their frames.
    capsys.readouterr()
    res = upscale_video(src, dst, upscaler=Nearest2(), progress=True, **kw)
    assert (res.resumed, res.resumed_frames) == (2, first_two)
    assert f"{first_two}/40" in capsys.readouterr().err
    upscale_video(src, tmp_path / "one.mkv", upscaler=Nearest2(), codec="ffv1", progress=False)
    assert_same_output(dst, tmp_path / "one.mkv")
    assert not work.exists()
    # A corrupt segment file (one byte changed), a record without its file and a temporary file
    # of a killed run: found at the next start, redone, never joined.
    dst.unlink()
    with pytest.raises(KeyboardInterrupt):
        upscale_video(src, dst, upscaler=Nearest2(stop_at=first_two + 2), progress=False, **kw)
    part = work / "seg_00000.nut"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    (work / "seg_00001.nut").unlink()
    (work / ".seg_00002.nut.half.nut").write_bytes(b"half-written")
    res = upscale_video(src, dst, upscaler=Nearest2(), progress=False, **kw)
    assert res.resumed == 0
    assert any("segment 0" in n and "SHA-256" in n for n in res.notes), res.notes
    assert any("segment 1" in n and "missing" in n for n in res.notes), res.notes
    assert_same_output(dst, tmp_path / "one.mkv")
    # Other settings: the work folder is not reused; --restart discards it.
    dst.unlink()
    with pytest.raises(KeyboardInterrupt):
        upscale_video(src, dst, upscaler=Nearest2(stop_at=first_two + 2), progress=False, **kw)
    res = upscale_video(src, dst, upscaler=Nearest2(), progress=False, **{**kw, "codec": None})
    assert res.resumed == 0 and any("other settings" in n for n in res.notes)
    dst.unlink()
    with pytest.raises(KeyboardInterrupt):
        upscale_video(src, dst, upscaler=Nearest2(stop_at=first_two + 2), progress=False, **kw)
    res = upscale_video(src, dst, upscaler=Nearest2(), progress=False, restart=True, **kw)
    assert res.resumed == 0 and any("--restart" in n for n in res.notes)


_KILLED_JOB = """
import sys, time
import numpy as np
from lesrcnn_deploy.video import upscale_video


class Nearest2:
    scale = 2

    def upscale(self, img):
        time.sleep(0.04)
        return np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)


res = upscale_video(sys.argv[1], sys.argv[2], upscaler=Nearest2(), codec="ffv1",
                    segment_seconds=1.0, progress=False)
print(res.resumed, res.resumed_frames, res.segments)
"""


def test_sigkill_mid_job_then_rerun_redoes_only_unfinished_segments(tmp_path: Path) -> None:
    src = make_rich_clip(tmp_path, ".mkv", frames=60)
    dst = tmp_path / "out.mkv"
    work = work_folder_for(dst)
    script = tmp_path / "job.py"
    script.write_text(_KILLED_JOB)
    cmd = [sys.executable, str(script), str(src), str(dst)]
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and job.poll() is None:
        if len(list(work.glob("seg_*.json"))) >= 2:
            os.kill(job.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    job.wait(30)
    assert job.returncode == -signal.SIGKILL, "the job ended before it could be killed"
    kept = sorted(work.glob("seg_*.json"))
    total = len(plan_segments(src, 1.0).segments)
    assert 2 <= len(kept) < total and not dst.exists()
    frames_kept = sum(json.loads(p.read_text())["frames"] for p in kept)
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    assert rerun.stdout.split() == [str(len(kept)), str(frames_kept), str(total)]
    upscale_video(src, tmp_path / "one.mkv", upscaler=Nearest2(), codec="ffv1", progress=False)
    assert_same_output(dst, tmp_path / "one.mkv")
    assert not work.exists()


def test_cli_segment_options(
    tmp_path: Path, random_fp32: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_rich_clip(tmp_path, ".mkv", frames=20)
    args = ["upscale", str(src), "--model", str(random_fp32), "--codec", "ffv1"]
    assert main([*args, "--segment-seconds", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 segment(s)" in out, out
    assert main([*args, "--segment-seconds", "0", "--output", str(tmp_path / "b.mkv")]) == 0
    out = capsys.readouterr().out
    assert "segment(s)" not in out, out
    assert_same_output(tmp_path / "clip_x2.mkv", tmp_path / "b.mkv")
    with pytest.raises(SystemExit) as info:
        main([*args, "--segment-seconds", "-1"])
    assert info.value.code == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".mkv") == [
        "b.mkv", "clip.mkv", "clip_x2.mkv",
    ]  # fmt: skip


@pytest.mark.slow
def test_bench_long_video_rows(random_fp32: Path) -> None:
    from lesrcnn_deploy.bench.long_video import bench_long_video

    r = bench_long_video(random_fp32, size=(64, 48), seconds=4, fps=5, threads=1, ray=False)
    assert set(r["runs"]) == {"single pass", "segmented"} and r["projection"] is None
    assert all(run["frames"] == 20 and run["fps"] > 0 for run in r["runs"].values())
    s, res = r["segmented"], r["resume"]
    assert s["segments"] == 4 and s["segment_s"] > 0 and s["join_s"] > 0
    assert 2 <= res["resumed_segments"] < 4 and res["resumed_frames"] == 5 * res["resumed_segments"]
    assert res["rerun_s"] > 0 and "| segmented |" in r["markdown"] and "Resume" in r["markdown"]
