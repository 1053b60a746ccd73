"""A multi-process ASAP load generator for one registrar (ours or RSPLIB's ``rspregistrar``).

Each worker process has its own SCTP stack (usrsctp with an ephemeral UDP port, or the
kernel's) and several associations to the registrar's ASAP port, each from its own endpoint
(a one-to-many socket has one association per peer). It sends raw ASAP requests
encoded with ``rserpool.wire`` (no client API: the point is to measure the registrar),
pipelined: up to ``window`` requests outstanding per association. Replies are only
classified by their type and flag bytes, so a worker's cost per request stays small.

Three phases, all workers starting each one together (a barrier):

1. ``populate``: register the PEs (``pes`` in total, one pool, spread over every
   association) as new registrations;
2. ``reregister``: re-register the same PEs in a loop for ``duration`` seconds;
3. ``resolve``: handle resolutions of the pool for ``duration`` seconds.

Rates are replies per second over the phase (first send of any worker to last reply).

    python benches/registrar_load.py --registrar 127.0.0.1:3863 --remote-udp-port 9899
    python benches/registrar_load.py --backend kernel --registrar 10.213.0.11:3863 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rserpool import wire
from rserpool.transport import Endpoint, Message, SctpParameters, open_endpoint

POOL = b"BenchPool"
PHASES = ("populate", "reregister", "resolve")
_KEEP_ALIVE = wire.EndpointKeepAlive(0, POOL, 1).type
_REGISTRATION_RESPONSE = wire.RegistrationResponse(POOL, 1).type
_HANDLE_RESOLUTION_RESPONSE = wire.HandleResolutionResponse(POOL).type
_REJECT = 0x01  # the R flag of a (De)Registration Response


@dataclass(frozen=True)
class LoadConfig:
    """What one load run does (the registrar is started by the caller)."""

    registrar: str = "127.0.0.1"
    port: int = 3863
    backend: str = "usrsctp"  # or "kernel"
    local: str = "127.0.0.1"  # the workers' address, also the PEs' user transport address
    remote_udp_port: int = 9899  # usrsctp only: the registrar's UDP encapsulation port
    pes: int = 1000
    workers: int = 2
    associations: int = 4  # per worker
    window: int = 32  # outstanding requests per association
    duration: float = 3.0  # seconds of the reregister and resolve phases
    registration_life_ms: int = 3_600_000
    items: int = 3  # handle resolution: items asked for


@dataclass
class PhaseResult:
    """One worker's (or the merged) outcome of one phase."""

    replies: int = 0
    rejects: int = 0  # rejected registrations, resolutions answered with an error or no PE
    others: int = 0  # replies of an unexpected type
    start: float = 0.0  # time.monotonic(): system-wide, comparable between processes
    end: float = 0.0

    @property
    def rate(self) -> float:
        return self.replies / (self.end - self.start) if self.end > self.start else 0.0


@dataclass
class LoadResult:
    config: LoadConfig
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    keep_alives: int = 0

    def rates(self) -> dict[str, float]:
        return {name: phase.rate for name, phase in self.phases.items()}

    def as_dict(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "keep_alives": self.keep_alives,
                "phases": {name: {**asdict(p), "rate": p.rate}
                           for name, p in self.phases.items()}}


def _pe_ids(config: LoadConfig, worker: int) -> list[list[int]]:
    """The PE identifiers each association of one worker registers (disjoint, non-zero)."""
    slots = config.workers * config.associations
    return [list(range(1 + worker * config.associations + a, config.pes + 1, slots))
            for a in range(config.associations)]


def _registration(config: LoadConfig, pe_id: int) -> bytes:
    element = wire.PoolElement(
        pe_id, 0, config.registration_life_ms,
        wire.SctpTransport(10000 + pe_id % 50000, (config.local,)),
        wire.Policy(wire.PolicyType.ROUND_ROBIN))
    return wire.Registration(POOL, element).encode()


_Link = tuple[Endpoint, int, asyncio.Semaphore]  # endpoint, association, its window


class _Worker:
    """One worker's associations (one endpoint each) and the phase in progress."""

    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        self.phase = PhaseResult()
        self.outstanding = 0
        self.drained = asyncio.Event()
        self.keep_alives = 0

    async def receive_loop(self, ep: Endpoint, window: asyncio.Semaphore) -> None:
        while True:
            event = await ep.receive()
            if not isinstance(event, Message) or event.ppid != wire.PPID_ASAP:
                continue
            data = event.data
            if data[0] == _KEEP_ALIVE:  # answer it, or the registrar drops the PE
                self.keep_alives += 1
                alive: Any = wire.decode(data, wire.PPID_ASAP)
                await ep.send(event.assoc, wire.EndpointKeepAliveAck(
                    alive.pool_handle, alive.pe_identifier).encode(), wire.PPID_ASAP)
                continue
            self._classify(data)
            self.phase.replies += 1
            self.phase.end = time.monotonic()
            self.outstanding -= 1
            if self.outstanding == 0:
                self.drained.set()
            window.release()

    def _classify(self, data: bytes) -> None:
        if data[0] == _REGISTRATION_RESPONSE:
            if data[1] & _REJECT:
                self.phase.rejects += 1
        elif data[0] == _HANDLE_RESOLUTION_RESPONSE:
            # a response with PEs carries a Pool Element parameter after the pool handle
            if len(data) < 64:
                self.phase.rejects += 1
        else:
            self.phase.others += 1

    async def drive(self, link: _Link, requests: Iterator[bytes], deadline: float) -> None:
        ep, assoc, window = link
        for data in requests:
            if deadline and time.monotonic() >= deadline:
                return
            await window.acquire()
            self.outstanding += 1
            self.drained.clear()
            await ep.send(assoc, data, wire.PPID_ASAP)

    async def run_phase(self, plan: list[tuple[_Link, Iterator[bytes]]],
                        timed: bool) -> PhaseResult:
        self.phase = PhaseResult(start=time.monotonic())
        self.drained.set()
        deadline = self.phase.start + self.config.duration if timed else 0.0
        await asyncio.gather(*(self.drive(link, r, deadline) for link, r in plan))
        await self.drained.wait()
        return self.phase


