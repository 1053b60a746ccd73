"""Invalid bytes raise ParseError with the RFC 5354 cause, the byte offset and a clear message."""

import struct

import pytest
from wire_samples import message, pe_tlv, pool_element, sctp, tlv

from rserpool import wire
from rserpool.wire import Cause

ASAP = wire.PPID_ASAP
ENRP = wire.PPID_ENRP
HANDLE = tlv(0x09, b"EchoPool")
PE_ID = tlv(0x0E, struct.pack("!I", 7))


def parse_error(data: bytes, ppid: int = ASAP) -> wire.ParseError:
    with pytest.raises(wire.ParseError) as info:
        wire.decode(data, ppid)
    err = info.value
    assert isinstance(err, ValueError)
    assert f"at byte {err.offset}" in str(err)
    assert 0 <= err.offset <= max(len(data), 1)
    return err


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x01\x00\x00"])
def test_shorter_than_header(data: bytes) -> None:
    err = parse_error(data)
    assert err.cause == Cause.INVALID_VALUES
    assert "shorter than its 4-byte header" in str(err)


def test_length_field_must_match() -> None:
    data = wire.Deregistration(b"EchoPool", 1).encode()
    err = parse_error(data + b"\x00\x00\x00\x00")
    assert (err.cause, err.offset) == (Cause.INVALID_VALUES, 2)
    assert "length field says 24 bytes, got 28" in str(err)


@pytest.mark.parametrize(("ppid", "mtype"), [(ASAP, 0), (ASAP, 0x0F), (ASAP, 0xFF),
                                             (ENRP, 0), (ENRP, 0x0B)])
def test_unrecognized_message_type(ppid: int, mtype: int) -> None:
    data = message(mtype, HANDLE)
    err = parse_error(data, ppid)
    assert err.cause == Cause.UNRECOGNIZED_MESSAGE
    assert err.offset == 0
    assert err.info == data
    assert err.report


def test_unknown_ppid_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="ppid must be 11"):
        wire.decode(wire.ListRequest(1, 2).encode(), 13)


UNKNOWN = 0x0077


@pytest.mark.parametrize("where", ["top", "pool element", "transport"])
@pytest.mark.parametrize("action", [0, 1, 2, 3])
def test_unknown_parameter_action_bits(action: int, where: str) -> None:
    """00 stop, 01 stop and report, 10 skip, 11 skip and report (RFC 5354 section 2)."""
    unknown = tlv(action << 14 | UNKNOWN, b"xyz")
    transport = sctp(9, bytes([10, 0, 0, 1]))
    policy = tlv(0x08, struct.pack("!I", 1))
    if where == "transport":
        transport = tlv(0x04, struct.pack("!HH", 9, 0) + tlv(1, bytes([10, 0, 0, 1])) + unknown)
    pe = pe_tlv(5, transport, unknown, policy) if where == "pool element" else \
        pe_tlv(5, transport, policy)
    body = HANDLE + pe + (unknown if where == "top" else b"")
    data = message(0x01, body)
    offset = data.index(unknown)
    raw = unknown[:7]
    if action in (0, 1):
        err = parse_error(data)
        assert err.cause == Cause.UNRECOGNIZED_PARAMETER
        assert err.offset == offset
        assert err.info == raw
        assert err.report is (action == 1)
        assert f"0x{action << 14 | UNKNOWN:04x}" in str(err)
    else:
        msg = wire.decode(data, ASAP)
        assert isinstance(msg, wire.Registration)
        assert msg.unrecognized == ((raw,) if action == 3 else ())
        assert msg.pool_element.user_transport.packed_addresses == (bytes([10, 0, 0, 1]),)
        assert wire.decode(msg.encode(), ASAP) == msg


def test_handle_resolution_option_is_known_despite_its_skip_bits() -> None:
    msg = wire.decode(message(0x05, HANDLE + tlv(0x803F, struct.pack("!I", 4))), ASAP)
    assert msg == wire.HandleResolution(b"EchoPool", items=4)
    assert msg.unrecognized == ()


def test_missing_required_parameter() -> None:
    err = parse_error(message(0x01, HANDLE))
    assert err.cause == Cause.INVALID_VALUES
    assert "Registration lacks its Pool Element parameter" in str(err)
    err = parse_error(message(0x08, PE_ID))
    assert "lacks its Pool Handle" in str(err)


def test_unexpected_and_duplicate_parameters() -> None:
    err = parse_error(message(0x0B, HANDLE))
    assert "Pool Handle parameter is not allowed in Cookie" in str(err)
    assert err.offset == 4
    err = parse_error(message(0x02, HANDLE + PE_ID + PE_ID))
    assert "duplicate PE Identifier" in str(err)
    assert err.offset == 4 + len(HANDLE) + len(PE_ID)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (struct.pack("!HH", 0x09, 3), "length 3 is below 4"),
        (struct.pack("!HH", 0x09, 40) + b"abcd", "runs past its enclosing"),
        (b"\x00\x09", "truncated parameter header"),
        (tlv(0x09, b"EchoPool") + tlv(0x0E, b"\x00\x01"), "PE Identifier parameter has 2"),
    ],
)
def test_malformed_tlvs(body: bytes, text: str) -> None:
    err = parse_error(message(0x02, body))
    assert err.cause == Cause.INVALID_VALUES
    assert text in str(err)


def test_bad_address_length() -> None:
    transport = tlv(0x04, struct.pack("!HH", 1, 0) + tlv(0x01, bytes(5)))
    err = parse_error(message(0x01, HANDLE + pe_tlv(1, transport, tlv(8, b"\0\0\0\1"))))
    assert "IPv4 Address parameter has 5 value bytes, expected 4" in str(err)


