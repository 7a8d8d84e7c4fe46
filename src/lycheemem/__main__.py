"""``python -m lycheemem``."""

import sys

from lycheemem.cli import main

sys.exit(main())
