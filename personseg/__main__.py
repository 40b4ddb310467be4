"""``python -m personseg`` runs the CLI (also how torchrun and ``train --nproc`` start each rank)."""

import sys

from personseg.cli import main

if __name__ == "__main__":  # not when a spawned child re-imports the main module
    sys.exit(main())
