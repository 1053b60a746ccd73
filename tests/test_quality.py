"""The package builds, reports its build options, and passes ruff and mypy."""

import subprocess
import sys
from pathlib import Path

import rserpool

ROOT = Path(__file__).resolve().parent.parent


def test_build_reports_usrsctp_option() -> None:
    from rserpool import _build_config

    assert isinstance(_build_config.HAVE_USRSCTP, bool)
    assert rserpool.HAVE_USRSCTP is _build_config.HAVE_USRSCTP
    if _build_config.HAVE_USRSCTP:
        assert _build_config.USRSCTP_VERSION.count(".") >= 1


def test_ruff_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "rserpool", "tests", "benches"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
