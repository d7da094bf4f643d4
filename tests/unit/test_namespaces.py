"""The generated per-API namespaces behind the session: typed results, raw responses, errors, MultiApps."""

from __future__ import annotations

import datetime
import io
from collections.abc import Callable
from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from scp_async import InvalidResponseError, NotFound, ServiceKeyError, Session, UnexpectedStatusError
from scp_async._apis import deploy_service_url_for

from .helpers import ACCOUNTS_URL, TOKEN_URL, cis_key_dict, token_json

Runner = Callable[[Callable[[], Any]], Any]
CF_API = "https://api.cf.eu10.hana.ondemand.com"
CF_UAA = "https://uaa.cf.eu10.hana.ondemand.com"
DEPLOY = "https://deploy-service.cf.eu10.hana.ondemand.com"
GLOBAL_ACCOUNT = {
    "guid": "ga",
    "globalAccountGUID": "ga",
    "parentGUID": "ga",
    "parentType": "ROOT",
    "displayName": "Acme",
    "description": "",
    "createdDate": 1700000000000,
    "commercialModel": "Subscription",
    "consumptionBased": False,
    "licenseType": "ENTERPRISE",
    "geoAccess": "STANDARD",
    "entityState": "A_STATE_ADDED_LATER",
}


def test_operation_returns_the_typed_model(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_response(url=f"{ACCOUNTS_URL}/accounts/v1/globalAccount", json=GLOBAL_ACCOUNT, headers={"X-Id": "7"})

    async def main() -> None:
        async with make_session() as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            account = await accounts.get_global_account()
            assert account.display_name == "Acme"
            assert account.created_date == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.UTC)
            assert str(account.entity_state) == "A_STATE_ADDED_LATER"  # unknown enum values survive
            raw = await accounts.with_raw_response.get_global_account()
            assert raw.status_code == 200
            assert raw.headers["x-id"] == "7"
            assert raw.parsed is not None
            assert raw.parsed.guid == "ga"

    httpx_mock.add_response(url=f"{ACCOUNTS_URL}/accounts/v1/globalAccount", json=GLOBAL_ACCOUNT, headers={"X-Id": "7"})
    run(main)


