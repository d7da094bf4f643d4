"""Stateful Service Manager routes: instances, bindings, offerings, plans, platforms, operations.

Lists page with ``max_items`` (default 50) and an opaque ``token``; the response is
``{"token", "num_items", "items"}`` where ``num_items`` is the total and ``token`` is absent on the last
page. ``fieldQuery``/``labelQuery`` understand ``<field> eq '<value>'``, ``ne``, ``in ('a','b')`` joined
with ``and``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

from ._http import ApiError, Request, Response, json_response
from ._state import _trim, iso

if TYPE_CHECKING:
    from ._app import Context, Route

_TERM = re.compile(r"^\s*([A-Za-z0-9_.\-/]+)\s+(eq|ne|in|notin)\s+(.+?)\s*$")


def routes(ctx: Context) -> list[Route]:
    from ._app import Route

    st = ctx.state
    delay = ctx.config.transition_delay

    def page(req: Request, items: list[dict[str, Any]]) -> Response:
        items = _apply_queries(req, items)
        max_items = req.q_int("max_items", 50, minimum=0, maximum=10_000)
        offset = 0
        token = req.q("token")
        if token:
            try:
                offset = int(base64.urlsafe_b64decode(token.encode() + b"==").decode())
            except (ValueError, binascii.Error, UnicodeDecodeError):
                raise ApiError(400, "Invalid token", code="BadRequest", target="token") from None
            if offset < 0 or offset > len(items):
                raise ApiError(400, "Invalid token", code="BadRequest", target="token")
        if max_items == 0:
            return json_response({"num_items": len(items), "items": []})
        chunk = items[offset : offset + max_items]
        body: dict[str, Any] = {"num_items": len(items), "items": chunk}
        headers = []
        if offset + max_items < len(items):
            nxt = base64.urlsafe_b64encode(str(offset + max_items).encode()).decode().rstrip("=")
            body["token"] = nxt
            headers.append((b"link", f'<{req.path}?max_items={max_items}&token={nxt}>; rel="next"'.encode()))
        return json_response(body, headers=headers)

    def get_or_404(store: dict[str, dict[str, Any]], kind: str, ident: str) -> dict[str, Any]:
        obj = store.get(ident)
        if obj is None:
            raise ApiError(404, f"could not find such {kind}", code="NotFound")
        return obj

    def settle(obj: dict[str, Any]) -> dict[str, Any]:
        until = obj.get("_until")
        if until is not None and st.now() >= until:
            obj.pop("_until", None)
            if obj.get("_deleting"):
                return {}
            obj["ready"] = True
            obj.get("last_operation", {})["state"] = "succeeded"
        return obj

    def view(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def collection(store: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for key in list(store):
            obj = settle(store[key])
            if not obj:
                del store[key]
            else:
                out.append(view(obj))
        return out

    def new_operation(kind: str, resource_type: str, resource_id: str, done: bool) -> dict[str, Any]:
        op_id = st.new_id()
        now = st.now()
        op = {
            "id": op_id,
            "ready": True,
            "type": kind,
            "state": "succeeded" if done else "in progress",
            "resource_id": resource_id,
            "resource_type": f"/v1/{resource_type}",
            "platform_id": "service-manager",
            "correlation_id": st.new_id(),
            "reschedule": False,
            "reschedule_timestamp": "0001-01-01T00:00:00Z",
            "deletion_scheduled": "0001-01-01T00:00:00Z",
            "created_at": iso(now, True),
            "updated_at": iso(now, True),
            "_until": None if done else now + delay,
        }
        st.sm_operations[op_id] = op
        _trim(st.sm_operations, 20_000)
        return op

    def listed(items: list[dict[str, Any]], *hidden: str) -> list[dict[str, Any]]:
        """List items without what only a read by id carries (``last_operation``, ``created_by``)."""
        return [{k: v for k, v in i.items() if k not in hidden} for i in items]

    def list_instances(req: Request) -> Response:
        return page(req, listed(collection(st.sm_instances), "last_operation"))

    def get_instance(req: Request) -> Response:
        obj = settle(get_or_404(st.sm_instances, "service instance", req.path_params[0]))
        if not obj:
            st.sm_instances.pop(req.path_params[0], None)
            raise ApiError(404, "could not find such service instance", code="NotFound")
        return json_response(view(obj))

    def create_instance(req: Request) -> Response:
        body = req.json_object()
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "name is required", code="BadRequest")
        plan_id = body.get("service_plan_id")
        if plan_id is None:
            off_name, plan_name = body.get("service_offering_name"), body.get("service_plan_name")
            offering = next((o for o in st.sm_offerings.values() if o["name"] == off_name), None)
            plan = next(
                (
                    p
                    for p in st.sm_plans.values()
                    if offering is not None and p["service_offering_id"] == offering["id"] and p["name"] == plan_name
                ),
                None,
            )
            if plan is None:
                raise ApiError(400, "service_plan_id or a known service_offering_name/service_plan_name is required")
            plan_id = plan["id"]
        elif plan_id not in st.sm_plans:
            raise ApiError(404, f"could not find such service plan {plan_id}", code="NotFound")
        if any(i["name"] == name for i in st.sm_instances.values()):
            raise ApiError(409, f"found conflicting service instance name {name}", code="Conflict")
        asynchronous = req.q_bool("async", False)
        now = st.now()
        inst_id = st.new_id()
        obj: dict[str, Any] = {
            "id": inst_id,
            "ready": not asynchronous,
            "name": name,
            "service_plan_id": plan_id,
            "platform_id": "service-manager",
            "context": st.sm_context(st.home_subaccount, name),
            "usable": True,
            "subaccount_id": st.home_subaccount,
            "protected": None,
            "parameters": body.get("parameters") if isinstance(body.get("parameters"), dict) else {},
            "created_at": iso(now, True),
            "updated_at": iso(now, True),
            "labels": body.get("labels") if isinstance(body.get("labels"), dict) else {},
        }
        op = new_operation("create", "service_instances", inst_id, not asynchronous)
        obj["last_operation"] = view(op)
        if asynchronous:
            obj["_until"] = now + delay
        st.sm_instances[inst_id] = obj
        if asynchronous:
            location = f"/v1/service_instances/{inst_id}/operations/{op['id']}"
            return json_response({}, 202, [(b"location", location.encode())])
        return json_response(view(obj), 201)

    def update_instance(req: Request) -> Response:
        obj = get_or_404(st.sm_instances, "service instance", req.path_params[0])
        body = req.json_object()
        if isinstance(body.get("name"), str) and body["name"]:
            obj["name"] = body["name"]
        if isinstance(body.get("parameters"), dict):
            obj["parameters"] = body["parameters"]
        if isinstance(body.get("service_plan_id"), str):
            if body["service_plan_id"] not in st.sm_plans:
                raise ApiError(404, "could not find such service plan", code="NotFound")
            obj["service_plan_id"] = body["service_plan_id"]
        obj["updated_at"] = iso(st.now(), True)
        op = new_operation("update", "service_instances", obj["id"], True)
        obj["last_operation"] = {"type": "update", "state": "succeeded", "id": op["id"]}
        return json_response(view(obj))

    def delete_instance(req: Request) -> Response:
        ident = req.path_params[0]
        get_or_404(st.sm_instances, "service instance", ident)
        if any(b["service_instance_id"] == ident for b in st.sm_bindings.values()):
            raise ApiError(409, "service instance has bindings; delete them first", code="Conflict")
        if req.q_bool("async", False):
            obj = st.sm_instances[ident]
            op = new_operation("delete", "service_instances", ident, False)
            obj["_until"] = op["_until"]
            obj["_deleting"] = True
            obj["last_operation"] = {"type": "delete", "state": "in progress", "id": op["id"]}
            location = f"/v1/service_instances/{ident}/operations/{op['id']}"
            return json_response({}, 202, [(b"location", location.encode())])
        del st.sm_instances[ident]
        new_operation("delete", "service_instances", ident, True)
        return json_response({})

    def instance_parameters(req: Request) -> Response:
        obj = get_or_404(st.sm_instances, "service instance", req.path_params[0])
        return json_response({k: str(v) for k, v in (obj.get("parameters") or {}).items()})

    def list_bindings(req: Request) -> Response:
        return page(req, listed(collection(st.sm_bindings), "last_operation", "created_by"))

    def get_binding(req: Request) -> Response:
        binding = view(get_or_404(st.sm_bindings, "service binding", req.path_params[0]))
        binding.pop("service_instance_name", None)  # lists name the instance, a read by id does not
        return json_response(binding)

    def create_binding(req: Request) -> Response:
        body = req.json_object()
        name, inst = body.get("name"), body.get("service_instance_id")
        if not isinstance(name, str) or not name or not isinstance(inst, str):
            raise ApiError(400, "name and service_instance_id are required", code="BadRequest")
        instance = get_or_404(st.sm_instances, "service instance", inst)
        if not instance.get("ready"):
            raise ApiError(422, "service instance is not ready", code="UnprocessableEntity")
        if any(b["name"] == name and b["service_instance_id"] == inst for b in st.sm_bindings.values()):
            raise ApiError(409, f"found conflicting service binding name {name}", code="Conflict")
        now = st.now()
        bid = st.new_id()
        obj = {
            "id": bid,
            "ready": True,
            "name": name,
            "service_instance_id": inst,
            "service_instance_name": instance["name"],
            "context": st.sm_binding_context(st.home_subaccount, instance["name"], inst),
            "credentials": {"url": f"{req.root_url}/service_manager", "clientid": f"sb-{bid[:8]}", "clientsecret": bid},
            "subaccount_id": st.home_subaccount,
            "parameters": body.get("parameters") if isinstance(body.get("parameters"), dict) else {},
            "created_at": iso(now, True),
            "updated_at": iso(now, True),
            "labels": body.get("labels") if isinstance(body.get("labels"), dict) else {},
        }
        if isinstance(body.get("bind_resource"), dict):  # sent back only when the request had one
            obj["bind_resource"] = body["bind_resource"]
        st.sm_bindings[bid] = obj
        op = new_operation("create", "service_bindings", bid, True)
        obj["last_operation"] = view(op)
        if req.q_bool("async", False):
            location = f"/v1/service_bindings/{bid}/operations/{op['id']}"
            return json_response({}, 202, [(b"location", location.encode())])
        return json_response(view(obj), 201)

    def delete_binding(req: Request) -> Response:
        ident = req.path_params[0]
        get_or_404(st.sm_bindings, "service binding", ident)
        del st.sm_bindings[ident]
        op = new_operation("delete", "service_bindings", ident, True)
        if req.q_bool("async", False):
            location = f"/v1/service_bindings/{ident}/operations/{op['id']}"
            return json_response({}, 202, [(b"location", location.encode())])
        return json_response({})

    def binding_parameters(req: Request) -> Response:
        obj = get_or_404(st.sm_bindings, "service binding", req.path_params[0])
        return json_response({k: str(v) for k, v in (obj.get("parameters") or {}).items()})

    def get_operation(req: Request) -> Response:
        resource_type, resource_id, op_id = req.path_params
        op = st.sm_operations.get(op_id)
        if op is None or op["resource_id"] != resource_id or op["resource_type"] != f"/v1/{resource_type}":
            raise ApiError(404, "could not find such operation", code="NotFound")
        until = op.get("_until")
        if until is not None and st.now() >= until:
            op["state"] = "succeeded"
            op["_until"] = None
        return json_response(view(op))

    def simple_list(store: dict[str, dict[str, Any]]) -> Any:
        def handler(req: Request) -> Response:
            return page(req, [view(o) for o in store.values()])

        return handler

    def simple_get(store: dict[str, dict[str, Any]], kind: str) -> Any:
        def handler(req: Request) -> Response:
            return json_response(view(get_or_404(store, kind, req.path_params[0])))

        return handler

    def get_plan(req: Request) -> Response:
        # one plan read by id carries the broker's parameter schemas; lists leave them out
        plan = view(get_or_404(st.sm_plans, "service plan", req.path_params[0]))
        for key in ("data_center", "service_offering_name"):  # lists carry these, a read by id does not
            plan.pop(key, None)
        empty: dict[str, Any] = {"parameters": {}}
        plan["schemas"] = {"service_instance": {"create": empty, "update": empty}, "service_binding": {"create": empty}}
        return json_response(plan)

    sm = "service_manager"
    return [
        Route(sm, "GET", "/v1/service_instances", list_instances),
        Route(sm, "POST", "/v1/service_instances", create_instance),
        Route(sm, "GET", "/v1/service_instances/{serviceInstanceID}", get_instance),
        Route(sm, "PATCH", "/v1/service_instances/{serviceInstanceID}", update_instance),
        Route(sm, "DELETE", "/v1/service_instances/{serviceInstanceID}", delete_instance),
        Route(sm, "GET", "/v1/service_instances/{serviceInstanceID}/parameters", instance_parameters),
        Route(sm, "GET", "/v1/service_bindings", list_bindings),
        Route(sm, "POST", "/v1/service_bindings", create_binding),
        Route(sm, "GET", "/v1/service_bindings/{serviceBindingID}", get_binding),
        Route(sm, "DELETE", "/v1/service_bindings/{serviceBindingID}", delete_binding),
        Route(sm, "GET", "/v1/service_bindings/{serviceBindingID}/parameters", binding_parameters),
        Route(sm, "GET", "/v1/service_offerings", simple_list(st.sm_offerings), ("environment",)),
        Route(sm, "GET", "/v1/service_offerings/{serviceOfferingID}", simple_get(st.sm_offerings, "service offering")),
        Route(sm, "GET", "/v1/service_plans", simple_list(st.sm_plans), ("environment",)),
        Route(sm, "GET", "/v1/service_plans/{servicePlanID}", get_plan),
        Route(sm, "GET", "/v1/platforms", simple_list(st.sm_platforms)),
        Route(sm, "GET", "/v1/platforms/{platformID}", simple_get(st.sm_platforms, "platform")),
        Route(sm, "GET", "/v1/{resourceType}/{resourceID}/operations/{operationID}", get_operation),
    ]


def _parse_query(raw: str) -> list[tuple[str, str, list[str]]]:
    terms = []
    for part in re.split(r"\s+and\s+", raw.strip()):
        m = _TERM.match(part)
        if m is None:
            raise ApiError(400, f"Invalid query: {part!r}", code="BadRequest")
        key, op, value = m.groups()
        if op in ("in", "notin"):
            inner = value.strip()
            if not (inner.startswith("(") and inner.endswith(")")):
                raise ApiError(400, f"Invalid query: {part!r}", code="BadRequest")
            values = [v.strip().strip("'") for v in inner[1:-1].split(",")]
        else:
            values = [value.strip().strip("'")]
        terms.append((key, op, values))
    return terms


def _matches(actual: list[str], op: str, values: list[str]) -> bool:
    hit = any(a in values for a in actual)
    return hit if op in ("eq", "in") else not hit


def _apply_queries(req: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    field_q, label_q = req.q("fieldQuery"), req.q("labelQuery")
    if field_q:
        for key, op, values in _parse_query(field_q):
            items = [
                i
                for i in items
                if _matches([str(i.get(key)).lower() if isinstance(i.get(key), bool) else str(i.get(key))], op, values)
            ]
    if label_q:
        for key, op, values in _parse_query(label_q):
            items = [i for i in items if _matches(list((i.get("labels") or {}).get(key) or []), op, values)]
    return items
