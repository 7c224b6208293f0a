"""`python -m aurum`: see `aurum.tools.cli`."""

import sys

from aurum.tools.cli import main

sys.exit(main())
