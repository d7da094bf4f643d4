"""Step 1: find and download each API's OpenAPI document the way its swagger-ui page finds it.

Discovery order, per base URL: springdoc's `/v3/api-docs/swagger-config` (`url` or `urls`), springfox's
`/swagger-resources`, the URL configured in `swagger-ui.html` / `swagger-initializer.js`, then well-known
document paths. Multi-file documents are mirrored with every file their `$ref`s reach, so the normalize
step can bundle them offline. Raw documents go to the (uncommitted) cache only.

Credentials (`--token`, or `user:password@` in a base URL) are sent only to the origin (scheme, host,
port) of the base URL they were given for: a document URL discovery finds on another host, a published
document URL or a redirect to another origin is requested without them.
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx

from ._common import (
    CACHE_DIR,
    ApiSource,
    DocumentSource,
    PipelineError,
    dump_canonical,
    is_api_document,
    parse_document,
    redact,
    replace_dir,
    staging_dir,
)

SPRINGDOC_CONFIG = "v3/api-docs/swagger-config"
SPRINGFOX_RESOURCES = "swagger-resources"
UI_PAGES = (
    "swagger-initializer.js",
    "swagger-ui/swagger-initializer.js",
    "swagger-ui.html",
    "swagger-ui/index.html",
)
WELL_KNOWN = (
    "v3/api-docs",
    "v2/api-docs",
    "openapi.json",
    "openapi.yaml",
    "swagger.json",
    "api-docs",
    "v3/api-docs.yaml",
)
MANIFEST = "fetch.json"
MAX_REDIRECTS = 10
_REDIRECTS = (301, 302, 303, 307, 308)

# swagger-ui's JS configuration: `url: "..."`, `configUrl: "..."`, `urls: [{url: "...", name: "..."}]`.
_CONFIG_URL = re.compile(r"""\bconfigUrl\s*:\s*["']([^"']+)["']""")
_URLS_BLOCK = re.compile(r"""\burls\s*:\s*\[(.*?)\]""", re.S)
_URL_ENTRY = re.compile(r"""\{[^{}]*?\burl\s*:\s*["']([^"']+)["'][^{}]*?\}""", re.S)
_NAME_IN_ENTRY = re.compile(r"""\bname\s*:\s*["']([^"']+)["']""")
_SINGLE_URL = re.compile(r"""(?<![\w.])url\s*:\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class Found:
    url: str
    how: str


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: what a credential is bound to (as browsers bind cookies and auth)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def _show_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without `user:password@`, and that user and password (percent-decoded) if there were any."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), (unquote(user), unquote(password))


