"""MultiApps controller (deploy service): files, MTAs and operations per space, with CSRF protection.

State-changing calls need the ``X-CSRF-Token`` value the service hands out on any GET sent with
``X-CSRF-Token: Fetch`` (e.g. ``GET /api/v1/csrf-token``); without it they get 403 and
``X-CSRF-Token: Required``, as the real service answers. Tokens are per principal (client + user).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._auth import same_secret
from ._http import ApiError, Request, Response, empty_response, json_response
from ._multipart import first_file
from ._state import zoned

if TYPE_CHECKING:
    from ._app import Context, Route

MTA = "multiapps"
_SAFE = ("GET", "HEAD", "OPTIONS")


def routes(ctx: Context) -> list[Route]:
    from ._app import Route

    st = ctx.state
    delay = ctx.config.transition_delay
    csrf_tokens: dict[str, str] = {}

    def principal(req: Request) -> str:
        tok = req.token
        return f"{tok.client_id}/{tok.user_name or ''}" if tok else "-"

    def csrf(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def wrapped(req: Request) -> Response:
            sent = req.headers.get("x-csrf-token")
            if req.method in _SAFE:
                resp = handler(req)
                if sent is not None and sent.lower() == "fetch":
                    who = principal(req)
                    token = csrf_tokens.get(who)
                    if token is None:
                        if len(csrf_tokens) > 10_000:
                            csrf_tokens.clear()
                        token = csrf_tokens[who] = secrets.token_hex(16)
                    resp.header("X-CSRF-Token", token)
                    resp.header(
                        "Set-Cookie", f"JSESSIONID={hashlib.sha256(token.encode()).hexdigest()[:32]}; Path=/; HttpOnly"
                    )
                return resp
            if ctx.config.csrf_protection:
                expected = csrf_tokens.get(principal(req))
                if expected is None or sent is None or not same_secret(sent, expected):
                    raise ApiError(403, "CSRF token missing or invalid", headers=[(b"x-csrf-token", b"Required")])
            return handler(req)

        return wrapped

    def space_or_404(guid: str) -> dict[str, Any]:
        space = st.cf_spaces.get(guid)
        if space is None:
            raise ApiError(404, f"Space {guid} not found")
        return space

    def settle(op: dict[str, Any]) -> dict[str, Any]:
        until = op.get("_until")
        if until is not None and st.now() >= until:
            op.pop("_until", None)
            op["state"] = "FINISHED"
            op["acquiredLock"] = False
            op["endedAt"] = zoned(until)
            op["messages"].append(
                {
                    "id": len(op["messages"]) + 1,
                    "text": "Process finished.",
                    "timestamp": zoned(until, "Etc/UTC"),
                    "type": "INFO",
                }
            )
            if op["processType"] in ("DEPLOY", "BLUE_GREEN_DEPLOY") and op["mtaId"]:
                mtas = st.mtas.setdefault(op["spaceId"], [])
                if not any(m["metadata"]["id"] == op["mtaId"] for m in mtas):
                    mtas.append(
                        {
                            "metadata": {"id": op["mtaId"], "version": "1.0.0", "namespace": op["namespace"]},
                            "modules": [],
                            "services": [],
                        }
                    )
        return op

    def view(op: dict[str, Any], embed: bool) -> dict[str, Any]:
        out = {k: v for k, v in op.items() if not k.startswith("_") and v is not None}
        if not embed:
            out.pop("messages", None)
        return out

    def op_or_404(req: Request) -> dict[str, Any]:
        space_or_404(req.path_params[0])
        op = st.mta_operations.get(req.path_params[1])
        if op is None or op["spaceId"] != req.path_params[0]:
            raise ApiError(404, f"MTA operation with id {req.path_params[1]} does not exist")
        return settle(op)

    def csrf_token(req: Request) -> Response:
        return empty_response(204)

    def info(req: Request) -> Response:
        return json_response({"api_version": 1})

    def list_files(req: Request) -> Response:
        space_or_404(req.path_params[0])
        ns = req.q("namespace")
        return json_response(
            [f for f in st.mta_files.get(req.path_params[0], []) if ns is None or f.get("namespace") == ns]
        )

    def upload_file(req: Request) -> Response:
        space = req.path_params[0]
        space_or_404(space)
        ctype = req.headers.get("content-type", "")
        if not req.body:
            raise ApiError(400, "No file uploaded")
        name = "upload.mtar"
        content = req.body
        if ctype.lower().startswith("multipart/"):
            filename, content = first_file(ctype, req.body)
            name = filename or name
        meta = {
            "id": st.new_id(),
            "name": name,
            "size": len(content),
            "digest": hashlib.md5(content).hexdigest().upper(),
            "digestAlgorithm": "MD5",
            "space": space,
            "namespace": req.q("namespace"),
        }
        files = st.mta_files.setdefault(space, [])
        files.append(meta)
        del files[:-100]  # keep memory flat
        return json_response({k: v for k, v in meta.items() if v is not None}, 201)

    def list_mtas(req: Request) -> Response:
        space_or_404(req.path_params[0])
        for op in st.mta_operations.values():
            settle(op)
        mtas = st.mtas.get(req.path_params[0], [])
        name, ns = req.q("name"), req.q("namespace")
        return json_response(
            [
                m
                for m in mtas
                if (name is None or m["metadata"]["id"] == name) and (ns is None or m["metadata"]["namespace"] == ns)
            ]
        )

    def get_mta(req: Request) -> Response:
        space_or_404(req.path_params[0])
        for m in st.mtas.get(req.path_params[0], []):
            if m["metadata"]["id"] == req.path_params[1]:
                return json_response(m)
        raise ApiError(404, f"MTA with id {req.path_params[1]} does not exist")

    def list_operations(req: Request) -> Response:
        space = req.path_params[0]
        space_or_404(space)
        states = set(req.q_list("state"))
        mta_id = req.q("mtaId")
        ops = [
            settle(o)
            for o in st.mta_operations.values()
            if o["spaceId"] == space and (mta_id is None or o["mtaId"] == mta_id)
        ]
        ops = [o for o in ops if not states or o["state"] in states]
        ops.sort(key=lambda o: (o["startedAt"], o["processId"]))
        last = req.q("last")
        if last is not None:
            try:
                n = int(last)
            except ValueError:
                raise ApiError(400, "last must be an integer") from None
            ops = ops[-n:] if n > 0 else []
        return json_response([view(o, False) for o in ops])

    def start_operation(req: Request) -> Response:
        space = req.path_params[0]
        space_or_404(space)
        body = req.json_object()
        process = body.get("processType")
        if isinstance(process, dict):  # the published spec models the enum as {"name": ...}
            process = process.get("name")
        if process not in ("DEPLOY", "BLUE_GREEN_DEPLOY", "UNDEPLOY"):
            raise ApiError(400, "processType must be DEPLOY, BLUE_GREEN_DEPLOY or UNDEPLOY")
        raw_params = body.get("parameters")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        mta_id = body.get("mtaId") or params.get("mtaId")
        if process != "UNDEPLOY":
            archive = params.get("appArchiveId")
            files = {f["id"] for f in st.mta_files.get(space, [])}
            if not isinstance(archive, str) or not set(archive.split(",")) <= files:
                raise ApiError(400, "parameters.appArchiveId must name uploaded files")
            mta_id = mta_id or "com.example.uploaded"
        elif not isinstance(mta_id, str):
            raise ApiError(400, "mtaId is required for UNDEPLOY")
        for other in st.mta_operations.values():
            if other["spaceId"] == space and other["mtaId"] == mta_id and settle(other)["acquiredLock"]:
                raise ApiError(409, f"Conflicting process {other['processId']} holds the lock for MTA {mta_id}")
        now = st.now()
        op_id = st.new_id()
        st.mta_operations[op_id] = {
            "processId": op_id,
            "processType": process,
            "startedAt": zoned(now),
            "endedAt": None,
            "spaceId": space,
            "mtaId": mta_id,
            "namespace": body.get("namespace") if isinstance(body.get("namespace"), str) else None,
            "user": (req.token.user_name or req.token.client_id) if req.token else "unknown",
            "acquiredLock": True,
            "state": "RUNNING",
            "errorType": None,
            "messages": [{"id": 1, "text": f"{process} started.", "timestamp": zoned(now, "Etc/UTC"), "type": "INFO"}],
            "parameters": params,
            "_until": now + delay,
        }
        location = f"{req.base_url}/api/v1/spaces/{space}/operations/{op_id}?embed=messages"
        return empty_response(202, [(b"location", location.encode())])

    def get_operation(req: Request) -> Response:
        return json_response(view(op_or_404(req), req.q("embed") == "messages"))

    def actions_for(op: dict[str, Any]) -> list[str]:
        return {"RUNNING": ["abort"], "ACTION_REQUIRED": ["abort", "resume"], "ERROR": ["abort", "retry"]}.get(
            op["state"], []
        )

    def get_actions(req: Request) -> Response:
        return json_response(actions_for(op_or_404(req)))

    def execute_action(req: Request) -> Response:
        op = op_or_404(req)
        action = req.q("actionId")
        if action not in actions_for(op):
            raise ApiError(400, f"Action {action!r} cannot be executed on an operation in state {op['state']}")
        now = st.now()
        if action == "abort":
            op.update(state="ABORTED", acquiredLock=False, endedAt=zoned(now))
            op.pop("_until", None)
        else:
            op.update(state="RUNNING", acquiredLock=True, endedAt=None, errorType=None, _until=now + delay)
        location = f"{req.base_url}/api/v1/spaces/{op['spaceId']}/operations/{op['processId']}?embed=messages"
        return empty_response(202, [(b"location", location.encode())])

    def get_logs(req: Request) -> Response:
        op = op_or_404(req)
        return json_response(
            [
                {
                    "id": "OPERATION.log",
                    "lastModified": op.get("endedAt") or op["startedAt"],
                    "displayName": "OPERATION.log",
                    "description": "Operation log",
                    "size": 64 * len(op["messages"]),
                    "externalInfo": "",
                }
            ]
        )

    def get_log_content(req: Request) -> Response:
        op = op_or_404(req)
        if req.path_params[2] != "OPERATION.log":
            raise ApiError(404, f"Log {req.path_params[2]} does not exist")
        text = "\n".join(f"{m['timestamp']} {m['type']} {m['text']}" for m in op["messages"]) + "\n"
        return Response(200, text.encode(), [(b"content-type", b"text/plain")])

    base = "/api/v1/spaces/{spaceGuid}"
    op_path = base + "/operations/{operationId}"
    return [
        Route(MTA, "GET", "/api/v1/csrf-token", csrf(csrf_token)),
        Route(MTA, "GET", "/api/v1/info", csrf(info)),
        Route(MTA, "GET", base + "/files", csrf(list_files), ("namespace",)),
        Route(MTA, "POST", base + "/files", csrf(upload_file), ("namespace",)),
        Route(MTA, "GET", base + "/mtas", csrf(list_mtas)),
        Route(MTA, "GET", base + "/mtas/{mtaId}", csrf(get_mta)),
        Route(MTA, "GET", "/api/v2/spaces/{spaceGuid}/mtas", csrf(list_mtas), ("name", "namespace")),
        Route(MTA, "GET", base + "/operations", csrf(list_operations), ("state", "mtaId", "last")),
        Route(MTA, "POST", base + "/operations", csrf(start_operation), validate_body=False),
        Route(MTA, "GET", op_path, csrf(get_operation), ("embed",)),
        Route(MTA, "POST", op_path, csrf(execute_action), ("actionId",)),
        Route(MTA, "GET", op_path + "/actions", csrf(get_actions)),
        Route(MTA, "GET", op_path + "/logs", csrf(get_logs)),
        Route(MTA, "GET", op_path + "/logs/{logId}/content", csrf(get_log_content)),
    ]
