"""SCTP endpoint mobility with RSerPool: follow the host's addresses (Add-IP, make-before-
break) and re-register the pool element's new addresses with its registrar."""

from rserpool.mobility.handover import Mobility, MobilityEvent

__all__ = ["Mobility", "MobilityEvent"]
