"""Cloud Foundry: the API root, ``/v2/info``, and stateful V3 organizations, spaces, apps, service
instances and jobs with CF's pagination (``page``, ``per_page``, ``pagination.next.href``), ``include`` and
``fields``."""

from __future__ import annotations

import math
import operator
import re
import urllib.parse
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._http import ApiError, Request, Response, empty_response, json_response
from ._state import Job, _trim, derived_id, iso, plan_guid

if TYPE_CHECKING:
    from ._app import Context, Route

CF = "cf_v3"
API_VERSION_V2 = "2.250.0"
API_VERSION_V3 = "3.185.0"
QUOTA_GUID = "b6c3e4d2-0000-4000-8000-00000000a001"
BROKER_GUID = "b6c3e4d2-0000-4000-8000-00000000b001"
#: The one service broker every seeded offering comes from (only ``fields[...]`` ever shows its name).
BROKER_NAME = "emulated-broker"
_ORDER_FIELDS = ("created_at", "updated_at", "name")
#: What ``GET /v3`` links to, as cloud_controller_ng lists it.
_V3_COLLECTIONS = (
    "app_usage_events",
    "apps",
    "audit_events",
    "buildpacks",
    "builds",
    "deployments",
    "domains",
    "droplets",
    "environment_variable_groups",
    "feature_flags",
    "info",
    "isolation_segments",
    "organizations",
    "organization_quotas",
    "packages",
    "processes",
    "resource_matches",
    "roles",
    "routes",
    "security_groups",
    "service_brokers",
    "service_instances",
    "service_offerings",
    "service_plans",
    "service_usage_events",
    "space_quotas",
    "spaces",
    "stacks",
    "tasks",
    "users",
)


def _bad_param(message: str) -> ApiError:
    return ApiError(400, message, code="CF-BadQueryParameter")


#: ``fields[<relationship path>]=<keys>`` per endpoint, as Cloud Controller allows them: each path and the
#: keys allowed there, in CF's order (its error messages list them in this order). The list of service
#: instances and the single instance allow different keys; endpoints not here take no ``fields``.
_FieldsAllowed = dict[str, tuple[str, ...]]
_SI_LIST_FIELDS: _FieldsAllowed = {
    "space": ("guid", "name", "relationships.organization"),
    "space.organization": ("name", "guid"),
    "service_plan": ("guid", "name", "relationships.service_offering"),
    "service_plan.service_offering": (
        "name",
        "guid",
        "description",
        "documentation_url",
        "tags",
        "relationships.service_broker",
    ),
    "service_plan.service_offering.service_broker": ("name", "guid"),
}
_SI_GET_FIELDS: _FieldsAllowed = {
    "space": ("name", "guid"),
    "space.organization": ("name", "guid"),
    "service_plan": ("name", "guid"),
    "service_plan.service_offering": ("name", "guid", "description", "tags", "documentation_url"),
    "service_plan.service_offering.service_broker": ("name", "guid"),
}
_OFFERING_FIELDS: _FieldsAllowed = {"service_broker": ("guid", "name")}
_PLAN_FIELDS: _FieldsAllowed = {"service_offering.service_broker": ("guid", "name")}
_FIELDS_KEY = re.compile(r"fields\[([^\[\]]+)\](.*)", re.DOTALL)


def _requested_fields(req: Request, allowed: _FieldsAllowed) -> dict[str, frozenset[str]]:
    """The request's ``fields[<path>]=<keys>`` (path -> keys), checked as Cloud Controller checks them: a
    path the endpoint does not allow, or a key the path does not allow, is a 400 naming each bad one.

    Keys split on commas as CF splits them (``name, guid`` is two keys; ``name,`` asks for an empty key,
    which is bad). Of a repeated ``fields[path]`` the last counts, as Rack keeps the last."""
    asked: dict[str, list[str] | None] = {}  # None: not a list of keys (``fields[space][x]=...``)
    for key, values in req.query.items():
        if key != "fields" and not key.startswith("fields["):
            continue
        match = _FIELDS_KEY.fullmatch(key)
        if match is None:  # ``fields=x`` or ``fields[]=x``: Rack reads a string or a list there, not a hash
            raise _bad_param("The query parameter is invalid: Fields must be an object")
        path, nested = match.groups()
        asked[path] = None if nested else re.split(r",\s*", values[-1])
    problems: list[str] = []
    for path, keys in asked.items():
        if path not in allowed:
            problems.append(f"Fields [{path}] valid resources are: {_quoted(allowed)}")
        elif keys is None or not set(keys) <= set(allowed[path]):
            problems.append(f"Fields valid keys for '{path}' are: {_quoted(allowed[path])}")
    if problems:  # CF reports every bad path, joined as it joins a message's errors
        raise _bad_param(f"The query parameter is invalid: {', '.join(problems)}")
    return {path: frozenset(keys or ()) for path, keys in asked.items()}


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_RELATIONS: dict[str, Callable[[str, str], bool]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def _timestamp_tests(req: Request) -> list[tuple[str, Callable[[str], bool]]]:
    """``created_ats``/``updated_ats`` as Cloud Controller reads them: equal to one of comma-separated
    timestamps, or with a relational operator (``created_ats[gt]=2024-01-01T00:00:00Z``; several combine).
    Each test is (field, test of the field's value); timestamps compare as text, all in one format."""
    tests: list[tuple[str, Callable[[str], bool]]] = []
    for key, values in req.query.items():
        name, _, rest = key.partition("[")
        if name not in ("created_ats", "updated_ats") or not values:
            continue
        field, label = name[:-1], name.replace("_", " ").capitalize()
        stamps = values[-1].split(",")
        if any(not _TIMESTAMP.fullmatch(stamp) for stamp in stamps):
            raise _bad_param(
                f"The query parameter is invalid: {label} has an invalid timestamp format. Timestamps should be "
                "formatted as 'YYYY-MM-DDThh:mm:ssZ'"
            )
        if not rest:
            wanted = set(stamps)
            tests.append((field, wanted.__contains__))
            continue
        relation = _RELATIONS.get(rest[:-1]) if rest.endswith("]") else None
        if relation is None:
            raise _bad_param(f"The query parameter is invalid: {label} has an invalid relational operator")
        if len(stamps) != 1:
            raise _bad_param(f"The query parameter is invalid: {label} takes one timestamp with an operator")
        tests.append((field, _compared(relation, stamps[0])))
    return tests


def _compared(relation: Callable[[str, str], bool], stamp: str) -> Callable[[str], bool]:
    return lambda value: relation(value, stamp)


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, message, code="CF-UnprocessableEntity")


def _not_found(kind: str) -> ApiError:
    return ApiError(404, f"{kind} not found", code="CF-ResourceNotFound")


