"""``python -m gankit`` runs the command-line interface (this is what torchrun launches)."""

import sys

from gankit.cli import main

sys.exit(main())
