"""``python -m lesrcnn_deploy`` = the ``lesrcnn-deploy`` command."""

import sys

from .cli import main

sys.exit(main())
