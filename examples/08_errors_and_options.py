"""Typed errors, per-call options and the retry policy."""

from pathlib import Path

import anyio
from _keys import service_keys

from scp_async import ApiError, NotFound, RetryPolicy, ServiceKey, ServiceKeyError, Session


async def main(keys: Path) -> None:
    try:
        ServiceKey.from_dict({"endpoints": {}, "uaa": {"clientid": "x"}}, source="a broken key")
    except ServiceKeyError as error:
        print(f"broken key: {error}")

    # Up to 5 retries for idempotent calls, honouring Retry-After and X-Ratelimit-Reset, waits capped at 30 s.
    async with Session(retry=RetryPolicy(max_retries=5, max_retry_after=30)) as session:
        accounts = session.cloud_management(ServiceKey.from_file(keys / "cis.json")).accounts
        try:
            await accounts.get_subaccount("00000000-0000-0000-0000-000000000000")
        except NotFound as error:
            print(f"{error.status_code} {error.error_code}: {error.message} (correlation id {error.correlation_id})")
        except ApiError as error:
            print(f"unexpected: {error}")

        patient = accounts.with_options(timeout=120, max_retries=0)  # one call, no retries, long timeout
        account = await patient.get_global_account()
        print(f"global account {account.guid}")


if __name__ == "__main__":
    with service_keys() as keys:
        anyio.run(main, keys)
