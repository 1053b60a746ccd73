"""The README's Python example runs as written against the README's daemon command."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from registrar.daemon import running

from rserpool import HAVE_USRSCTP

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.usrsctp
@pytest.mark.skipif(not HAVE_USRSCTP, reason="built without libusrsctp-dev")
def test_readme_python_example(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("0.0.0.0", 9899))
        except OSError:
            pytest.skip("UDP port 9899, which the README's example uses, is busy here")
    [example] = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    script = tmp_path / "example.py"
    script.write_text(example)
    args = ["--asap", "127.0.0.1:3863", "--enrp", "127.0.0.1:9901", "--announce-interface",
            "off", "--mentor-discovery-timeout", "0.2"]
    with running(args, tmp_path / "registrar.log"):
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "b'hello'\n"
