"""Video throughput: frames/s of ``upscale_video`` on a generated 640x360 clip, per model, and the
share of busy time spent in decode / inference / encode.

The clip (H.264 + AAC, moving colour blocks, seeded) is generated with PyAV into a temporary
folder; each model upscales it with the same :class:`~lesrcnn_deploy.upscale.Upscaler` settings
the CLI uses (tiled), ``repeats`` times, runs of the models interleaved; the median is reported.
The three stages overlap (threads), so the shares are of the summed busy time, and frames/s is
wall time.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ConfigError

__all__ = ["bench_video", "make_test_clip", "render_video_markdown"]


def make_test_clip(
    path: str | os.PathLike[str],
    *,
    size: tuple[int, int] = (640, 360),
    seconds: float = 0.8,
    fps: int = 10,
    seed: int = 0,
) -> Path:
    """Write an H.264 (CRF 18) + mono AAC clip of ``size`` (W, H): smooth moving colour blocks."""
    from ..video.probe import import_av

    av = import_av()
    w, h = size
    frames = max(1, round(seconds * fps))
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    big = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
    p = Path(path)
    with av.open(str(p), "w") as c:
        v = c.add_stream("libx264", rate=fps, options={"crf": "18"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = c.add_stream("aac", rate=16000)
        a.layout = "mono"
        for i in range(frames):
            img = np.ascontiguousarray(big[i % 16 : i % 16 + h, i % 16 : i % 16 + w])
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            c.mux(v.encode(frame))
        c.mux(v.encode(None))
        n, s = int(16000 * frames / fps), 0
        while s < n:
            k = min(1024, n - s)
            tone = 0.2 * np.sin(2 * np.pi * 440 * np.arange(s, s + k) / 16000)
            af = av.AudioFrame.from_ndarray(
                tone.astype(np.float32)[None], format="fltp", layout="mono"
            )
            af.sample_rate, af.pts, af.time_base = 16000, s, Fraction(1, 16000)
            c.mux(a.encode(af))
            s += k
        c.mux(a.encode(None))
    return p


def bench_video(
    models: Mapping[str, str | os.PathLike[str]],
    *,
    scale: int = 2,
    size: tuple[int, int] = (640, 360),
    seconds: float = 0.8,
    fps: int = 10,
    threads: int = 2,
    repeats: int = 1,
    codec: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Upscale a generated clip with every model and time it.

    Args:
        models: label (e.g. ``"int8"``, ``"fp32"``) -> ``.onnx`` path of scale ``scale``.
        scale: the models' scale.
        size: LR clip size (W, H); 640x360 gives a 1280x720 output at x2.
        seconds: clip length (bounded so that ``make bench`` stays fast).
        fps: clip frame rate.
        threads: ONNX Runtime intra-op threads.
        repeats: runs per model, interleaved; the median run (by wall time) is reported.
        codec: video encoder (default as ``upscale_video``).
        progress: tqdm bars.

    Returns:
        ``{"clip": {...}, "rows": [{"model", "frames", "seconds", "fps", "decode_s", "infer_s",
        "encode_s", "decode_share", "inference_share", "encode_share", "codec", "pix_fmt"}],
        "markdown": str}``.

    Raises:
        ConfigError: no models or ``repeats < 1``.
        MissingExtraError: PyAV is not installed.
    """
    from ..core.onnx_io import read_metadata
    from ..upscale import Upscaler
    from ..video import upscale_video

    if not models or repeats < 1:
        msg = f"bench_video needs at least one model and repeats >= 1, got {len(models)}, {repeats}"
        raise ConfigError(msg)
    ups = {
        label: Upscaler(
            scale,
            read_metadata(path).get("precision", "fp32"),
            model=path,
            threads=threads,
        )
        for label, path in models.items()
    }
    runs: dict[str, list[Any]] = {label: [] for label in ups}
    with tempfile.TemporaryDirectory(prefix="lesrcnn-video-bench-") as tmp:
        clip = make_test_clip(Path(tmp) / "clip.mp4", size=size, seconds=seconds, fps=fps)
        for _ in range(repeats):
            for label, up in ups.items():
                res = upscale_video(
                    clip,
                    Path(tmp) / f"out_{label}.mp4",
                    upscaler=up,
                    codec=codec,
                    overwrite=True,
                    progress=progress,
                )
                runs[label].append(res)
    rows = []
    for label, results in runs.items():
        med = sorted(results, key=lambda r: r.seconds)[len(results) // 2]
        sh = med.shares
        rows.append(
            {
                "model": label,
                "path": str(models[label]),
                "frames": med.frames,
                "seconds": med.seconds,
                "fps": med.fps,
                "fps_runs": [r.fps for r in results],
                "decode_s": med.decode_s,
                "infer_s": med.infer_s,
                "encode_s": med.encode_s,
                "decode_share": sh["decode"],
                "inference_share": sh["inference"],
                "encode_share": sh["encode"],
                "codec": med.codec,
                "pix_fmt": med.pix_fmt,
                "ms_per_frame_inference": 1000 * med.infer_s / max(1, med.frames),
            }
        )
    out: dict[str, Any] = {
        "clip": {
            "size": list(size),
            "output_size": [size[0] * scale, size[1] * scale],
            "seconds": seconds,
            "fps": fps,
            "frames": max(1, round(seconds * fps)),
            "scale": scale,
            "threads": threads,
            "repeats": repeats,
            "tile": next(iter(ups.values())).tile,
        },
        "rows": rows,
    }
    out["markdown"] = render_video_markdown(out)
    return out


def render_video_markdown(result: Mapping[str, Any]) -> str:
    """The Markdown table of :func:`bench_video`'s result (with a one-line description)."""
    clip = result["clip"]
    w, h = clip["size"]
    ow, oh = clip["output_size"]
    lines = [
        f"`upscale_video` on a generated {w}x{h} H.264 + AAC clip ({clip['frames']} frames, "
        f"{clip['seconds']:g} s) -> {ow}x{oh} at x{clip['scale']}, {clip['threads']} ORT "
        f"thread(s), tile {clip['tile']}, audio copied; decode, inference and encode run in "
        "overlapping threads, so the shares are of the summed busy time. "
        + (
            f"Median of {clip['repeats']} interleaved runs."
            if clip["repeats"] > 1
            else "One run per model."
        ),
        "",
        "| Model | Frames | Wall (s) | Frames/s | Inference ms/frame | Decode | Inference "
        "| Encode | Encoder |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {r['frames']} | {r['seconds']:.1f} | {r['fps']:.2f} | "
            f"{r['ms_per_frame_inference']:.0f} | {r['decode_share']:.1%} | "
            f"{r['inference_share']:.1%} | {r['encode_share']:.1%} | {r['codec']} {r['pix_fmt']} |"
        )
    return "\n".join(lines)
