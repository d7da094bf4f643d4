"""Cloud Foundry: the API root, ``/v2/info``, and stateful V3 organizations, spaces, apps, service
instances and jobs with CF's pagination (``page``, ``per_page``, ``pagination.next.href``) and ``include``."""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._http import ApiError, Request, Response, empty_response, json_response
from ._state import Job, _trim, iso

if TYPE_CHECKING:
    from ._app import Context, Route

CF = "cf_v3"
API_VERSION_V2 = "2.250.0"
API_VERSION_V3 = "3.185.0"
QUOTA_GUID = "b6c3e4d2-0000-4000-8000-00000000a001"
_ORDER_FIELDS = ("created_at", "updated_at", "name")


def _bad_param(message: str) -> ApiError:
    return ApiError(400, message, code="CF-BadQueryParameter")


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
            "relationships": {"organization": {"data": {"guid": s["org"]}}, "quota": {"data": None}},
            "metadata": meta(s),
            "links": {
                "self": {"href": f"{b}/v3/spaces/{g}"},
                "features": {"href": f"{b}/v3/spaces/{g}/features"},
                "organization": {"href": f"{b}/v3/organizations/{s['org']}"},
                "apply_manifest": {"href": f"{b}/v3/spaces/{g}/actions/apply_manifest", "method": "POST"},
            },
        }

    def app_view(b: str, a: dict[str, Any]) -> dict[str, Any]:
        g = a["guid"]
        return {
            "guid": g,
            "name": a["name"],
            "state": a["state"],
            "created_at": a["created_at"],
            "updated_at": a["updated_at"],
            "lifecycle": {"type": "buildpack", "data": {"buildpacks": list(a["buildpacks"]), "stack": "cflinuxfs4"}},
            "relationships": {"space": {"data": {"guid": a["space"]}}},
            "metadata": meta(a),
            "links": {
                "self": {"href": f"{b}/v3/apps/{g}"},
                "environment_variables": {"href": f"{b}/v3/apps/{g}/environment_variables"},
                "space": {"href": f"{b}/v3/spaces/{a['space']}"},
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
            },
        }

    def si_view(b: str, s: dict[str, Any]) -> dict[str, Any]:
        g = s["guid"]
        view: dict[str, Any] = {
            "guid": g,
            "created_at": s["created_at"],
            "updated_at": s["updated_at"],
            "name": s["name"],
            "type": s["type"],
            "tags": [],
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
            view.update({"maintenance_info": {}, "upgrade_available": False, "dashboard_url": None})
            view["relationships"]["service_plan"] = {"data": {"guid": _plan_guid(s["offering"], s["plan"])}}
            view["links"]["service_plan"] = {"href": f"{b}/v3/service_plans/{_plan_guid(s['offering'], s['plan'])}"}
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
        items = sorted(items, key=lambda o: (o[key], o["guid"]), reverse=order.startswith("-"))
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
            body["included"] = included(chunk)
        return json_response(body)

    def includes(req: Request, allowed: tuple[str, ...]) -> set[str]:
        wanted = set(req.q_list("include"))
        bad = wanted - set(allowed)
        if bad:
            raise _bad_param(f"The query parameter is invalid: Invalid included resource: '{sorted(bad)[0]}'")
        return wanted

    def filt(req: Request, name: str) -> set[str] | None:
        values = req.q_list(name)
        return set(values) if name in req.query else None

    def get_or_404(store: dict[str, dict[str, Any]], kind: str, guid: str) -> dict[str, Any]:
        obj = store.get(guid)
        if obj is None:
            raise _not_found(kind)
        return obj

    # -- root documents --------------------------------------------------------------------------------
    def root(req: Request) -> Response:
        b = req.base_url
        uaa = f"{req.root_url}/uaa"
        return json_response(
            {
                "links": {
                    "self": {"href": b},
                    "bits_service": None,
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
        uaa = f"{req.root_url}/uaa"
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
        names = ("apps", "organizations", "spaces", "service_instances", "jobs", "service_plans", "domains")
        return json_response({"links": {"self": {"href": b}, **{n: {"href": f"{b}/{n}"} for n in names}}})

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
        items = []
        for a in st.cf_apps.values():
            if names is not None and a["name"] not in names:
                continue
            if guids is not None and a["guid"] not in guids:
                continue
            if spaces is not None and a["space"] not in spaces:
                continue
            if orgs is not None and st.cf_spaces.get(a["space"], {}).get("org") not in orgs:
                continue
            items.append(a)
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
        return paginate(req, items, si_view)

    def get_si(req: Request) -> Response:
        settle()
        return json_response(
            si_view(req.base_url, get_or_404(st.cf_service_instances, "Service instance", req.path_params[0]))
        )

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
    ]


def _drop(store: dict[str, Any], key: str) -> None:
    store.pop(key, None)


def _plan_guid(offering: str, plan: str) -> str:
    import hashlib
    import uuid

    return str(uuid.UUID(bytes=hashlib.md5(f"{offering}/{plan}".encode()).digest(), version=4))


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
