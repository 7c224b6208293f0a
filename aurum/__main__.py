"""`python -m aurum`: see `aurum.tools.cli`."""

import sys

from aurum.tools.cli import main

if __name__ == "__main__":  # not when a worker process (spawn) imports it
    sys.exit(main())
