"""Prometheus metrics for the registrar, read from its counters at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import start_http_server
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rserpool.cli.stats import COLUMNS, snake

GAUGES = frozenset({"Peers", "Pools", "PoolElements", "OwnedPoolElements"})


class RegistrarCollector(Collector):
    """Exposes the statsfile columns as ``rserpool_registrar_*`` gauges and counters."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = self._counts()
        for column in COLUMNS:
            name = "rserpool_registrar_" + snake(column)
            value = counts.get(snake(column), 0)
            if column in GAUGES:
                yield GaugeMetricFamily(name, f"current {column}", value=value)
            else:
                yield CounterMetricFamily(name, f"{column} since start", value=value)


def serve(counts: Callable[[], Mapping[str, int]], port: int, address: str = "127.0.0.1") -> None:
    """Register the collector and serve /metrics on ``address:port`` (loopback by default)."""
    REGISTRY.register(RegistrarCollector(counts))
    start_http_server(port, addr=address)