def test_unsupported_policy_type() -> None:
    pe = pe_tlv(1, sctp(1, bytes(4)), tlv(0x08, struct.pack("!I", 0x12345678)))
    err = parse_error(message(0x01, HANDLE + pe))
    assert err.cause == Cause.INVALID_VALUES
    assert "unsupported member selection policy type 0x12345678" in str(err)


def test_policy_fields_missing() -> None:
    pe = pe_tlv(1, sctp(1, bytes(4)), tlv(0x08, struct.pack("!I", 0xB0002002)))
    err = parse_error(message(0x01, HANDLE + pe))
    assert "needs 3 value fields, parameter has 0" in str(err)


# --- limits -------------------------------------------------------------------------------------

def test_limit_pool_handle_length() -> None:
    ok = b"h" * wire.MAX_POOL_HANDLE_LENGTH
    assert wire.decode(message(0x08, tlv(0x09, ok) + PE_ID), ASAP).pool_handle == ok
    with pytest.raises(ValueError, match=r"1\.\.32"):
        wire.EndpointKeepAliveAck(ok + b"h", 1)
    err = parse_error(message(0x08, tlv(0x09, ok + b"h") + PE_ID))
    assert "MAX_POOL_HANDLE_LENGTH" in str(err)


def test_limit_addresses_per_transport() -> None:
    addrs = [bytes([10, 0, i // 256, i % 256]) for i in range(wire.MAX_ADDRESSES_PER_TRANSPORT)]
    wire.SctpTransport(1, addrs)
    with pytest.raises(ValueError, match="MAX_ADDRESSES_PER_TRANSPORT"):
        wire.SctpTransport(1, [*addrs, bytes(4)])
    pe = pe_tlv(1, sctp(1, *addrs, bytes(4)), tlv(8, b"\0\0\0\1"))
    err = parse_error(message(0x01, HANDLE + pe))
    assert "MAX_ADDRESSES_PER_TRANSPORT" in str(err)
    assert len(wire.decode(message(0x01, HANDLE + pe_tlv(1, sctp(1, *addrs), tlv(8, b"\0\0\0\1"))),
                           ASAP).pool_element.user_transport.addresses) == 64


def test_limit_handle_resolution_items() -> None:
    n = wire.MAX_HANDLE_RESOLUTION_ITEMS
    pes = [pool_element(i) for i in range(n)]
    msg = wire.HandleResolutionResponse(b"p", pes)
    assert len(wire.decode(msg.encode(), ASAP).pool_elements) == n
    with pytest.raises(ValueError, match="MAX_HANDLE_RESOLUTION_ITEMS"):
        wire.HandleResolutionResponse(b"p", [*pes, pool_element(n)])
    err = parse_error(message(0x06, HANDLE + b"".join(pe_tlv(i) for i in range(n + 1))))
    assert "more than 128 Pool Element parameters" in str(err)


def test_limit_handle_table_elements() -> None:
    n = wire.MAX_HANDLE_TABLE_ELEMENTS
    pes = b"".join(pe_tlv(i) for i in range(n))
    ok = message(0x03, struct.pack("!II", 1, 2) + HANDLE + pes)
    msg = wire.decode(ok, ENRP)
    assert isinstance(msg, wire.HandleTableResponse)
    assert len(msg.pools[0][1]) == n
    assert msg.encode() == ok
    err = parse_error(message(0x03, struct.pack("!II", 1, 2) + HANDLE + pes + pe_tlv(n)), ENRP)
    assert "MAX_HANDLE_TABLE_ELEMENTS" in str(err)
    with pytest.raises(ValueError, match="MAX_HANDLE_TABLE_ELEMENTS"):
        wire.HandleTableResponse(1, 2, [(b"a", [pool_element(0)] * 600),
                                        (b"b", [pool_element(0)] * 600)])


def test_limit_message_size() -> None:
    v6 = [bytes(15) + bytes([i]) for i in range(wire.MAX_ADDRESSES_PER_TRANSPORT)]
    server = wire.ServerInformation(1, wire.SctpTransport(1, v6))
    servers = 65535 // len(server.encode()) + 1
    with pytest.raises(ValueError, match="MAX_MESSAGE_SIZE"):
        wire.ListResponse(1, 2, [server] * servers).encode()
    assert wire.decode(wire.ListResponse(1, 2, [server] * (servers - 1)).encode(), ENRP)
    big = message(0x0B, tlv(0x0D, bytes(65520)))
    assert len(wire.decode(big, ASAP).cookie) == 65520  # type: ignore[attr-defined]
    err = parse_error(big[:2] + b"\xff\xff" + big[4:] + bytes(70000))
    assert "length field says 65535 bytes" in str(err)


def test_limit_nesting_depth() -> None:
    """Transports hold addresses only: a transport inside a transport is refused."""
    inner = sctp(2, bytes(4))
    outer = tlv(0x04, struct.pack("!HH", 1, 0) + inner)
    err = parse_error(message(0x01, HANDLE + pe_tlv(1, outer, tlv(8, b"\0\0\0\1"))))
    assert err.cause == Cause.INVALID_VALUES
    assert "MAX_NESTING_DEPTH" in str(err)
    assert wire.MAX_NESTING_DEPTH == 3


def test_error_cause_to_send_back() -> None:
    unknown = tlv(0x4077, b"abc")
    err = parse_error(message(0x0B, tlv(0x0D, b"c") + unknown))
    cause = err.error_cause()
    assert cause == wire.ErrorCause(Cause.UNRECOGNIZED_PARAMETER, unknown[:7])
    reply = wire.AsapError(wire.OperationError([cause]))
    assert wire.decode(reply.encode(), ASAP) == reply
