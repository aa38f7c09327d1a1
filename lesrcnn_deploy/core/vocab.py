"""The toolkit's one vocabulary: scales, precisions, runtimes and tile sizes, with their checks.

Every command, the Python API and the service accept these values and reject others with the same
one-line :class:`~lesrcnn_deploy.core.errors.ConfigError`. No PyTorch, no runtime imported here.
"""

from __future__ import annotations

from .errors import ConfigError

__all__ = [
    "COMPUTE_PRECISIONS",
    "DEFAULT_SCALE",
    "DEFAULT_SEGMENT_SECONDS",
    "DEFAULT_STREAMS",
    "DEFAULT_THREADS",
    "DEFAULT_TILES",
    "MODEL_PRECISIONS",
    "PRECISIONS",
    "RUNTIMES",
    "SCALES",
    "check_compute",
    "check_model_precision",
    "check_precision",
    "check_runtime",
    "check_scale",
    "check_tile",
    "default_tile",
    "split_precision",
]

SCALES: tuple[int, ...] = (2, 3, 4)
"""Upscaling factors that LESRCNN supports."""

MODEL_PRECISIONS: tuple[str, ...] = ("int8", "fp32")
"""Precisions of a model file (the default int8 model, or the fp32 export)."""

PRECISIONS: tuple[str, ...] = ("int8", "fp32", "bf16")
"""The ``--precision`` words a user can ask for (``bf16``: OpenVINO bf16 inference of the fp32
model); :func:`split_precision` turns one into a file precision and a compute precision."""

COMPUTE_PRECISIONS: tuple[str, ...] = ("f32", "bf16")
"""How the float layers run: ``f32`` (everywhere) or ``bf16`` (OpenVINO only)."""

RUNTIMES: tuple[str, ...] = ("ort", "openvino", "auto")
"""Runtimes an ``.onnx`` model can run on (``auto``: the one measured fastest here)."""

DEFAULT_TILES: dict[str, dict[int, int]] = {
    "ort": {2: 256, 3: 176, 4: 128},
    "openvino": {2: 512, 3: 352, 4: 256},
}
"""Default tile size in LR pixels of every upscaling path, per runtime and scale (``--tile``
overrides it; 0 = the whole image in one call). Within a runtime, the same output-side window at
every scale, hence about the same peak memory: on ONNX Runtime x4 128 + 2 * 12 = 152 LR = 608
output pixels, x3 176 + 2 * 12 = 200 -> 600, x2 256 + 2 * 13 = 282 -> 564. OpenVINO holds far less
memory per pixel (x2 on a whole 640x360 frame: 305 MB peak RSS against ONNX Runtime's 858 MB) and
runs large inputs faster, so its tiles have twice the side. At x2 a 256x256 image is one call on
both (it was four windows of 154x154 at the old 128, 1.45x the pixels); a 640x360 frame is six
windows on ONNX Runtime (1.29x its pixels) and two on OpenVINO (1.08x)."""

DEFAULT_SCALE = 4
"""The scale of ``upscale`` and ``Upscaler()`` when neither a scale nor a model file gives one:
x4, as in realesrgan-ncnn-vulkan, Real-ESRGAN and upscayl."""

DEFAULT_THREADS = 2
"""Intra-op threads of every command unless ``--threads`` says otherwise."""

DEFAULT_SEGMENT_SECONDS = 30.0
"""Video segment length of the command line (``--segment-seconds``): at most this much work is
redone after a crash, and a two-hour film gives 240 segments to spread over a Ray cluster."""

DEFAULT_STREAMS = 2
"""OpenVINO inference streams of ``serve`` unless ``--streams`` says otherwise (at most one per
thread); chosen by measurement (docs/serving.md)."""


def _choose(kind: str, value: object, allowed: tuple[object, ...]) -> None:
    msg = f"unknown {kind} {value!r}: choose from {', '.join(map(str, allowed))}"
    raise ConfigError(msg)


def check_scale(scale: int) -> int:
    """Return ``scale`` if it is one of :data:`SCALES`, else raise :class:`ConfigError`."""
    if isinstance(scale, bool) or scale not in SCALES:
        msg = f"unknown scale {scale!r}: LESRCNN supports {', '.join(map(str, SCALES))}"
        raise ConfigError(msg)
    return int(scale)


def check_precision(precision: str) -> str:
    """Return ``precision`` if it is one of :data:`PRECISIONS`, else raise :class:`ConfigError`."""
    if precision not in PRECISIONS:
        _choose("precision", precision, PRECISIONS)
    return precision


def check_model_precision(precision: str) -> str:
    """Return ``precision`` if it is one of :data:`MODEL_PRECISIONS` (``int8``/``fp32``)."""
    if precision not in MODEL_PRECISIONS:
        _choose("precision", precision, MODEL_PRECISIONS)
    return precision


def check_compute(compute: str) -> str:
    """Return ``compute`` if it is one of :data:`COMPUTE_PRECISIONS`, else raise ConfigError."""
    if compute not in COMPUTE_PRECISIONS:
        _choose("compute precision", compute, COMPUTE_PRECISIONS)
    return compute


def split_precision(word: str) -> tuple[str, str]:
    """``--precision`` (:data:`PRECISIONS`) -> ``(file precision, compute precision)``: the one
    place ``bf16`` becomes "the fp32 file, run in bf16" (``int8`` -> ``("int8", "f32")``)."""
    if check_precision(word) == "bf16":
        return "fp32", "bf16"
    return word, "f32"


def check_runtime(runtime: str) -> str:
    """Return ``runtime`` if it is one of :data:`RUNTIMES`, else raise :class:`ConfigError`."""
    if runtime not in RUNTIMES:
        _choose("runtime", runtime, RUNTIMES)
    return runtime


def check_tile(tile: int) -> int:
    """Return ``tile`` (LR pixels, 0 = the whole image in one call), else raise ConfigError."""
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 0:
        msg = f"tile must be an integer >= 0 (0 = no tiling), got {tile!r}"
        raise ConfigError(msg)
    return tile


def default_tile(scale: int, runtime: str) -> int:
    """The default tile of ``scale`` on ``runtime`` (``ort`` or ``openvino``,
    :data:`DEFAULT_TILES`)."""
    if runtime not in DEFAULT_TILES:
        _choose("runtime", runtime, tuple(DEFAULT_TILES))
    return DEFAULT_TILES[runtime][check_scale(scale)]
