"""Keeping replies that list PEs under the 64 KiB an ASAP/ENRP message can hold.

A PE parameter is at most 72 bytes plus 20 per transport address (an IPv6 address TLV), so
a bound needs no encoding. Replies are cut to fit ``MESSAGE_BUDGET``, which leaves room for
the message header, the pool handles and the other parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MESSAGE_BUDGET = 60_000
ALWAYS_FITTING = MESSAGE_BUDGET // (72 + 20 * 2 * 64)  # this many PEs fit, whatever they hold


def pe_size_bound(pe: Any) -> int:
    """An upper bound of the encoded size of a Pool Element parameter."""
    asap = pe.asap_transport
    addresses = len(pe.user_transport.packed_addresses) + (
        len(asap.packed_addresses) if asap is not None else 0)
    return 72 + 20 * addresses


def fitting(pes: Sequence[Any], budget: int = MESSAGE_BUDGET) -> int:
    """How many of ``pes``, from the first, fit in one message."""
    if len(pes) <= ALWAYS_FITTING:
        return len(pes)
    used = 0
    for count, pe in enumerate(pes):
        used += pe_size_bound(pe)
        if used > budget:
            return count
    return len(pes)
