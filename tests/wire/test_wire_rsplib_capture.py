"""Every ASAP message RSPLIB 3.4.4 sent in the reference capture decodes and re-encodes as is."""

from collections import Counter

from wire_pcap import read_chunks, reference_capture

from rserpool import wire


def test_every_asap_message_of_the_reference_capture() -> None:
    seen: Counter[str] = Counter()
    for frame, ppid, data in read_chunks(reference_capture()):
        if ppid != wire.PPID_ASAP:
            continue
        msg = wire.decode(data, ppid)
        assert msg.encode() == data, f"frame {frame}: {msg!r}"
        assert msg.unrecognized == ()
        seen[type(msg).__name__] += 1
    assert seen == {
        "Registration": 2, "Deregistration": 2, "RegistrationResponse": 2,
        "DeregistrationResponse": 2, "HandleResolution": 2, "HandleResolutionResponse": 2,
        "EndpointKeepAlive": 6, "EndpointKeepAliveAck": 6, "Cookie": 10,
    }


def test_capture_values() -> None:
    chunks = read_chunks(reference_capture())
    msgs = [wire.decode(d, p) for _, p, d in chunks if p == wire.PPID_ASAP]
    regs = [m for m in msgs if isinstance(m, wire.Registration)]
    assert {m.pool_handle for m in regs} == {b"EchoPool", b"PingPongPool"}
    policies = {m.pool_handle: m.pool_element.member_selection_policy for m in regs}
    assert policies[b"EchoPool"] == wire.Policy(wire.PolicyType.ROUND_ROBIN)
    assert policies[b"PingPongPool"] == wire.Policy(wire.PolicyType.LEAST_USED, load=0)
    for m in regs:
        assert [str(a) for a in m.pool_element.user_transport.addresses] == \
            ["10.99.0.10", "fd00:99::10"]
    keepalives = [m for m in msgs if isinstance(m, wire.EndpointKeepAlive)]
    assert {m.server_identifier for m in keepalives} == {0x5CE1F001}
    assert not any(m.home for m in keepalives)
    resolutions = [m for m in msgs if isinstance(m, wire.HandleResolutionResponse)]
    assert all(len(m.pool_elements) == 1 for m in resolutions)
