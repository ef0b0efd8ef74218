"""``python -m regnorm_lab.course``: the instructor CLI."""

import sys

from .cli import main

sys.exit(main())
