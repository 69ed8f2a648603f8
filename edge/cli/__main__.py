"""`python -m edge.cli`: the `omo-edge` command."""

import sys

from edge.cli import main

sys.exit(main())
