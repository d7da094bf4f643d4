"""Generated models print short: the class and what identifies the object, at most 200 characters.

`to_dict()` still gives every field; the repr is for logs, tracebacks and the REPL.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from scp_async import UNSET

SUBACCOUNT: dict[str, Any] = {
    "guid": "0f7e2c39-5e48-4b3c-9b7a-8f4e2f0b8a11",
    "technicalName": "0f7e2c39-5e48-4b3c-9b7a-8f4e2f0b8a11",
    "displayName": "Development",
    "globalAccountGUID": "9a8b7c6d-0000-4000-8000-000000000001",
    "parentGUID": "9a8b7c6d-0000-4000-8000-000000000001",
    "region": "eu10",
    "subdomain": "dev-team",
    "betaEnabled": False,
    "usedForProduction": "NOT_USED_FOR_PRODUCTION",
    "state": "OK",
    "stateMessage": "Subaccount created.",
    "createdDate": 1700000000000,
    "modifiedDate": 1700000100000,
    "createdBy": "admin@example.com",
    "description": "The team's sandbox " * 20,
    "labels": {"env": ["dev"], "cost-center": ["4711"]},
    "customProperties": [{"accountGUID": "x", "key": "k", "value": "v"}],
}


def _app(index: int) -> dict[str, Any]:
    guid = str(uuid.UUID(int=index + 1))
    link = {"href": f"https://api.example.org/v3/apps/{guid}"}
    return {
        "guid": guid,
        "name": f"app-{index}",
        "state": "STARTED",
        "created_at": "2024-03-17T21:41:30Z",
        "updated_at": "2024-03-18T11:32:30Z",
        "lifecycle": {"type": "buildpack", "data": {"buildpacks": ["java_buildpack"], "stack": "cflinuxfs4"}},
        "relationships": {"space": {"data": {"guid": str(uuid.UUID(int=10_000 + index))}}},
        "links": {"self": link, "space": link, "processes": link, "packages": link, "droplets": link},
        "metadata": {"labels": {"team": "a"}, "annotations": {"contact": "someone"}},
    }


def test_a_subaccount_prints_its_guid_name_and_state_and_keeps_its_data() -> None:
    from scp_async_clients.accounts.models import SubaccountResponseObject

    subaccount = SubaccountResponseObject.from_dict(copy.deepcopy(SUBACCOUNT))
    assert repr(subaccount) == (
        "SubaccountResponseObject(guid='0f7e2c39-5e48-4b3c-9b7a-8f4e2f0b8a11', display_name='Development', state='OK')"
    )
    assert subaccount.to_dict()["description"] == SUBACCOUNT["description"]
    assert subaccount.to_dict()["labels"] == SUBACCOUNT["labels"]


def test_a_cf_page_prints_its_size_not_its_items() -> None:
    from scp_async_clients.cf_v3.models import AppList

    body = {
        "pagination": {
            "total_results": 120,
            "total_pages": 3,
            "first": {"href": "https://api.example.org/v3/apps?page=1"},
            "last": {"href": "https://api.example.org/v3/apps?page=3"},
            "next": {"href": "https://api.example.org/v3/apps?page=2"},
            "previous": None,
        },
        "resources": [_app(i) for i in range(50)],
    }
    page = AppList.from_dict(copy.deepcopy(body))
    text = repr(page)
    assert len(text) <= 200
    assert text.startswith("AppList(")
    assert "resources=[50 items]" in text
    assert "total_results=120" in text
    assert repr(page.resources[0]) == "App(guid='00000000-0000-0000-0000-000000000001', name='app-0', state='STARTED')"
    assert len(page.to_dict()["resources"]) == 50
    assert page.to_dict()["resources"][49]["name"] == "app-49"


def test_a_long_value_is_cut_at_200_characters() -> None:
    from scp_async_clients.cf_v3.models import App

    app = App.from_dict({**_app(0), "name": "n" * 1_000})
    text = repr(app)
    assert len(text) == 200
    assert text.endswith("…")
    assert text.startswith("App(guid='00000000-0000-0000-0000-000000000001', name='nnn")
    assert app.to_dict()["name"] == "n" * 1_000


def test_fields_not_given_are_left_out_and_strings_that_identify_nothing_are_not_shown() -> None:
    from scp_async_clients.accounts.models import ServiceManagerBindingResponseObject
    from scp_async_clients.service_manager.models import ServiceBindingResponseObject

    binding = ServiceBindingResponseObject.from_dict(
        {"id": "b-1", "name": "my-binding", "credentials": {"clientsecret": "S3cret-in-binding"}}
    )
    assert repr(binding) == "ServiceBindingResponseObject(id='b-1', name='my-binding')"
    credentials = ServiceManagerBindingResponseObject.from_dict({"clientid": "sb-x", "clientsecret": "S3cret-sm"})
    assert "S3cret" not in repr(credentials)
    assert repr(credentials) == "ServiceManagerBindingResponseObject()"
    assert credentials.sm_url is UNSET


def test_a_guid_under_another_name_identifies_a_model_without_guid_or_id() -> None:
    from scp_async_clients.saas_provisioning.models import ApplicationSubscriptionsResponseObject

    subscription = ApplicationSubscriptionsResponseObject.from_dict(
        {"subscriptionGUID": "s-1", "appName": "app", "state": "SUBSCRIBED", "url": "https://t.example/?token=x"}
    )
    assert repr(subscription) == "ApplicationSubscriptionsResponseObject(subscription_guid='s-1', state='SUBSCRIBED')"
