"""Details of the ``Notify`` actions that the PE and PU cores emit.

======================== ============================== =====================================
event                    detail                         meaning
======================== ============================== =====================================
``registrar-up``         assoc (int)                    a registrar association is usable
``registrar-down``       assoc (int)                    it was lost or abandoned; hunting
``registered``           PE identifier (int)            accepted after being unregistered
``registration-rejected`` :class:`Rejected`             the registrar refused the PE
``home-registrar``       server identifier (int)        a keep-alive with H flag moved the PE
``deregistered``         PE identifier (int)            Deregistration Response arrived
``closed``               None                           the core has finished closing
``cookie-echo``          :class:`Received`              a PU restores its session (PE side)
``business-card``        :class:`Received`              a peer sent its Business Card
``asap-error``           :class:`Received`              a peer sent an ASAP Error
``resolved``             :class:`Resolved`              handle resolution (cache or registrar)
``resolution-failed``    :class:`ResolutionFailed`      rejected, or no registrar answered
``session-up``           :class:`SessionUp`             a session reached a PE
``session-failover``     :class:`SessionFailover`       its PE failed; finding another
``session-failed``       :class:`SessionFailed`         no PE could be reached; given up
======================== ============================== =====================================
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Rejected(NamedTuple):
    pool_handle: bytes
    pe_identifier: int
    cause: int  # RFC 5354 cause code (wire.Cause)


class Received(NamedTuple):
    assoc: int
    message: Any  # the wire message (CookieEcho, BusinessCard, AsapError)


class Resolved(NamedTuple):
    pool_handle: bytes
    pool_elements: tuple[Any, ...]  # wire.PoolElement, in the registrar's selection order


class ResolutionFailed(NamedTuple):
    pool_handle: bytes
    cause: int | None  # the registrar's cause code, or None when no registrar answered


class SessionUp(NamedTuple):
    session: int
    assoc: int
    pe_identifier: int
    failover: bool  # True when this replaces a failed PE (a Cookie Echo went first, if any)


class SessionFailover(NamedTuple):
    session: int
    pe_identifier: int  # the PE that failed


class SessionFailed(NamedTuple):
    session: int
    reason: str
