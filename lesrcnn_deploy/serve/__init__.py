"""HTTP upscaling service: ``lesrcnn-deploy serve`` (Starlette + uvicorn), optionally on Ray Serve.

Needs the ``serve`` extra (``pip install 'lesrcnn-deploy[serve]'``). Import the submodules
(:mod:`.app`, :mod:`.engine`, :mod:`.config`) directly; this package imports nothing heavy.
"""

from __future__ import annotations

__all__: list[str] = []
