"""The hand-written stub of the Cython codec matches the compiled module."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stubtest_wire() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "rserpool._core.wire",
         "--mypy-config-file", "pyproject.toml"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
