"""The README's main job: registrar, pool and client on loopback, with a handover."""

import asyncio

import pytest
from rich.console import Console

from rserpool import HAVE_USRSCTP
from rserpool.demo import LOADS, Demo

BACKENDS = ["memory", pytest.param("usrsctp", marks=[pytest.mark.usrsctp, pytest.mark.skipif(
    not HAVE_USRSCTP, reason="built without libusrsctp-dev: no usrsctp transport")])]


@pytest.mark.parametrize("backend", BACKENDS)
def test_demo_fails_over_to_the_next_least_used_pe_and_keeps_state(backend: str) -> None:
    console = Console(record=True, width=120)
    result = asyncio.run(Demo(backend, 3, console).run())
    text = console.export_text()
    # Least Used: the session starts on the 10 % PE and moves to the 40 % one.
    assert f"{int(LOADS[0] * 100)}%" in text
    assert result["first_pe"] != result["second_pe"]
    # The fourth answer comes from the new PE and continues the count from the cookie.
    assert result["answer"].startswith(f"PE ${result['second_pe']:08x} answers #4:")
    stats = result["statistics"]
    assert stats["registrations"] == len(LOADS)
    assert stats["pool_elements"] == len(LOADS) - 1  # the stopped PE is gone from the registrar
    assert stats["handle_resolutions"] >= 2
