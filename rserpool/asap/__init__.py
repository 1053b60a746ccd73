"""ASAP (RFC 5352) sans-I/O state machines: the registrar side, pool element and pool user."""
