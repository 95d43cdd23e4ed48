"""``python -m cnnviz``: the ``cnnviz`` command."""
import sys

from .cli.main import main

sys.exit(main())
