"""Wireshark's ASAP/ENRP dissectors read what the codec writes: every message type, every
parameter variant (IPv4/IPv6, every transport, every policy), no malformed or expert-error
field, and the same values as the objects."""

import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from wire_pcap import read_chunks, reference_capture, write_chunks
from wire_samples import CAUSE_INFO_OBJECTS, all_messages

from rserpool import wire

LOAD_FIELDS = ("load", "load_degradation")        # tshark: percent of 0xffffffff
FRACTION_FIELDS = ("load_dpf", "weight_dpf")      # tshark: fraction of 0xffffffff
TSHARK_POLICY_FIELD = {
    "weight": "weight", "priority": "priority", "load": "load",
    "load_degradation": "degradation", "load_dpf": "load_dpf", "weight_dpf": "weight_dpf",
    "distance": "distance",
}
#: Policy types tshark 4.0 dissects field by field (others: raw "policy_value" bytes).
TSHARK_KNOWN_POLICIES = {1, 2, 3, 4, 5, 0x40000001, 0x40000002, 0x40000003, 0x40000004,
                         0xB0002001, 0xB0002002}
PORT_FIELD = {wire.SctpTransport: "sctp_transport_port", wire.TcpTransport: "tcp_transport_port",
              wire.UdpTransport: "udp_transport_port",
              wire.UdpLiteTransport: "udp_lite_transport_port",
              wire.DccpTransport: "dccp_transport_port"}


class Expect:
    """The field values tshark must show for one message, in wire order."""

    def __init__(self, proto: str) -> None:
        self.proto = proto
        self.fields: dict[str, list[object]] = defaultdict(list)

    def add(self, name: str, value: object) -> None:
        self.fields[f"{self.proto}.{name}"].append(value)

    def transport(self, t: wire.Transport) -> None:
        self.add(PORT_FIELD[type(t)], t.port)
        if isinstance(t, (wire.SctpTransport, wire.TcpTransport)):
            self.add("transport_use", t.transport_use)
        if isinstance(t, wire.DccpTransport):
            self.add("dccp_transport_service_code", t.service_code)
        for a in t.addresses:
            self.add(f"ipv{a.version}_address", str(a))

    def policy(self, p: wire.Policy) -> None:
        self.add("pool_member_selection_policy_type", p.policy_type)
        carried = LAYOUT_HINT.get(p.policy_type, ())
        if p.policy_type not in TSHARK_KNOWN_POLICIES:
            raw = b"".join(getattr(p, f).to_bytes(4, "big") for f in carried)
            if raw:
                self.add("pool_member_selection_policy_value", raw.hex())
            return
        for f in carried:
            value: object = getattr(p, f)
            if f in LOAD_FIELDS:
                value = pytest.approx(100.0 * getattr(p, f) / 0xFFFFFFFF, rel=1e-9, abs=1e-12)
            elif f in FRACTION_FIELDS:
                value = pytest.approx(getattr(p, f) / 0xFFFFFFFF, rel=1e-9, abs=1e-12)
            self.add(f"pool_member_selection_policy_{TSHARK_POLICY_FIELD[f]}", value)

    def pool_element(self, pe: wire.PoolElement) -> None:
        self.add("pool_element_pe_identifier", pe.pe_identifier)
        self.add("pool_element_home_enrp_server_identifier", pe.home_enrp_server_identifier)
        self.add("pool_element_registration_life", pe.registration_life)
        self.transport(pe.user_transport)
        self.policy(pe.member_selection_policy)
        if pe.asap_transport is not None:
            self.transport(pe.asap_transport)

    def error(self, e: wire.OperationError) -> None:
        for c in e.causes:
            self.add("cause_code", c.code)
            nested = CAUSE_INFO_OBJECTS.get(c.info)
            if isinstance(nested, wire.Policy):
                self.policy(nested)
            elif isinstance(nested, wire.Transport):
                self.transport(nested)
            elif c.code == wire.Cause.UNRECOGNIZED_MESSAGE:
                self.add("message_type", c.info[0])


