"""The test tree itself: pytest imports test files by their base name (the
folders have no __init__.py), so two files of one name make a clean run fail
to collect (it did in CI: tests/cli/test_bounds.py and tests/inside/test_bounds.py)."""
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parent


def test_every_test_file_name_is_unique():
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py")
    assert not [name for name, n in names.items() if n > 1]

