"""``python -m cnnviz.cli``: the ``cnnviz`` command (how a supervised command runs its child)."""
import sys

from .main import main

sys.exit(main())
