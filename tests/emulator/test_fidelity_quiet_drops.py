"""A connection dropped on purpose (fault injection) is no error: the server prints no traceback for it."""

from __future__ import annotations

import logging

import httpx
import pytest

from scp_async.emulator import Emulator, FaultConfig


def test_dropped_connections_print_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="uvicorn.error")
    with Emulator.serve(subaccounts=2) as emu:
        token = emu.issue_token("cis")
        emu.set_faults(FaultConfig(drop_rate=1.0))
        url = emu.base_url("accounts") + "/accounts/v1/globalAccount"
        for _ in range(3):
            with pytest.raises(httpx.TransportError):
                httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        dropped = emu.counters.faults["drop"]
        emu.set_faults(None)
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200
    assert dropped == 3  # counted, not logged
    assert not [r for r in caplog.records if r.exc_info or "Exception in ASGI" in r.getMessage()]
