"""`python -m pivotlens.cli …`, the same as the `pivotlens` command."""

import sys

from pivotlens.cli import main

sys.exit(main())
