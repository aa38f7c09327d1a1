"""Video throughput: frames/s of ``upscale_video`` on a generated 640x360 clip, per model and
runtime (the default and ONNX Runtime), the share of busy time spent in decode / inference /
encode, and the default's frames/s against the fastest runner's raw frame rate (the bare network
on one whole frame).

The clip (H.264 + AAC, moving colour blocks, seeded) is generated with PyAV into a temporary
folder; each model upscales it with the same :class:`~lesrcnn_deploy.upscale.Upscaler` settings
the CLI uses (tiled), ``repeats`` times, runs of the models interleaved; the median is reported.
The three stages overlap (threads), so the shares are of the summed busy time, and frames/s is
wall time.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
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
    keyint: int | None = None,
) -> Path:
    """Write an H.264 (CRF 18) + mono AAC clip of ``size`` (W, H): smooth moving colour blocks;
    ``keyint``: a keyframe every that many frames (default: x264's, 250 or at scene cuts)."""
    from ..video.probe import import_av

    av = import_av()
    w, h = size
    frames = max(1, round(seconds * fps))
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    big = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
    p = Path(path)
    with av.open(str(p), "w") as c:
        opts = {"crf": "18"} if keyint is None else {"crf": "18", "g": str(keyint)}
        v = c.add_stream("libx264", rate=fps, options=opts)
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


_BAR = 0.8  # the default's video frames/s against the fastest runner's raw frame rate


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
    runtimes: Sequence[str | None] = (None, "ort"),
    raw: Sequence[str] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Upscale a generated clip with every model on every runtime and time it.

    Besides the video runs, the "raw frame rate" of every installed runtime is timed in the same
    interleaved rounds: the bare runner on one whole decoded frame (no tiling, decode or encode).
    Each row's ``vs_raw`` is its frames/s over the fastest runner's raw rate (bar 0.8 for the
    default runtime).

    Args:
        models: label (e.g. ``"int8"``, ``"fp32"``) -> ``.onnx`` path of scale ``scale``.
        scale: the models' scale.
        size: LR clip size (W, H); 640x360 gives a 1280x720 output at x2.
        seconds: clip length (bounded so that ``make bench`` stays fast).
        fps: clip frame rate.
        threads: intra-op threads of every runtime.
        repeats: runs per row, interleaved; the median run (by wall time) is reported.
        codec: video encoder (default as ``upscale_video``).
        runtimes: the runtimes of the rows: ``None`` is the default
            (:func:`~lesrcnn_deploy.runtime.choice.default_runtime`), ``"ort"``/``"openvino"``
            forced; a forced runtime equal to what the default resolved to is still its own row.
        raw: the runtimes whose raw frame rate is timed (``None``: every installed one;
            ``()``: none).
        progress: tqdm bars.

    Returns:
        ``{"clip": {...}, "rows": [{"model", "runtime", "runtime_asked", "runtime_note",
        "frames", "seconds", "fps", "vs_raw", "decode_s", ...}], "raw": {label: {runtime:
        {"ms", "fps"}}}, "summary": {...}, "markdown": str}``.

    Raises:
        ConfigError: no models or runtimes, or ``repeats < 1``.
        MissingExtraError: PyAV is not installed.
    """
    from ..models import open_model
    from ..upscale import Upscaler
    from ..video import upscale_video

    if not models or not runtimes or repeats < 1:
        msg = (
            f"bench_video needs at least one model and runtime and repeats >= 1, got "
            f"{len(models)}, {len(runtimes)}, {repeats}"
        )
        raise ConfigError(msg)
    ups: dict[tuple[str, str], Any] = {}
    for label, path in models.items():
        model = open_model(path, scale=scale)
        for asked in runtimes:
            up = Upscaler(scale, None, model=model, threads=threads, runtime=asked)
            ups[(label, asked or "default")] = up
    raw_runners = _raw_runners(models, raw, threads=threads)
    frame = np.random.default_rng(0).random((1, 3, size[1], size[0]), dtype=np.float32)
    for runner in raw_runners.values():
        runner(frame)  # warm-up: compile, allocate
    raw_ms: dict[tuple[str, str], list[float]] = {k: [] for k in raw_runners}
    runs: dict[tuple[str, str], list[Any]] = {k: [] for k in ups}
    with tempfile.TemporaryDirectory(prefix="lesrcnn-video-bench-") as tmp:
        clip = make_test_clip(Path(tmp) / "clip.mp4", size=size, seconds=seconds, fps=fps)
        for _ in range(repeats):
            for key, up in ups.items():
                res = upscale_video(
                    clip,
                    Path(tmp) / "out.mp4",
                    upscaler=up,
                    codec=codec,
                    overwrite=True,
                    progress=progress,
                )
                runs[key].append(res)
            for key, runner in raw_runners.items():
                t0 = time.perf_counter()
                runner(frame)
                raw_ms[key].append(1000 * (time.perf_counter() - t0))
    raw_out: dict[str, dict[str, dict[str, float]]] = {}
    for (label, rt), times in raw_ms.items():
        ms = float(np.median(times))
        raw_out.setdefault(label, {})[rt] = {"ms": ms, "fps": 1000.0 / ms}
    rows = [
        _row(key, results, ups[key], models, raw_out.get(key[0], {}))
        for key, results in runs.items()
    ]
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
        "raw": raw_out,
        "summary": _summary(rows),
    }
    out["markdown"] = render_video_markdown(out)
    return out


def _raw_runners(
    models: Mapping[str, str | os.PathLike[str]], raw: Sequence[str] | None, *, threads: int
) -> dict[tuple[str, str], Any]:
    """(model label, runtime) -> a bare runner of each runtime of ``raw``."""
    from ..runtime.choice import installed_runtimes
    from ..runtime.dispatch import open_runner

    return {
        (label, rt): open_runner(path, runtime=rt, threads=threads)
        for label, path in models.items()
        for rt in (installed_runtimes() if raw is None else raw)
    }


def _row(
    key: tuple[str, str],
    results: list[Any],
    up: Any,
    models: Mapping[str, str | os.PathLike[str]],
    raw: Mapping[str, Mapping[str, float]],
) -> dict[str, Any]:
    label, asked = key
    med = sorted(results, key=lambda r: r.seconds)[len(results) // 2]
    sh = med.shares
    fastest = max((r["fps"] for r in raw.values()), default=0.0)
    choice = up.runtime_choice
    return {
        "model": label,
        "runtime_asked": asked,
        "runtime": choice.runtime,
        "runtime_note": choice.note,
        "path": str(models[label]),
        "frames": med.frames,
        "seconds": med.seconds,
        "fps": med.fps,
        "fps_runs": [r.fps for r in results],
        "vs_raw": med.fps / fastest if fastest > 0 else None,
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


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model: the default's frames/s over ONNX Runtime's, and over the fastest raw rate."""
    out: dict[str, Any] = {}
    for row in rows:
        if row["runtime_asked"] != "default":
            continue
        ort = next(
            (r for r in rows if r["model"] == row["model"] and r["runtime_asked"] == "ort"),
            None,
        )
        out[row["model"]] = {
            "default_runtime": row["runtime"],
            "default_vs_ort": row["fps"] / ort["fps"] if ort else None,
            "default_vs_raw": row["vs_raw"],
            "bar_vs_raw": _BAR,
            "meets_bar": None if row["vs_raw"] is None else row["vs_raw"] >= _BAR,
        }
    return out


def render_video_markdown(result: Mapping[str, Any]) -> str:
    """The Markdown table of :func:`bench_video`'s result (with a short description)."""
    clip = result["clip"]
    w, h = clip["size"]
    ow, oh = clip["output_size"]
    lines = [
        f"`upscale_video` on a generated {w}x{h} H.264 + AAC clip ({clip['frames']} frames, "
        f"{clip['seconds']:g} s) -> {ow}x{oh} at x{clip['scale']}, {clip['threads']} "
        f"thread(s), tile {clip['tile']}, audio copied; decode, inference and encode run in "
        "overlapping threads, so the shares are of the summed busy time. "
        + (
            f"Median of {clip['repeats']} interleaved runs."
            if clip["repeats"] > 1
            else "One run per row."
        ),
        "",
        "| Model | Runtime | Frames | Wall (s) | Frames/s | vs raw | Inference ms/frame | Decode "
        "| Inference | Encode | Encoder |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        asked = r.get("runtime_asked", "default")
        runtime = f"{r.get('runtime', '?')} ({asked})" if asked == "default" else asked
        vs_raw = f"{r['vs_raw']:.2f}x" if r.get("vs_raw") is not None else "-"
        lines.append(
            f"| {r['model']} | {runtime} | {r['frames']} | {r['seconds']:.1f} | {r['fps']:.2f} | "
            f"{vs_raw} | {r['ms_per_frame_inference']:.0f} | {r['decode_share']:.1%} | "
            f"{r['inference_share']:.1%} | {r['encode_share']:.1%} | {r['codec']} {r['pix_fmt']} |"
        )
    raw = result.get("raw") or {}
    for label, per in raw.items():
        rates = ", ".join(
            f"{rt} {v['fps']:.2f} frames/s ({v['ms']:.0f} ms)" for rt, v in per.items()
        )
        lines += [
            "",
            f"Raw frame rate of {label} (the bare runner on one whole {w}x{h} frame, no tiling, "
            f"decode or encode, timed in the same interleaved rounds): {rates}.",
        ]
    for label, s in (result.get("summary") or {}).items():
        parts = [f"The default runtime for {label} ({s['default_runtime']})"]
        if s.get("default_vs_ort") is not None:
            parts.append(f"runs the video at {s['default_vs_ort']:.2f}x ONNX Runtime's frames/s")
        if s.get("default_vs_raw") is not None:
            verdict = "meets" if s["meets_bar"] else "misses"
            parts.append(
                f"and at {s['default_vs_raw']:.2f}x the fastest runner's raw frame rate "
                f"({verdict} the {s['bar_vs_raw']:g}x bar)"
            )
        lines += ["", " ".join(parts) + "."]
    return "\n".join(lines)
