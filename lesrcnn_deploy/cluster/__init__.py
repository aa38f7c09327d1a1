"""Beyond one machine, on Ray: the folder job on Ray Data, the HTTP service on Ray Serve.

Needs the ``ray`` extra (``pip install 'lesrcnn-deploy[ray]'``); nothing here imports Ray at
package import time. Submodules: :mod:`.connect`, :mod:`.resources` (actor sizing),
:mod:`.batch`, :mod:`.serve`.
"""

from __future__ import annotations

__all__: list[str] = []
