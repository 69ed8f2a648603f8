"""`python -m edge.ops.cli`: the `omo-ops` command."""

import sys

from edge.ops.cli import main

sys.exit(main())
