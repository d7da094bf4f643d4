"""OpenAPI 3.0/3.1 support: lazy spec loading, a precompiled route table, request validation and
deterministic response synthesis from schemas."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._http import Handler, Request
from ._validate import BodyCheck, ParamCheck
from ._validate import schema_types as _types

JsonObj = dict[str, Any]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_PARAM_RE = re.compile(r"\{[^/{}]+\}")
_IGNORED_HEADERS = frozenset({"authorization", "content-type", "accept", "content-length", "host"})
_MAX_DEPTH = 8


class Spec:
    """One loaded OpenAPI document with a ``$ref`` resolver."""

    def __init__(self, api: str, doc: JsonObj) -> None:
        self.api = api
        self.doc = doc
        self._ref_cache: dict[str, Any] = {}

    @classmethod
    def load(cls, api: str, path: Path) -> Spec:
        with path.open("rb") as fh:
            return cls(api, json.load(fh))

    def deref(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 32:
            node = self._lookup(node["$ref"])
            seen += 1
        return node

    def _lookup(self, ref: str) -> Any:
        hit = self._ref_cache.get(ref)
        if hit is not None:
            return hit
        if not ref.startswith("#/"):
            return {}
        node: Any = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict):
                node = node.get(part, {})
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        self._ref_cache[ref] = node
        return node

    def rendered(self, base_url: str) -> bytes:
        doc = dict(self.doc)
        doc["servers"] = [{"url": base_url}]
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def operations(self) -> list[Operation]:
        out: list[Operation] = []
        paths = self.doc.get("paths") or {}
        for template, item in paths.items():
            item = self.deref(item)
            if not isinstance(item, dict):
                continue
            common = item.get("parameters") or []
            for method in _METHODS:
                op = item.get(method)
                if isinstance(op, dict):
                    out.append(Operation.build(self, method.upper(), template, op, common))
        return out


@dataclass(slots=True)
class Param:
    name: str
    location: str
    required: bool
    schema: JsonObj
    is_array: bool
    deep: bool
    #: One comma-separated value (``explode: false``): of a repeated key the server reads the last only.
    single: bool = False
    _check: ParamCheck | None = None

    def problem(self, spec: Spec, values: list[str]) -> str | None:
        check = self._check
        if check is None:  # compiled on first use: most of a spec's parameters are never sent
            check = ParamCheck(spec.deref, self.name, self.location, self.schema, self.is_array, self.deep, self.single)
            self._check = check
        return check.problem(values)


@dataclass(slots=True)
class Operation:
    spec: Spec
    method: str
    template: str
    operation_id: str
    query: dict[str, Param]
    headers: list[Param]
    #: The path parameters, in the order of the template's placeholders (None where the spec omits one).
    path: tuple[Param | None, ...]
    body_required: bool
    body_schema: JsonObj | None
    body_media: tuple[str, ...]
    success_status: int
    success_schema: JsonObj | None
    success_media: str | None
    _body_check: BodyCheck | None = None
    _synth: bytes | None = None
    #: The synthesized body of a list that answers each request for its own page (CF links, SCIM
    #: ``startIndex``/``count``, ``skip``/``top``).
    _paged: Any = None

    @classmethod
    def build(cls, spec: Spec, method: str, template: str, op: JsonObj, common: list[Any]) -> Operation:
        params: dict[tuple[str, str], Param] = {}
        for raw in [*common, *(op.get("parameters") or [])]:
            p = spec.deref(raw)
            if not isinstance(p, dict) or "name" not in p:
                continue
            schema = spec.deref(p.get("schema") or {})
            types = _types(schema)
            deep = p.get("style") == "deepObject" or "object" in types
            is_array = "array" in types
            params[(p["in"], p["name"])] = Param(
                p["name"],
                p.get("in", "query"),
                bool(p.get("required")),
                schema,
                is_array,
                deep,
                single=is_array and p.get("explode") is False,
            )
        query = {name: prm for (loc, name), prm in params.items() if loc == "query"}
        headers = [
            prm for (loc, name), prm in params.items() if loc == "header" and name.lower() not in _IGNORED_HEADERS
        ]
        path = tuple(params.get(("path", name[1:-1])) for name in _PARAM_RE.findall(template))
        body = spec.deref(op.get("requestBody") or {})
        content = body.get("content") or {}
        body_schema: JsonObj | None = None
        for media, mt in content.items():
            if "json" in media:
                body_schema = spec.deref((mt or {}).get("schema") or {}) or {}
                break
        status, schema, media = 200, None, None
        codes = sorted(c for c in (op.get("responses") or {}) if str(c)[:1] == "2" and str(c).isdigit())
        if codes:
            status = int(codes[0])
            resp = spec.deref(op["responses"][codes[0]])
            rcontent = (resp or {}).get("content") or {}
            for m, mt in rcontent.items():
                media = m
                schema = spec.deref((mt or {}).get("schema") or {}) if isinstance(mt, dict) else None
                if "json" in m:
                    break
        return cls(
            spec,
            method,
            template,
            str(op.get("operationId") or f"{method} {template}"),
            query,
            headers,
            path,
            bool(body.get("required")),
            body_schema,
            tuple(content),
            status,
            schema,
            media,
        )

    # -- validation -----------------------------------------------------------------------------------
    def validate(
        self,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        extra: frozenset[str],
        check_body: bool = True,
        path: list[str] | None = None,
    ) -> tuple[str, str] | None:
        """Return ``(message, target)`` for the first problem found, or None."""
        for prm, segment in zip(self.path, path or (), strict=False):
            if prm is not None:
                problem = prm.problem(self.spec, [segment])
                if problem:
                    return problem, prm.name
        for key, values in query.items():
            prm = self.query.get(key)
            if prm is None:
                base = key.split("[", 1)[0]
                if base in extra or key in extra:
                    continue
                deep = self.query.get(base)
                if deep is not None and "[" in key:
                    continue
                return f"Unknown query parameter '{key}'", key
            problem = prm.problem(self.spec, values)
            if problem:
                return problem, key
        for prm in self.query.values():
            if prm.required and prm.name not in query and not any(k.startswith(prm.name + "[") for k in query):
                return f"Missing required query parameter '{prm.name}'", prm.name
        for prm in self.headers:
            value = headers.get(prm.name.lower())
            if value is None:
                if prm.required:
                    return f"Missing required header '{prm.name}'", prm.name
                continue
            problem = prm.problem(self.spec, [value])
            if problem:
                return problem, prm.name
        stripped = body.strip()
        if not stripped:
            if self.body_required:
                return "Required request body is missing", "body"
            return None
        ctype = headers.get("content-type", "")
        if check_body and self.body_schema is not None and (not ctype or "json" in ctype):
            try:
                data = json.loads(stripped)
            except (ValueError, RecursionError):
                return "Malformed JSON in request body", "body"
            body_check = self._body_check
            if body_check is None:  # compiled once, on the first body sent
                body_check = self._body_check = BodyCheck(self.spec.deref, self.body_schema)
            problem = body_check.problem(data)
            if problem:
                return problem, "body"
        return None

    # -- synthesis -------------------------------------------------------------------------------------
    def synthesized(self, req: Request | None = None) -> bytes:
        """The answer synthesized from the success schema. A list is always one last page holding what it
        shows, with the totals it shows: a synthesized ``next`` would send clients round forever."""
        if self._synth is None:
            if self.success_schema is None:
                self._synth = b""
            else:
                value = synthesize(self.spec, self.success_schema, f"{self.method} {self.template}", answer=True)
                if self.spec.api == "cf_v3":
                    value = cf_shape(value, packages=_of_packages(self.template))
                value = last_page(value)
                if (isinstance(value, dict) and ("pagination" in value or "totalResults" in value)) or (
                    isinstance(value, list) and {"skip", "top"} <= self.query.keys()
                ):
                    self._paged = value
                if self.success_media and "json" not in self.success_media and isinstance(value, str):
                    self._synth = value.encode()
                else:
                    self._synth = json.dumps(value, separators=(",", ":")).encode()
        if self._paged is not None and req is not None:
            return json.dumps(_page_for(self._paged, req), separators=(",", ":")).encode()
        return self._synth


#: Links CF sends with a ``method``: the actions (and a package's download, not a droplet's).
_CF_ACTION_LINKS = frozenset(
    {"upload", "cancel", "continue", "assign_current_droplet", "scale", "start", "stop", "restart"}
    | {"apply_manifest", "copy"}
)


def _of_packages(template: str) -> bool:
    """Whether a CF operation answers packages (``/v3/packages/...``, ``/v3/apps/{guid}/packages``), not
    droplets (``/v3/packages/{guid}/droplets``): the innermost of the two collections its path names."""
    static = [s for s in template.split("/") if s in ("packages", "droplets")]
    return bool(static) and static[-1] == "packages"


def cf_shape(value: Any, key: str = "", *, packages: bool = False) -> Any:
    """What cloud_controller_ng sends that CF's schemas leave optional: a link is ``{href}`` (``method``
    only for actions, which the synthesizer cannot tell, and for a package's download), and a relationship
    inside a resource is ``{data}`` (its ``links`` belong to the ``/relationships/...`` endpoints only)."""
    if isinstance(value, list):
        return [cf_shape(v, key, packages=packages) for v in value]
    if not isinstance(value, dict):
        return value
    if "href" in value and value.get("method") == "string":
        link = {"href": "https://api.example.org/v3" if value["href"] == "string" else value["href"]}
        if key in _CF_ACTION_LINKS:
            link["method"] = "POST"
        elif key == "download" and packages:
            link["method"] = "GET"
        return link
    out = {k: cf_shape(v, k, packages=packages) for k, v in value.items()}
    if key == "relationships":
        out = {k: ({"data": v["data"]} if isinstance(v, dict) and "data" in v else v) for k, v in out.items()}
    return out


#: Top-level keys that mark a CF list whose upstream schema (an ``allOf``) lost its ``pagination`` wrapper.
_CF_PAGINATION_KEYS = ("total_results", "total_pages", "first", "last", "next", "previous")


def last_page(value: Any) -> Any:
    """Turn a synthesized list body into the one and last page of a list, with totals that match it.

    Each paging style ends the way its service ends it: CF ``pagination.next`` null, Service Manager
    without ``token``, events and SaaS ``morePages`` false.
    """
    if not isinstance(value, dict):
        return value
    resources = value.get("resources")
    if not isinstance(resources, list):
        resources = next((v for v in value.values() if isinstance(v, list)), None)
    if isinstance(resources, list) and (
        isinstance(value.get("pagination"), dict) or any(k in value for k in _CF_PAGINATION_KEYS)
    ):
        rest = {k: v for k, v in value.items() if k not in _CF_PAGINATION_KEYS and k != "pagination"}
        return {"pagination": _cf_pagination(len(resources), None), **rest}
    if "totalResults" in value and isinstance(value.get("resources"), list):  # SCIM, whose indices start at 1
        n = len(value["resources"])
        return {**value, "totalResults": n, "itemsPerPage": n, "startIndex": 1}
    if "num_items" in value and isinstance(value.get("items"), list):
        out = {k: v for k, v in value.items() if k != "token"}
        out["num_items"] = len(value["items"])
        return out
    if "morePages" in value:
        out = dict(value)
        items = next((v for v in value.values() if isinstance(v, list)), [])
        out["morePages"] = False
        for key, number in (("totalPages", 1), ("pageNum", 1), ("page", 1), ("total", len(items))):
            if key in out:
                out[key] = number
        return out
    return value


def _cf_pagination(total: int, href: str | None) -> JsonObj:
    link = {"href": href} if href is not None else None
    return {"total_results": total, "total_pages": 1, "first": link, "last": link, "next": None, "previous": None}


def _page_for(value: Any, req: Request) -> Any:
    """The page of a synthesized list that ``req`` asks for."""
    if isinstance(value, list):  # skip/top: what is past the end is an empty page
        skip, top = _int(req.q("skip"), 0), _int(req.q("top"), len(value))
        return value[skip : skip + top]
    if "totalResults" in value:
        start = max(1, _int(req.q("startIndex"), 1))
        resources = value["resources"][start - 1 : start - 1 + _int(req.q("count"), len(value["resources"]))]
        return {**value, "resources": resources, "itemsPerPage": len(resources), "startIndex": start}
    params = {k: v[-1] for k, v in req.query.items() if k not in ("page", "per_page")}
    params["page"] = "1"
    params["per_page"] = req.q("per_page") or "50"
    href = f"{req.base_url}{req.path}?{urllib.parse.urlencode(params)}"
    return {**value, "pagination": _cf_pagination(value["pagination"]["total_results"], href)}


def _int(raw: str | None, default: int) -> int:
    try:
        return max(0, int(raw)) if raw else default
    except ValueError:
        return default


# -- synthesis ------------------------------------------------------------------------------------------
def _stable_uuid(seed: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16], version=4))


# Hand-written on purpose: hypothesis-jsonschema draws random values, slowly, and the emulator's answers
# must be the same on every run (stable ids, examples first, one-item lists, shapes the services send).
def synthesize(spec: Spec, schema: Any, seed: str, *, answer: bool = False) -> Any:
    """A deterministic example value for ``schema``; as an ``answer`` (a response body) it leaves out what
    the service does not always send (see ``_left_out``)."""
    return _synth(spec, schema, seed, 0, (), answer)


#: The spec's mark on a property the service sends only in some situations (a docker package's image, a
#: staged build's droplet link), saying when: the synthesizer, which cannot tell the situation, leaves it out.
SENT_WHEN = "x-scp-sent-when"


def _left_out(spec: Spec, schema: Any) -> bool:
    """Whether an answer leaves out a property of this schema: one the service sends only in some
    situations (``x-scp-sent-when``), or one it never sends back (``writeOnly``, such as a password)."""
    if not isinstance(schema, dict):
        return False
    if SENT_WHEN in schema or schema.get("writeOnly") is True:
        return True
    target = spec.deref(schema) if "$ref" in schema else None
    return isinstance(target, dict) and (SENT_WHEN in target or target.get("writeOnly") is True)


def _synth(spec: Spec, schema: Any, seed: str, depth: int, stack: tuple[str, ...], answer: bool) -> Any:
    if isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if ref in stack:
            return None
        stack = (*stack, ref)
        schema = spec.deref(schema)
    if not isinstance(schema, dict):
        return None
    for key in ("const", "example", "default"):
        if key in schema and schema[key] is not None:
            return copy.deepcopy(schema[key])
    if "examples" in schema and isinstance(schema["examples"], list) and schema["examples"]:
        return copy.deepcopy(schema["examples"][0])
    if schema.get("enum"):
        return schema["enum"][0]
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for sub in schema["allOf"]:
            part = _synth(spec, sub, seed, depth + 1, stack, answer)
            if isinstance(part, dict):
                merged.update(part)
        own = {k: v for k, v in schema.items() if k != "allOf"}
        if own.get("properties"):
            part = _synth(spec, own, seed, depth, stack, answer)
            if isinstance(part, dict):
                merged.update(part)
        return merged
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            for alt in schema[key]:
                if "null" not in _types(spec.deref(alt)):
                    return _synth(spec, alt, seed, depth + 1, stack, answer)
            return None
    types = [t for t in _types(schema) if t != "null"]
    kind = types[0] if types else ("object" if "properties" in schema else "")
    if kind == "object":
        out: dict[str, Any] = {}
        required = set(schema.get("required") or ())
        for name, sub in (schema.get("properties") or {}).items():
            if (depth >= _MAX_DEPTH or (answer and _left_out(spec, sub))) and name not in required:
                continue
            value = _synth(spec, sub, f"{seed}.{name}", depth + 1, stack, answer)
            if value is None and name not in required:
                continue
            out[name] = _named(name, value, seed)
        return out
    if kind == "array":
        if depth >= _MAX_DEPTH:
            return []
        item = _synth(spec, schema.get("items") or {}, f"{seed}[]", depth + 1, stack, answer)
        return [] if item is None else [item]
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2024-01-01T00:00:00Z"
        if fmt == "date":
            return "2024-01-01"
        if fmt == "uuid":
            return _stable_uuid(seed)
        if fmt in ("uri", "url"):
            return "https://example.com"
        if fmt == "email":
            return "user@example.com"
        if fmt == "byte":
            return "ZW11bGF0b3I="
        text = "string"
        min_len = schema.get("minLength")
        if isinstance(min_len, int) and min_len > len(text):
            text = text * (min_len // len(text) + 1)
        return text
    if kind in ("integer", "number"):
        low = schema.get("minimum")
        value = low if isinstance(low, (int, float)) else 0
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if kind == "" and depth < _MAX_DEPTH:
        return {}
    return None


def _named(name: str, value: Any, seed: str) -> Any:
    if value == "string" and name.lower() in ("guid", "id", "uuid"):
        return _stable_uuid(f"{seed}.{name}")
    return value


# -- routing ------------------------------------------------------------------------------------------
@dataclass(slots=True)
class RouteMethod:
    route_id: str
    op: Operation | None
    handler: Handler | None
    extra_query: frozenset[str]
    auth: bool = True
    validate_body: bool = True


@dataclass(slots=True)
class RouteEntry:
    template: str
    segments: tuple[str | None, ...]
    methods: dict[str, RouteMethod] = field(default_factory=dict)


def normalize_template(template: str) -> str:
    return _PARAM_RE.sub("{}", template.rstrip("/") or "/")


@dataclass(slots=True)
class _RouteNode:
    """One path segment of the routing tree: literal children by name, one child for a parameter."""

    literal: dict[str, _RouteNode] = field(default_factory=dict)
    param: _RouteNode | None = None
    entry: RouteEntry | None = None


class Router:
    """Exact paths by dict lookup; templated paths down a tree of segments, literal segments before parameters.

    Literal first at every depth is the order of "most literal segments first, the leftmost first": a path
    costs one dict lookup per segment, however many routes there are.
    """

    def __init__(self) -> None:
        self._exact: dict[str, RouteEntry] = {}
        self._tree = _RouteNode()
        self._all: dict[str, RouteEntry] = {}

    def entry(self, template: str) -> RouteEntry:
        key = normalize_template(template)
        found = self._all.get(key)
        if found is None:
            segs = tuple(None if s == "{}" else s for s in key.strip("/").split("/")) if key != "/" else ()
            found = RouteEntry(template, segs)
            self._all[key] = found
            if all(s is not None for s in segs):
                self._exact[key] = found
            else:
                node = self._tree
                for seg in segs:
                    if seg is None:
                        if node.param is None:
                            node.param = _RouteNode()
                        node = node.param
                    else:
                        node = node.literal.setdefault(seg, _RouteNode())
                node.entry = found
        return found

    def add(self, api: str, method: str, template: str, **kw: Any) -> RouteMethod:
        entry = self.entry(template)
        existing = entry.methods.get(method)
        route_id = f"{api} {method} {entry.template}"
        if existing is None:
            existing = RouteMethod(route_id, None, None, frozenset())
            entry.methods[method] = existing
        for key, value in kw.items():
            setattr(existing, key, value)
        return existing

    def match(self, method: str, path: str) -> tuple[RouteMethod | None, list[str], bool]:
        """Return ``(route, path_params, path_known)``."""
        key = path.rstrip("/") or "/"
        exact = self._exact.get(key)
        if exact is not None:
            rm = exact.methods.get(method)
            if rm is not None:
                return rm, [], True
        parts = key.strip("/").split("/") if key != "/" else []
        params: list[str] = []
        found, known = self._descend(self._tree, parts, 0, method, params)
        return found, params if found is not None else [], known or exact is not None

    def _descend(
        self, node: _RouteNode, parts: list[str], depth: int, method: str, params: list[str]
    ) -> tuple[RouteMethod | None, bool]:
        """The route for ``parts[depth:]`` below ``node`` (its parameters appended to ``params``), and whether
        some templated route has this path under another method."""
        if depth == len(parts):
            entry = node.entry
            if entry is None:
                return None, False
            return entry.methods.get(method), True
        part = parts[depth]
        known = False
        child = node.literal.get(part)
        if child is not None:
            found, known = self._descend(child, parts, depth + 1, method, params)
            if found is not None:
                return found, True
        if node.param is not None and part:
            params.append(part)
            found, known_below = self._descend(node.param, parts, depth + 1, method, params)
            if found is not None:
                return found, True
            params.pop()
            known = known or known_below
        return None, known

    def routes(self) -> list[RouteEntry]:
        return list(self._all.values())