def routes(ctx: Context) -> list[Route]:
    from ._app import Route

    st = ctx.state
    pending: list[tuple[Job, Callable[[], None]]] = []

    def settle() -> None:
        if not pending:
            return
        now = st.now()
        for item in [p for p in pending if p[0].until <= now]:
            pending.remove(item)
            item[1]()

    def start_job(operation: str, resource: str, action: Callable[[], None]) -> Job:
        job = st.new_job(operation, operation, resource)
        st.cf_jobs[job.id] = job
        _trim(st.cf_jobs, 20_000)  # keep memory flat under sustained load
        pending.append((job, action))
        return job

    def job_location(req: Request, job: Job) -> list[tuple[bytes, bytes]]:
        return [(b"location", f"{req.base_url}/v3/jobs/{job.id}".encode())]

    # -- rendering -----------------------------------------------------------------------------------
    def meta(obj: dict[str, Any]) -> dict[str, Any]:
        return {"labels": dict(obj.get("labels") or {}), "annotations": dict(obj.get("annotations") or {})}

    def org_view(b: str, o: dict[str, Any]) -> dict[str, Any]:
        g = o["guid"]
        return {
            "guid": g,
            "created_at": o["created_at"],
            "updated_at": o["updated_at"],
            "name": o["name"],
            "suspended": o["suspended"],
            "relationships": {"quota": {"data": {"guid": QUOTA_GUID}}},
            "metadata": meta(o),
            "links": {
                "self": {"href": f"{b}/v3/organizations/{g}"},
                "domains": {"href": f"{b}/v3/organizations/{g}/domains"},
                "default_domain": {"href": f"{b}/v3/organizations/{g}/domains/default"},
                "quota": {"href": f"{b}/v3/organization_quotas/{QUOTA_GUID}"},
            },
        }

    def space_view(b: str, s: dict[str, Any]) -> dict[str, Any]:
        g = s["guid"]
        return {
            "guid": g,
            "created_at": s["created_at"],
            "updated_at": s["updated_at"],
            "name": s["name"],
            "suspended": False,
            "relationships": {"organization": {"data": {"guid": s["org"]}}, "quota": {"data": None}},
            "metadata": meta(s),
            "links": {
                "self": {"href": f"{b}/v3/spaces/{g}"},
                "features": {"href": f"{b}/v3/spaces/{g}/features"},
                "organization": {"href": f"{b}/v3/organizations/{s['org']}"},
                "apply_manifest": {"href": f"{b}/v3/spaces/{g}/actions/apply_manifest", "method": "POST"},
            },
        }

    # What only an app's base URL, GUID and space decide, made once and shared by its views (read-only:
    # they go straight to JSON): listing every app of a landscape made its 13 links for every page.
    app_parts: dict[tuple[str, str, str], tuple[dict[str, Any], str]] = {}

    def fixed_app_parts(b: str, g: str, space: str) -> tuple[dict[str, Any], str]:
        parts = app_parts.get((b, g, space))
        if parts is None:
            if len(app_parts) >= 20_000:  # bounded (~3 KB each): base URLs and apps come and go
                app_parts.clear()
            links = {
                "self": {"href": f"{b}/v3/apps/{g}"},
                "environment_variables": {"href": f"{b}/v3/apps/{g}/environment_variables"},
                "space": {"href": f"{b}/v3/spaces/{space}"},
                "processes": {"href": f"{b}/v3/apps/{g}/processes"},
                "packages": {"href": f"{b}/v3/apps/{g}/packages"},
                "current_droplet": {"href": f"{b}/v3/apps/{g}/droplets/current"},
                "droplets": {"href": f"{b}/v3/apps/{g}/droplets"},
                "tasks": {"href": f"{b}/v3/apps/{g}/tasks"},
                "start": {"href": f"{b}/v3/apps/{g}/actions/start", "method": "POST"},
                "stop": {"href": f"{b}/v3/apps/{g}/actions/stop", "method": "POST"},
                "revisions": {"href": f"{b}/v3/apps/{g}/revisions"},
                "deployed_revisions": {"href": f"{b}/v3/apps/{g}/revisions/deployed"},
                "features": {"href": f"{b}/v3/apps/{g}/features"},
            }
            parts = app_parts[(b, g, space)] = (links, derived_id(g, "droplet"))
        return parts

    def app_view(b: str, a: dict[str, Any]) -> dict[str, Any]:
        g = a["guid"]
        links, droplet = fixed_app_parts(b, g, a["space"])
        return {
            "guid": g,
            "name": a["name"],
            "state": a["state"],
            "created_at": a["created_at"],
            "updated_at": a["updated_at"],
            "lifecycle": {"type": "buildpack", "data": {"buildpacks": list(a["buildpacks"]), "stack": "cflinuxfs4"}},
            "relationships": {
                "space": {"data": {"guid": a["space"]}},
                "current_droplet": {"data": {"guid": droplet}},
            },
            "metadata": meta(a),
            "links": links,
        }

    def si_view(b: str, s: dict[str, Any]) -> dict[str, Any]:
        g = s["guid"]
        view: dict[str, Any] = {
            "guid": g,
            "created_at": s["created_at"],
            "updated_at": s["updated_at"],
            "name": s["name"],
            "type": s["type"],
            "tags": list(s.get("tags") or ()),
            "last_operation": {
                "type": s["op_type"],
                "state": s["state"],
                "description": "",
                "created_at": s["updated_at"],
                "updated_at": s["updated_at"],
            },
            "relationships": {"space": {"data": {"guid": s["space"]}}},
            "metadata": meta(s),
            "links": {
                "self": {"href": f"{b}/v3/service_instances/{g}"},
                "space": {"href": f"{b}/v3/spaces/{s['space']}"},
                "service_credential_bindings": {
                    "href": f"{b}/v3/service_credential_bindings?service_instance_guids={g}"
                },
                "service_route_bindings": {"href": f"{b}/v3/service_route_bindings?service_instance_guids={g}"},
            },
        }
        if s["type"] == "managed":
            view.update(
                {
                    "maintenance_info": {"version": "1.0.0"},
                    "upgrade_available": False,
                    "dashboard_url": None,
                    "broker_provided_metadata": {"labels": {}, "attributes": {}},
                }
            )
            view["links"]["shared_spaces"] = {"href": f"{b}/v3/service_instances/{g}/relationships/shared_spaces"}
            view["relationships"]["service_plan"] = {"data": {"guid": plan_guid(s["offering"], s["plan"])}}
            view["links"]["service_plan"] = {"href": f"{b}/v3/service_plans/{plan_guid(s['offering'], s['plan'])}"}
            view["links"]["parameters"] = {"href": f"{b}/v3/service_instances/{g}/parameters"}
        else:
            view.update({"syslog_drain_url": None, "route_service_url": None})
            view["links"]["credentials"] = {"href": f"{b}/v3/service_instances/{g}/credentials"}
        return view

    # -- listing -------------------------------------------------------------------------------------
    def paginate(
        req: Request,
        items: list[dict[str, Any]],
        render: Callable[[str, dict[str, Any]], dict[str, Any]],
        included: Callable[[list[dict[str, Any]]], dict[str, list[dict[str, Any]]]] | None = None,
    ) -> Response:
        per_page = req.q_int("per_page", 50)
        if not 1 <= per_page <= 5000:
            raise _bad_param("The query parameter is invalid: Per page must be between 1 and 5000")
        page = req.q_int("page", 1)
        if page < 1:
            raise _bad_param("The query parameter is invalid: Page must be greater than 0")
        order = req.q("order_by") or "created_at"
        key = order.lstrip("+-")
        if key not in _ORDER_FIELDS:
            raise _bad_param(f"The query parameter is invalid: Order by can only be: {', '.join(_ORDER_FIELDS)}")
        for field, test in _timestamp_tests(req):
            items = [o for o in items if isinstance(o.get(field), str) and test(o[field])]
        items = sorted(items, key=lambda o: (o.get(key) or "", o["guid"]), reverse=order.startswith("-"))
        selector = req.q("label_selector")
        if selector:
            items = [o for o in items if _label_match(o.get("labels") or {}, selector)]
        total = len(items)
        pages = max(1, math.ceil(total / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        base = req.base_url + req.path

        def link(p: int) -> dict[str, str]:
            params = {k: v[-1] for k, v in req.query.items() if k not in ("page", "per_page")}
            params["page"] = str(p)
            params["per_page"] = str(per_page)
            return {"href": f"{base}?{urllib.parse.urlencode(params)}"}

        body: dict[str, Any] = {
            "pagination": {
                "total_results": total,
                "total_pages": pages,
                "first": link(1),
                "last": link(pages),
                "next": link(page + 1) if page < pages else None,
                "previous": link(page - 1) if 1 < page <= pages + 1 else None,
            },
            "resources": [render(req.base_url, o) for o in chunk],
        }
        if included is not None:  # as cloud_controller_ng does: only what this page's resources refer to
            with_included(body, included(chunk))
        return json_response(body)

    def with_included(body: dict[str, Any], included: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        """``body`` with ``included`` when anything was included: CF adds the key only when one of its
        decorators wrote to it (``fields[service_plan]`` on a page of user-provided instances adds none)."""
        if included:
            body["included"] = included
        return body

    def includes(req: Request, allowed: tuple[str, ...]) -> set[str]:
        wanted = set(req.q_csv("include"))
        bad = wanted - set(allowed)
        if bad:
            raise _bad_param(f"The query parameter is invalid: Invalid included resource: '{sorted(bad)[0]}'")
        return wanted

    def filt(req: Request, name: str) -> set[str] | None:
        return set(req.q_csv(name)) if name in req.query else None

    def get_or_404(store: dict[str, dict[str, Any]], kind: str, guid: str) -> dict[str, Any]:
        obj = store.get(guid)
        if obj is None:
            raise _not_found(kind)
        return obj

    # -- root documents --------------------------------------------------------------------------------
    def root(req: Request) -> Response:
        b = req.base_url
        uaa = ctx.app.cf_uaa_url(req.root_url)
        return json_response(
            {
                "links": {
                    "self": {"href": b},
                    "cloud_controller_v2": {"href": f"{b}/v2", "meta": {"version": API_VERSION_V2}},
                    "cloud_controller_v3": {"href": f"{b}/v3", "meta": {"version": API_VERSION_V3}},
                    "network_policy_v0": {"href": f"{b}/networking/v0/external"},
                    "network_policy_v1": {"href": f"{b}/networking/v1/external"},
                    "login": {"href": uaa},
                    "uaa": {"href": uaa},
                    "credhub": None,
                    "routing": None,
                    "logging": None,
                    "log_cache": {"href": f"{b}/log-cache"},
                    "log_stream": None,
                    "app_ssh": None,
                }
            }
        )

    def v2_info(req: Request) -> Response:
        uaa = ctx.app.cf_uaa_url(req.root_url)
        return json_response(
            {
                "name": "scp-async-emulator",
                "build": "emulator",
                "support": "",
                "version": 0,
                "description": "SAP BTP Cloud Foundry (emulated)",
                "authorization_endpoint": uaa,
                "token_endpoint": uaa,
                "min_cli_version": None,
                "min_recommended_cli_version": None,
                "app_ssh_endpoint": None,
                "app_ssh_host_key_fingerprint": None,
                "app_ssh_oauth_client": "ssh-proxy",
                "doppler_logging_endpoint": None,
                "api_version": API_VERSION_V2,
                "osbapi_version": "2.15",
            }
        )

    def v3_root(req: Request) -> Response:
        b = req.base_url + "/v3"
        links: dict[str, Any] = {"self": {"href": b}, **{n: {"href": f"{b}/{n}"} for n in _V3_COLLECTIONS}}
        links["service_instances"]["experimental"] = True
        return json_response({"links": links})

    # -- organizations -------------------------------------------------------------------------------
    def list_orgs(req: Request) -> Response:
        settle()
        names, guids = filt(req, "names"), filt(req, "guids")
        items = [
            o
            for o in st.cf_orgs.values()
            if (names is None or o["name"] in names) and (guids is None or o["guid"] in guids)
        ]
        return paginate(req, items, org_view)

    def get_org(req: Request) -> Response:
        settle()
        return json_response(org_view(req.base_url, get_or_404(st.cf_orgs, "Organization", req.path_params[0])))

    def create_org(req: Request) -> Response:
        body = req.json_object()
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise _unprocessable("Name must be a string of 1 to 255 characters")
        if any(o["name"] == name for o in st.cf_orgs.values()):
            raise _unprocessable(f"Organization '{name}' already exists.")
        now = iso(st.now())
        guid = st.new_id()
        org = {"guid": guid, "name": name, "suspended": bool(body.get("suspended", False)), "created_at": now}
        org["updated_at"] = now
        _apply_metadata(org, body)
        st.cf_orgs[guid] = org
        return json_response(org_view(req.base_url, org), 201)

    def update_org(req: Request) -> Response:
        org = get_or_404(st.cf_orgs, "Organization", req.path_params[0])
        body = req.json_object()
        if "name" in body:
            name = body["name"]
            if not isinstance(name, str) or not name.strip():
                raise _unprocessable("Name must be a non-empty string")
            if any(o["name"] == name and o["guid"] != org["guid"] for o in st.cf_orgs.values()):
                raise _unprocessable(f"Organization '{name}' already exists.")
            org["name"] = name
        if isinstance(body.get("suspended"), bool):
            org["suspended"] = body["suspended"]
        _apply_metadata(org, body)
        org["updated_at"] = iso(st.now())
        return json_response(org_view(req.base_url, org))

    def delete_org(req: Request) -> Response:
        guid = req.path_params[0]
        get_or_404(st.cf_orgs, "Organization", guid)

        def action() -> None:
            st.cf_orgs.pop(guid, None)
            for sg in [g for g, s in st.cf_spaces.items() if s["org"] == guid]:
                remove_space(sg)

        return empty_response(202, job_location(req, start_job("organization.delete", guid, action)))

    # -- spaces --------------------------------------------------------------------------------------
    def remove_space(guid: str) -> None:
        st.cf_spaces.pop(guid, None)
        for store in (st.cf_apps, st.cf_service_instances):
            for g in [g for g, x in store.items() if x["space"] == guid]:
                del store[g]

    def list_spaces(req: Request) -> Response:
        settle()
        names, guids, orgs = filt(req, "names"), filt(req, "guids"), filt(req, "organization_guids")
        items = [
            s
            for s in st.cf_spaces.values()
            if (names is None or s["name"] in names)
            and (guids is None or s["guid"] in guids)
            and (orgs is None or s["org"] in orgs)
        ]
        inc = includes(req, ("organization",))
        return paginate(req, items, space_view, (lambda page: space_included(req, page)) if inc else None)

    def space_included(req: Request, spaces: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """``include=organization``: the organizations of these spaces (only those, as CF does)."""
        org_guids = sorted({s["org"] for s in spaces} & set(st.cf_orgs))
        return {"organizations": [org_view(req.base_url, st.cf_orgs[g]) for g in org_guids]}

    def get_space(req: Request) -> Response:
        settle()
        space = get_or_404(st.cf_spaces, "Space", req.path_params[0])
        body = space_view(req.base_url, space)
        if "organization" in includes(req, ("organization",)) and space["org"] in st.cf_orgs:
            body["included"] = space_included(req, [space])
        return json_response(body)

    def create_space(req: Request) -> Response:
        body = req.json_object()
        name = body.get("name")
        org_guid = _relationship(body, "organization")
        if not isinstance(name, str) or not name.strip():
            raise _unprocessable("Name must be a non-empty string")
        if org_guid not in st.cf_orgs:
            raise _unprocessable("Invalid organization. Ensure the organization exists and you have access to it.")
        if any(s["name"] == name and s["org"] == org_guid for s in st.cf_spaces.values()):
            raise _unprocessable(f"Name must be unique per organization: '{name}' is taken.")
        now = iso(st.now())
        guid = st.new_id()
        space = {"guid": guid, "name": name, "org": org_guid, "created_at": now, "updated_at": now}
        _apply_metadata(space, body)
        st.cf_spaces[guid] = space
        st.mtas.setdefault(guid, [])
        return json_response(space_view(req.base_url, space), 201)

    def update_space(req: Request) -> Response:
        space = get_or_404(st.cf_spaces, "Space", req.path_params[0])
        body = req.json_object()
        if isinstance(body.get("name"), str) and body["name"].strip():
            space["name"] = body["name"]
        _apply_metadata(space, body)
        space["updated_at"] = iso(st.now())
        return json_response(space_view(req.base_url, space))

    def delete_space(req: Request) -> Response:
        guid = req.path_params[0]
        get_or_404(st.cf_spaces, "Space", guid)
        job = start_job("space.delete", guid, lambda: remove_space(guid))
        return empty_response(202, job_location(req, job))

    # -- apps ------------------------------------------------------------------------------------------
    def list_apps(req: Request) -> Response:
        settle()
        names, guids = filt(req, "names"), filt(req, "guids")
        spaces, orgs = filt(req, "space_guids"), filt(req, "organization_guids")
        # One pass per given filter, the most selective (spaces, as an inventory lists them) first.
        items = st.cf_apps.in_spaces(spaces) if spaces is not None else list(st.cf_apps.values())
        if guids is not None:
            items = [a for a in items if a["guid"] in guids]
        if names is not None:
            items = [a for a in items if a["name"] in names]
        if orgs is not None:
            items = [a for a in items if st.cf_spaces.get(a["space"], {}).get("org") in orgs]
        inc = includes(req, ("space", "space.organization"))
        return paginate(req, items, app_view, (lambda page: app_included(req, page, inc)) if inc else None)

    def app_included(req: Request, apps: list[dict[str, Any]], inc: set[str]) -> dict[str, list[dict[str, Any]]]:
        """``include=space`` / ``space.organization``: the spaces (and orgs) of these apps only."""
        spaces = [st.cf_spaces[g] for g in sorted({a["space"] for a in apps} & set(st.cf_spaces))]
        out = {"spaces": [space_view(req.base_url, space) for space in spaces]}
        if "space.organization" in inc:
            out |= space_included(req, spaces)
        return out

    def get_app(req: Request) -> Response:
        settle()
        app = get_or_404(st.cf_apps, "App", req.path_params[0])
        body = app_view(req.base_url, app)
        inc = includes(req, ("space", "space.organization"))
        if inc and app["space"] in st.cf_spaces:
            body["included"] = app_included(req, [app], inc)
        return json_response(body)

    def create_app(req: Request) -> Response:
        body = req.json_object()
        name = body.get("name")
        space_guid = _relationship(body, "space")
        if not isinstance(name, str) or not name.strip():
            raise _unprocessable("Name must be a non-empty string")
        if space_guid not in st.cf_spaces:
            raise _unprocessable("Invalid space. Ensure that the space exists and you have access to it.")
        if any(a["name"] == name and a["space"] == space_guid for a in st.cf_apps.values()):
            raise _unprocessable(f"App with the name '{name}' already exists.")
        now = iso(st.now())
        guid = st.new_id()
        lifecycle = body.get("lifecycle")
        data = lifecycle.get("data") if isinstance(lifecycle, dict) else None
        buildpacks = data.get("buildpacks") if isinstance(data, dict) else None
        app = {
            "guid": guid,
            "name": name,
            "state": "STOPPED",
            "space": space_guid,
            "created_at": now,
            "updated_at": now,
            "buildpacks": [str(b) for b in buildpacks] if isinstance(buildpacks, list) else [],
        }
        _apply_metadata(app, body)
        st.cf_apps[guid] = app
        return json_response(app_view(req.base_url, app), 201)

    def update_app(req: Request) -> Response:
        app = get_or_404(st.cf_apps, "App", req.path_params[0])
        body = req.json_object()
        if isinstance(body.get("name"), str) and body["name"].strip():
            app["name"] = body["name"]
        _apply_metadata(app, body)
        app["updated_at"] = iso(st.now())
        return json_response(app_view(req.base_url, app))

    def app_action(state: str) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            app = get_or_404(st.cf_apps, "App", req.path_params[0])
            app["state"] = state
            app["updated_at"] = iso(st.now())
            return json_response(app_view(req.base_url, app))

        return handler

    def delete_app(req: Request) -> Response:
        guid = req.path_params[0]
        get_or_404(st.cf_apps, "App", guid)
        job = start_job("app.delete", guid, lambda: _drop(st.cf_apps, guid))
        return empty_response(202, job_location(req, job))

    # -- service instances ----------------------------------------------------------------------------
    def list_sis(req: Request) -> Response:
        settle()
        names, guids = filt(req, "names"), filt(req, "guids")
        spaces, orgs = filt(req, "space_guids"), filt(req, "organization_guids")
        kind = req.q("type")
        items = [
            s
            for s in st.cf_service_instances.values()
            if (names is None or s["name"] in names)
            and (guids is None or s["guid"] in guids)
            and (spaces is None or s["space"] in spaces)
            and (orgs is None or st.cf_spaces.get(s["space"], {}).get("org") in orgs)
            and (kind is None or s["type"] == kind)
        ]
        fields = _requested_fields(req, _SI_LIST_FIELDS)
        return paginate(req, items, si_view, (lambda page: si_fields_included(page, fields)) if fields else None)

    def get_si(req: Request) -> Response:
        settle()
        # CF looks the instance up before it reads the query: an unknown guid is a 404 whatever the fields
        si = get_or_404(st.cf_service_instances, "Service instance", req.path_params[0])
        fields = _requested_fields(req, _SI_GET_FIELDS)
        return json_response(with_included(si_view(req.base_url, si), si_fields_included([si], fields)))

    # -- fields: the parents of what is listed, cut down to the keys asked for ---------------------------
    def restricted(parts: list[tuple[str, Any]], keys: frozenset[str]) -> dict[str, Any]:
        """One included resource with only the asked ``keys``, in the order CF writes them (``parts``, all
        the keys a path allows with their values). A dotted key is nested: ``relationships.organization``
        is ``{"relationships": {"organization": ...}}``."""
        out: dict[str, Any] = {}
        for key, value in parts:
            if key in keys:
                head, _, tail = key.partition(".")
                if tail:
                    out.setdefault(head, {})[tail] = value
                else:
                    out[head] = value
        return out

    def in_cf_order(store: dict[str, dict[str, Any]], guids: Iterable[str | None]) -> list[dict[str, Any]]:
        """The stored resources of ``guids`` (each once, the ones still there) as CF's field decorators list
        them: oldest first, then by guid."""
        found = {g for g in guids if g is not None and g in store}
        return sorted((store[g] for g in found), key=lambda o: (o["created_at"], o["guid"]))

    def space_parts(s: dict[str, Any]) -> list[tuple[str, Any]]:
        return [("guid", s["guid"]), ("name", s["name"]), ("relationships.organization", {"data": {"guid": s["org"]}})]

    def org_parts(o: dict[str, Any]) -> list[tuple[str, Any]]:
        return [("guid", o["guid"]), ("name", o["name"])]

    def plan_parts(p: dict[str, Any]) -> list[tuple[str, Any]]:
        return [
            ("guid", p["guid"]),
            ("name", p["name"]),
            ("relationships.service_offering", {"data": {"guid": p["offering"]}}),
        ]

    def offering_parts(o: dict[str, Any]) -> list[tuple[str, Any]]:
        return [
            ("name", o["name"]),
            ("guid", o["guid"]),
            ("description", o["description"]),
            ("tags", list(o["tags"])),
            ("documentation_url", None),  # as offering_view: the seeded catalogue names none
            ("relationships.service_broker", {"data": {"guid": BROKER_GUID}}),
        ]

    def broker_parts() -> list[tuple[str, Any]]:
        return [("name", BROKER_NAME), ("guid", BROKER_GUID)]

    def si_fields_included(
        sis: list[dict[str, Any]], fields: dict[str, frozenset[str]]
    ) -> dict[str, list[dict[str, Any]]]:
        """``fields[...]`` of service instances: the spaces, orgs, plans, offerings and broker of these
        instances only. Spaces and orgs are listed whenever asked (an empty list for an empty page); the
        marketplace ones only when the page holds a managed instance, since user-provided ones have no plan
        and CF's decorators then add nothing. Keys come in the order CF's decorators run."""
        out: dict[str, list[dict[str, Any]]] = {}
        spaces = in_cf_order(st.cf_spaces, (s["space"] for s in sis))
        if "space" in fields:
            out["spaces"] = [restricted(space_parts(s), fields["space"]) for s in spaces]
        if "space.organization" in fields:
            orgs = in_cf_order(st.cf_orgs, (s["org"] for s in spaces))
            out["organizations"] = [restricted(org_parts(o), fields["space.organization"]) for o in orgs]
        managed = [s for s in sis if s["type"] == "managed"]
        if not managed:
            return out
        # an instance created here names an offering outside the seeded marketplace: it has no plan to show
        plans = in_cf_order(st.cf_plans, (plan_guid(s["offering"], s["plan"]) for s in managed))
        if "service_plan" in fields:
            out["service_plans"] = [restricted(plan_parts(p), fields["service_plan"]) for p in plans]
        if "service_plan.service_offering" in fields:
            keys = fields["service_plan.service_offering"]
            offerings = in_cf_order(st.cf_offerings, (p["offering"] for p in plans))
            out["service_offerings"] = [restricted(offering_parts(o), keys) for o in offerings]
        if "service_plan.service_offering.service_broker" in fields:
            keys = fields["service_plan.service_offering.service_broker"]
            out["service_brokers"] = [restricted(broker_parts(), keys)] if plans else []
        return out

    def broker_included(listed: list[dict[str, Any]], keys: frozenset[str]) -> dict[str, list[dict[str, Any]]]:
        """``fields[service_broker]`` of offerings, ``fields[service_offering.service_broker]`` of plans: the
        broker of what is listed (the one broker of the seeded marketplace; none for an empty page)."""
        return {"service_brokers": [restricted(broker_parts(), keys)] if listed else []}

    def create_si(req: Request) -> Response:
        body = req.json_object()
        name, kind = body.get("name"), body.get("type")
        space_guid = _relationship(body, "space")
        if kind not in ("managed", "user-provided"):
            raise _unprocessable("Type must be one of 'managed', 'user-provided'")
        if not isinstance(name, str) or not name.strip():
            raise _unprocessable("Name must be a non-empty string")
        if space_guid not in st.cf_spaces:
            raise _unprocessable("Invalid space. Ensure that the space exists and you have access to it.")
        if any(s["name"] == name and s["space"] == space_guid for s in st.cf_service_instances.values()):
            raise _unprocessable(f"The service instance name is taken: {name}.")
        now = iso(st.now())
        guid = st.new_id()
        si = {
            "guid": guid,
            "name": name,
            "type": kind,
            "space": space_guid,
            "plan": "standard",
            "offering": "emulated",
            "created_at": now,
            "updated_at": now,
            "state": "succeeded" if kind == "user-provided" else "in progress",
            "op_type": "create",
            "tags": [str(t) for t in body.get("tags") or () if isinstance(t, str)],
        }
        _apply_metadata(si, body)
        st.cf_service_instances[guid] = si
        if kind == "user-provided":
            return json_response(si_view(req.base_url, si), 201)

        def done() -> None:
            si["state"] = "succeeded"
            si["updated_at"] = iso(st.now())

        return empty_response(202, job_location(req, start_job("service_instance.create", guid, done)))

    def delete_si(req: Request) -> Response:
        guid = req.path_params[0]
        si = get_or_404(st.cf_service_instances, "Service instance", guid)
        if si["type"] == "user-provided":
            del st.cf_service_instances[guid]
            return empty_response(204)
        si["state"], si["op_type"] = "in progress", "delete"
        job = start_job("service_instance.delete", guid, lambda: _drop(st.cf_service_instances, guid))
        return empty_response(202, job_location(req, job))

    def get_job(req: Request) -> Response:
        settle()
        job = st.cf_jobs.get(req.path_params[0])
        if job is None:
            raise _not_found("Job")
        done = st.now() >= job.until
        return json_response(
            {
                "guid": job.id,
                "created_at": iso(job.created),
                "updated_at": iso(job.until if done else job.created),
                "operation": job.kind,
                "state": "COMPLETE" if done else "PROCESSING",
                "errors": [],
                "warnings": [],
                "links": {"self": {"href": f"{req.base_url}/v3/jobs/{job.id}"}},
            }
        )

    # -- what CF clients list besides orgs, spaces and apps ------------------------------------------------
    def by(req: Request, obj: dict[str, Any], filters: dict[str, Callable[[dict[str, Any]], Any]]) -> bool:
        """True when ``obj`` passes every ``<name>`` filter of the request (comma-separated values)."""
        for name, value_of in filters.items():
            wanted = filt(req, name)
            if wanted is None:
                continue
            value = value_of(obj)
            values = set(value) if isinstance(value, (list, set, tuple)) else {value}
            if not values & wanted:
                return False
        return True

    def space_of_app(app_guid: str | None) -> str | None:
        app = st.cf_apps.get(app_guid or "")
        return app["space"] if app else None

    def org_of_space(space_guid: str | None) -> str | None:
        space = st.cf_spaces.get(space_guid or "")
        return space["org"] if space else None

    def domain_view(b: str, d: dict[str, Any]) -> dict[str, Any]:
        g = d["guid"]
        org = d["org"]
        links: dict[str, Any] = {
            "self": {"href": f"{b}/v3/domains/{g}"},
            "route_reservations": {"href": f"{b}/v3/domains/{g}/route_reservations"},
        }
        if org is not None:
            links["organization"] = {"href": f"{b}/v3/organizations/{org}"}
            links["shared_organizations"] = {"href": f"{b}/v3/domains/{g}/relationships/shared_organizations"}
        return {
            "guid": g,
            "created_at": d["created_at"],
            "updated_at": d["updated_at"],
            "name": d["name"],
            "internal": d["internal"],
            "router_group": None,
            "supported_protocols": ["http"],
            "metadata": meta(d),
            "relationships": {
                "organization": {"data": {"guid": org} if org else None},
                "shared_organizations": {"data": []},
            },
            "links": links,
        }

    def destination_view(r: dict[str, Any], dest: dict[str, Any]) -> dict[str, Any]:
        return {
            "guid": dest["guid"],
            "app": {"guid": dest["app"], "process": {"type": dest["process"]}},
            "weight": None,
            "port": dest["port"],
            "protocol": "http1",
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
        }

    def route_view(b: str, r: dict[str, Any]) -> dict[str, Any]:
        g = r["guid"]
        domain = st.cf_domains.get(r["domain"])
        host = f"{r['host']}.{domain['name']}" if domain and r["host"] else (domain or {}).get("name", "")
        return {
            "guid": g,
            "protocol": "http",
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
            "host": r["host"],
            "path": r["path"],
            "url": host + r["path"],
            "destinations": [destination_view(r, d) for d in r["destinations"]],
            "options": {"loadbalancing": "round-robin"},
            "metadata": meta(r),
            "relationships": {"space": {"data": {"guid": r["space"]}}, "domain": {"data": {"guid": r["domain"]}}},
            "links": {
                "self": {"href": f"{b}/v3/routes/{g}"},
                "space": {"href": f"{b}/v3/spaces/{r['space']}"},
                "domain": {"href": f"{b}/v3/domains/{r['domain']}"},
                "destinations": {"href": f"{b}/v3/routes/{g}/destinations"},
            },
        }

    def process_view(b: str, p: dict[str, Any]) -> dict[str, Any]:
        g = p["guid"]
        return {
            "guid": g,
            "type": p["type"],
            "command": p["command"],
            "user": "vcap",
            "instances": p["instances"],
            "memory_in_mb": p["memory_in_mb"],
            "disk_in_mb": p["disk_in_mb"],
            "log_rate_limit_in_bytes_per_second": -1,
            "health_check": {"type": "port", "data": {"timeout": None, "invocation_timeout": None, "interval": None}},
            "readiness_health_check": {"type": "process", "data": {"invocation_timeout": None, "interval": None}},
            "relationships": {
                "app": {"data": {"guid": p["app"]}},
                "revision": {"data": {"guid": derived_id(p["app"], "revision")}},
            },
            "metadata": meta(p),
            "created_at": p["created_at"],
            "updated_at": p["updated_at"],
            "version": derived_id(g, "version"),
            "links": {
                "self": {"href": f"{b}/v3/processes/{g}"},
                "scale": {"href": f"{b}/v3/processes/{g}/actions/scale", "method": "POST"},
                "app": {"href": f"{b}/v3/apps/{p['app']}"},
                "space": {"href": f"{b}/v3/spaces/{space_of_app(p['app'])}"},
                "stats": {"href": f"{b}/v3/processes/{g}/stats"},
                "process_instances": {"href": f"{b}/v3/processes/{g}/process_instances"},
            },
        }

    def settle_task(t: dict[str, Any]) -> dict[str, Any]:
        until = t.get("_until")
        if until is not None and st.now() >= until:
            t.pop("_until")
            t["state"] = "SUCCEEDED"
            t["updated_at"] = iso(until)
        return t

    def task_list_view(b: str, t: dict[str, Any]) -> dict[str, Any]:
        # CF leaves the command out of lists (it may hold secrets); one task read by guid carries it
        view = task_view(b, t)
        del view["command"]
        return view

    def task_view(b: str, t: dict[str, Any]) -> dict[str, Any]:
        settle_task(t)
        g, droplet = t["guid"], derived_id(t["app"], "droplet")
        return {
            "guid": g,
            "sequence_id": t["sequence_id"],
            "name": t["name"],
            "command": t["command"],
            "user": "vcap",
            "state": t["state"],
            "memory_in_mb": t["memory_in_mb"],
            "disk_in_mb": t["disk_in_mb"],
            "log_rate_limit_in_bytes_per_second": -1,
            "result": {"failure_reason": t.get("failure_reason")},
            "droplet_guid": droplet,
            "metadata": meta(t),
            "created_at": t["created_at"],
            "updated_at": t["updated_at"],
            "relationships": {"app": {"data": {"guid": t["app"]}}},
            "links": {
                "self": {"href": f"{b}/v3/tasks/{g}"},
                "app": {"href": f"{b}/v3/apps/{t['app']}"},
                "cancel": {"href": f"{b}/v3/tasks/{g}/actions/cancel", "method": "POST"},
                "droplet": {"href": f"{b}/v3/droplets/{droplet}"},
            },
        }

    def offering_view(b: str, o: dict[str, Any]) -> dict[str, Any]:
        g = o["guid"]
        return {
            "guid": g,
            "name": o["name"],
            "description": o["description"],
            "available": True,
            "tags": list(o["tags"]),
            "requires": [],
            "created_at": o["created_at"],
            "updated_at": o["updated_at"],
            "shareable": True,
            "documentation_url": None,
            "broker_catalog": {
                "id": derived_id(g, "catalog"),
                "metadata": {"shareable": True},
                "features": {
                    "plan_updateable": False,
                    "bindable": True,
                    "instances_retrievable": True,
                    "bindings_retrievable": True,
                    "allow_context_updates": False,
                },
            },
            "relationships": {"service_broker": {"data": {"guid": BROKER_GUID}}},
            "metadata": meta(o),
            "links": {
                "self": {"href": f"{b}/v3/service_offerings/{g}"},
                "service_plans": {"href": f"{b}/v3/service_plans?service_offering_guids={g}"},
                "service_broker": {"href": f"{b}/v3/service_brokers/{BROKER_GUID}"},
            },
        }

    def plan_view(b: str, p: dict[str, Any]) -> dict[str, Any]:
        g = p["guid"]
        return {
            "guid": g,
            "name": p["name"],
            "description": p["description"],
            "visibility_type": "public",
            "available": True,
            "free": p["free"],
            "costs": [{"currency": "EUR", "amount": 0.0 if p["free"] else 99.0, "unit": "Monthly"}],
            "created_at": p["created_at"],
            "updated_at": p["updated_at"],
            "maintenance_info": {"version": "1.0.0", "description": "Initial version"},
            "broker_catalog": {
                "id": derived_id(g, "catalog"),
                "metadata": {},
                "maximum_polling_duration": None,
                "features": {"plan_updateable": False, "bindable": True},
            },
            "schemas": {
                "service_instance": {"create": {"parameters": {}}, "update": {"parameters": {}}},
                "service_binding": {"create": {"parameters": {}}},
            },
            "relationships": {"service_offering": {"data": {"guid": p["offering"]}}},
            "metadata": meta(p),
            "links": {
                "self": {"href": f"{b}/v3/service_plans/{g}"},
                "service_offering": {"href": f"{b}/v3/service_offerings/{p['offering']}"},
                "visibility": {"href": f"{b}/v3/service_plans/{g}/visibility"},
            },
        }

    def credential_binding_view(b: str, c: dict[str, Any]) -> dict[str, Any]:
        g, si = c["guid"], c["service_instance"]
        relationships: dict[str, Any] = {"service_instance": {"data": {"guid": si}}}
        links: dict[str, Any] = {
            "self": {"href": f"{b}/v3/service_credential_bindings/{g}"},
            "details": {"href": f"{b}/v3/service_credential_bindings/{g}/details"},
            "parameters": {"href": f"{b}/v3/service_credential_bindings/{g}/parameters"},
            "service_instance": {"href": f"{b}/v3/service_instances/{si}"},
        }
        if c["app"] is not None:
            relationships["app"] = {"data": {"guid": c["app"]}}
            links["app"] = {"href": f"{b}/v3/apps/{c['app']}"}
        return {
            "guid": g,
            "created_at": c["created_at"],
            "updated_at": c["updated_at"],
            "name": c["name"],
            "type": c["type"],
            "last_operation": {
                "type": "create",
                "state": "succeeded",
                "created_at": c["created_at"],
                "updated_at": c["updated_at"],
            },
            "metadata": meta(c),
            "relationships": relationships,
            "links": links,
        }

    def route_binding_view(b: str, rb: dict[str, Any]) -> dict[str, Any]:
        g = rb["guid"]
        return {
            "guid": g,
            "created_at": rb["created_at"],
            "updated_at": rb["updated_at"],
            "route_service_url": rb["route_service_url"],
            "last_operation": {
                "type": "create",
                "state": "succeeded",
                "description": "Operation succeeded",
                "created_at": rb["created_at"],
                "updated_at": rb["updated_at"],
            },
            "metadata": meta(rb),
            "relationships": {
                "service_instance": {"data": {"guid": rb["service_instance"]}},
                "route": {"data": {"guid": rb["route"]}},
            },
            "links": {
                "self": {"href": f"{b}/v3/service_route_bindings/{g}"},
                "service_instance": {"href": f"{b}/v3/service_instances/{rb['service_instance']}"},
                "route": {"href": f"{b}/v3/routes/{rb['route']}"},
                "parameters": {"href": f"{b}/v3/service_route_bindings/{g}/parameters"},
            },
        }

    def listing(
        store: dict[str, dict[str, Any]],
        render: Callable[[str, dict[str, Any]], dict[str, Any]],
        filters: dict[str, Callable[[dict[str, Any]], Any]],
        scope: Callable[[Request, dict[str, Any]], bool] | None = None,
    ) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            settle()
            items = [o for o in store.values() if by(req, o, filters) and (scope is None or scope(req, o))]
            return paginate(req, items, render)

        return handler

    def getter(
        store: dict[str, dict[str, Any]], kind: str, render: Callable[[str, dict[str, Any]], dict[str, Any]]
    ) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            settle()
            return json_response(render(req.base_url, get_or_404(store, kind, req.path_params[0])))

        return handler

    def in_app(req: Request, obj: dict[str, Any]) -> bool:
        return bool(obj["app"] == req.path_params[0])

    def app_scoped(
        store: dict[str, dict[str, Any]],
        render: Callable[[str, dict[str, Any]], dict[str, Any]],
        filters: dict[str, Callable[[dict[str, Any]], Any]],
    ) -> Callable[[Request], Response]:
        inner = listing(store, render, filters, in_app)

        def handler(req: Request) -> Response:
            get_or_404(st.cf_apps, "App", req.path_params[0])
            return inner(req)

        return handler

    route_filters: dict[str, Callable[[dict[str, Any]], Any]] = {
        "guids": lambda r: r["guid"],
        "hosts": lambda r: r["host"],
        "paths": lambda r: r["path"],
        "domain_guids": lambda r: r["domain"],
        "space_guids": lambda r: r["space"],
        "organization_guids": lambda r: org_of_space(r["space"]),
        "app_guids": lambda r: [d["app"] for d in r["destinations"]],
    }

    def route_included(req: Request, routes: list[dict[str, Any]], inc: set[str]) -> dict[str, list[dict[str, Any]]]:
        """``include=domain`` / ``space`` / ``space.organization``: what these routes refer to, only that."""
        out: dict[str, list[dict[str, Any]]] = {}
        if "domain" in inc:
            guids = sorted({r["domain"] for r in routes} & set(st.cf_domains))
            out["domains"] = [domain_view(req.base_url, st.cf_domains[g]) for g in guids]
        if inc & {"space", "space.organization"}:
            spaces = [st.cf_spaces[g] for g in sorted({r["space"] for r in routes} & set(st.cf_spaces))]
            out["spaces"] = [space_view(req.base_url, space) for space in spaces]
            if "space.organization" in inc:
                out |= space_included(req, spaces)
        return out

    def list_routes(req: Request) -> Response:
        settle()
        inc = includes(req, ("domain", "space", "space.organization"))
        items = [r for r in st.cf_routes.values() if by(req, r, route_filters)]
        return paginate(req, items, route_view, (lambda page: route_included(req, page, inc)) if inc else None)

    def list_app_routes(req: Request) -> Response:
        get_or_404(st.cf_apps, "App", req.path_params[0])
        app_guid = req.path_params[0]
        items = [r for r in st.cf_routes.values() if any(d["app"] == app_guid for d in r["destinations"])]
        return paginate(req, [r for r in items if by(req, r, route_filters)], route_view)

    def route_destinations(req: Request) -> Response:
        route = get_or_404(st.cf_routes, "Route", req.path_params[0])
        b, g = req.base_url, route["guid"]
        wanted = filt(req, "app_guids")
        return json_response(
            {
                "destinations": [
                    destination_view(route, d) for d in route["destinations"] if wanted is None or d["app"] in wanted
                ],
                "links": {"self": {"href": f"{b}/v3/routes/{g}/destinations"}, "route": {"href": f"{b}/v3/routes/{g}"}},
            }
        )

    def create_route(req: Request) -> Response:
        body = req.json_object()
        space_guid, domain_guid = _relationship(body, "space"), _relationship(body, "domain")
        if space_guid not in st.cf_spaces:
            raise _unprocessable("Invalid space. Ensure that the space exists and you have access to it.")
        if domain_guid not in st.cf_domains:
            raise _unprocessable("Invalid domain. Ensure that the domain exists and you have access to it.")
        host, path = body.get("host") or "", body.get("path") or ""
        if not isinstance(host, str) or not isinstance(path, str):
            raise _unprocessable("Host and path must be strings")
        if any(r["host"] == host and r["path"] == path and r["domain"] == domain_guid for r in st.cf_routes.values()):
            raise _unprocessable(f"Route already exists with host '{host}' for domain.")
        now = iso(st.now())
        guid = st.new_id()
        route = {
            "guid": guid,
            "host": host,
            "path": path,
            "domain": domain_guid,
            "space": space_guid,
            "destinations": [],
            "created_at": now,
            "updated_at": now,
        }
        _apply_metadata(route, body)
        st.cf_routes[guid] = route
        return json_response(route_view(req.base_url, route), 201)

    def delete_route(req: Request) -> Response:
        guid = req.path_params[0]
        get_or_404(st.cf_routes, "Route", guid)
        return empty_response(
            202, job_location(req, start_job("route.delete", guid, lambda: _drop(st.cf_routes, guid)))
        )

    def visible_domain(req: Request, d: dict[str, Any]) -> bool:
        return d["org"] is None or d["org"] == req.path_params[0]

    def list_org_domains(req: Request) -> Response:
        get_or_404(st.cf_orgs, "Organization", req.path_params[0])
        return listing(st.cf_domains, domain_view, domain_filters, visible_domain)(req)

    def default_domain(req: Request) -> Response:
        get_or_404(st.cf_orgs, "Organization", req.path_params[0])
        shared = sorted((d for d in st.cf_domains.values() if d["org"] is None), key=lambda d: d["created_at"])
        if not shared:
            raise _not_found("Domain")
        return json_response(domain_view(req.base_url, shared[0]))

    domain_filters: dict[str, Callable[[dict[str, Any]], Any]] = {
        "guids": lambda d: d["guid"],
        "names": lambda d: d["name"],
        "organization_guids": lambda d: d["org"],
    }
    process_filters: dict[str, Callable[[dict[str, Any]], Any]] = {
        "guids": lambda p: p["guid"],
        "types": lambda p: p["type"],
        "app_guids": lambda p: p["app"],
        "space_guids": lambda p: space_of_app(p["app"]),
        "organization_guids": lambda p: org_of_space(space_of_app(p["app"])),
    }

    def app_process(req: Request) -> Response:
        get_or_404(st.cf_apps, "App", req.path_params[0])
        for p in st.cf_processes.values():
            if p["app"] == req.path_params[0] and p["type"] == req.path_params[1]:
                return json_response(process_view(req.base_url, p))
        raise _not_found("Process")

    task_filters: dict[str, Callable[[dict[str, Any]], Any]] = {
        "guids": lambda t: t["guid"],
        "names": lambda t: t["name"],
        "states": lambda t: settle_task(t)["state"],
        "app_guids": lambda t: t["app"],
        "space_guids": lambda t: space_of_app(t["app"]),
        "organization_guids": lambda t: org_of_space(space_of_app(t["app"])),
        "sequence_ids": lambda t: str(t["sequence_id"]),
    }

    def create_task(req: Request) -> Response:
        app = get_or_404(st.cf_apps, "App", req.path_params[0])
        body = req.json_object()
        command = body.get("command")
        if command is None and isinstance(body.get("template"), dict):
            command = "npm start"  # the template process's command, as CF copies it
        if not isinstance(command, str) or not command.strip():
            raise _unprocessable("Command must be a non-empty string")
        sizes = {}
        for key, default in (("memory_in_mb", 256), ("disk_in_mb", 1024)):
            value = body.get(key)
            if value is None:
                value = default
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _unprocessable(f"{key.replace('_', ' ').capitalize()} must be a positive integer")
            sizes[key] = value
        name = body.get("name")
        guid = st.new_id()
        if name is None:
            name = guid[:8]
        if not isinstance(name, str):
            raise _unprocessable("Name must be a string")
        sequence = 1 + max((t["sequence_id"] for t in st.cf_tasks.values() if t["app"] == app["guid"]), default=0)
        now = st.now()
        task = {
            "guid": guid,
            "app": app["guid"],
            "sequence_id": sequence,
            "name": name,
            "command": command,
            "state": "RUNNING",
            **sizes,
            "created_at": iso(now),
            "updated_at": iso(now),
            "_until": now + ctx.config.transition_delay,
        }
        _apply_metadata(task, body)
        st.cf_tasks[guid] = task
        _trim(st.cf_tasks, 20_000)
        return json_response(task_view(req.base_url, task), 202)

    def cancel_task(req: Request) -> Response:
        task = settle_task(get_or_404(st.cf_tasks, "Task", req.path_params[0]))
        if task["state"] in ("SUCCEEDED", "FAILED"):
            raise _unprocessable(f"Task state is {task['state']} and therefore cannot be canceled")
        task.pop("_until", None)
        task["state"] = "FAILED"
        task["failure_reason"] = "task was cancelled"
        task["updated_at"] = iso(st.now())
        return json_response(task_view(req.base_url, task), 202)

    offering_filters: dict[str, Callable[[dict[str, Any]], Any]] = {
        "guids": lambda o: o["guid"],
        "names": lambda o: o["name"],
        "service_broker_guids": lambda o: BROKER_GUID,
        "available": lambda o: "true",
    }
    plan_filters: dict[str, Callable[[dict[str, Any]], Any]] = {
        "guids": lambda p: p["guid"],
        "names": lambda p: p["name"],
        "service_offering_guids": lambda p: p["offering"],
        "service_offering_names": lambda p: st.cf_offerings.get(p["offering"], {}).get("name"),
        "service_broker_guids": lambda p: BROKER_GUID,
        "available": lambda p: "true",
    }

    def list_offerings(req: Request) -> Response:
        settle()
        fields = _requested_fields(req, _OFFERING_FIELDS)
        items = [o for o in st.cf_offerings.values() if by(req, o, offering_filters)]
        return paginate(req, items, offering_view, (lambda page: offering_included(page, fields)) if fields else None)

    def get_offering(req: Request) -> Response:
        settle()
        # CF looks the offering up before it reads the query: an unknown guid is a 404 whatever the fields
        offering = get_or_404(st.cf_offerings, "Service offering", req.path_params[0])
        fields = _requested_fields(req, _OFFERING_FIELDS)
        return json_response(
            with_included(offering_view(req.base_url, offering), offering_included([offering], fields))
        )

    def offering_included(
        offerings: list[dict[str, Any]], fields: dict[str, frozenset[str]]
    ) -> dict[str, list[dict[str, Any]]]:
        return broker_included(offerings, fields["service_broker"]) if "service_broker" in fields else {}

    plan_includes = ("space.organization", "service_offering")

    def list_plans(req: Request) -> Response:
        settle()
        inc, fields = includes(req, plan_includes), _requested_fields(req, _PLAN_FIELDS)
        items = [p for p in st.cf_plans.values() if by(req, p, plan_filters)]
        extra = (lambda page: plan_included(req, page, inc, fields)) if inc or fields else None
        return paginate(req, items, plan_view, extra)

    def get_plan(req: Request) -> Response:
        settle()
        # unlike instances and offerings, CF reads a plan's query first: a bad include or field is a 400 even
        # for an unknown guid
        inc, fields = includes(req, plan_includes), _requested_fields(req, _PLAN_FIELDS)
        plan = get_or_404(st.cf_plans, "Service plan", req.path_params[0])
        return json_response(with_included(plan_view(req.base_url, plan), plan_included(req, [plan], inc, fields)))

    def plan_included(
        req: Request, plans: list[dict[str, Any]], inc: set[str], fields: dict[str, frozenset[str]]
    ) -> dict[str, list[dict[str, Any]]]:
        """``include=`` and ``fields[...]`` of plans in one ``included``, in the order CF's decorators run
        (includes first). They never name the same key, so nothing is merged: ``include`` gives whole
        resources, ``fields`` only the broker's asked keys."""
        out: dict[str, list[dict[str, Any]]] = {}
        if "space.organization" in inc:
            # CF lists the spaces (and their orgs) of space-scoped brokers; the seeded broker is global
            out["spaces"], out["organizations"] = [], []
        if "service_offering" in inc:
            offerings = in_cf_order(st.cf_offerings, (p["offering"] for p in plans))
            out["service_offerings"] = [offering_view(req.base_url, o) for o in offerings]
        if "service_offering.service_broker" in fields:
            out |= broker_included(plans, fields["service_offering.service_broker"])
        return out

    binding_filters: dict[str, Callable[[dict[str, Any]], Any]] = {
        "guids": lambda c: c["guid"],
        "names": lambda c: c["name"],
        "type": lambda c: c["type"],
        "app_guids": lambda c: c["app"],
        "app_names": lambda c: st.cf_apps.get(c["app"] or "", {}).get("name"),
        "service_instance_guids": lambda c: c["service_instance"],
        "service_instance_names": lambda c: st.cf_service_instances.get(c["service_instance"], {}).get("name"),
        "service_plan_guids": lambda c: plan_of(c["service_instance"]),
    }

    def plan_of(si_guid: str) -> str | None:
        si = st.cf_service_instances.get(si_guid)
        return plan_guid(si["offering"], si["plan"]) if si else None

    def binding_details(req: Request) -> Response:
        binding = get_or_404(st.cf_credential_bindings, "Service credential binding", req.path_params[0])
        return json_response(
            {"credentials": dict(binding["credentials"]), "syslog_drain_url": None, "volume_mounts": []}
        )

    def create_credential_binding(req: Request) -> Response:
        body = req.json_object()
        kind = body.get("type")
        if kind not in ("app", "key"):
            raise _unprocessable("Type must be one of 'app', 'key'")
        si = st.cf_service_instances.get(_relationship(body, "service_instance") or "")
        if si is None:
            raise _unprocessable("The service instance could not be found.")
        app_guid = _relationship(body, "app")
        if kind == "app" and app_guid not in st.cf_apps:
            raise _unprocessable("The app could not be found.")
        name = body.get("name")
        if kind == "key" and (not isinstance(name, str) or not name.strip()):
            raise _unprocessable("Name must be a non-empty string")
        now = iso(st.now())
        guid = st.new_id()
        binding = {
            "guid": guid,
            "name": name if isinstance(name, str) else None,
            "type": kind,
            "app": app_guid if kind == "app" else None,
            "service_instance": si["guid"],
            "credentials": {
                "url": f"https://{si['offering']}.example.com",
                "clientid": f"sb-{guid[:8]}",
                "clientsecret": derived_id(guid, "secret"),
            },
            "created_at": now,
            "updated_at": now,
        }
        _apply_metadata(binding, body)
        st.cf_credential_bindings[guid] = binding
        if si["type"] == "user-provided":
            return json_response(credential_binding_view(req.base_url, binding), 201)
        return empty_response(202, job_location(req, start_job("service_bindings.create", guid, lambda: None)))

    def delete_credential_binding(req: Request) -> Response:
        guid = req.path_params[0]
        get_or_404(st.cf_credential_bindings, "Service credential binding", guid)
        job = start_job("service_bindings.delete", guid, lambda: _drop(st.cf_credential_bindings, guid))
        return empty_response(202, job_location(req, job))

    route_binding_filters: dict[str, Callable[[dict[str, Any]], Any]] = {
        "guids": lambda rb: rb["guid"],
        "route_guids": lambda rb: rb["route"],
        "service_instance_guids": lambda rb: rb["service_instance"],
        "service_instance_names": lambda rb: st.cf_service_instances.get(rb["service_instance"], {}).get("name"),
    }

    def create_route_binding(req: Request) -> Response:
        body = req.json_object()
        si = st.cf_service_instances.get(_relationship(body, "service_instance") or "")
        route = st.cf_routes.get(_relationship(body, "route") or "")
        if si is None or route is None:
            raise _unprocessable("The service instance or the route could not be found.")
        now = iso(st.now())
        guid = st.new_id()
        rb = {
            "guid": guid,
            "service_instance": si["guid"],
            "route": route["guid"],
            "route_service_url": si.get("route_service_url") or f"https://{si['name']}.route-service.example.com",
            "created_at": now,
            "updated_at": now,
        }
        _apply_metadata(rb, body)
        st.cf_route_bindings[guid] = rb
        return json_response(route_binding_view(req.base_url, rb), 201)

    # -- stacks ----------------------------------------------------------------------------------------------
    def stack_view(b: str, s: dict[str, Any]) -> dict[str, Any]:
        return {
            "guid": s["guid"],
            "created_at": s["created_at"],
            "updated_at": s["updated_at"],
            "name": s["name"],
            "description": s["description"],
            "state": s["state"],
            "state_reason": s["state_reason"],
            "build_rootfs_image": s["name"],
            "run_rootfs_image": s["name"],
            "default": s["default"],
            "metadata": meta(s),
            "links": {"self": {"href": f"{b}/v3/stacks/{s['guid']}"}},
        }

    stack_filters: dict[str, Callable[[dict[str, Any]], Any]] = {
        "guids": lambda s: s["guid"],
        "names": lambda s: s["name"],
        "default": lambda s: str(s["default"]).lower(),
    }

    def stack_apps(req: Request) -> Response:
        stack = get_or_404(st.cf_stacks, "Stack", req.path_params[0])
        apps = [a for a in st.cf_apps.values() if stack["default"]]  # every seeded app runs on the default
        return paginate(req, apps, app_view)

    # -- security groups ---------------------------------------------------------------------------------
    def security_group_view(b: str, g: dict[str, Any]) -> dict[str, Any]:
        return {
            "guid": g["guid"],
            "created_at": g["created_at"],
            "updated_at": g["updated_at"],
            "name": g["name"],
            "globally_enabled": dict(g["globally_enabled"]),
            "rules": [dict(rule) for rule in g["rules"]],
            "relationships": {
                "staging_spaces": {"data": [{"guid": s} for s in g["staging_spaces"]]},
                "running_spaces": {"data": [{"guid": s} for s in g["running_spaces"]]},
            },
            "links": {"self": {"href": f"{b}/v3/security_groups/{g['guid']}"}},
        }

    group_filters: dict[str, Callable[[dict[str, Any]], Any]] = {
        "guids": lambda g: g["guid"],
        "names": lambda g: g["name"],
        "globally_enabled_running": lambda g: str(g["globally_enabled"]["running"]).lower(),
        "globally_enabled_staging": lambda g: str(g["globally_enabled"]["staging"]).lower(),
        "running_space_guids": lambda g: g["running_spaces"],
        "staging_space_guids": lambda g: g["staging_spaces"],
    }

    def space_groups(lifecycle: str) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            space = get_or_404(st.cf_spaces, "Space", req.path_params[0])["guid"]
            items = [
                g
                for g in st.cf_security_groups.values()
                if (g["globally_enabled"][lifecycle] or space in g[f"{lifecycle}_spaces"]) and by(req, g, group_filters)
            ]
            return paginate(req, items, security_group_view)

        return handler

    # -- app environment -------------------------------------------------------------------------------
    def vcap_services(app_guid: str) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for c in st.cf_credential_bindings.values():
            si = st.cf_service_instances.get(c["service_instance"])
            if c["app"] != app_guid or si is None:
                continue
            label = si["offering"] if si["type"] == "managed" else "user-provided"
            out.setdefault(label, []).append(
                {
                    "label": label,
                    "provider": None,
                    "plan": si["plan"] if si["type"] == "managed" else None,
                    "name": si["name"],
                    "tags": [si["offering"]] if si["type"] == "managed" else [],
                    "instance_guid": si["guid"],
                    "instance_name": si["name"],
                    "binding_guid": c["guid"],
                    "binding_name": c["name"],
                    "credentials": dict(c["credentials"]),
                    "syslog_drain_url": None,
                    "volume_mounts": [],
                }
            )
        return out

    def vcap_application(req: Request, app: dict[str, Any]) -> dict[str, Any]:
        space = st.cf_spaces.get(app["space"], {})
        org = st.cf_orgs.get(space.get("org", ""), {})
        uris = [
            route_view(req.base_url, r)["url"]
            for r in st.cf_routes.values()
            if any(d["app"] == app["guid"] for d in r["destinations"])
        ]
        version = derived_id(app["guid"], "version", app["updated_at"])
        return {
            "application_id": app["guid"],
            "application_name": app["name"],
            "application_uris": uris,
            "application_version": version,
            "cf_api": req.base_url,
            "limits": {"disk": 1024, "fds": 16384, "mem": 256},
            "name": app["name"],
            "organization_id": org.get("guid"),
            "organization_name": org.get("name"),
            "process_id": derived_id(app["guid"], "process", "web"),
            "process_type": "web",
            "space_id": space.get("guid"),
            "space_name": space.get("name"),
            "uris": uris,
            "users": None,
            "version": version,
        }

    def app_env(req: Request) -> Response:
        app = get_or_404(st.cf_apps, "App", req.path_params[0])
        return json_response(
            {
                "staging_env_json": {},
                "running_env_json": {},
                "environment_variables": dict(app.get("env") or {}),
                "system_env_json": {"VCAP_SERVICES": vcap_services(app["guid"])},
                "application_env_json": {"VCAP_APPLICATION": vcap_application(req, app)},
            }
        )

    def env_vars_view(req: Request, app: dict[str, Any]) -> Response:
        b, g = req.base_url, app["guid"]
        return json_response(
            {
                "var": dict(app.get("env") or {}),
                "links": {
                    "self": {"href": f"{b}/v3/apps/{g}/environment_variables"},
                    "app": {"href": f"{b}/v3/apps/{g}"},
                },
            }
        )

    def get_env_vars(req: Request) -> Response:
        return env_vars_view(req, get_or_404(st.cf_apps, "App", req.path_params[0]))

    def patch_env_vars(req: Request) -> Response:
        app = get_or_404(st.cf_apps, "App", req.path_params[0])
        var = req.json_object().get("var")
        if not isinstance(var, dict):
            raise _unprocessable("Var must be an object")
        env = dict(app.get("env") or {})
        for key, value in var.items():
            if value is None:
                env.pop(str(key), None)
            elif isinstance(value, (dict, list)):
                raise _unprocessable(f"Environment variable {key} must be a string, number or boolean")
            else:
                env[str(key)] = value
        app["env"] = env
        return env_vars_view(req, app)

    return [
        Route(CF, "GET", "/", root, auth=False),
        Route(CF, "GET", "/v2/info", v2_info, auth=False),
        Route(CF, "GET", "/v3", v3_root, auth=False),
        Route(CF, "GET", "/v3/organizations", list_orgs),
        Route(CF, "POST", "/v3/organizations", create_org),
        Route(CF, "GET", "/v3/organizations/{guid}", get_org),
        Route(CF, "PATCH", "/v3/organizations/{guid}", update_org),
        Route(CF, "DELETE", "/v3/organizations/{guid}", delete_org),
        Route(CF, "GET", "/v3/spaces", list_spaces),
        Route(CF, "POST", "/v3/spaces", create_space),
        Route(CF, "GET", "/v3/spaces/{guid}", get_space),
        Route(CF, "PATCH", "/v3/spaces/{guid}", update_space),
        Route(CF, "DELETE", "/v3/spaces/{guid}", delete_space),
        Route(CF, "GET", "/v3/apps", list_apps),
        Route(CF, "POST", "/v3/apps", create_app),
        Route(CF, "GET", "/v3/apps/{guid}", get_app),
        Route(CF, "PATCH", "/v3/apps/{guid}", update_app),
        Route(CF, "DELETE", "/v3/apps/{guid}", delete_app),
        Route(CF, "POST", "/v3/apps/{guid}/actions/start", app_action("STARTED")),
        Route(CF, "POST", "/v3/apps/{guid}/actions/stop", app_action("STOPPED")),
        Route(CF, "GET", "/v3/service_instances", list_sis),
        Route(CF, "POST", "/v3/service_instances", create_si),
        Route(CF, "GET", "/v3/service_instances/{guid}", get_si),
        Route(CF, "DELETE", "/v3/service_instances/{guid}", delete_si),
        Route(CF, "GET", "/v3/jobs/{guid}", get_job),
        Route(CF, "GET", "/v3/domains", listing(st.cf_domains, domain_view, domain_filters)),
        Route(CF, "GET", "/v3/domains/{guid}", getter(st.cf_domains, "Domain", domain_view)),
        Route(CF, "GET", "/v3/organizations/{guid}/domains", list_org_domains),
        Route(CF, "GET", "/v3/organizations/{guid}/domains/default", default_domain),
        Route(CF, "GET", "/v3/routes", list_routes),
        Route(CF, "POST", "/v3/routes", create_route),
        Route(CF, "GET", "/v3/routes/{guid}", getter(st.cf_routes, "Route", route_view)),
        Route(CF, "DELETE", "/v3/routes/{guid}", delete_route),
        Route(CF, "GET", "/v3/routes/{guid}/destinations", route_destinations),
        Route(CF, "GET", "/v3/apps/{guid}/routes", list_app_routes),
        Route(CF, "GET", "/v3/processes", listing(st.cf_processes, process_view, process_filters)),
        Route(CF, "GET", "/v3/processes/{guid}", getter(st.cf_processes, "Process", process_view)),
        Route(CF, "GET", "/v3/apps/{guid}/processes", app_scoped(st.cf_processes, process_view, process_filters)),
        Route(CF, "GET", "/v3/apps/{guid}/processes/{type}", app_process),
        Route(CF, "GET", "/v3/tasks", listing(st.cf_tasks, task_list_view, task_filters)),
        Route(CF, "GET", "/v3/tasks/{guid}", getter(st.cf_tasks, "Task", task_view)),
        Route(CF, "POST", "/v3/tasks/{guid}/actions/cancel", cancel_task),
        Route(CF, "GET", "/v3/apps/{guid}/tasks", app_scoped(st.cf_tasks, task_list_view, task_filters)),
        Route(CF, "POST", "/v3/apps/{guid}/tasks", create_task, validate_body=False),
        Route(CF, "GET", "/v3/service_offerings", list_offerings),
        # the spec leaves ``fields`` off these two gets; Cloud Controller takes it there as on their lists
        Route(CF, "GET", "/v3/service_offerings/{guid}", get_offering, extra_query=("fields",)),
        Route(CF, "GET", "/v3/service_plans", list_plans),
        Route(CF, "GET", "/v3/service_plans/{guid}", get_plan, extra_query=("fields",)),
        Route(
            CF,
            "GET",
            "/v3/service_credential_bindings",
            listing(st.cf_credential_bindings, credential_binding_view, binding_filters),
        ),
        Route(CF, "POST", "/v3/service_credential_bindings", create_credential_binding, validate_body=False),
        Route(
            CF,
            "GET",
            "/v3/service_credential_bindings/{guid}",
            getter(st.cf_credential_bindings, "Service credential binding", credential_binding_view),
        ),
        Route(CF, "DELETE", "/v3/service_credential_bindings/{guid}", delete_credential_binding),
        Route(CF, "GET", "/v3/service_credential_bindings/{guid}/details", binding_details),
        Route(
            CF,
            "GET",
            "/v3/service_route_bindings",
            listing(st.cf_route_bindings, route_binding_view, route_binding_filters),
        ),
        Route(CF, "POST", "/v3/service_route_bindings", create_route_binding, validate_body=False),
        Route(
            CF,
            "GET",
            "/v3/service_route_bindings/{guid}",
            getter(st.cf_route_bindings, "Service route binding", route_binding_view),
        ),
        Route(CF, "GET", "/v3/apps/{guid}/env", app_env),
        Route(CF, "GET", "/v3/stacks", listing(st.cf_stacks, stack_view, stack_filters)),
        Route(CF, "GET", "/v3/security_groups", listing(st.cf_security_groups, security_group_view, group_filters)),
        Route(
            CF,
            "GET",
            "/v3/security_groups/{guid}",
            getter(st.cf_security_groups, "Security group", security_group_view),
        ),
        Route(CF, "GET", "/v3/spaces/{guid}/running_security_groups", space_groups("running")),
        Route(CF, "GET", "/v3/spaces/{guid}/staging_security_groups", space_groups("staging")),
        Route(CF, "GET", "/v3/stacks/{guid}", getter(st.cf_stacks, "Stack", stack_view)),
        Route(CF, "GET", "/v3/stacks/{guid}/apps", stack_apps),
        Route(CF, "GET", "/v3/apps/{guid}/environment_variables", get_env_vars),
        Route(CF, "PATCH", "/v3/apps/{guid}/environment_variables", patch_env_vars, validate_body=False),
    ]


def _drop(store: dict[str, Any], key: str) -> None:
    store.pop(key, None)


def _relationship(body: dict[str, Any], name: str) -> str | None:
    rel = body.get("relationships")
    if not isinstance(rel, dict):
        return None
    node = rel.get(name)
    data = node.get("data") if isinstance(node, dict) else None
    guid = data.get("guid") if isinstance(data, dict) else None
    return guid if isinstance(guid, str) else None


def _apply_metadata(obj: dict[str, Any], body: dict[str, Any]) -> None:
    md = body.get("metadata")
    if not isinstance(md, dict):
        return
    for key in ("labels", "annotations"):
        values = md.get(key)
        if isinstance(values, dict):
            current = dict(obj.get(key) or {})
            for k, v in values.items():
                if v is None:
                    current.pop(str(k), None)
                else:
                    current[str(k)] = str(v)
            obj[key] = current


def _label_match(labels: dict[str, str], selector: str) -> bool:
    for term in selector.split(","):
        term = term.strip()
        if not term:
            continue
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.rstrip("=")) != v.lstrip("="):
                return False
        elif term not in labels:
            return False
    return True
