"""``python -m anchormix``: the command line, as the ``anchormix`` script runs it."""

import sys

from anchormix.cli import main

sys.exit(main())
