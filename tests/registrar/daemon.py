"""Start ``rserpool-registrar`` as a separate process for tests, and talk to it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

SERVING = "serving:"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


class Daemon:
    """A registrar process; its stderr goes to ``log`` (a file, read by ``wait_for``)."""

    def __init__(self, args: Sequence[str], log: Path, prefix: Sequence[str] = ()) -> None:
        self.log = log
        self._out = open(log, "w")  # noqa: SIM115 (closed in stop())
        command = [*prefix, sys.executable, "-m", "rserpool.cli.registrar", *args]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(command, stdout=self._out, stderr=subprocess.STDOUT,
                                        env=env)

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, needle: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if needle in text:
                return text
            if self.process.poll() is not None:
                raise AssertionError(f"registrar exited {self.process.returncode}:\n{text}")
            time.sleep(0.05)
        raise AssertionError(f"no {needle!r} within {timeout} s:\n{self.text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
        return self.process.returncode


@contextlib.contextmanager
def running(args: Sequence[str], log: Path, prefix: Sequence[str] = ()) -> Iterator[Daemon]:
    daemon = Daemon(args, log, prefix)
    try:
        daemon.wait_for(SERVING)
        yield daemon
    finally:
        daemon.stop()
