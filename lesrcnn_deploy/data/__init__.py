"""Image IO, SR dataset readers and MATLAB-compatible bicubic downscaling.

All arrays in this package's API are ``(H, W, C)`` in **RGB** order (RGBA / gray where stated).
"""

from .datasets import DatasetLayout as DatasetLayout
from .datasets import SRDataset as SRDataset
from .datasets import SRPair as SRPair
from .datasets import list_images as list_images
from .datasets import open_dataset as open_dataset
from .image_io import DEFAULT_MAX_PIXELS as DEFAULT_MAX_PIXELS
from .image_io import SUPPORTED_EXTENSIONS as SUPPORTED_EXTENSIONS
from .image_io import ImageMode as ImageMode
from .image_io import LoadedImage as LoadedImage
from .image_io import decode_image as decode_image
from .image_io import encode_image as encode_image
from .image_io import image_size as image_size
from .image_io import load_image as load_image
from .image_io import read_image_size as read_image_size
from .image_io import save_image as save_image
from .image_io import to_rgb_uint8 as to_rgb_uint8
from .image_meta import ImageMeta as ImageMeta
from .matlab_resize import bicubic_downscale as bicubic_downscale
from .matlab_resize import calculate_weights_indices as calculate_weights_indices
from .matlab_resize import cubic as cubic
from .matlab_resize import imresize as imresize
from .matlab_resize import modcrop as modcrop

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SUPPORTED_EXTENSIONS",
    "DatasetLayout",
    "ImageMeta",
    "ImageMode",
    "LoadedImage",
    "SRDataset",
    "SRPair",
    "bicubic_downscale",
    "calculate_weights_indices",
    "cubic",
    "decode_image",
    "encode_image",
    "image_size",
    "imresize",
    "list_images",
    "load_image",
    "modcrop",
    "open_dataset",
    "read_image_size",
    "save_image",
    "to_rgb_uint8",
]
