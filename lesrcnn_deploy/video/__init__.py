"""Upscale videos: streaming decode -> LESRCNN -> encode, with timing, rotation and audio kept.

Python API: ``upscale_video("clip.mp4", "clip_x2.mp4", upscaler=Upscaler(scale=2))`` and
``upscale_frames(upscaler, frames)``; command line: ``lesrcnn-deploy upscale clip.mp4 --scale 2``.
Needs PyAV (the ``video`` extra: ``pip install 'lesrcnn-deploy[video]'``), imported lazily.

Modules: :mod:`.probe` (container and stream inspection), :mod:`.encoder` (encoder policy),
:mod:`.streams` (output streams and metadata), :mod:`.timing` (timestamp arithmetic),
:mod:`.checks` (integrity checks), :mod:`.hdr` (HDR static metadata), :mod:`.engine` (the three
overlapping decode/upscale/encode stages), :mod:`.pipeline` (one file through them), :mod:`.api`
(the public functions), :mod:`.result`; long videos in segments, resumable: :mod:`.segments`
(cut at keyframes), :mod:`.segment_run` (one segment), :mod:`.join` (stream copy and the final
mux), :mod:`.workdir` (the work folder), :mod:`.segmented` (the whole job).
"""

from .api import FrameUpscaler as FrameUpscaler
from .api import UpscalerSet as UpscalerSet
from .api import VideoResult as VideoResult
from .api import upscale_frames as upscale_frames
from .api import upscale_video as upscale_video
from .encoder import EncoderSettings as EncoderSettings
from .probe import VIDEO_EXTENSIONS as VIDEO_EXTENSIONS
from .probe import VideoInfo as VideoInfo
from .probe import is_video as is_video
from .probe import probe_video as probe_video

__all__ = [
    "VIDEO_EXTENSIONS",
    "EncoderSettings",
    "FrameUpscaler",
    "UpscalerSet",
    "VideoInfo",
    "VideoResult",
    "is_video",
    "probe_video",
    "upscale_frames",
    "upscale_video",
]
