"""The ENRP side of the registrar core (RFC 5353), sans-I/O.

``EnrpServer`` belongs to a ``rserpool.asap.registrar.Registrar`` (its host), which owns the
handlespace, the timers and the per-PE state; the ENRP side keeps the peer table and runs
presence and heartbeats, mentor discovery and handle table synchronisation (paged, with the
owned-only W flag), handle updates, list exchange, the checksum audit, takeover of dead
peers and the takeover suggestion. It reaches PEs only through its host.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Any

from rserpool import wire
from rserpool.actions import Action, Announce, Connect, Notify, Send
from rserpool.asap.sizes import MESSAGE_BUDGET, fitting
from rserpool.enrp.peers import LAST_HEARD, NO_RESPONSE, TAKEOVER, Peer, StaticPeer

if TYPE_CHECKING:
    from rserpool.asap.registrar import Registrar

log = logging.getLogger(__name__)


def _normal(address: str) -> str:
    """An address as peers' transport parameters spell it (so that they compare equal)."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


class EnrpServer:
    """Peer table and ENRP protocol engine of one registrar."""

    MESSAGE_TYPES: tuple[type, ...] = (
        wire.Presence, wire.HandleTableRequest, wire.HandleTableResponse, wire.HandleUpdate,
        wire.ListRequest, wire.ListResponse, wire.InitTakeover, wire.InitTakeoverAck,
        wire.TakeoverServer, wire.EnrpError,
    )

    def __init__(self, host: Registrar) -> None:
        self.host = host
        self.config = host.config
        self.server_id = host.server_id
        self.peers: dict[int, Peer] = {}
        self.static = [StaticPeer(tuple(_normal(a) for a in p.addresses), p.port)
                       for p in self.config.static_peers]
        self.in_startup = True
        self.mentor_id = 0
        self._updates_to_ignore = max(0, self.config.debug_ignore_handle_updates)
        self._assoc_peer: dict[int, int] = {}  # association -> peer id, once it has spoken
        self._assoc_static: dict[int, int] = {}  # association -> index in self.static
        self._handlers = {
            wire.HandleTableRequest: self._on_handle_table_request,
            wire.HandleTableResponse: self._on_handle_table_response,
            wire.HandleUpdate: self._on_handle_update,
            wire.ListRequest: self._on_list_request,
            wire.ListResponse: self._on_list_response,
            wire.InitTakeover: self._on_init_takeover,
            wire.InitTakeoverAck: self._on_init_takeover_ack,
            wire.TakeoverServer: self._on_takeover_server,
            wire.EnrpError: self._on_error,
        }

    # ------------------------------------------------------------------ inputs

    def start(self, now: float) -> list[Action]:
        """Begin: look for a mentor, contact static peers, start the heartbeat cycle."""
        self.host.deadlines.schedule(("enrp", "mentor"), now + self.config.mentor_discovery_timeout)
        return self._heartbeat(now)

    def association_up(self, assoc: int, key: tuple[Any, ...], now: float) -> list[Action]:
        if len(key) != 3:
            return []
        if key[1] == "static" and 0 <= key[2] < len(self.static):
            entry = self.static[key[2]]
            entry.assoc, entry.connecting_since = assoc, None
            self._assoc_static[assoc] = key[2]
            return [Send(assoc, wire.PPID_ENRP, self._presence(entry.server_id, reply=True))]
        peer = self.peers.get(key[2]) if key[1] == "peer" else None
        if peer is None:
            return []
        return self._bind(assoc, peer)

    def association_lost(self, assoc: int, now: float) -> list[Action]:
        peer_id = self._assoc_peer.pop(assoc, None)
        peer = self.peers.get(peer_id) if peer_id is not None else None
        if peer is not None and assoc in peer.assocs:
            peer.assocs.remove(assoc)
        index = self._assoc_static.pop(assoc, None)
        if index is not None:
            self.static[index].assoc = None
        return []

    def connect_failed(self, key: tuple[Any, ...], now: float) -> list[Action]:
        if len(key) == 3 and key[1] == "static" and 0 <= key[2] < len(self.static):
            self.static[key[2]].connecting_since = None
        elif len(key) == 3 and (peer := self.peers.get(key[2])) is not None:
            peer.connecting_since = None  # its queue waits for any association to it
        return []

    def receive(self, assoc: int, message: Any, now: float) -> list[Action]:
        sender: int = message.sender_server_id
        if sender == self.server_id:
            return []
        if sender == 0:
            log.warning("association %d: ENRP %s without a sender id", assoc,
                        type(message).__name__)
            return [self._error(assoc, 0, wire.Cause.INVALID_VALUES)]
        receiver: int = message.receiver_server_id
        if receiver not in (0, self.server_id):
            log.info("ENRP %s from $%08x addressed to $%08x, not us: ignored",
                     type(message).__name__, sender, receiver)
            return []
        bound = self._assoc_peer.get(assoc)
        if bound is not None and bound != sender:
            log.warning("association %d belongs to peer $%08x, not $%08x: %s refused", assoc,
                        bound, sender, type(message).__name__)
            return [self._error(assoc, sender, wire.Cause.REJECTED_SECURITY)]
        self._assoc_peer[assoc] = sender
        index = self._assoc_static.get(assoc)
        if index is not None:
            self.static[index].server_id = sender
        peer = self.peers.get(sender)
        flushed = self._bind(assoc, peer) if peer is not None and assoc not in peer.assocs \
            else []
        if isinstance(message, wire.Presence):
            return flushed + self._on_presence(message, assoc, None, now)
        return flushed + self._handlers[type(message)](assoc, message, now)

    def receive_announce(self, message: Any, source: str, now: float) -> list[Action]:
        if message.sender_server_id in (0, self.server_id):
            return []
        return self._on_presence(message, None, source, now)

    def handle_timer(self, key: tuple[Any, ...], now: float) -> list[Action]:
        if key[1] == "heartbeat":
            return self._heartbeat(now)
        if key[1] == "mentor":
            if self.in_startup:
                log.info("no mentor completed within %.1f s (tried: $%08x): starting with "
                         "what we have", self.config.mentor_discovery_timeout, self.mentor_id)
                self.mentor_id = 0  # registrar-ready names a mentor only if it delivered
                return self._end_startup(now)
            return []
        peer = self.peers.get(key[2])
        if peer is None:
            return []
        if peer.timer == LAST_HEARD:
            log.info("peer $%08x not heard for %.1f s: asking for a Presence",
                     peer.server_id, self.config.peer_max_time_last_heard)
            peer.timer = NO_RESPONSE
            self._arm(peer, now + self.config.peer_max_time_no_response)
            return self._to_peer(peer, self._presence(peer.server_id, reply=True), now)
        if peer.timer == NO_RESPONSE:
            return self._peer_dead(peer, now)
        log.warning("takeover of peer $%08x expired with %d acknowledgement(s) missing",
                    peer.server_id, len(peer.takeover_acks or ()))
        return self._drop_peer(peer, now)

    def handle_update(self, action: int, pool_handle: bytes, pe: Any,
                      now: float) -> list[Action]:
        """Tell every peer about a change to one of our PEs (and, with takeover suggestion,
        invite the peer best placed to be its home)."""
        actions: list[Action] = []
        for peer in self.peers.values():
            actions += self._to_peer(peer, wire.HandleUpdate(
                self.server_id, peer.server_id, action, pool_handle, pe), now)
        if action == wire.UpdateAction.ADD_PE and self.config.support_takeover_suggestion:
            better = self._better_home(pe.pe_identifier)
            if better is not None:
                log.info("suggesting peer $%08x as home of PE $%08x", better.server_id,
                         pe.pe_identifier)
                actions += self._to_peer(better, wire.HandleUpdate(
                    self.server_id, better.server_id, action, pool_handle, pe,
                    takeover_suggestion=True), now)
        return actions

    def peer_of(self, assoc: int) -> int:
        """The server id of the peer on an association (0 if it has not said)."""
        return self._assoc_peer.get(assoc, 0)

    # ------------------------------------------------------------------ presence, peers

    def _presence(self, receiver: int, *, reply: bool = False) -> Any:
        info = wire.ServerInformation(self.server_id, wire.SctpTransport(
            self.config.enrp_port, self.config.enrp_addresses)) \
            if self.config.enrp_addresses else None  # peers then use what they see
        return wire.Presence(self.server_id, receiver, self.host.handlespace.checksum(
            owner=self.server_id), info, reply)

    def _heartbeat(self, now: float) -> list[Action]:
        self.host.deadlines.schedule(("enrp", "heartbeat"),
                                     now + self.host.jitter(self.config.peer_heartbeat_cycle))
        actions: list[Action] = []
        if self.config.enrp_announces:
            actions.append(Announce(wire.PPID_ENRP, self._presence(0)))
        for peer in self.peers.values():
            actions += self._to_peer(peer, self._presence(peer.server_id), now, queue=False)
        for index, entry in enumerate(self.static):
            known = self.peers.get(entry.server_id)
            if known is not None and known.assocs:
                continue
            if entry.assoc is not None:
                actions.append(Send(entry.assoc, wire.PPID_ENRP,
                                    self._presence(entry.server_id, reply=True)))
            elif entry.connecting_since is None or \
                    now - entry.connecting_since >= self.config.connect_retry_interval:
                entry.connecting_since = now
                actions.append(Connect(("enrp", "static", index), entry.addresses, entry.port))
        return actions

    def _on_presence(self, msg: Any, assoc: int | None, source: str | None,
                     now: float) -> list[Action]:
        sender: int = msg.sender_server_id
        addresses, port = self._peer_transport(msg, assoc, source)
        actions: list[Action] = []
        peer = self.peers.get(sender)
        new = peer is None
        if peer is None:
            if len(self.peers) >= self.config.max_peers:
                log.warning("peer table full (%d): Presence from $%08x ignored",
                            self.config.max_peers, sender)
                if assoc is None:
                    return []
                return [self._error(assoc, sender, wire.Cause.LACK_OF_RESOURCES)]
            peer = self.peers[sender] = Peer(sender, addresses, port)
            log.info("new peer $%08x at %s port %d", sender, ",".join(addresses), port)
            if assoc is not None:
                actions += self._bind(assoc, peer)
            actions += self._to_peer(peer, self._presence(sender, reply=True), now)
        elif addresses:
            peer.addresses, peer.port = addresses, port
        for entry in self.static:  # a static peer that connected to us before we to it
            if entry.server_id == 0 and entry.port == port and \
                    set(entry.addresses) & set(addresses):
                entry.server_id = sender
        if self.in_startup and self.mentor_id == 0:
            log.info("trying peer $%08x as mentor", sender)
            self.mentor_id = sender
            peer.mentor = peer.list_sync = True
            actions += self._to_peer(peer, wire.ListRequest(self.server_id, sender), now)
            actions += self._request_table(peer, own_only=False, now=now)
        if assoc is not None:  # the audit runs on association-borne Presences only
            stalled = now - peer.sync_since > self.config.peer_max_time_no_response
            if (not peer.ht_sync or stalled) and \
                    self.host.handlespace.checksum(owner=sender) != msg.pe_checksum:
                log.info("checksum of peer $%08x differs: resynchronising its PEs", sender)
                actions += self._request_table(peer, own_only=True, now=now)
            if not peer.list_sync:
                peer.list_sync = True
                actions += self._to_peer(peer, wire.ListRequest(self.server_id, sender), now)
        peer.taken_over_by = 0
        if peer.takeover_acks is not None:
            log.info("peer $%08x is alive: takeover abandoned", sender)
            peer.takeover_acks = None
        peer.timer = LAST_HEARD
        self._arm(peer, now + self.config.peer_max_time_last_heard)
        if msg.reply_required and not new:
            actions += self._to_peer(peer, self._presence(sender), now)
        return actions

    def _peer_transport(self, msg: Any, assoc: int | None,
                        source: str | None) -> tuple[tuple[str, ...], int]:
        """A peer's ENRP addresses: those its Presence names that the association really
        has (or the announce's source), like the address check of an ASAP registration."""
        info = msg.server_information
        transport = info.transport if info is not None else None
        port = transport.port if transport is not None and transport.port else \
            self.config.enrp_port
        named = tuple(transport.addresses) if transport is not None else ()
        if assoc is not None:
            real = self.host.association_addresses(assoc)
            kept = tuple(str(a) for a in named if a.packed in real) or \
                tuple(sorted(str(ipaddress.ip_address(a)) for a in real))
        else:
            kept = tuple(str(a) for a in named) or ((source,) if source else ())
        return kept[: self.config.max_peer_addresses], port

    def _bind(self, assoc: int, peer: Peer) -> list[Action]:
        """Use an association for a peer; what waited for one goes out on it now."""
        self._assoc_peer[assoc] = peer.server_id
        if assoc not in peer.assocs:
            peer.assocs.append(assoc)
        peer.connecting_since = None
        queued: list[Action] = [Send(assoc, wire.PPID_ENRP, m) for m in peer.queue]
        peer.queue.clear()
        return queued

    def _arm(self, peer: Peer, deadline: float) -> None:
        self.host.deadlines.schedule(("enrp", "peer", peer.server_id), deadline)

    def _to_peer(self, peer: Peer, message: Any, now: float, *,
                 queue: bool = True) -> list[Action]:
        """Send to a peer over its association, or queue (unless periodic) and open one."""
        if peer.assocs:
            return [Send(peer.assocs[0], wire.PPID_ENRP, message)]
        if queue and len(peer.queue) < self.config.max_queued_per_peer:
            peer.queue.append(message)
        elif queue:
            log.warning("queue to unreachable peer $%08x full: %s dropped", peer.server_id,
                        type(message).__name__)
        if not peer.addresses or (peer.connecting_since is not None and
                                  now - peer.connecting_since < self.config.connect_retry_interval):
            return []
        peer.connecting_since = now
        return [Connect(("enrp", "peer", peer.server_id), peer.addresses, peer.port)]

    def _drop_peer(self, peer: Peer, now: float) -> list[Action]:
        log.info("removing peer $%08x from the peer table", peer.server_id)
        del self.peers[peer.server_id]
        for assoc in peer.assocs:  # another server id may speak on them from now on
            self._assoc_peer.pop(assoc, None)
        self.host.deadlines.cancel(("enrp", "peer", peer.server_id))
        if self.mentor_id == peer.server_id and self.in_startup:
            self.mentor_id = 0
        return self._release_acks(peer.server_id, now)

    def _release_acks(self, dead: int, now: float) -> list[Action]:
        """A dead peer cannot acknowledge anybody's takeover: stop waiting for it."""
        actions: list[Action] = []
        for other in list(self.peers.values()):
            if other.takeover_acks is not None and dead in other.takeover_acks:
                other.takeover_acks.discard(dead)
                if not other.takeover_acks and other.server_id in self.peers:
                    actions += self._finish_takeover(other, now)
        return actions

    def _error(self, assoc: int, receiver: int, cause: int, info: bytes = b"") -> Send:
        return Send(assoc, wire.PPID_ENRP, wire.EnrpError(
            self.server_id, receiver, wire.OperationError((wire.ErrorCause(cause, info),))))

    # ------------------------------------------------------------------ handle tables

    def _request_table(self, peer: Peer, *, own_only: bool, now: float) -> list[Action]:
        peer.ht_sync, peer.sync_since, peer.sync_own_only = True, now, own_only
        peer.sync_marked = set(self.host.owned_keys(peer.server_id)) if own_only else None
        return self._to_peer(peer, wire.HandleTableRequest(
            self.server_id, peer.server_id, own_children_only=own_only), now)

    def _on_handle_table_request(self, assoc: int, msg: Any, now: float) -> list[Action]:
        sender: int = msg.sender_server_id
        self.host.stats.synchronizations += 1
        peer = self.peers.get(sender)
        if peer is None:
            log.warning("Handle Table Request from unknown peer $%08x: rejected", sender)
            return [Send(assoc, wire.PPID_ENRP, wire.HandleTableResponse(
                self.server_id, sender, reject=True))]
        own_only = bool(msg.own_children_only)
        cursor = None  # a fresh table unless this continues a recent one with the same flag
        if peer.serve_cursor is not None and peer.serve_cursor[0] == own_only and \
                now - peer.serve_cursor[2] <= self.config.peer_max_time_no_response:
            cursor = peer.serve_cursor[1]
        pools, next_cursor = self._table_page(cursor, own_only)
        peer.serve_cursor = (own_only, next_cursor, now) if next_cursor is not None else None
        response = wire.HandleTableResponse(
            self.server_id, sender, tuple((h, tuple(pes)) for h, pes in pools),
            more_to_send=next_cursor is not None)
        return [Send(assoc, wire.PPID_ENRP, response)]

    def _table_page(self, cursor: Any, own_only: bool) -> tuple[Any, Any]:
        """The next page of our handle table, with as many PEs as fit in one message."""
        limit = self.config.max_elements_per_handle_table_request
        owner = self.server_id if own_only else None
        while True:
            pools, next_cursor = self.host.handlespace.table_page(cursor, limit,
                                                                  owned_only_by=owner)
            elements = [pe for _, pes in pools for pe in pes]
            budget = MESSAGE_BUDGET - sum(8 + len(handle) for handle, _ in pools)
            fit = fitting(elements, budget)
            if fit == len(elements) or limit == 1:
                return pools, next_cursor
            limit = max(1, fit)

    def _on_handle_table_response(self, assoc: int, msg: Any, now: float) -> list[Action]:
        sender: int = msg.sender_server_id
        peer = self.peers.get(sender)
        if peer is None:
            log.warning("Handle Table Response from unknown peer $%08x: ignored", sender)
            return []
        if msg.reject:
            log.info("peer $%08x rejected our Handle Table Request", sender)
            return self._sync_done(peer, purge=False, now=now)
        marked = peer.sync_marked
        for pool_handle, elements in msg.pools:
            for pe in elements:
                if pe.home_enrp_server_identifier == self.server_id:
                    log.warning("peer $%08x sent us our own PE $%08x: skipped", sender,
                                pe.pe_identifier)
                    continue
                if self.host.store_foreign(pool_handle, pe, now) and marked is not None:
                    marked.discard((pool_handle, pe.pe_identifier))
        if msg.more_to_send and peer.ht_sync:
            peer.sync_since = now
            return self._to_peer(peer, wire.HandleTableRequest(
                self.server_id, sender, own_children_only=peer.sync_own_only), now)
        return self._sync_done(peer, purge=True, now=now)

    def _sync_done(self, peer: Peer, *, purge: bool, now: float) -> list[Action]:
        actions: list[Action] = []
        if purge and peer.sync_marked:
            log.info("resync with peer $%08x: purging %d PE(s) it no longer has",
                     peer.server_id, len(peer.sync_marked))
            for pool_handle, pe_id in peer.sync_marked:
                actions += self.host.remove_foreign(pool_handle, pe_id, now)
        peer.ht_sync = peer.mentor = False
        peer.sync_marked = None
        if self.in_startup and self.mentor_id == peer.server_id:
            actions += self._end_startup(now)
        return actions

    def _end_startup(self, now: float) -> list[Action]:
        self.in_startup = False
        self.host.deadlines.cancel(("enrp", "mentor"))
        self.host.deadlines.schedule(("announce",), now)  # ASAP announces start at once
        log.info("registrar $%08x in normal operation (mentor $%08x)", self.server_id,
                 self.mentor_id)
        return [Notify("registrar-ready", {"mentor": self.mentor_id})]

    # ------------------------------------------------------------------ updates, lists

    def _on_handle_update(self, assoc: int, msg: Any, now: float) -> list[Action]:
        sender: int = msg.sender_server_id
        if sender not in self.peers:
            log.warning("Handle Update from unknown peer $%08x: ignored", sender)
            return []
        if self._updates_to_ignore:
            self._updates_to_ignore -= 1
            log.warning("debug_ignore_handle_updates: ignoring a Handle Update from $%08x "
                        "(PE $%08x; %d more to ignore)", sender,
                        msg.pool_element.pe_identifier, self._updates_to_ignore)
            return []
        self.host.stats.handle_updates += 1
        pool_handle: bytes = msg.pool_handle
        pe = msg.pool_element
        pe_id: int = pe.pe_identifier
        if msg.update_action == wire.UpdateAction.ADD_PE:
            home = pe.home_enrp_server_identifier
            if home == self.server_id:
                log.warning("peer $%08x sent a Handle Update for our own PE $%08x", sender, pe_id)
                return []
            if home != sender:
                log.warning("peer $%08x sent a Handle Update for PE $%08x of $%08x: refused",
                            sender, pe_id, home)
                return [self._error(assoc, sender, wire.Cause.REJECTED_SECURITY)]
            stored = self.host.store_foreign(pool_handle, pe, now)
            if stored and msg.takeover_suggestion and self.config.support_takeover_suggestion:
                return self.host.suggest_home(pool_handle, pe_id)
            return []
        if msg.update_action == wire.UpdateAction.DEL_PE:
            existing = self.host.handlespace.get(pool_handle, pe_id)
            if existing is None:
                return []
            if existing.home_enrp_server_identifier != sender:
                log.warning("peer $%08x tried to remove PE $%08x of $%08x: refused", sender,
                            pe_id, existing.home_enrp_server_identifier)
                return [self._error(assoc, sender, wire.Cause.REJECTED_SECURITY)]
            return self.host.remove_foreign(pool_handle, pe_id, now)
        log.warning("Handle Update with unknown action %r from $%08x", msg.update_action, sender)
        return [self._error(assoc, sender, wire.Cause.INVALID_VALUES)]

    def _on_list_request(self, assoc: int, msg: Any, now: float) -> list[Action]:
        servers = tuple(
            wire.ServerInformation(p.server_id, wire.SctpTransport(p.port, p.addresses))
            for p in self.peers.values() if p.server_id != msg.sender_server_id and p.addresses)
        return [Send(assoc, wire.PPID_ENRP, wire.ListResponse(
            self.server_id, msg.sender_server_id, servers))]

    def _on_list_response(self, assoc: int, msg: Any, now: float) -> list[Action]:
        if msg.reject:
            log.info("peer $%08x rejected our List Request", msg.sender_server_id)
            return []
        actions: list[Action] = []
        for info in msg.servers:
            server_id = info.server_identifier
            if server_id in (0, self.server_id) or server_id in self.peers:
                continue
            if len(self.peers) >= self.config.max_peers:
                log.warning("peer table full: peer $%08x from a List Response ignored",
                            server_id)
                break
            addresses = tuple(str(a) for a in info.transport.addresses)
            peer = self.peers[server_id] = Peer(
                server_id, addresses[: self.config.max_peer_addresses],
                info.transport.port or self.config.enrp_port)
            log.info("peer $%08x learnt from $%08x's list", server_id, msg.sender_server_id)
            self._arm(peer, now + self.config.peer_max_time_last_heard)
            actions += self._to_peer(peer, self._presence(server_id, reply=True), now)
        return actions

    def _on_error(self, assoc: int, msg: Any, now: float) -> list[Action]:
        log.warning("peer $%08x reports an ENRP error: %r", msg.sender_server_id, msg.error)
        return []

    # ------------------------------------------------------------------ takeover

    def _peer_dead(self, peer: Peer, now: float) -> list[Action]:
        log.info("peer $%08x did not answer for %.1f s: it is dead", peer.server_id,
                 self.config.peer_max_time_no_response)
        actions = self._release_acks(peer.server_id, now)
        if peer.taken_over_by or not self.host.owned_keys(peer.server_id):
            return actions + self._drop_peer(peer, now)
        others = [p for p in self.peers.values() if p is not peer]
        # Acknowledgements are needed from the peers still heard from: one that is itself
        # unanswered (two registrars died at once) could never give one.
        peer.takeover_acks = {p.server_id for p in others if p.timer == LAST_HEARD}
        peer.timer = TAKEOVER
        self._arm(peer, now + self.config.takeover_expiry_interval)
        log.info("initiating takeover of peer $%08x (%d acknowledgement(s) needed)",
                 peer.server_id, len(peer.takeover_acks))
        for other in others:
            actions += self._to_peer(other, wire.InitTakeover(
                self.server_id, other.server_id, peer.server_id), now)
        if peer.assocs:  # if it is alive after all, it answers with Presences
            actions.append(Send(peer.assocs[0], wire.PPID_ENRP, wire.InitTakeover(
                self.server_id, peer.server_id, peer.server_id)))
        if not peer.takeover_acks:
            actions += self._finish_takeover(peer, now)
        return actions

    def _on_init_takeover(self, assoc: int, msg: Any, now: float) -> list[Action]:
        sender: int = msg.sender_server_id
        target: int = msg.target_server_id
        if target == self.server_id:
            log.warning("peer $%08x tries to take us over: answering with Presences", sender)
            actions: list[Action] = []
            if self.config.enrp_announces:
                actions.append(Announce(wire.PPID_ENRP, self._presence(0)))
            for peer in self.peers.values():
                actions += self._to_peer(peer, self._presence(peer.server_id), now)
            return actions
        ack = Send(assoc, wire.PPID_ENRP, wire.InitTakeoverAck(self.server_id, sender, target))
        dead = self.peers.get(target)
        if dead is None:
            return [ack]
        if dead.takeover_acks is not None:
            if sender > self.server_id:
                log.info("peer $%08x also takes over $%08x; our lower id wins", sender, target)
                return []
            log.info("peer $%08x also takes over $%08x; its lower id wins", sender, target)
            dead.takeover_acks = None
            dead.timer = NO_RESPONSE
            self._arm(dead, now + self.config.peer_max_time_no_response)
        dead.taken_over_by = sender
        return [ack]

    def _on_init_takeover_ack(self, assoc: int, msg: Any, now: float) -> list[Action]:
        peer = self.peers.get(msg.target_server_id)
        if peer is None or peer.takeover_acks is None:
            return []
        peer.takeover_acks.discard(msg.sender_server_id)
        if peer.takeover_acks:
            return []
        return self._finish_takeover(peer, now)

    def _finish_takeover(self, peer: Peer, now: float) -> list[Action]:
        target = peer.server_id
        keys = self.host.owned_keys(target)
        log.warning("taking over peer $%08x and its %d PE(s)", target, len(keys))
        peer.takeover_acks = None
        actions: list[Action] = []
        for other in list(self.peers.values()):
            if other is not peer:
                actions += self._to_peer(other, wire.TakeoverServer(
                    self.server_id, other.server_id, target), now)
        for pool_handle, pe_id in keys:
            actions += self.host.adopt(pool_handle, pe_id, now)
        actions += self._drop_peer(peer, now)
        actions.append(Notify("takeover", {"target": target, "pool_elements": len(keys)}))
        return actions

    def _on_takeover_server(self, assoc: int, msg: Any, now: float) -> list[Action]:
        sender: int = msg.sender_server_id
        target: int = msg.target_server_id
        if target == self.server_id:
            log.warning("peer $%08x announces it took us over; our PEs will follow its "
                        "keep-alives", sender)
            return []
        keys = self.host.owned_keys(target)
        log.info("peer $%08x took over $%08x and its %d PE(s)", sender, target, len(keys))
        for pool_handle, pe_id in keys:
            self.host.transfer(pool_handle, pe_id, sender, now)
        peer = self.peers.get(target)
        if peer is not None:
            peer.taken_over_by = sender
            if peer.takeover_acks is not None:
                peer.takeover_acks = None
                peer.timer = NO_RESPONSE
        return []

    def _better_home(self, pe_id: int) -> Peer | None:
        """The peer whose id is farthest from the PE's by XOR, if farther than ours."""
        best: Peer | None = None
        best_metric = self.server_id ^ pe_id
        for peer in self.peers.values():
            metric = peer.server_id ^ pe_id
            if metric > best_metric:
                best, best_metric = peer, metric
        return best
