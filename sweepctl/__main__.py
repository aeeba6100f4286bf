"""`python -m sweepctl` is the `sweepctl` command."""

import sys

from sweepctl.cli import main

sys.exit(main())
