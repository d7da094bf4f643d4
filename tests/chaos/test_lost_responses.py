"""Lost responses against a real loopback server: a DELETE that did its work before its answer was
lost is a success when the retry finds nothing left to delete (404/410)."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from scp_async import ApiConnectionError, NotFound, RetryPolicy, Session
from scp_async._retry import ALREADY_DELETED

from .conftest import Exchange, Loopback

DIRS = "/accounts/v1/directories"


def _policy(max_retries: int = 3) -> RetryPolicy:
    async def no_wait(delay: float) -> None:
        await anyio.lowlevel.checkpoint()

    return RetryPolicy(max_retries=max_retries, sleep=no_wait, random=lambda: 0.0)


def _directory(loopback: Loopback, guid: str, first: Callable[[Exchange], None], gone_status: int = 404) -> set[str]:
    """A directory ``guid`` whose first DELETE deletes it and then answers with ``first``."""
    existing = {guid}

    def delete(ex: Exchange) -> None:
        if not loopback.authorized(ex):
            ex.reply(401, {"error": {"message": "no token"}})
        elif guid in existing:
            existing.discard(guid)
            first(ex)
        else:
            ex.reply(gone_status, {"error": {"code": 11004, "message": f"Directory {guid} not found"}})

    loopback.routes[("DELETE", f"{DIRS}/{guid}")] = delete
    return existing


def test_raw_delete_whose_answer_was_lost_is_a_success(loopback: Loopback) -> None:
    existing = _directory(loopback, "d1", Exchange.drop)

    async def main() -> None:
        async with Session(retry=_policy()) as session:
            api = session.cloud_management(loopback.cis_key()).api("accounts")
            response = await api.request("DELETE", f"{DIRS}/d1")
            assert response.status_code == 404  # the raw answer stays reachable
            assert response.extensions[ALREADY_DELETED] is True
            assert "not found" in response.json()["error"]["message"]

    anyio.run(main)
    assert not existing
    assert loopback.hits[("DELETE", f"{DIRS}/d1")] == 2


@pytest.mark.parametrize("gone_status", [404, 410])
def test_typed_delete_whose_answer_was_lost_returns_none(loopback: Loopback, gone_status: int) -> None:
    _directory(loopback, "d2", Exchange.drop, gone_status)
    _directory(loopback, "d3", Exchange.drop, gone_status)

    async def main() -> None:
        async with Session(retry=_policy()) as session:
            accounts = session.cloud_management(loopback.cis_key()).accounts
            assert await accounts.delete_directory("d2") is None
            raw = await accounts.with_raw_response.delete_directory("d3")
            assert raw.status_code == gone_status
            assert raw.parsed is None

    anyio.run(main)


def test_a_gateway_timeout_may_have_deleted_too(loopback: Loopback) -> None:
    _directory(loopback, "d4", lambda ex: ex.reply(504, b"upstream timed out", {"Content-Type": "text/plain"}))

    async def main() -> None:
        async with Session(retry=_policy()) as session:
            api = session.cloud_management(loopback.cis_key()).api("accounts")
            assert (await api.request("DELETE", f"{DIRS}/d4")).status_code == 404

    anyio.run(main)


def test_a_plain_404_is_still_not_found(loopback: Loopback) -> None:
    _directory(loopback, "d5", Exchange.drop)

    async def main() -> None:
        async with Session(retry=_policy()) as session:
            accounts = session.cloud_management(loopback.cis_key()).accounts
            with pytest.raises(NotFound):  # never existed, nothing was retried
                await accounts.delete_directory("nope")
            with pytest.raises(NotFound):  # not DELETE: a GET after a lost answer proves nothing
                await session.request("GET", f"{loopback.url}{DIRS}/d5")

    anyio.run(main)


def test_a_404_after_a_refusal_is_not_found(loopback: Loopback) -> None:
    # 503 means the server did not take the request on: the retry's 404 is a real one.
    loopback.routes[("DELETE", f"{DIRS}/d6")] = lambda ex: ex.reply(
        503 if loopback.hits[("DELETE", f"{DIRS}/d6")] == 1 else 404, {"error": {"message": "x"}}
    )

    async def main() -> None:
        async with Session(retry=_policy()) as session:
            api = session.cloud_management(loopback.cis_key()).api("accounts")
            with pytest.raises(NotFound):
                await api.request("DELETE", f"{DIRS}/d6")

    anyio.run(main)
    assert loopback.hits[("DELETE", f"{DIRS}/d6")] == 2


def test_a_post_whose_answer_was_lost_is_not_resent(loopback: Loopback) -> None:
    loopback.routes[("POST", DIRS)] = Exchange.drop

    async def main() -> None:
        async with Session(retry=_policy()) as session:
            api = session.cloud_management(loopback.cis_key()).api("accounts")
            with pytest.raises(ApiConnectionError):
                await api.request("POST", DIRS, json={"displayName": "x"})

    anyio.run(main)
    assert loopback.hits[("POST", DIRS)] == 1
