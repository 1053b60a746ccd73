"""rserpool._core.sctpmsg, the kernel backend's message I/O, on a host without kernel SCTP.

A UDP socket ignores the SCTP_SNDINFO cmsg that ``send`` attaches, so the data path, the
missing-RCVINFO report and the errno mapping can be checked here; the SCTP side (RCVINFO
parsed, association/PPID/stream carried) is exercised by tests/transport/test_kernel.py in
the VM.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if not sys.platform.startswith("linux"):
    pytest.skip("rserpool._core.sctpmsg is built on Linux only", allow_module_level=True)

from rserpool._core import sctpmsg

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with receiver, sender:
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        sender.connect(receiver.getsockname())
        yield sender, receiver


def test_message_round_trip(pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    for payload in (b"registration", bytearray(b"\x00" * 1400), b"x" * 60000):
        sctpmsg.send(sender.fileno(), payload, 7, 11, stream=3)
        data, _flags, assoc, ppid, stream, rflags = sctpmsg.receive(receiver.fileno())
        assert data == bytes(payload)
        assert type(data) is bytes
        # no SCTP_RCVINFO on a UDP socket: reported as association -1
        assert (assoc, ppid, stream, rflags) == (-1, 0, 0, 0)


def test_empty_socket_would_block(pair: tuple[socket.socket, socket.socket]) -> None:
    with pytest.raises(BlockingIOError):
        sctpmsg.receive(pair[1].fileno())


def test_errors_are_oserrors_with_errno() -> None:
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fd = closed.fileno()
    closed.close()
    with pytest.raises(OSError) as raised:
        sctpmsg.send(fd, b"x", 1, 11)
    assert raised.value.errno == 9  # EBADF
    with pytest.raises(OSError) as raised:
        sctpmsg.receive(fd)
    assert raised.value.errno == 9


def test_batches_keep_order_and_report_failures(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = pair
    items: list[tuple[bytes | None, int, int, int, int]] = [
        (b"reply %d" % i, 1, 11, 0, 0) for i in range(150)]  # more than one sendmmsg call
    assert sctpmsg.send_batch(sender.fileno(), items) == (150, [])
    first = sctpmsg.receive_messages(receiver.fileno(), 100)
    rest = sctpmsg.receive_messages(receiver.fileno(), 100)  # runs dry: fewer than asked
    # no SCTP_RCVINFO on UDP: every message comes as receive()'s tuple, not as a Message
    assert all(isinstance(m, tuple) for m in first + rest)
    assert [m[0] for m in first + rest if isinstance(m, tuple)] == [item[0] for item in items]
    with pytest.raises(BlockingIOError):
        sctpmsg.receive_messages(receiver.fileno(), 100)
    unconnected = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with unconnected:  # every message fails (no destination): skipped, each reported
        taken, failed = sctpmsg.send_batch(unconnected.fileno(), items[:3])
    assert taken == 3
    assert [index for index, _code in failed] == [0, 1, 2]


def test_stubs_match_modules() -> None:
    from mypy import stubtest

    allowlist = Path(__file__).with_name("stubtest-allowlist.txt")
    assert stubtest.test_stubs(stubtest.parse_options(
        ["--mypy-config-file", str(ROOT / "pyproject.toml"), "--allowlist", str(allowlist),
         "rserpool._core.sctpmsg", "rserpool._core.messages"]
    )) == 0
