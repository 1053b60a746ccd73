"""The real registrar core behind a CoreDriver, for the client's asyncio tests."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rserpool.aio.driver import CoreDriver
from rserpool.asap.registrar import Registrar
from rserpool.asap.registrar_config import RegistrarConfig
from rserpool.transport.base import Endpoint


@asynccontextmanager
async def serving(endpoint: Endpoint, server_id: int = 0, **config: Any) -> AsyncIterator[Any]:
    """Run a standalone registrar (no peers, no multicast) on an open ASAP endpoint."""
    core = Registrar(RegistrarConfig(server_id=server_id, asap_port=endpoint.port,
                                     asap_announces=False, enrp_announces=False, **config),
                     rng=random.Random(server_id))
    driver = CoreDriver(core, endpoint)
    driver.start()
    try:
        yield core
    finally:
        await driver.aclose()


def stored(core: Any, pool_handle: bytes, pe_identifier: int) -> Any:
    """The registrar's record of a PE (a wire.PoolElement), or None."""
    return core.handlespace.get(pool_handle, pe_identifier)
