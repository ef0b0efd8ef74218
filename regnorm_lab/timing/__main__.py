"""``python -m regnorm_lab.timing``: see :mod:`regnorm_lab.timing.cli`."""

import sys

from .cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
