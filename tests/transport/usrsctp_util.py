"""Shared helpers for the usrsctp tests: skip reasons, event filters, peer processes."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rserpool import _build_config
from rserpool.transport import AssociationChange, Endpoint, Event, Message

PEER = Path(__file__).with_name("usrsctp_peer.py")


def require_usrsctp() -> None:
    if not _build_config.HAVE_USRSCTP:
        pytest.skip("rserpool was built without libusrsctp (install libusrsctp-dev, rebuild)")


async def next_message(endpoint: Endpoint, seen: list[Event] | None = None) -> Message:
    """The next user message; other events go to ``seen``."""
    while True:
        event = await endpoint.receive()
        if isinstance(event, Message):
            return event
        if seen is not None:
            seen.append(event)


async def next_assoc_change(endpoint: Endpoint) -> AssociationChange:
    while True:
        event = await endpoint.receive()
        if isinstance(event, AssociationChange):
            return event


class Peer:
    """A usrsctp endpoint in its own process (its own usrsctp stack), driven over a pipe by
    ``usrsctp_peer.py``; inside network namespace ``ns`` if given; on UDP encapsulation port
    ``udp_port`` if given (else a free one)."""

    def __init__(self, ns: str | None = None, udp_port: int | None = None) -> None:
        env = dict(os.environ)
        env.pop("RSERPOOL_USRSCTP_UDP_PORT", None)
        if udp_port is not None:
            env["RSERPOOL_USRSCTP_UDP_PORT"] = str(udp_port)
        command = [sys.executable, str(PEER)]
        if ns is not None:
            command = ["ip", "netns", "exec", ns, *command]
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            env=env,
        )

    def __call__(self, op: str, **args: Any) -> Any:
        answer = self.ask(op, **args)
        assert "error" not in answer, f"{op}: {answer['error']}"
        return answer["ok"]

    def ask(self, op: str, **args: Any) -> dict[str, Any]:
        """The raw answer: {"ok": result} or {"error": text, "errno": n}."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        line = self.proc.stdout.readline()
        assert line, f"peer process died during {op}"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(AssertionError):
                self("close")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
