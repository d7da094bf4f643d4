"""The global account and every subaccount, queried concurrently (at most 10 requests at a time)."""

from pathlib import Path

import anyio
from _keys import service_keys

from scp_async import ServiceKey, Session, fan_out


async def main(keys: Path) -> None:
    async with Session() as session:
        cis = session.cloud_management(ServiceKey.from_file(keys / "cis.json"))
        account = await cis.accounts.get_global_account()
        print(f"{account.display_name}: created {account.created_date:%Y-%m-%d}")

        subaccounts = (await cis.accounts.get_subaccounts()).value or []
        labels = await fan_out(lambda s: cis.accounts.get_subaccount_labels(s.guid), subaccounts, limit=10)
        for subaccount, label in list(zip(subaccounts, labels, strict=True))[:5]:
            teams = label.labels.additional_properties.get("team", []) if label.labels else []
            print(f"  {subaccount.display_name:32} {subaccount.region:6} {subaccount.state} {teams}")
        print(f"{len(subaccounts)} subaccounts")


if __name__ == "__main__":
    with service_keys() as keys:
        anyio.run(main, keys)
