"""The emulator's router: which route a path reaches, with which parameters, and 404 against 405."""

from __future__ import annotations

import pytest

from scp_async.emulator._openapi import Router


@pytest.fixture
def router() -> Router:
    r = Router()
    for method, template in [
        ("GET", "/v3/apps"),
        ("GET", "/v3/apps/{guid}"),
        ("PATCH", "/v3/apps/{guid}"),
        ("GET", "/v3/apps/{guid}/env"),
        ("GET", "/v3/{kind}/{guid}/env"),
        ("GET", "/v3/apps/{guid}/{what}"),
        ("GET", "/v3/{kind}/current/{what}"),
        ("POST", "/v3/apps/{guid}/actions/start"),
        ("GET", "/v3/spaces/{guid}/features/{name}"),
    ]:
        r.add("cf_v3", method, template)
    return r


def matched(router: Router, method: str, path: str) -> tuple[str | None, list[str], bool]:
    route, params, known = router.match(method, path)
    return (route.route_id.partition(" ")[2] if route else None), params, known


def test_exact_and_templated_paths(router: Router) -> None:
    assert matched(router, "GET", "/v3/apps") == ("GET /v3/apps", [], True)
    assert matched(router, "GET", "/v3/apps/") == ("GET /v3/apps", [], True)
    assert matched(router, "GET", "/v3/apps/a1") == ("GET /v3/apps/{guid}", ["a1"], True)
    assert matched(router, "PATCH", "/v3/apps/a1") == ("PATCH /v3/apps/{guid}", ["a1"], True)
    assert matched(router, "POST", "/v3/apps/a1/actions/start") == ("POST /v3/apps/{guid}/actions/start", ["a1"], True)


def test_literal_segments_win_the_leftmost_first(router: Router) -> None:
    # Both /v3/apps/{guid}/env and /v3/{kind}/{guid}/env fit: the literal "apps" decides.
    assert matched(router, "GET", "/v3/apps/a1/env") == ("GET /v3/apps/{guid}/env", ["a1"], True)
    # "apps" (second segment) beats "current" (third): the leftmost literal is the stronger one.
    assert matched(router, "GET", "/v3/apps/current/env") == ("GET /v3/apps/{guid}/env", ["current"], True)
    assert matched(router, "GET", "/v3/apps/a1/stats") == ("GET /v3/apps/{guid}/{what}", ["a1", "stats"], True)
    assert matched(router, "GET", "/v3/spaces/current/env") == (
        "GET /v3/{kind}/current/{what}",
        ["spaces", "env"],
        True,
    )
    assert matched(router, "GET", "/v3/spaces/s1/env") == ("GET /v3/{kind}/{guid}/env", ["spaces", "s1"], True)


def test_a_literal_branch_without_the_method_falls_back_to_a_parameter(router: Router) -> None:
    # /v3/spaces/{guid}/features/{name} is GET only, and nothing else has five segments: a 405.
    assert matched(router, "DELETE", "/v3/spaces/s1/features/f") == (None, [], True)
    # PATCH exists for /v3/apps/{guid} only; no parameters of a failed branch are left behind.
    assert matched(router, "PATCH", "/v3/apps/a1/env") == (None, [], True)


def test_unknown_paths_and_empty_segments(router: Router) -> None:
    assert matched(router, "GET", "/v3/nothing/here/at/all/x") == (None, [], False)
    assert matched(router, "GET", "/v2/apps") == (None, [], False)
    assert matched(router, "GET", "/v3/apps//env") == (None, [], False)  # a parameter is never empty
    assert matched(router, "DELETE", "/v3/apps") == (None, [], True)  # the path exists: 405, not 404
