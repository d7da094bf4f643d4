"""Deploy an MTA with the MultiApps controller: upload the archive, start the operation, wait for it."""

import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import anyio
from _keys import service_keys

from scp_async import Session, wait_until
from scp_async_clients.multiapps.models import Operation


async def main(keys: Path) -> None:
    async with Session() as session:
        # API URL, user, password and deploy service URL from cf.json (the deploy service is derived from
        # api.cf.<region>... when the file has none)
        cf = await session.cloud_foundry(keys / "cf.json")
        space = (await cf.list_spaces(per_page=1)).resources[0]
        space_guid = str(space.guid)
        with tempfile.TemporaryDirectory() as scratch:
            archive = Path(scratch) / "example.mtar"
            archive.write_bytes(b"PK\x03\x04 an MTA archive")
            uploaded = await cf.multiapps.upload_mta(space_guid, archive)
        print(f"uploaded {uploaded.name} ({uploaded.size} bytes)")

        parameters = {"appArchiveId": uploaded.id}
        deploy = Operation.from_dict({"processType": "DEPLOY", "mtaId": "example", "parameters": parameters})
        started = await cf.multiapps.with_raw_response.start_mta_operation(space_guid, body=deploy)
        # The Location header names the new operation: .../operations/<id>?embed=messages
        operation_id = urlsplit(started.headers["location"]).path.rsplit("/", 1)[-1]
        done = await wait_until(
            lambda: cf.multiapps.get_mta_operation(space_guid, operation_id),
            ready=lambda op: str(op.state) in ("FINISHED", "ERROR", "ABORTED", "ACTION_REQUIRED"),
            timeout=120,
            interval=0.2,
        )
        print(f"operation {operation_id}: {done.state}")
        finished = await cf.multiapps.get_mta_operations(space_guid, state=["FINISHED"])
        print(f"{len(finished)} finished operations in the space")


if __name__ == "__main__":
    with service_keys() as keys:
        anyio.run(main, keys)
