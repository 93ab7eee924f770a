"""``python -m telnyx_async``: the same as the ``telnyx-async`` command."""

import sys

from ._cli import main

sys.exit(main())
