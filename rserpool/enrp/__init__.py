"""ENRP (RFC 5353) sans-I/O state machines: the registrar-to-registrar protocol."""
