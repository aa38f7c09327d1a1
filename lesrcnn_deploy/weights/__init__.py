"""The official LESRCNN checkpoints: registry (:mod:`.registry`, no PyTorch), finding and
downloading (:mod:`.download`), safe loading (:mod:`.loading`). Every load of an official
checkpoint verifies its SHA256."""

from __future__ import annotations

from .download import download as download
from .download import resolve_checkpoint as resolve_checkpoint
from .loading import checkpoint_scale as checkpoint_scale
from .loading import load_model as load_model
from .loading import read_state_dict as read_state_dict
from .registry import UPSTREAM_COMMIT as UPSTREAM_COMMIT
from .registry import LESRCNN_Blind_Weights as LESRCNN_Blind_Weights
from .registry import LESRCNN_X2_Weights as LESRCNN_X2_Weights
from .registry import LESRCNN_X3_Weights as LESRCNN_X3_Weights
from .registry import LESRCNN_X4_Weights as LESRCNN_X4_Weights
from .registry import WeightsRecord as WeightsRecord
from .registry import get_weights as get_weights
from .registry import list_weights as list_weights

__all__ = [
    "UPSTREAM_COMMIT",
    "LESRCNN_Blind_Weights",
    "LESRCNN_X2_Weights",
    "LESRCNN_X3_Weights",
    "LESRCNN_X4_Weights",
    "WeightsRecord",
    "checkpoint_scale",
    "download",
    "get_weights",
    "list_weights",
    "load_model",
    "read_state_dict",
    "resolve_checkpoint",
]
