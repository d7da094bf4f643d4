"""Each generated method's docstring ends with a link to the operation's official reference page.

CF V3 methods link their own section of the docs (`#get-an-app`), the SAP APIs their page on the SAP Business
Accelerator Hub. The anchors come from the spec (`x-scp-docs-anchor`, kept by normalize), the pages from
`scripts/pipeline/reference_docs.yaml`.
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from scripts.pipeline._common import PipelineError
from scripts.pipeline.overlays import apply_overlay
from scripts.pipeline.reference import ANCHOR_KEY, add_docs_anchors, docs_anchor, reference_link

ROOT = Path(__file__).resolve().parents[2]
APIS = sorted(p.name for p in (ROOT / "generated" / "scp_async_clients").iterdir() if (p / "_namespace.py").exists())
CF_DOCS = "https://v3-apidocs.cloudfoundry.org/version/3."
HUB = "https://api.sap.com/api/"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("List apps", "list-apps"),
        ("Get an app", "get-an-app"),
        ("Get TLS settings of a box", "get-tls-settings-of-a-box"),
        ("Move a widget to a shelf (beta)", "move-a-widget-to-a-shelf-beta"),
        ("Read secrets of a user-made widget", "read-secrets-of-a-user-made-widget"),
        ("OLD - Drop a box (long form)", "old-drop-a-box-long-form"),
        ("  What's new?  ", "what-s-new"),
        ("Übersicht über Apps", "bersicht-ber-apps"),
    ],
)
def test_a_heading_becomes_the_anchor_the_cf_docs_give_it(heading: str, anchor: str) -> None:
    assert docs_anchor(heading) == anchor


def _methods(api: str) -> list[tuple[str, str, Any]]:
    module = importlib.import_module(f"scp_async_clients.{api}._namespace")
    found = []
    for class_name in module.__all__:
        for name, function in vars(getattr(module, class_name)).items():
            if not name.startswith("_") and inspect.iscoroutinefunction(function):
                found.append((class_name, name, function))
    return found


@pytest.mark.parametrize("api", APIS)
def test_every_method_docstring_ends_with_its_reference_link(api: str) -> None:
    expected = CF_DOCS if api == "cf_v3" else "https://github.com/cloudfoundry/multiapps" if api == "multiapps" else HUB
    methods = _methods(api)
    assert methods
    for class_name, name, function in methods:
        last = inspect.getdoc(function).splitlines()[-1]  # type: ignore[union-attr]
        assert last.startswith(f"Reference: {expected}"), f"{class_name}.{name}: {last}"
        link = last.removeprefix("Reference: ")
        assert " " not in link
        if api == "cf_v3":
            assert "#" in link, f"{name} links no section of the CF docs"


@pytest.mark.parametrize(
    ("method", "anchor"),
    [
        ("list_apps", "list-apps"),
        ("get_app", "get-an-app"),
        ("get_v3_api_root", "v3-api-root"),  # the docs' heading, set by the overlay
        ("cancel_task_put", "cancel-a-task"),
        ("entitle_organizations_for_isolation_segment", "entitle-organizations-for-an-isolation-segment"),
    ],
)
def test_cf_methods_link_their_section_of_the_docs(method: str, anchor: str) -> None:
    from scp_async_clients.cf_v3._namespace import CfV3Api, CfV3ApiWithRawResponse

    for namespace in (CfV3Api, CfV3ApiWithRawResponse):
        doc = inspect.getdoc(getattr(namespace, method))
        assert doc is not None
        assert doc.endswith(f"/index.html#{anchor}")


def test_sap_methods_link_their_api_on_the_business_accelerator_hub() -> None:
    from scp_async_clients.accounts._namespace import AccountsApi
    from scp_async_clients.service_manager._namespace import ServiceManagerApi

    assert inspect.getdoc(AccountsApi.get_subaccount) == (
        "One subaccount by GUID. `GET /accounts/v1/subaccounts/{subaccountGUID}` (getSubaccount).\n\n"
        "Reference: https://api.sap.com/api/APIAccountsService/resource"
    )
    doc = inspect.getdoc(ServiceManagerApi.get_all_service_plans)
    assert doc is not None
    assert doc.endswith("Reference: https://api.sap.com/api/APIServiceManager/resource")


def test_an_api_with_several_documents_links_the_one_of_the_path() -> None:
    assert reference_link("multiapps", "/api/v2/spaces/{spaceGuid}/mtas", None).endswith("mtarest_v2.yaml")  # type: ignore[union-attr]
    assert reference_link("multiapps", "/api/v1/spaces/{spaceGuid}/mtas", None).endswith("mtarest.yaml")  # type: ignore[union-attr]
    assert reference_link("accounts", "/accounts/v1/globalAccount", "ignored") == (
        "https://api.sap.com/api/APIAccountsService/resource"
    )
    assert reference_link("no_such_api", "/x", None) is None


def test_every_cf_operation_in_the_spec_has_a_docs_anchor() -> None:
    spec = json.loads((ROOT / "specs" / "cf_v3.json").read_text(encoding="utf-8"))
    operations = [op for item in spec["paths"].values() for op in item.values() if isinstance(op, dict)]
    operations = [op for op in operations if "operationId" in op]
    assert len(operations) > 200
    assert [op["operationId"] for op in operations if not op.get(ANCHOR_KEY)] == []
    assert all("summary" not in op for op in operations)  # the anchor stays, the upstream prose does not


def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "paths": {
            "/v3": {"get": {"operationId": "getV3ApiRoot", "summary": "Get V3 API root", "responses": {}}},
            "/v3/apps": {"get": {"operationId": "listApps", "summary": "List apps", "responses": {}}},
        },
    }


def test_normalize_keeps_anchors_only_where_the_docs_have_sections() -> None:
    cf = _document()
    add_docs_anchors("cf_v3", cf)
    assert cf["paths"]["/v3/apps"]["get"][ANCHOR_KEY] == "list-apps"
    accounts = _document()
    add_docs_anchors("accounts", accounts)
    assert ANCHOR_KEY not in accounts["paths"]["/v3/apps"]["get"]


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ("{getV3ApiRoot: v3-api-root}", None),
        ("{noSuchOperation: x}", "no operation 'noSuchOperation'"),
        ("{getV3ApiRoot: 'V3 API Root'}", "is no docs anchor"),
        ("{listApps: list-apps}", "its anchor is 'list-apps' already"),
        ("[]", "`operations` must map operationIds to docs anchors"),
    ],
)
def test_the_docs_anchor_rule_sets_anchors_and_names_what_is_wrong(
    tmp_path: Path, operations: str, message: str | None
) -> None:
    document = _document()
    add_docs_anchors("cf_v3", document)
    overlay = tmp_path / "cf_v3.yaml"
    overlay.write_text(
        f"patches:\n  - reason: the docs' heading differs\n    rule: docs-anchor\n    operations: {operations}\n",
        encoding="utf-8",
    )
    if message is None:
        patched = apply_overlay("cf_v3", document, overlay)
        assert patched["paths"]["/v3"]["get"][ANCHOR_KEY] == "v3-api-root"
        return
    with pytest.raises(PipelineError, match="patches\\[0\\]") as raised:
        apply_overlay("cf_v3", document, overlay)
    assert message in str(raised.value)
