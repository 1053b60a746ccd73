"""A plain wheel builds, also without libusrsctp, and says which transports it has."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_builds_without_usrsctp_and_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-build-isolation", "--no-deps",
         "-v", "-w", str(tmp_path), "-Csetup-args=-Dusrsctp=disabled",
         f"-Cbuild-dir={tmp_path / 'build'}"],
        capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "usrsctp transport: DISABLED" in result.stdout + result.stderr
    [wheel] = tmp_path.glob("rserpool-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        config = archive.read("rserpool/_build_config.py").decode()
    for module in ("wire", "handlespace", "timers"):
        assert any(n.startswith(f"rserpool/_core/{module}.") and n.endswith(".so")
                   for n in names), module
    assert not any(n.startswith("rserpool/_core/usrsctp.") and n.endswith(".so") for n in names)
    assert "HAVE_USRSCTP = False" in config
    assert "rserpool/_core/wire.pyi" in names and "rserpool/py.typed" in names
