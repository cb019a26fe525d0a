"""python -m fastnn.demo --quick runs end to end and reports accuracy and speed."""
import os
import re
import subprocess
import sys

import pytest


def test_demo_quick_runs_and_reports():
    pytest.importorskip("sklearn")
    env = dict(os.environ, PYTHONWARNINGS="error::DeprecationWarning")
    proc = subprocess.run([sys.executable, "-m", "fastnn.demo", "--quick", "--epochs", "6"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    match = re.search(r"test accuracy: (\d+\.\d+)% \((\d+)/450 held-out images\)", out)
    assert match, out[-2000:]
    assert float(match.group(1)) > 90.0
    assert re.search(r"numpy backend: +[\d,]+ samples/s", out)
    assert len(re.findall(r"^Epoch \d+/6 ", out, flags=re.M)) == 6     # not a TTY: one line per epoch


def test_demo_rejects_bad_options():
    proc = subprocess.run([sys.executable, "-m", "fastnn.demo", "--epochs", "0"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "--epochs must be >= 1" in proc.stderr
