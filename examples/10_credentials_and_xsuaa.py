"""Where service keys come from: a file, an environment variable, VCAP_SERVICES on Cloud Foundry, or a
Kubernetes binding directory (SAP BTP service operator). Then the XSUAA role collections of the key's app."""

import json
import os
import tempfile
from pathlib import Path

import anyio
from _keys import service_keys

from scp_async import ServiceKey, Session


def load_keys(keys: Path) -> ServiceKey:
    cis = json.loads((keys / "cis.json").read_text())
    from_file = ServiceKey.from_file(keys / "cis.json")
    from_env = ServiceKey.from_env("CIS_KEY", environ={"CIS_KEY": json.dumps(cis)})
    vcap = {"cis": [{"name": "my-cis", "label": "cis", "plan": "central", "credentials": cis}]}
    from_vcap = ServiceKey.from_vcap_services(label="cis", environ={"VCAP_SERVICES": json.dumps(vcap)})
    with tempfile.TemporaryDirectory() as binding:  # one file per field, nested values as JSON text
        for field, value in cis.items():
            Path(binding, field).write_text(value if isinstance(value, str) else json.dumps(value))
        from_binding = ServiceKey.from_binding_dir(binding)
    assert from_file.endpoints == from_env.endpoints == from_vcap.endpoints == from_binding.endpoints
    assert cis["uaa"]["clientsecret"] not in repr(from_binding)  # secrets never show in repr, str or errors
    print(f"the same {from_file.kind} key four ways, from file, env, VCAP_SERVICES and {from_binding.source}")
    return ServiceKey.from_file(keys / "xsuaa.json")


async def main(keys: Path) -> None:
    xsuaa_key = load_keys(keys)
    async with Session() as session:
        xsuaa = session.xsuaa(xsuaa_key)
        collections = await xsuaa.get_role_collections()
        print(f"{len(collections)} role collections, e.g. {[c.name for c in collections[:3]]}")


if __name__ == "__main__":
    os.environ.pop("CIS_KEY", None)
    with service_keys() as keys:
        anyio.run(main, keys)
