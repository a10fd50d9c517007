"""`python -m harness ...`: the qfuzz command line."""
import sys

from .cli import main

sys.exit(main())
