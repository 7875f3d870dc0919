import sys

from anchormix.cli import main

sys.exit(main())
