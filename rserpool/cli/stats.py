"""The registrar's statistics line, in the columns of RSPLIB's ``-statsfile``."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from typing import TextIO

COLUMNS = (
    "Peers", "Pools", "PoolElements", "OwnedPoolElements", "Registrations", "Reregistrations",
    "Deregistrations", "HandleResolutions", "FailureReports", "Synchronizations",
    "HandleUpdates", "EndpointKeepAlives",
)
HEADER = "AbsTime RelTime Runtime UserTime SystemTime " + " ".join(COLUMNS)


def snake(column: str) -> str:
    """The registrar core's name of a column: ``PoolElements`` -> ``pool_elements``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", column).lower()


class StatsWriter:
    """Writes a header once, then one line per ``write()`` with the current counts.

    ``counts()`` returns the registrar core's ``statistics()``: snake_case names."""

    def __init__(self, out: TextIO, counts: Callable[[], Mapping[str, int]]) -> None:
        self._out = out
        self._counts = counts
        self._start = time.time()
        self._last = self._start
        out.write(HEADER + "\n")
        out.flush()

    def line(self) -> str:
        now = time.time()
        times = os.times()
        counts = self._counts()
        values = [f"{now:.6f}", f"{now - self._last:.6f}", f"{now - self._start:.6f}",
                  f"{times.user:.3f}", f"{times.system:.3f}"]
        values += [str(counts.get(snake(c), 0)) for c in COLUMNS]
        self._last = now
        return " ".join(values)

    def write(self) -> None:
        self._out.write(self.line() + "\n")
        self._out.flush()
