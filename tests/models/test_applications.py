"""Every keras.applications family through everything cnnviz does (the checks
are in application_checks.py), two families to a pytest process of their
own, so that what TensorFlow keeps of them (0.1-0.5 GB a family, 3.5 GB over
all twelve in one process) is handed back before the next two (issue 22: the
suite under 6 GB)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from application_checks import FAMILIES

pytestmark = pytest.mark.slow

CHECKS = Path(__file__).with_name("application_checks.py")
N_CHECKS = 8                          # the test functions in application_checks.py
NAMES = [f[0] for f in FAMILIES]
GROUPS = [NAMES[i:i + 2] for i in range(0, len(NAMES), 2)]


@pytest.mark.parametrize("group", GROUPS, ids="+".join)
def test_families_pass_every_check(group):
    command = [sys.executable, "-m", "pytest", str(CHECKS), "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
               "-o", "addopts=", "--rootdir", str(CHECKS.parents[2])]
    done = subprocess.run(command, env={**os.environ, "CNNVIZ_TEST_FAMILIES": ",".join(group)},
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    passed = rf"^{N_CHECKS * len(group)} passed"                  # every check ran, none skipped
    assert re.search(passed, done.stdout, re.M), done.stdout[-2000:]