#: The value fields each policy type carries, in wire order (RFC 5356, RSPLIB).
LAYOUT_HINT = {
    2: ("weight",), 4: ("weight",), 5: ("priority",),
    0x40000001: ("load",), 0x40000004: ("load",),
    0x40000002: ("load", "load_degradation"), 0x40000003: ("load", "load_degradation"),
    0xB0001001: ("load",), 0xB0001002: ("load", "load_degradation"),
    0xB0001003: ("load", "load_degradation"), 0xB0001004: ("load", "load_degradation"),
    0xB0002001: ("weight", "weight_dpf", "distance"),
    0xB0002002: ("load", "load_dpf", "distance"),
    0xB0002003: ("load", "load_degradation", "load_dpf", "distance"),
}


def expected(msg: wire.Message) -> dict[str, list[object]]:
    proto = "asap" if msg.ppid == wire.PPID_ASAP else "enrp"
    e = Expect(proto)
    e.add("message_type", msg.type)
    if isinstance(msg, wire.EndpointKeepAlive | wire.ServerAnnounce):
        e.add("server_identifier", msg.server_identifier)
    if proto == "enrp":
        e.add("sender_servers_id", msg.sender_server_id)  # type: ignore[attr-defined]
        e.add("receiver_servers_id", msg.receiver_server_id)  # type: ignore[attr-defined]
    if isinstance(msg, wire.InitTakeover | wire.InitTakeoverAck | wire.TakeoverServer):
        e.add("target_servers_id", msg.target_server_id)
    if isinstance(msg, wire.HandleUpdate):
        e.add("update_action", msg.update_action)
    handle = getattr(msg, "pool_handle", None)
    if handle is not None:
        e.add("pool_handle_pool_handle", handle.hex())
    if isinstance(msg, wire.Presence):
        e.add("pe_checksum", msg.pe_checksum)
        if msg.server_information is not None:
            e.add("server_information_server_identifier",
                  msg.server_information.server_identifier)
            e.transport(msg.server_information.transport)
    if isinstance(msg, wire.HandleResolutionResponse) and msg.policy is not None:
        e.policy(msg.policy)
    if isinstance(msg, wire.Registration | wire.HandleUpdate):
        e.pool_element(msg.pool_element)
    for pe in getattr(msg, "pool_elements", ()):
        e.pool_element(pe)
    if isinstance(msg, wire.HandleTableResponse):
        for h, pes in msg.pools:
            e.add("pool_handle_pool_handle", h.hex())
            for pe in pes:
                e.pool_element(pe)
    pe_id = getattr(msg, "pe_identifier", None)
    if pe_id is not None:
        e.add("pe_identifier", pe_id)
    if isinstance(msg, wire.HandleResolution) and msg.items is not None:
        e.add("hropt_items", msg.items)
    if isinstance(msg, wire.ServerAnnounce):
        for t in msg.transports:
            e.transport(t)
    if isinstance(msg, wire.ListResponse):
        for s in msg.servers:
            e.add("server_information_server_identifier", s.server_identifier)
            e.transport(s.transport)
    if isinstance(msg, wire.Cookie | wire.CookieEcho):
        e.add("cookie", msg.cookie.hex())
    error = getattr(msg, "error", None)
    if error is not None:
        e.error(error)
    return e.fields


#: Flag bits tshark shows, per message class.
FLAG_FIELDS = {
    wire.RegistrationResponse: {"asap.r_bit": "reject"},
    wire.EndpointKeepAlive: {"asap.h_bit": "home"},
    wire.Presence: {"enrp.r_bit": "reply_required"},
    wire.HandleTableRequest: {"enrp.w_bit": "own_children_only"},
    wire.HandleTableResponse: {"enrp.r_bit": "reject", "enrp.m_bit": "more_to_send"},
    wire.HandleUpdate: {"enrp.t_bit": "takeover_suggestion"},
    wire.ListResponse: {"enrp.r_bit": "reject"},
}


