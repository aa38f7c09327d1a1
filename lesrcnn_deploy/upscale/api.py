"""The Python API: ``Upscaler(scale=2, precision="int8").upscale(image) -> image``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import cv2
import numpy as np
import numpy.typing as npt

from ..core.errors import ImageError
from ..core.vocab import DEFAULT_SCALE, DEFAULT_TILES, default_tile
from ..models import InferenceSettings, ModelFile
from ..runtime.base import Runner
from .tiling import receptive_field, tiled_forward

__all__ = ["DEFAULT_TILES", "Upscaler"]

# DEFAULT_TILES (core.vocab): x4's 128 + 2 * 12 = 152 pixel window costs ONNX Runtime about
# 0.45 GB at fp32; with the float32 and uint8 output buffers, x4 on a 1920x1080 image peaks at
# about 1.3 GB RSS (measured by ``tests/test_upscale_memory.py``). 256 at x4 would cost about
# 1.1 GB for the window alone; x2 and x3 take the tile whose output-side window is as large as x4's.

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

ImageArray = npt.NDArray[np.unsignedinteger[Any]]


class Upscaler:
    """Upscale uint8 / uint16 gray, RGB or RGBA images with LESRCNN, tiled, on the default runtime.

    The network sees RGB float32 in [0, 1]. How each kind of image is handled:

    * **RGB**: through the network; the output is clipped to [0, 1] and rounded to the input dtype.
    * **Gray** (``(H, W)`` or ``(H, W, 1)``): replicated to three equal RGB channels, upscaled, and
      turned back into one channel as the mean of the three outputs (they differ only slightly:
      LESRCNN is a colour network); the output keeps the input's shape kind.
    * **Alpha** (``(H, W, 4)``, straight / not premultiplied): the colour channels go through the
      network, the alpha channel is upscaled separately with OpenCV bicubic (``INTER_CUBIC``,
      saturated to the dtype's range) and appended again.
    * **16 bit** (uint16, chosen by dtype, never guessed from values): divided by 65535 and run at
      float32, so no 8-bit rounding happens on the way in or out, and the result is written back
      as uint16. Precision loss: the network was trained on 8-bit images, so detail finer than one
      8-bit step is not restored, only carried through; with the **int8** model the activations
      are quantized to 8 bits inside the network, so the output's effective precision is about
      8 bits (expect errors of a few 8-bit steps, i.e. a few hundred 16-bit units), while the
      fp32 model keeps float32 precision throughout.

    Tiling (see :mod:`~lesrcnn_deploy.upscale.tiling`) keeps the working memory bounded for any
    image size; with the default overlap (the receptive field) tiled fp32 output equals the
    whole-image output up to float rounding.

    Args:
        scale: 2, 3 or 4; ``None`` (default): the ``model`` file's own, else
            :data:`~lesrcnn_deploy.core.vocab.DEFAULT_SCALE` (4, as the command line).
        precision: ``"int8"``, ``"fp32"`` or ``"bf16"`` (the fp32 model run in OpenVINO's
            bf16); with ``model`` it must match the model's metadata (``None``: the file's own).
        model: explicit ``.onnx`` file (or a model opened by
            :func:`~lesrcnn_deploy.models.open_model`); default: the int8 model shipped in the
            package, or the fp32 export (``lesrcnn-deploy export``; never built here, see
            :func:`~lesrcnn_deploy.models.find`).
        tile: core tile size in LR pixels (>= 1), 0 for the whole image in one call, or None
            (default) for the default of the scale and the runtime that runs (:data:`DEFAULT_TILES`:
            256 at x2, 176 at x3, 128 at x4 on ONNX Runtime; twice that on OpenVINO).
        tile_overlap: context pixels around each tile; ``None`` means the receptive field
            (:func:`~lesrcnn_deploy.upscale.tiling.receptive_field`), which makes tiling exact.
        threads: intra-op threads (``None`` = the runtime's default).
        runtime: ``"ort"`` (ONNX Runtime), ``"openvino"`` or ``"auto"`` (the faster installed
            runtime for this model and machine, measured once and cached); ``None`` (default):
            ``auto`` when OpenVINO is installed, else ``ort`` (see
            :mod:`~lesrcnn_deploy.runtime.choice`). ``runtime_choice.note`` says which runs, why.
        streams: OpenVINO only: inference streams, i.e. tiles or callers run at once, the
            threads split between them (the server's throughput mode); ``None``: one stream.

    ``precision="bf16"`` runs the fp32 model with OpenVINO's bf16 inference. The same settings
    as one value: :meth:`from_settings` (:class:`~lesrcnn_deploy.models.InferenceSettings`).

    Raises:
        ConfigError: bad scale, precision, tile, overlap or threads.
        ModelError: the model is missing, unreadable or of another scale or precision.
    """

    def __init__(
        self,
        scale: int | None = None,
        precision: str | None = "int8",
        *,
        model: str | os.PathLike[str] | ModelFile | None = None,
        tile: int | None = None,
        tile_overlap: int | None = None,
        threads: int | None = None,
        runtime: str | None = None,
        streams: int | None = None,
    ) -> None:
        if scale is None and model is None:
            scale = DEFAULT_SCALE
        settings = InferenceSettings.from_precision(
            precision,
            scale=scale,
            model=model,
            tile=tile,
            tile_overlap=tile_overlap,
            threads=threads,
            runtime=runtime,
            streams=streams,
        )
        self._open(settings)

    @classmethod
    def from_settings(cls, settings: InferenceSettings) -> Upscaler:
        """The upscaler of ``settings`` (how the CLI, the service, Ray and video open one)."""
        up = cls.__new__(cls)
        up._open(settings)
        return up

    def _open(self, settings: InferenceSettings) -> None:
        from ..runtime.choice import resolve_runtime
        from ..runtime.dispatch import open_runner

        self.model: ModelFile = settings.open_model()
        self.settings = settings.replace(scale=self.model.scale, precision=self.model.precision)
        self.scale = self.model.scale
        self.precision = self.settings.precision_word or self.model.precision
        self.model_path: Path = self.model.path
        self.tile_overlap: int = (
            receptive_field(self.scale) if settings.tile_overlap is None else settings.tile_overlap
        )
        self.runtime_choice = resolve_runtime(
            self.model, settings.runtime, compute=settings.compute, threads=settings.threads
        )
        self.runner: Runner = open_runner(
            self.model,
            threads=settings.threads,
            choice=self.runtime_choice,
            streams=settings.streams,
        )
        self.tile: int = (
            default_tile(self.scale, self.runtime_choice.runtime)
            if settings.tile is None
            else settings.tile
        )

    def __repr__(self) -> str:
        return (
            f"Upscaler(scale={self.scale}, precision={self.precision!r}, "
            f"model={str(self.model_path)!r}, tile={self.tile}, tile_overlap={self.tile_overlap}, "
            f"runtime={self.runtime_choice.runtime!r})"
        )

    @overload
    def upscale(self, img: ImageArray) -> ImageArray: ...

    @overload
    def upscale(self, img: PILImage) -> PILImage: ...

    @overload
    def upscale(self, img: str | os.PathLike[str]) -> ImageArray: ...

    def upscale(self, img: ImageArray | PILImage | str | os.PathLike[str]) -> ImageArray | PILImage:
        """Upscale one image by ``scale``.

        Args:
            img: a numpy array: ``(H, W)`` or ``(H, W, 1)`` gray, ``(H, W, 3)`` **RGB** or
                ``(H, W, 4)`` **RGBA** (straight alpha, last), dtype uint8 ([0, 255]) or uint16
                ([0, 65535]); or a PIL image (modes ``L``, ``RGB``, ``RGBA``, ``I;16``; others,
                such as ``P`` or ``CMYK``, are converted to RGB or RGBA first); or the path of an
                image file, read as the command line reads it (EXIF orientation applied).

        Returns:
            For an array or a path: a new array of the same dtype and shape kind,
            ``(H*s, W*s[, C])``. For a PIL image: a PIL image of the same mode (``P`` and other
            converted modes come back as ``RGB``/``RGBA``).

        Raises:
            ImageError: not an image, wrong dtype, shape or an empty image; a path that cannot
                be read (the message names the file).
        """
        if isinstance(img, str | os.PathLike):
            from ..data import load_image

            return self._upscale_array(load_image(img).pixels)
        pil = _pil_module()
        if pil is not None and isinstance(img, pil.Image):
            pixels, mode = _from_pil(img)
            return pil.fromarray(self._upscale_array(pixels), mode=mode)
        return self._upscale_array(img)  # type: ignore[arg-type]

    def upscale_file(
        self,
        src: str | os.PathLike[str],
        dst: str | os.PathLike[str],
        *,
        outscale: float | None = None,
        fit: str | tuple[int, int] | None = None,
        strip_metadata: bool = False,
        quality: int | None = None,
        lossless: bool | None = None,
    ) -> Path:
        """Upscale the image file ``src`` into ``dst`` as the command line does: ICC profile,
        EXIF (orientation reset to 1) and XMP kept unless ``strip_metadata``, 16-bit and alpha
        kept, an animated GIF/WebP/PNG upscaled frame by frame, the file written atomically
        (replaced if it exists). ``dst``'s extension picks the format.

        Args:
            src: the input image.
            dst: the output file.
            outscale: final size = input x this factor (see ``--outscale``).
            fit: final size = the largest inside ``"WxH"`` (see ``--fit``).
            strip_metadata: drop EXIF and XMP (the ICC profile is kept).
            quality: JPEG/WebP/AVIF/JPEG XL quality 1-100.
            lossless: lossless WebP.

        Returns:
            ``dst`` as a :class:`~pathlib.Path`.

        Raises:
            ImageError: ``src`` cannot be read or ``dst`` written (one line naming the file).
            ConfigError: options that cannot apply (``quality`` on PNG, a size beyond
                ``max_output_pixels``...).
        """
        from ..data.outsize import parse_fit
        from .batch import Job, check_plan, upscale_job
        from .output import OutputOptions

        options = OutputOptions(
            outscale=outscale,
            fit=parse_fit(fit) if isinstance(fit, str) else fit,
            strip_metadata=strip_metadata,
            quality=quality,
            lossless=lossless,
        )
        job = Job(Path(src), Path(dst))
        check_plan([job], options)
        outcome = upscale_job(self, job, options=options)
        if outcome.status != "done":
            msg = f"{src}: {outcome.reason}"
            raise ImageError(msg)
        return job.output

    def _upscale_array(self, img: ImageArray) -> ImageArray:
        _check_image(img)
        dtype = img.dtype
        top = float(np.iinfo(dtype).max)
        px = img[:, :, None] if img.ndim == 2 else img
        channels = px.shape[2]
        if channels == 1:
            rgb = np.repeat(px, 3, axis=2)
        else:
            rgb = px[:, :, :3]
        x = rgb.transpose(2, 0, 1)[None].astype(np.float32)
        x /= np.float32(top)
        y = tiled_forward(self.runner, x, tile=self.tile, overlap=self.tile_overlap)[0]
        del x
        if channels == 1:
            y = y.mean(axis=0, keepdims=True, dtype=np.float32)
        np.clip(y, 0.0, 1.0, out=y)
        y *= np.float32(top)
        np.rint(y, out=y)
        out = y.transpose(1, 2, 0).astype(dtype)
        del y
        if channels == 4:
            h, w = px.shape[:2]
            alpha = cv2.resize(
                np.ascontiguousarray(px[:, :, 3]),
                (w * self.scale, h * self.scale),
                interpolation=cv2.INTER_CUBIC,
            )
            out = np.concatenate([out, alpha[:, :, None].astype(dtype)], axis=2)
        if img.ndim == 2:
            return out[:, :, 0]
        return out


def _pil_module() -> Any:
    """PIL.Image if Pillow is imported already (an image of it can only exist then), else None."""
    import sys

    return sys.modules.get("PIL.Image")


_PIL_MODES = {"L": np.uint8, "RGB": np.uint8, "RGBA": np.uint8, "I;16": np.uint16}


def _from_pil(img: PILImage) -> tuple[ImageArray, str]:
    """The pixels of a PIL image and the mode to give the result back in."""
    mode = img.mode
    if mode not in _PIL_MODES:
        has_alpha = "A" in mode or "transparency" in img.info
        mode = "RGBA" if has_alpha else "RGB"
        img = img.convert(mode)
    return np.asarray(img, dtype=_PIL_MODES[mode]), mode


def _check_image(img: object) -> None:
    if not isinstance(img, np.ndarray):
        msg = f"image must be a numpy array, a PIL image or a path, got {type(img).__name__}"
        raise ImageError(msg)
    if img.dtype not in (np.uint8, np.uint16):
        msg = f"image dtype must be uint8 or uint16, got {img.dtype}"
        raise ImageError(msg)
    ok_shape = img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3, 4))
    if not ok_shape:
        msg = f"image shape must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {img.shape}"
        raise ImageError(msg)
    if img.shape[0] < 1 or img.shape[1] < 1:
        msg = f"image is empty: shape {img.shape}"
        raise ImageError(msg)
