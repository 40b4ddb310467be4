"""``python -m personseg`` runs the CLI."""

import sys

from personseg.cli import main

sys.exit(main())
