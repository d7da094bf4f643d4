"""Where service keys come from: a file, an environment variable, VCAP_SERVICES on Cloud Foundry (or the file
VCAP_SERVICES_FILE_PATH names), the bindings the SAP BTP service operator mounts under SERVICE_BINDING_ROOT on
Kubernetes. Bindings are picked as @sap/xsenv picks them (by tag, label, name, plan or type); what the platform
says about a binding is kept apart from its credentials. Then the XSUAA role collections of the key's app."""

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
    facts = {"label": "cis", "plan": "central", "type": "cis"}
    with tempfile.TemporaryDirectory() as tmp:
        vcap = Path(tmp, "VCAP_SERVICES.json")
        vcap.write_text(json.dumps({"cis": [{"name": "my-cis", "tags": ["cis"], **facts, "credentials": cis}]}))
        from_vcap = ServiceKey.from_vcap_services(tag="cis", environ={"VCAP_SERVICES_FILE_PATH": str(vcap)})
        # The operator's `secretRootKey` layout: one file, credentials and binding facts, every value a string.
        mounted = Path(tmp, "bindings", "my-cis")
        mounted.mkdir(parents=True)
        strings = {k: v if isinstance(v, str) else json.dumps(v) for k, v in cis.items()}
        (mounted / "binding.json").write_text(json.dumps({**strings, **facts, "tags": '["cis"]'}))
        # find() looks where @sap/xsenv looks: VCAP_SERVICES(_FILE_PATH) first, then SERVICE_BINDING_ROOT.
        from_root = ServiceKey.find(type="cis", environ={"SERVICE_BINDING_ROOT": str(Path(tmp, "bindings"))})
    assert from_file.endpoints == from_env.endpoints == from_vcap.endpoints == from_root.endpoints
    assert from_root.raw == from_file.raw  # the credentials only: label, plan, tags are in .binding
    assert cis["uaa"]["clientsecret"] not in repr(from_root)  # secrets never show in repr, str or errors
    binding = from_root.binding
    assert binding is not None
    print(f"the same {from_file.kind} key four ways; binding {binding.name}: {binding.label}/{binding.plan}")
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