def _url_problem(url: str) -> str | None:
    """Why httpx could not request `url`, in words that quote no part of it; `None` when it can."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "it needs http:// or https://"
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return "its port is not a number from 0 to 65535"
    if not parts.hostname:
        return "it has no host"
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return "httpx rejects it"
    return None


def _checked_base(api: str, url: str, given: bool) -> tuple[str, tuple[str, str] | None]:
    """`split_userinfo` of a base URL, or one line saying why it is unusable.

    The line holds no part of the URL: when a password holds an unencoded '/', '?' or '#', the URL's
    authority ends inside the password, and no redaction can tell which part of it is secret.
    """
    try:
        base, userinfo = split_userinfo(url)
    except ValueError:  # urlsplit: a broken IPv6 literal, characters that change under NFKC
        problem: str | None = "it cannot be parsed"
    else:
        problem = _url_problem(base)
        if problem is None:
            return base, userinfo
    where = "the given base URL (--base-url or --service-key)" if given else "base_url in sources.yaml"
    hint = "; percent-encode any '/', '?', '#' or '@' in its user name or password" if "@" in url else ""
    raise PipelineError(api, f"{where} is not a usable URL: {problem}{hint}")


class Credential:
    """An Authorization header value and the one origin it may be sent to."""

    def __init__(self, base_url: str, authorization: str) -> None:
        self.origin = origin(base_url)
        self.shown = _show_origin(base_url)
        self._authorization = authorization

    @classmethod
    def for_base(cls, base_url: str, token: str | None, userinfo: tuple[str, str] | None) -> Credential | None:
        if token:
            return cls(base_url, f"Bearer {token}")
        if userinfo:
            pair = f"{userinfo[0]}:{userinfo[1]}".encode()
            return cls(base_url, f"Basic {base64.b64encode(pair).decode('ascii')}")
        return None

    def headers_for(self, url: str) -> dict[str, str]:
        return {"Authorization": self._authorization} if origin(url) == self.origin else {}

    def __repr__(self) -> str:
        return f"Credential(for {self.shown})"


class _Http:
    """GET with redirects followed by hand (so credentials never cross origins), transport failures as
    one-line pipeline errors."""

    def __init__(self, api: str, client: httpx.Client, credential: Credential | None = None) -> None:
        self.api = api
        self.client = client
        self.credential = credential

    def _send(self, url: str) -> httpx.Response:
        headers = self.credential.headers_for(url) if self.credential else {}
        try:
            return self.client.get(url, headers=headers)
        except httpx.InvalidURL:  # a URL a server gave (the base URL is checked before any request)
            raise PipelineError(self.api, f"cannot fetch {url}: not a valid URL") from None
        except httpx.TimeoutException:
            raise PipelineError(self.api, f"timed out fetching {url}") from None
        except httpx.HTTPError as exc:
            raise PipelineError(self.api, f"cannot reach {url} ({type(exc).__name__}: {exc})") from None

    def get(self, url: str) -> httpx.Response | None:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(current)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                break
            current = urljoin(current, location)
        else:
            raise PipelineError(self.api, f"more than {MAX_REDIRECTS} redirects fetching {url}")
        if response.status_code in (401, 403):
            raise PipelineError(self.api, f"{current} answered {response.status_code}: {self._why_refused(current)}")
        return response if response.status_code == 200 else None

    def _why_refused(self, url: str) -> str:
        if self.credential is None:
            return "the docs are protected, pass --token"
        if not self.credential.headers_for(url):
            return f"the docs are protected, and credentials are only sent to {self.credential.shown}"
        return "the credentials were refused"

    def get_json(self, url: str) -> Any:
        response = self.get(url)
        if response is None:
            return None
        try:
            return response.json()
        except ValueError:
            return None


def _pick(api: str, candidates: list[tuple[str, str | None]], group: str | None, where: str) -> str | None:
    """Choose one document among those a swagger-ui lists."""
    if not candidates:
        return None
    if group is not None:
        for url, name in candidates:
            if name == group:
                return url
        names = ", ".join(str(name) for _, name in candidates)
        raise PipelineError(api, f"{where} lists no document named {group!r} (it lists: {names})")
    if len(candidates) > 1:
        names = ", ".join(str(name) for _, name in candidates)
        raise PipelineError(api, f"{where} lists several documents ({names}); set `group` in sources.yaml")
    return candidates[0][0]


def _from_swagger_config(api: str, http: _Http, config_url: str, group: str | None) -> Found | None:
    config = http.get_json(config_url)
    if not isinstance(config, dict):
        return None
    entries = [(e["url"], e.get("name")) for e in config.get("urls") or [] if isinstance(e, dict) and "url" in e]
    if entries:
        chosen = _pick(api, entries, group, config_url)
        return Found(urljoin(config_url, chosen), "springdoc swagger-config urls") if chosen else None
    if isinstance(config.get("url"), str):
        return Found(urljoin(config_url, config["url"]), "springdoc swagger-config url")
    return None


def _from_springfox(api: str, http: _Http, base: str, group: str | None) -> Found | None:
    resources_url = urljoin(base, SPRINGFOX_RESOURCES)
    resources = http.get_json(resources_url)
    if not isinstance(resources, list):
        return None
    entries = [
        (entry.get("url") or entry.get("location"), entry.get("name"))
        for entry in resources
        if isinstance(entry, dict) and (entry.get("url") or entry.get("location"))
    ]
    chosen = _pick(api, entries, group, resources_url)
    return Found(urljoin(base, chosen), "springfox swagger-resources") if chosen else None


def _from_ui_page(api: str, http: _Http, base: str, group: str | None) -> Found | None:
    for page in UI_PAGES:
        page_url = urljoin(base, page)
        response = http.get(page_url)
        if response is None:
            continue
        text = response.text
        config = _CONFIG_URL.search(text)
        if config:
            found = _from_swagger_config(api, http, urljoin(page_url, config.group(1)), group)
            if found:
                return found
        block = _URLS_BLOCK.search(text)
        if block:
            entries = []
            for entry in _URL_ENTRY.finditer(block.group(1)):
                name = _NAME_IN_ENTRY.search(entry.group(0))
                entries.append((entry.group(1), name.group(1) if name else None))
            chosen = _pick(api, entries, group, page_url)
            if chosen:
                return Found(urljoin(page_url, chosen), f"urls in {page}")
        single = _SINGLE_URL.search(_URLS_BLOCK.sub("", text))
        if single:
            return Found(urljoin(page_url, single.group(1)), f"url in {page}")
    return None


def _from_well_known(http: _Http, base: str) -> Found | None:
    for path in WELL_KNOWN:
        url = urljoin(base, path)
        response = http.get(url)
        if response is None:
            continue
        try:
            if is_api_document(parse_document(response.content, url)):
                return Found(url, f"well-known path /{path}")
        except ValueError:
            continue
    return None


def discover(api: str, http: _Http, base_url: str, group: str | None) -> Found:
    base = base_url.rstrip("/") + "/"
    found = (
        _from_swagger_config(api, http, urljoin(base, SPRINGDOC_CONFIG), group)
        or _from_springfox(api, http, base, group)
        or _from_ui_page(api, http, base, group)
        or (_from_well_known(http, base) if group is None else None)
    )
    if found is None:
        raise PipelineError(
            api, f"no OpenAPI document found at {base_url} (tried springdoc, springfox, swagger-ui, well-known paths)"
        )
    return found


def _external_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            yield ref.split("#", 1)[0]
        for value in node.values():
            yield from _external_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _external_refs(value)


def _download_tree(api: str, http: _Http, root_url: str) -> dict[str, bytes]:
    """The root document and, transitively, every file its external `$ref`s point to."""
    files: dict[str, bytes] = {}
    pending = [root_url]
    while pending:
        url = pending.pop()
        if url in files:
            continue
        response = http.get(url)
        if response is None:
            raise PipelineError(api, f"broken $ref: {url} could not be downloaded")
        try:
            data = parse_document(response.content, url)
        except ValueError as exc:
            raise PipelineError(api, str(exc)) from None
        if url == root_url and not is_api_document(data):
            raise PipelineError(api, f"{url} is JSON/YAML but not an OpenAPI or Swagger document")
        files[url] = response.content
        pending.extend(urljoin(url, ref) for ref in set(_external_refs(data)) if ref)
    return files


def _layout(files: dict[str, bytes], root_url: str) -> tuple[dict[str, bytes], str]:
    """Map downloaded URLs to relative file paths that keep their relative `$ref`s valid."""
    paths = [urlsplit(url).path for url in files]
    common = posixpath.commonpath([posixpath.dirname(p) for p in paths]) if paths else "/"
    layout = {posixpath.relpath(urlsplit(url).path, common): body for url, body in files.items()}
    for name in layout:
        if name.startswith("..") or name.startswith("/"):
            raise PipelineError("fetch", f"cannot lay out {name} below {common}")
    return layout, posixpath.relpath(urlsplit(root_url).path, common)


def _strip_query(url: str) -> str:
    parts = urlsplit(url)
    return redact(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")))


def fetch_api(
    source: ApiSource,
    base_url: str | None = None,
    token: str | None = None,
    cache_dir: Path = CACHE_DIR,
    timeout: float = 30.0,
) -> list[dict[str, str]]:
    """Fetch all documents of one API into `cache_dir/<api>/`; returns the manifest written there."""
    if source.handwritten:
        raise PipelineError(source.name, "has no upstream document (handwritten spec); nothing to fetch")
    headers = {"Accept": "application/json, application/yaml;q=0.9, */*;q=0.1"}
    base, userinfo = _checked_base(source.name, base_url or source.base_url, given=bool(base_url))
    credential = Credential.for_base(base, token, userinfo)
    manifest: list[dict[str, str]] = []
    with (
        # No client-wide auth and no automatic redirects: each request gets credentials by its own origin.
        httpx.Client(headers=headers, timeout=timeout, follow_redirects=False) as client,
        staging_dir(cache_dir, source.name) as staged,
    ):
        http = _Http(source.name, client, credential)
        for index, document in enumerate(source.documents):
            # A document published outside any swagger-ui is taken from where it is published, unless the
            # caller points the API at a server of their own.
            if document.url and base_url is None:
                found = Found(document.url, "published document URL")
            else:
                found = discover(source.name, http, base, document.group)
            files = _download_tree(source.name, http, found.url)
            if document.format != "openapi3-split" and len(files) > 1:
                raise PipelineError(source.name, f"{found.url} refers to other files; declare format openapi3-split")
            layout, root = _layout(files, found.url)
            folder = staged / str(index)
            for name, body in layout.items():
                target = folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(body)
            manifest.append(_manifest_entry(document, _strip_query(found.url), found.how, f"{index}/{root}"))
        (staged / MANIFEST).write_text(dump_canonical({"documents": manifest}), encoding="utf-8")
        replace_dir(cache_dir / source.name, staged)
    return manifest


def _manifest_entry(document: DocumentSource, url: str, how: str, root: str) -> dict[str, str]:
    return {"format": document.format, "group": document.group or "", "url": url, "how": how, "root": root}


def read_manifest(api: str, cache_dir: Path = CACHE_DIR) -> list[dict[str, str]]:
    path = cache_dir / api / MANIFEST
    try:
        return list(json.loads(path.read_text(encoding="utf-8"))["documents"])
    except FileNotFoundError:
        raise PipelineError(api, f"nothing fetched yet ({path} missing): run the fetch step first") from None
    except (ValueError, KeyError) as exc:
        raise PipelineError(api, f"{path} is damaged ({exc}); fetch again") from None


def base_urls_from_service_key(path: Path, sources: dict[str, ApiSource]) -> dict[str, str]:
    """Base URLs from a cis service key's `endpoints` (or a service-manager key's `sm_url`)."""
    try:
        key = parse_document(path.read_bytes(), str(path))
    except (OSError, ValueError) as exc:
        raise PipelineError("service-key", str(exc)) from None
    key = key.get("credentials", key)
    endpoints = dict(key.get("endpoints") or {})
    if "sm_url" in key:
        endpoints["sm_url"] = key["sm_url"]
    found = {
        name: endpoints[src.key_endpoint]
        for name, src in sources.items()
        if src.key_endpoint and src.key_endpoint in endpoints
    }
    if not found:
        raise PipelineError("service-key", f"{path} has no `endpoints` this pipeline knows")
    return found
