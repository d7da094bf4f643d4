"""Testing your own automation offline: the emulator in-process, with a fault injected.

Your code takes a Session and a key; your test gives it the emulator's. Here the audit log answers
429 to half of the requests, and the retry policy still gets every record.
"""

from typing import Any

import anyio

from scp_async import RetryPolicy, Session
from scp_async.emulator import Emulator, FaultConfig


async def count_security_events(session: Session, key: dict[str, Any]) -> int:  # the code under test
    audit_log = session.audit_log(key)
    return sum([1 async for _ in audit_log.records(category="audit.security-events")])


async def main() -> None:
    emulator = Emulator(subaccounts=5)  # no sockets: requests go straight to the ASGI app
    key = emulator.service_keys()["audit_log"]
    async with Session(transport=emulator.transport(), retry=RetryPolicy(max_retries=10)) as session:
        expected = await count_security_events(session, key)
        emulator.set_faults(FaultConfig(rate_429=0.5, retry_after=0.01), route="audit_log")
        found = await count_security_events(session, key)

    counters = emulator.counters.snapshot()
    print(f"{found} security events; the emulator answered 429 {counters['rate_limited']} times")
    assert found == expected > 0


if __name__ == "__main__":
    anyio.run(main)
