"""Create a subaccount, wait until it is ready, label it, and delete it again."""

from pathlib import Path

import anyio
from _keys import service_keys

from scp_async import ServiceKey, Session, wait_until
from scp_async_clients.accounts.models import CreateSubaccountRequestPayload, LabelAssignmentRequestPayload


async def main(keys: Path) -> None:
    async with Session() as session:
        accounts = session.cloud_management(ServiceKey.from_file(keys / "cis.json")).accounts
        payload = CreateSubaccountRequestPayload.from_dict(
            {"displayName": "Example team", "region": "eu10", "subdomain": "example-team-1234"}
        )
        created = await accounts.create_subaccount(body=payload)
        print(f"created {created.guid}: {created.state}")

        ready = await wait_until(
            lambda: accounts.get_subaccount(created.guid),
            ready=lambda s: str(s.state) == "OK",
            failed=lambda s: "FAILED" in str(s.state),
            timeout=60,
            interval=0.2,
            description=f"subaccount {created.guid} ready",
        )
        print(f"ready: {ready.state}")

        labels = LabelAssignmentRequestPayload.from_dict({"labels": {"team": ["example"]}})
        await accounts.create_subaccount_labels(created.guid, body=labels)
        deleted = await accounts.delete_subaccount(created.guid)
        print(f"deleting: {deleted.state}")


if __name__ == "__main__":
    with service_keys() as keys:
        anyio.run(main, keys)