def test_errors_and_bodies_that_break_the_spec(make_session: Callable[..., Session], httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_response(
        url=f"{ACCOUNTS_URL}/accounts/v1/subaccounts/nope",
        status_code=404,
        json={"error": {"code": 11004, "message": "Subaccount not found", "correlationID": "c-1"}},
    )
    httpx_mock.add_response(
        url=f"{ACCOUNTS_URL}/accounts/v1/globalAccount", json={**GLOBAL_ACCOUNT, "guid": None} | {"displayName": None}
    )
    httpx_mock.add_response(url=f"{ACCOUNTS_URL}/accounts/v1/globalAccount", json={"guid": "only"})
    httpx_mock.add_response(url=f"{ACCOUNTS_URL}/accounts/v1/globalAccount", content=b"null")

    async def main() -> None:
        async with make_session() as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            with pytest.raises(NotFound) as missing:
                await accounts.get_subaccount("nope")
            assert missing.value.error_code == "11004"
            assert missing.value.correlation_id == "c-1"
            await accounts.get_global_account()  # nulls in string fields are tolerated as given
            with pytest.raises(InvalidResponseError, match=r"getGlobalAccount: .*required field 'commercialModel'"):
                await accounts.get_global_account()
            with pytest.raises(InvalidResponseError, match=r"getGlobalAccount: .*at \$: expected an object.*got null"):
                await accounts.get_global_account()  # null where an object was declared

    import anyio

    anyio.run(main)


def test_deploy_service_url_is_derived_from_the_cf_api() -> None:
    assert deploy_service_url_for(CF_API) == DEPLOY
    assert deploy_service_url_for("https://api.cf.us10-001.hana.ondemand.com/") == (
        "https://deploy-service.cf.us10-001.hana.ondemand.com"
    )
    with pytest.raises(ServiceKeyError, match="deploy_service_url"):
        deploy_service_url_for("http://127.0.0.1:8080/cf")


def _cf_login(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{CF_API}/", json={"links": {"uaa": {"href": CF_UAA}, "login": {"href": CF_UAA}}})
    httpx_mock.add_response(url=f"{CF_UAA}/oauth/token", json=token_json(), is_reusable=True)


def test_multiapps_fetches_a_csrf_token_when_asked_and_reuses_it(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    _cf_login(httpx_mock)
    operations = f"{DEPLOY}/api/v1/spaces/s1/operations"
    operation = {"processId": "p1", "processType": "DEPLOY", "spaceId": "s1", "state": "RUNNING"}
    httpx_mock.add_response(method="POST", url=operations, status_code=403, headers={"X-CSRF-Token": "Required"})
    httpx_mock.add_response(method="GET", url=f"{DEPLOY}/api/v1/csrf-token", headers={"X-CSRF-Token": "tok-1"})
    accepted = {"Location": f"{operations}/p1"}
    httpx_mock.add_response(method="POST", url=operations, status_code=202, headers=accepted, is_reusable=True)
    httpx_mock.add_response(method="GET", url=operations, json=[operation])

    async def main() -> None:
        from scp_async_clients.multiapps.models import Operation

        async with make_session() as session:
            cf = await session.cloud_foundry(CF_API, username="u", password="p")
            mta = cf.multiapps
            deploy = Operation.from_dict({"processType": "DEPLOY", "mtaId": "app"})
            started = await mta.with_raw_response.start_mta_operation("s1", body=deploy)
            assert started.status_code == 202
            assert started.headers["location"].endswith("/operations/p1")
            assert await mta.start_mta_operation("s1", body=deploy) is None
            listed = await mta.get_mta_operations("s1")
            assert [op.process_id for op in listed] == ["p1"]

    run(main)
    posts = httpx_mock.get_requests(method="POST", url=operations)
    assert [p.headers.get("X-CSRF-Token") for p in posts] == [None, "tok-1", "tok-1"]
    (fetch,) = httpx_mock.get_requests(url=f"{DEPLOY}/api/v1/csrf-token")
    assert fetch.headers["X-CSRF-Token"] == "Fetch"
    assert all(r.headers["Authorization"] == "Bearer acc3ss-T0ken-Mn5" for r in posts)


def test_mta_upload_sends_the_archive_as_a_file_field(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock, tmp_path: Any
) -> None:
    _cf_login(httpx_mock)
    files = f"{DEPLOY}/api/v1/spaces/s1/files"
    meta = {"id": "f1", "name": "app.mtar", "size": 5, "digest": "d", "digestAlgorithm": "MD5", "space": "s1"}
    httpx_mock.add_response(method="POST", url=files, status_code=201, json=meta, is_reusable=True)
    archive = tmp_path / "app.mtar"
    archive.write_bytes(b"PK\x03\x04mta")

    async def main() -> None:
        async with make_session() as session:
            cf = await session.cloud_foundry(CF_API, username="u", password="p")
            uploaded = await cf.multiapps.upload_mta("s1", archive)
            assert uploaded.id == "f1"
            await cf.multiapps.upload_mta("s1", io.BytesIO(b"raw"), file_name="other.mtar")

    import anyio

    anyio.run(main)
    first, second = httpx_mock.get_requests(method="POST", url=files)
    assert first.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="app.mtar"' in first.content
    assert b"PK\x03\x04mta" in first.content
    assert b'filename="other.mtar"' in second.content


# -- errors name their real cause ------------------------------------------------------------------


def test_bad_arguments_raise_type_error_before_anything_is_sent(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    async def main() -> None:
        async with make_session() as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            bad_body: Any = {"displayName": "x", "region": "eu10"}
            with pytest.raises(
                TypeError, match=r"^create_subaccount\(\): body must be CreateSubaccountRequestPayload, not dict$"
            ):
                await accounts.create_subaccount(body=bad_body)
            bad_enum: Any = "ALL"
            with pytest.raises(TypeError, match=r"^get_subaccount\(\): derived_authorizations must be "):
                await accounts.get_subaccount("sa", derived_authorizations=bad_enum)
            bad_guid: Any = object()
            wrong_guid = r"^get_subaccount\(\): subaccount_guid must be str or UUID, not object$"
            with pytest.raises(TypeError, match=wrong_guid):
                await accounts.get_subaccount(bad_guid)
            with pytest.raises(ValueError, match=r"^get_subaccount\(\): subaccount_guid must not be empty"):
                await accounts.get_subaccount("")
            unknown: Any = {"nope": 1}
            with pytest.raises(TypeError, match="nope"):
                await accounts.get_global_account(**unknown)

    run(main)
    assert httpx_mock.get_requests() == []  # not even a token was asked for


def test_wrong_path_query_and_body_arguments_of_cf_calls_are_never_sent(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    # Only the login is answered: a request for any /v3 path would fail the test (no response for it).
    httpx_mock.add_response(url=f"{CF_API}/", json={"links": {"uaa": {"href": CF_UAA}, "login": {"href": CF_UAA}}})
    httpx_mock.add_response(url=f"{CF_UAA}/oauth/token", json=token_json(), is_optional=True, is_reusable=True)
    wrong: list[tuple[str, Any, type[Exception], str]] = [
        ("get_app", ((123,), {}), TypeError, r"^get_app\(\): guid must be str or UUID, not int$"),
        ("get_app", ((None,), {}), TypeError, r"^get_app\(\): guid must be str or UUID, not None$"),
        ("get_app", (("",), {}), ValueError, r"^get_app\(\): guid must not be empty"),
        ("get_app", (("a",), {"include": "space"}), TypeError, r"include must be a list of GetAppIncludeItem"),
        ("list_apps", ((), {"per_page": "abc"}), TypeError, r"^list_apps\(\): per_page must be int, not str$"),
        ("list_apps", ((), {"page": True}), TypeError, r"^list_apps\(\): page must be int, not bool$"),
        (
            "list_apps",
            ((), {"guids": "g1,g2"}),
            TypeError,
            r"^list_apps\(\): guids must be a list of str or UUID, not str$",
        ),
        (
            "list_apps",
            ((), {"names": ["a", 1]}),
            TypeError,
            r"^list_apps\(\): names must be a list of str, not a list holding int, str$",
        ),
        (
            "list_apps",
            ((), {"space_guids": [1.5]}),
            TypeError,
            r"^list_apps\(\): space_guids must be a list of str or UUID, not a list holding float$",
        ),
        ("update_app", (("a",), {"body": {"name": "x"}}), TypeError, r"body must be UpdateAppBody, not dict$"),
    ]

    async def main() -> None:
        async with make_session() as session:
            cf = await session.cloud_foundry(CF_API, username="u", password="p")
            for name, (args, kwargs), error, message in wrong:
                for namespace in (cf, cf.with_raw_response):
                    with pytest.raises(error, match=message):
                        await getattr(namespace, name)(*args, **kwargs)

    run(main)
    assert [r.url.path for r in httpx_mock.get_requests() if r.url.path.startswith("/v3")] == []


def test_a_guid_is_given_as_text_or_as_a_uuid(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    _cf_login(httpx_mock)
    guid = "1f2d3c4b-0000-4000-8000-00000000beef"
    app = f"{CF_API}/v3/apps/{guid}"
    httpx_mock.add_response(method="DELETE", url=app, status_code=202, is_reusable=True)

    async def main() -> None:
        import uuid

        async with make_session() as session:
            cf = await session.cloud_foundry(CF_API, username="u", password="p")
            await cf.delete_app(guid)
            await cf.delete_app(uuid.UUID(guid))

    run(main)
    assert len(httpx_mock.get_requests(method="DELETE", url=app)) == 2


def test_a_cis_guid_typed_as_text_in_its_spec_takes_a_uuid_too(
    run: Runner, make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    guid = "5e3c1d2a-0000-4000-8000-00000000cafe"
    url = f"{ACCOUNTS_URL}/accounts/v1/subaccounts/{guid}"
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    from .test_ergonomics_options import SUBACCOUNT

    httpx_mock.add_response(url=url, json={**SUBACCOUNT, "guid": guid}, is_reusable=True)

    async def main() -> None:
        import uuid

        async with make_session() as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            await accounts.get_subaccount(guid)
            await accounts.get_subaccount(uuid.UUID(guid))
            with pytest.raises(TypeError, match="subaccount_guid must be str or UUID"):
                await accounts.get_subaccount(123)  # type: ignore[arg-type]

    run(main)
    assert len(httpx_mock.get_requests(url=url)) == 2


@pytest.mark.parametrize(
    ("status", "headers"), [(201, {}), (204, {}), (302, {"Location": "https://elsewhere.example/"})]
)
def test_a_success_status_the_spec_does_not_list_is_a_typed_error(
    status: int, headers: dict[str, str], make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    url = f"{ACCOUNTS_URL}/accounts/v1/globalAccount"
    httpx_mock.add_response(
        url=url, status_code=status, headers=headers, json=GLOBAL_ACCOUNT if status == 201 else None
    )

    async def main() -> None:
        async with make_session() as session:
            accounts = session.cloud_management(cis_key_dict()).accounts
            with pytest.raises(UnexpectedStatusError) as info:
                await accounts.get_global_account()
            error = info.value
            assert (error.operation_id, error.status_code, error.expected) == ("getGlobalAccount", status, (200,))
            assert f"GET {url} answered {status}" in str(error)
            assert error.response.request.headers["Authorization"] == "[REDACTED]"

    import anyio

    anyio.run(main)


def test_invalid_response_error_names_operation_path_expected_and_got() -> None:
    class DecodeError(ValueError):
        path = "$.resources[3].created_at"
        expected = "date-time"
        got = "str 'yesterday'"

    error = InvalidResponseError("listApps", DecodeError("bad date"))
    assert (error.path, error.expected, error.got) == ("$.resources[3].created_at", "date-time", "str 'yesterday'")
    assert str(error) == (
        "listApps: the response body does not match the API's spec "
        "(at $.resources[3].created_at: expected date-time, got str 'yesterday')"
    )
    missing = InvalidResponseError("getGlobalAccount", KeyError("commercialModel"))
    assert missing.path == "commercialModel"
    assert "required field 'commercialModel' is missing" in str(missing)


def test_a_broken_x509_key_is_a_service_key_error_on_a_typed_call(make_session: Callable[..., Session]) -> None:
    data = cis_key_dict()
    data["uaa"] = {
        "clientid": "sb-x509",
        "certificate": "-----BEGIN CERTIFICATE-----\nnot-base64\n-----END CERTIFICATE-----\n",
        "key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "certurl": "https://cert.example",
        "url": "https://uaa.example",
    }

    async def main() -> None:
        async with make_session() as session:
            with pytest.raises(ServiceKeyError, match=r"X.509 credentials of client sb-x509"):
                await session.cloud_management(data).accounts.get_global_account()

    import anyio

    anyio.run(main)


def test_a_body_that_breaks_the_spec_names_operation_path_expected_and_got(
    make_session: Callable[..., Session], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=token_json())
    httpx_mock.add_response(
        url=f"{ACCOUNTS_URL}/accounts/v1/globalAccount", json={**GLOBAL_ACCOUNT, "createdDate": "yesterday"}
    )

    async def main() -> None:
        async with make_session() as session:
            with pytest.raises(InvalidResponseError) as info:
                await session.cloud_management(cis_key_dict()).accounts.get_global_account()
            error = info.value
            assert (error.operation_id, error.path) == ("getGlobalAccount", "$.createdDate")
            assert "date-time" in str(error.expected)
            assert "yesterday" in str(error.got)
            assert str(error).startswith("getGlobalAccount: the response body does not match the API's spec (at $.")

    import anyio

    anyio.run(main)


def test_operation_modules_are_imported_on_first_use_and_found_after() -> None:
    import sys

    from scp_async._namespace import OperationModules

    operations = OperationModules("scp_async_clients.xsuaa")
    assert not operations
    module = operations["api.ams.get_authorization_data"]
    assert module is sys.modules["scp_async_clients.xsuaa.api.ams.get_authorization_data"]
    assert callable(module._get_kwargs)
    assert operations["api.ams.get_authorization_data"] is module
    assert list(operations) == ["api.ams.get_authorization_data"]
    with pytest.raises(ModuleNotFoundError):
        operations["api.ams.no_such_operation"]
