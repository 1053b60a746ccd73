"""Any byte string decodes to a message or raises ParseError: never another exception."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_samples import all_messages, message, tlv

from rserpool import wire

SAMPLES = [(ppid, m.encode()) for ppid, m in all_messages()]


def decode_or_parse_error(data: bytes, ppid: int) -> None:
    try:
        msg = wire.decode(data, ppid)
    except wire.ParseError as err:
        assert isinstance(err.cause, int) and 0 <= err.offset <= len(data)
        assert str(err)
        return
    again = msg.encode()
    assert wire.decode(again, ppid) == msg
    assert wire.decode(again, ppid).encode() == again


@given(st.binary(max_size=300), st.sampled_from([wire.PPID_ASAP, wire.PPID_ENRP]))
def test_arbitrary_bytes(data: bytes, ppid: int) -> None:
    decode_or_parse_error(data, ppid)


@given(st.integers(1, 14), st.integers(0, 255),
       st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=6),
       st.sampled_from([wire.PPID_ASAP, wire.PPID_ENRP]))
def test_arbitrary_tlvs(mtype: int, flags: int, params: list[tuple[int, bytes]],
                        ppid: int) -> None:
    body = b"".join(tlv(t, v) for t, v in params)
    decode_or_parse_error(message(mtype, body, flags), ppid)


#: Fixed fields before nested parameters: 4 (transports, server information), 8 (DCCP),
#: 12 (pool element), or anything.
FIXED = st.sampled_from([0, 4, 8, 12]).flatmap(lambda n: st.binary(min_size=n, max_size=n)) \
    | st.binary(max_size=13)
#: Parameter types worth generating: every known one, with every action-bit prefix, and unknowns.
TYPES = [a | t for t in (*range(0x01, 0x10), 0x3F, 0x77) for a in (0, 0x4000, 0x8000, 0xC000)]


@st.composite
def nested_tlv(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A TLV whose value is random, or fixed fields followed by nested TLVs (like a PE)."""
    ptype = draw(st.sampled_from(TYPES))
    if depth < 4 and draw(st.booleans()):
        fixed = draw(FIXED)
        inner = b"".join(draw(st.lists(nested_tlv(depth + 1), max_size=3)))
        return tlv(ptype, fixed + inner)
    return tlv(ptype, draw(st.binary(max_size=24)))


@settings(max_examples=300)
@given(st.integers(0, 16), st.integers(0, 3), FIXED,
       st.lists(nested_tlv(), max_size=4), st.sampled_from([wire.PPID_ASAP, wire.PPID_ENRP]))
def test_nested_tlvs(mtype: int, flags: int, fixed: bytes, params: list[bytes],
                     ppid: int) -> None:
    decode_or_parse_error(message(mtype, fixed + b"".join(params), flags), ppid)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, int]:
    ppid, data = draw(st.sampled_from(SAMPLES))
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        if not buf:
            break
        i = draw(st.integers(0, len(buf) - 1))
        if kind == "flip":
            buf[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            buf[i] = draw(st.sampled_from([0, 1, 3, 4, 0x3F, 0x40, 0x80, 0xC0, 0xFF]))
        elif kind == "truncate":
            del buf[i:]
        elif kind == "insert":
            buf[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            del buf[i:i + draw(st.integers(1, 8))]
    if draw(st.booleans()) and len(buf) >= 4:
        buf[2:4] = len(buf).to_bytes(2, "big")   # keep the header consistent half the time
    return bytes(buf), ppid


@settings(max_examples=500)
@given(mutated())
def test_mutations_of_valid_messages(case: tuple[bytes, int]) -> None:
    decode_or_parse_error(*case)


@pytest.mark.parametrize(("ppid", "data"), SAMPLES)
def test_every_truncation(ppid: int, data: bytes) -> None:
    for n in range(len(data)):
        cut = bytearray(data[:n])
        if n >= 4:
            cut[2:4] = n.to_bytes(2, "big")
        decode_or_parse_error(bytes(cut), ppid)
