"""ASAP (RFC 5352) sans-I/O protocol cores: registrar side, pool element, pool user."""
