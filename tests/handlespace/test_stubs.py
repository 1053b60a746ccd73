"""The hand-written .pyi stubs match the compiled handlespace and timer modules."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stubtest_handlespace_and_timers() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--concise",
         "--mypy-config-file", str(ROOT / "pyproject.toml"),
         "--allowlist", str(Path(__file__).with_name("stubtest-allowlist.txt")),
         "rserpool._core.handlespace", "rserpool._core.timers"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
