"""The registrar runtime: the sans-I/O registrar core on an ASAP and an ENRP endpoint.

It owns the sockets and the clock, nothing else: every protocol decision is the core's
(``rserpool.asap.registrar.Registrar``). ASAP Server Announces and ENRP Presences go to
their UDP multicast groups; Presences heard there go to the core.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from typing import Any

from rserpool import wire
from rserpool.actions import Announce, Connect
from rserpool.aio.announce import ASAP_ANNOUNCE_GROUP, ENRP_ANNOUNCE_GROUP, AnnounceSocket
from rserpool.aio.driver import CoreDriver
from rserpool.aio.mux import EndpointMux
from rserpool.asap.registrar import Registrar
from rserpool.asap.registrar_config import RegistrarConfig
from rserpool.transport.base import Endpoint

log = logging.getLogger(__name__)

_ASAP, _ENRP = 0, 1


class RegistrarServer:
    """A running registrar. ``async with RegistrarServer(config, asap, enrp) as server:``.

    ``asap`` and ``enrp`` are unopened endpoints; the ports they bind (0 = any) are the ones
    announced. ``announce_interface`` is the local IPv4 address whose interface carries the
    multicast groups (None: no multicast at all, static peers only).
    """

    def __init__(
        self,
        config: RegistrarConfig,
        asap: Endpoint,
        enrp: Endpoint,
        *,
        announce_interface: str | None = "127.0.0.1",
        asap_group: tuple[str, int] = ASAP_ANNOUNCE_GROUP,
        enrp_group: tuple[str, int] = ENRP_ANNOUNCE_GROUP,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._mux = EndpointMux([asap, enrp])
        self._interface = announce_interface
        self._groups = {wire.PPID_ASAP: asap_group, wire.PPID_ENRP: enrp_group}
        self._rng = rng or random.Random()
        self._announcers: dict[int, AnnounceSocket] = {}
        self.core: Registrar | None = None
        self._driver: CoreDriver | None = None
        self.ready = False

    @property
    def asap_port(self) -> int:
        return self._mux.endpoints[_ASAP].port

    @property
    def enrp_port(self) -> int:
        return self._mux.endpoints[_ENRP].port

    @property
    def server_id(self) -> int:
        assert self.core is not None, "not started"
        return self.core.server_id

    async def start(self) -> None:
        await self._mux.open()
        asap, enrp = self._mux.endpoints
        config = dataclasses.replace(
            self._config,
            asap_addresses=self._config.asap_addresses or tuple(asap.local_addresses()),
            asap_port=asap.port,
            enrp_addresses=self._config.enrp_addresses or tuple(enrp.local_addresses()),
            enrp_port=enrp.port,
            asap_announces=self._config.asap_announces and self._interface is not None,
            enrp_announces=self._config.enrp_announces and self._interface is not None,
        )
        self.core = Registrar(config, rng=self._rng)
        self._driver = CoreDriver(
            self.core, self._mux,
            on_announce=self._announce, on_notify=self._notified, connect=self._connect,
        )
        if self._interface is not None:
            if config.asap_announces:
                self._announcers[wire.PPID_ASAP] = await AnnounceSocket(
                    self._groups[wire.PPID_ASAP], self._interface).open()
            self._announcers[wire.PPID_ENRP] = await AnnounceSocket(
                self._groups[wire.PPID_ENRP], self._interface, self._heard_presence).open()
        self._driver.start()
        log.info("registrar $%08x: ASAP on %s port %d, ENRP port %d", self.core.server_id,
                 ",".join(config.asap_addresses), asap.port, enrp.port)

    async def stop(self) -> None:
        for sock in self._announcers.values():
            sock.close()
        self._announcers.clear()
        if self._driver is not None:
            await self._driver.aclose()
        await self._mux.close()

    async def __aenter__(self) -> RegistrarServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def statistics(self) -> dict[str, int]:
        """The core's counters and gauges (RSPLIB statsfile columns, snake_case)."""
        return self.core.statistics() if self.core is not None else {}

    async def _connect(self, action: Connect) -> int:
        index = _ENRP if action.key and action.key[0] == "enrp" else _ASAP
        return await self._mux.connect_from(index, action.addresses, action.port)

    def _announce(self, action: Announce) -> None:
        sock = self._announcers.get(action.ppid)
        if sock is not None:
            sock.send(action.message.encode())

    def _heard_presence(self, data: bytes, source: str) -> None:
        try:
            message = wire.decode(data, wire.PPID_ENRP)
        except wire.ParseError as exc:
            log.debug("undecodable ENRP announce from %s: %s", source, exc)
            return
        core, driver = self.core, self._driver
        if core is None or driver is None:
            return
        if getattr(message, "sender_server_id", None) == core.server_id:
            return  # our own Presence, looped back
        driver.call(lambda now: core.receive_announce(message, source, now))

    def _notified(self, action: Any) -> None:
        if action.event == "registrar-ready":
            self.ready = True
        log.info("registrar: %s %s", action.event, action.detail or "")
