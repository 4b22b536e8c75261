"""``python -m ltxbench.sweep SWEEP.yaml [options]``: the same as ``ltxbench sweep``."""

import sys

from ltxbench.sweep.command import main

if __name__ == "__main__":
    sys.exit(main())
