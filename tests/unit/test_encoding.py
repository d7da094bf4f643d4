"""The generated endpoints' `quote` (scp_async._encoding): urllib's result for every string, a GUID as it is."""

from __future__ import annotations

import random
import string
import sys
import urllib.parse
import uuid

from scp_async._encoding import quote


def test_quote_gives_urllibs_result_for_any_string() -> None:
    rng = random.Random(20261207)
    alphabet = string.printable + "äöü€😀\u0000/%~"
    samples = ["", "~", "a.b-c_d~e", "%41", "a b", "ä", "..", str(uuid.uuid4()), str(uuid.uuid4()).upper()]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16))) for _ in range(5000)]
    for text in samples:
        for safe in ("", "/", ":@"):
            assert quote(text, safe) == urllib.parse.quote(text, safe=safe), (text, safe)


def test_the_generated_endpoints_quote_with_it() -> None:
    from scp_async_clients.accounts.api.subaccount_operations import get_subaccount

    assert get_subaccount.quote is quote
    guid = str(uuid.uuid4())
    assert get_subaccount._get_kwargs(guid)["url"] == f"/accounts/v1/subaccounts/{guid}"
    assert get_subaccount._get_kwargs("a/b c")["url"] == "/accounts/v1/subaccounts/a%2Fb%20c"
    assert "scp_async_clients.accounts.api.subaccount_operations.get_subaccount" in sys.modules