def normalize(field: str, text: str) -> object:
    """tshark's text for one field occurrence -> int, float or str."""
    if field.endswith(("ipv4_address", "ipv6_address")):
        return text
    if field.endswith(("pool_handle_pool_handle", "cookie", "_value")):
        return text.replace(":", "")
    if field.endswith(("_load", "_degradation", "_dpf")):
        return float(text)
    if text in ("True", "False"):
        return int(text == "True")
    return int(text, 0)


def tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not installed (scripts/setup.sh installs it)")
    return path


def tshark_rows(path: Path, names: list[str]) -> dict[int, dict[str, list]]:
    """Frame number -> {field: values in order} for the given tshark fields."""
    cmd = [tshark(), "-r", str(path), "-o", "sctp.checksum:CRC-32C", "-T", "fields",
           "-E", "occurrence=a", "-E", "aggregator=|", "-e", "frame.number"]
    for n in names:
        cmd += ["-e", n]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        frame, *cols = line.split("\t")
        rows[int(frame)] = {n: [normalize(n, v) for v in c.split("|")] if c else []
                            for n, c in zip(names, cols, strict=True)}
    return rows


def field_names(msgs: list[wire.Message]) -> list[str]:
    return sorted({f for m in msgs for f in expected(m)}
                  | {f for flags in FLAG_FIELDS.values() for f in flags}
                  | {"asap.message_flags", "enrp.message_flags", "sctp.data_payload_proto_id",
                     "asap.parameter_value", "enrp.parameter_value"})


@pytest.fixture(scope="module")
def tshark_fields(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, list[dict]]:
    samples = all_messages()
    path = tmp_path_factory.mktemp("tshark") / "all.pcap"
    write_chunks(path, [(ppid, m.encode()) for ppid, m in samples])
    rows = tshark_rows(path, field_names([m for _, m in samples]))
    bad = subprocess.run(
        [tshark(), "-r", str(path), "-o", "sctp.checksum:CRC-32C", "-Y",
         "_ws.malformed || _ws.expert.severity >= warning || sctp.checksum.status != 1"],
        capture_output=True, text=True, check=True).stdout
    assert bad.strip() == "", f"tshark reports problems:\n{bad}"
    return samples, [rows[i + 1] for i in range(len(samples))]


def test_tshark_sees_every_message(tshark_fields: tuple[list, list[dict]]) -> None:
    samples, rows = tshark_fields
    assert len(rows) == len(samples)


@pytest.mark.parametrize("index", range(len(all_messages())))
def test_tshark_values(tshark_fields: tuple[list, list[dict]], index: int) -> None:
    samples, rows = tshark_fields
    ppid, msg = samples[index]
    row = rows[index]
    assert row["sctp.data_payload_proto_id"] == [ppid]
    proto = "asap" if ppid == wire.PPID_ASAP else "enrp"
    assert row[f"{proto}.message_flags"][0] == msg.flags
    want = expected(msg)
    for field, values in want.items():
        assert row[field] == values, f"{type(msg).__name__}: {field}"
    for field, got in row.items():
        unchecked = field in want or field.endswith(("message_flags", "parameter_value")) \
            or field in FLAG_FIELDS.get(type(msg), {})
        # parameter_value: unknown parameters quoted in cause info (checked via cause codes)
        if field.startswith(proto + ".") and got and not unchecked:
            pytest.fail(f"{type(msg).__name__}: tshark shows unexpected {field}={got}")
    for field, attr in FLAG_FIELDS.get(type(msg), {}).items():
        assert row[field] == [int(getattr(msg, attr))], f"{type(msg).__name__}: {field}"



def test_decoded_rsplib_capture_matches_tshark() -> None:
    """What the codec reads from RSPLIB's traffic is what Wireshark reads."""
    path = reference_capture()
    decoded = [(frame, wire.decode(data, ppid)) for frame, ppid, data in read_chunks(path)
               if ppid == wire.PPID_ASAP]
    rows = tshark_rows(path, field_names([m for _, m in decoded]))
    assert len(decoded) == 34
    for frame, msg in decoded:
        row = rows[frame]
        assert row["asap.message_flags"] == [msg.flags]
        for field, values in expected(msg).items():
            assert row[field] == values, f"frame {frame} {type(msg).__name__}: {field}"
