"""lesrcnn-deploy: LESRCNN super-resolution from the official checkpoints to int8 ONNX Runtime."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
