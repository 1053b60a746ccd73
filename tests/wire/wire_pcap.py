"""Read and write SCTP DATA chunks in classic pcap files (Ethernet/IPv4/SCTP), using dpkt."""

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import dpkt
import pytest

ROOT = Path(__file__).resolve().parents[2]


def read_chunks(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(frame number, PPID, user data) of every SCTP DATA chunk in the capture."""
    with path.open("rb") as f:
        for frame, (_, buf) in enumerate(dpkt.pcap.Reader(f), start=1):
            ip = dpkt.ethernet.Ethernet(buf).data
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                continue
            sctp = ip.data
            if not isinstance(sctp, dpkt.sctp.SCTP):
                continue
            for chunk in sctp.chunks:
                if chunk.type == dpkt.sctp.DATA:
                    raw = bytes(chunk.data)
                    _tsn, _sid, _ssn, ppid = struct.unpack("!IHHI", raw[:12])
                    yield frame, ppid, raw[12:chunk.len - 4]


def write_chunks(path: Path, messages: Iterable[tuple[int, bytes]]) -> None:
    """One Ethernet/IPv4/SCTP frame per (PPID, message), with a correct CRC32c."""
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        for tsn, (ppid, data) in enumerate(messages, start=1):
            payload = struct.pack("!IHHI", tsn, 0, tsn & 0xFFFF, ppid) + data
            chunk = dpkt.sctp.Chunk(struct.pack("!BBH", dpkt.sctp.DATA, 0x03, 4 + len(payload))
                                    + payload + bytes(-len(payload) % 4))
            port = 3863 if ppid == 11 else 9901
            sctp = dpkt.sctp.SCTP(sport=port, dport=port, vtag=0x11223344, data=[chunk])
            sctp.chunks = [chunk]
            ip = dpkt.ip.IP(src=bytes([10, 0, 0, 1]), dst=bytes([10, 0, 0, 2]),
                            p=dpkt.ip.IP_PROTO_SCTP, data=sctp)
            eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6,
                                         type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
            writer.writepkt(bytes(eth), ts=tsn)


def reference_capture() -> Path:
    """RSPLIB's capture in the copy of shared/ beside the clone: ../shared/data/ (CI)."""
    path = ROOT.parent / "shared" / "data" / "rsplib-basic.pcap"
    if not path.is_file():
        pytest.skip(f"reference capture {path} not found (shared/ is not beside the clone)")
    return path