async def _worker_main(config: LoadConfig, worker: int, barrier: Any) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if config.backend == "usrsctp":
        from rserpool.transport import usrsctp

        usrsctp.configure(0)  # our own ephemeral UDP port
        options["remote_udp_port"] = config.remote_udp_port
    params = SctpParameters(receive_queue=65536)
    w = _Worker(config)
    async with contextlib.AsyncExitStack() as stack:
        links: list[_Link] = []
        for _ in range(config.associations):
            ep = await stack.enter_async_context(
                open_endpoint(config.backend, [config.local], 0, params, **options))
            links.append((ep, await ep.connect([config.registrar], config.port),
                          asyncio.Semaphore(config.window)))
        receivers = [asyncio.create_task(w.receive_loop(ep, window)) for ep, _, window in links]
        registrations = [[_registration(config, pe) for pe in ids]
                         for ids in _pe_ids(config, worker)]
        resolution = wire.HandleResolution(POOL, config.items).encode()
        plans: dict[str, tuple[list[tuple[_Link, Iterator[bytes]]], bool]] = {
            "populate": ([(k, iter(r)) for k, r in zip(links, registrations, strict=True)],
                         False),
            "reregister": ([(k, itertools.cycle(r))
                            for k, r in zip(links, registrations, strict=True) if r], True),
            "resolve": ([(k, itertools.repeat(resolution)) for k in links], True),
        }
        results = {}
        for name in PHASES:
            await asyncio.to_thread(barrier.wait)
            results[name] = asdict(await w.run_phase(*plans[name]))
        for task in receivers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return {"phases": results, "keep_alives": w.keep_alives}


def _worker_entry(config: LoadConfig, worker: int, barrier: Any, out: Any) -> None:
    try:
        out.put((worker, asyncio.run(_worker_main(config, worker, barrier))))
    except BaseException as exc:  # reported to the parent, which raises
        barrier.abort()
        out.put((worker, repr(exc)))


def run(config: LoadConfig, timeout: float = 600.0) -> LoadResult:
    """Run the load against a registrar that is already listening; merged results."""
    ctx = multiprocessing.get_context("spawn")  # every worker its own SCTP stack
    barrier = ctx.Barrier(config.workers)
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker_entry, args=(config, i, barrier, out), daemon=True)
             for i in range(config.workers)]
    for p in procs:
        p.start()
    try:
        reports = [out.get(timeout=timeout) for _ in procs]
    finally:
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
    failed = [r for _, r in reports if isinstance(r, str)]
    if failed:
        raise RuntimeError(f"load worker failed: {failed}")
    result = LoadResult(config)
    for name in PHASES:
        parts = [PhaseResult(**r["phases"][name]) for _, r in reports]
        result.phases[name] = PhaseResult(
            replies=sum(p.replies for p in parts), rejects=sum(p.rejects for p in parts),
            others=sum(p.others for p in parts), start=min(p.start for p in parts),
            end=max(p.end for p in parts))
    result.keep_alives = sum(r["keep_alives"] for _, r in reports)
    return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): the registrar's cost per
    request, whichever side of the load was the bottleneck."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def describe(result: LoadResult, label: str = "") -> list[str]:
    """One readable line per phase."""
    c = result.config
    head = f"{label} " if label else ""
    lines = []
    for name, p in result.phases.items():
        lines.append(
            f"{head}{c.pes:>7,} PEs {name:<10} {p.rate:>10,.0f}/s  ({p.replies:,} replies in "
            f"{p.end - p.start:.2f} s, {p.rejects} rejected, {p.others} other; "
            f"{c.workers} workers x {c.associations} assocs x window {c.window})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = LoadConfig()
    parser.add_argument("--registrar", default=f"{defaults.registrar}:{defaults.port}",
                        help="address:port of the registrar's ASAP endpoint")
    for name in ("backend", "local", "remote_udp_port", "pes", "workers", "associations",
                 "window", "duration", "items"):
        value = getattr(defaults, name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--label", default="")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = vars(parser.parse_args(argv))
    address, _, port = args.pop("registrar").rpartition(":")
    as_json, label = args.pop("json"), args.pop("label")
    result = run(LoadConfig(registrar=address, port=int(port), **args))
    if as_json:
        print(json.dumps({"label": label, **result.as_dict()}))
    else:
        print("\n".join(describe(result, label)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
