"""PyTorch's intra-op thread count, set for a block of work and restored after it.

``torch.set_num_threads`` is process-wide: a library call that sets it and leaves it changed slows
down (or oversubscribes) whatever the caller runs next. Every place that needs a thread count uses
:func:`torch_threads` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["torch_threads"]


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` PyTorch intra-op threads (``None``: leave as is), then
    restore the previous count."""
    import torch

    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
