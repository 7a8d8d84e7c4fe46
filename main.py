"""Run LycheeMem: ``python main.py [serve|reindex|version]``."""

import sys
from pathlib import Path

try:
    import lycheemem  # noqa: F401
except ImportError:  # running from a fresh clone without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from lycheemem.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
