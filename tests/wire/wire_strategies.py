"""Hypothesis strategies for valid rserpool.wire messages of every type."""

from hypothesis import strategies as st

from rserpool import wire
from rserpool.wire import PolicyType

U32 = st.integers(0, 0xFFFFFFFF)
U16 = st.integers(0, 0xFFFF)
HANDLES = st.binary(min_size=1, max_size=wire.MAX_POOL_HANDLE_LENGTH)
ADDRESSES = st.lists(st.ip_addresses(), min_size=1, max_size=6)

#: The value fields each policy type carries (RFC 5356, RSPLIB).
POLICY_FIELDS = {
    PolicyType.ROUND_ROBIN: (), PolicyType.RANDOM: (),
    PolicyType.WEIGHTED_ROUND_ROBIN: ("weight",), PolicyType.WEIGHTED_RANDOM: ("weight",),
    PolicyType.PRIORITY: ("priority",),
    PolicyType.LEAST_USED: ("load",), PolicyType.RANDOMIZED_LEAST_USED: ("load",),
    PolicyType.RANDOMIZED_PRIORITY_LEAST_USED: ("load",),
    PolicyType.LEAST_USED_DEGRADATION: ("load", "load_degradation"),
    PolicyType.PRIORITY_LEAST_USED: ("load", "load_degradation"),
    PolicyType.RANDOMIZED_LEAST_USED_DEGRADATION: ("load", "load_degradation"),
    PolicyType.PRIORITY_LEAST_USED_DEGRADATION: ("load", "load_degradation"),
    PolicyType.RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION: ("load", "load_degradation"),
    PolicyType.WEIGHTED_RANDOM_DPF: ("weight", "weight_dpf", "distance"),
    PolicyType.LEAST_USED_DPF: ("load", "load_dpf", "distance"),
    PolicyType.LEAST_USED_DEGRADATION_DPF: ("load", "load_degradation", "load_dpf", "distance"),
}


@st.composite
def policies(draw: st.DrawFn) -> wire.Policy:
    ptype = draw(st.sampled_from(list(PolicyType)))
    return wire.Policy(ptype, **{f: draw(U32) for f in POLICY_FIELDS[ptype]})


transports = st.one_of(
    st.builds(wire.SctpTransport, U16, ADDRESSES, st.integers(0, 1)),
    st.builds(wire.TcpTransport, U16, ADDRESSES, st.integers(0, 1)),
    st.builds(wire.UdpTransport, U16, ADDRESSES),
    st.builds(wire.UdpLiteTransport, U16, ADDRESSES),
    st.builds(wire.DccpTransport, U16, ADDRESSES, U32),
)
pool_elements = st.builds(wire.PoolElement, U32, U32, st.integers(-(2**31), 2**31 - 1),
                          transports, policies(), st.none() | transports)
PES = st.lists(pool_elements, max_size=4)
errors = st.builds(wire.OperationError, st.lists(
    st.builds(wire.ErrorCause, U16, st.binary(max_size=24)), min_size=0, max_size=4))
servers = st.builds(wire.ServerInformation, U32, transports)
BOOL = st.booleans()

asap_messages = st.one_of(
    st.builds(wire.Registration, HANDLES, pool_elements),
    st.builds(wire.Deregistration, HANDLES, U32),
    st.builds(wire.RegistrationResponse, HANDLES, U32, BOOL, st.none() | errors),
    st.builds(wire.DeregistrationResponse, HANDLES, U32, BOOL, st.none() | errors),
    st.builds(wire.HandleResolution, HANDLES, st.none() | U32),
    st.builds(wire.HandleResolutionResponse, HANDLES, PES, st.none() | policies(),
              st.none() | errors),
    st.builds(wire.EndpointKeepAlive, U32, HANDLES, st.none() | U32, BOOL),
    st.builds(wire.EndpointKeepAliveAck, HANDLES, U32),
    st.builds(wire.EndpointUnreachable, HANDLES, U32),
    st.builds(wire.ServerAnnounce, U32, st.lists(transports, max_size=3)),
    st.builds(wire.Cookie, st.binary(max_size=64)),
    st.builds(wire.CookieEcho, st.binary(max_size=64)),
    st.builds(wire.BusinessCard, HANDLES, PES),
    st.builds(wire.AsapError, errors),
)
enrp_messages = st.one_of(
    st.builds(wire.Presence, U32, U32, U16, st.none() | servers, BOOL),
    st.builds(wire.HandleTableRequest, U32, U32, BOOL),
    st.builds(wire.HandleTableResponse, U32, U32,
              st.lists(st.tuples(HANDLES, PES), max_size=3), BOOL, BOOL),
    st.builds(wire.HandleUpdate, U32, U32, U16, HANDLES, pool_elements, BOOL),
    st.builds(wire.ListRequest, U32, U32),
    st.builds(wire.ListResponse, U32, U32, st.lists(servers, max_size=3), BOOL),
    st.builds(wire.InitTakeover, U32, U32, U32),
    st.builds(wire.InitTakeoverAck, U32, U32, U32),
    st.builds(wire.TakeoverServer, U32, U32, U32),
    st.builds(wire.EnrpError, U32, U32, errors),
)
messages = st.one_of(asap_messages.map(lambda m: (wire.PPID_ASAP, m)),
                     enrp_messages.map(lambda m: (wire.PPID_ENRP, m)))
