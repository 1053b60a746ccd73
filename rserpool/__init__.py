"""rserpool: Reliable Server Pooling (RFC 5351-5356) with SCTP endpoint mobility."""

from rserpool._build_config import HAVE_USRSCTP

__version__ = "0.1.0"
__all__ = ["HAVE_USRSCTP", "__version__"]
