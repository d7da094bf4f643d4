"""Service keys: loading them from wherever BTP puts them, and validating them early.

A key is checked when it is loaded, not when the first request fails, so that a wrong field is
reported with the place it came from (``/path/key.json: uaa.clientsecret: missing``).
Secrets are kept out of ``repr`` and out of every error message.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from ._errors import ServiceKeyError

__all__ = [
    "CfCliConfig",
    "CredentialType",
    "ServiceKey",
    "ServiceKeyKind",
    "ServiceKeyLike",
    "UaaCredentials",
    "load_service_key",
]

_GET_A_KEY = "Create a new service key (cf create-service-key / btp create services/binding) and pass it"


class CredentialType(enum.StrEnum):
    """How a client authenticates at the token endpoint."""

    SECRET = "binding-secret"
    X509 = "x509"


class ServiceKeyKind(enum.StrEnum):
    """What a service key is for, recognised from its fields."""

    CLOUD_MANAGEMENT = "cis"
    AUDIT_LOG = "auditlog"
    SERVICE_MANAGER = "service-manager"
    UAA = "uaa"


_KIND_NAMES = {
    ServiceKeyKind.CLOUD_MANAGEMENT: "a Cloud Management (cis) key with `endpoints` and `uaa`",
    ServiceKeyKind.AUDIT_LOG: "an Audit Log key with `url` and `uaa`",
    ServiceKeyKind.SERVICE_MANAGER: "a Service Manager key with `sm_url`",
    ServiceKeyKind.UAA: "a plain XSUAA key with `clientid` and `url`",
}


@dataclass(frozen=True)
class UaaCredentials:
    """The OAuth client of a service key (its ``uaa`` block, or the key itself for SM).

    ``client_secret`` is set for secret-based credentials; ``certificate``/``key`` and
    ``cert_url`` for X.509 ones.
    """

    url: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    certificate: str | None = field(default=None, repr=False)
    key: str | None = field(default=None, repr=False)
    cert_url: str | None = None
    xsappname: str | None = None
    identity_zone: str | None = None

    @property
    def credential_type(self) -> CredentialType:
        """:attr:`CredentialType.X509` when the client authenticates with a certificate."""
        return CredentialType.X509 if self.certificate is not None else CredentialType.SECRET

    @property
    def token_url(self) -> str:
        """The token endpoint; X.509 clients must use the ``certurl`` host (mTLS)."""
        base = self.cert_url if self.credential_type is CredentialType.X509 and self.cert_url else self.url
        return f"{base.rstrip('/')}/oauth/token"


@dataclass(frozen=True)
class ServiceKey:
    """A validated service key.

    ``url`` is the API base URL of single-endpoint keys (Audit Log ``url``, Service Manager
    ``sm_url``); ``endpoints`` the named API URLs of a Cloud Management key. ``raw`` is the
    key as loaded (hidden from ``repr``: it holds the secrets).
    """

    kind: ServiceKeyKind
    uaa: UaaCredentials
    source: str
    url: str | None = None
    endpoints: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # -- loaders ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: object, *, source: str = "<dict>") -> ServiceKey:
        """Validate a key given as a mapping (``credentials`` wrappers are unwrapped)."""
        return _parse_key(data, source)

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "<json>") -> ServiceKey:
        """Parse JSON text, including ``cf service-key`` output with its header lines."""
        return _parse_key(_loads(text, source), source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ServiceKey:
        """Read a JSON key file, or a Kubernetes binding directory."""
        p = Path(path)
        if p.is_dir():
            return cls.from_binding_dir(p)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise ServiceKeyError(str(p), "file not found", hint="Check the path") from None
        except OSError as exc:
            raise ServiceKeyError(str(p), f"cannot read file ({exc.strerror})") from None
        return cls.from_json(text, source=str(p))

    @classmethod
    def from_env(cls, name: str, *, environ: Mapping[str, str] | None = None) -> ServiceKey:
        """Parse the JSON text held by environment variable ``name``."""
        env = os.environ if environ is None else environ
        source = f"environment variable {name}"
        text = env.get(name)
        if not text or not text.strip():
            raise ServiceKeyError(source, "not set or empty", hint=f"Export {name}='<service key JSON>'")
        return cls.from_json(text, source=source)

    @classmethod
    def from_vcap_services(
        cls,
        *,
        label: str | None = None,
        name: str | None = None,
        instance_name: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ServiceKey:
        """Pick the credentials of a service bound to this Cloud Foundry app.

        Bindings are matched on every criterion given; with none given, the only binding is
        taken.
        """
        env = os.environ if environ is None else environ
        source = "VCAP_SERVICES"
        text = env.get(source)
        if not text:
            raise ServiceKeyError(source, "not set", hint="Bind the service to the app, or load a key instead")
        services = _loads(text, source)
        if not isinstance(services, Mapping):
            raise ServiceKeyError(source, f"expected a JSON object, got {_type_name(services)}")
        matches: list[tuple[str, Mapping[str, Any]]] = []
        available: list[str] = []
        for service_label, bindings in services.items():
            if not isinstance(bindings, list):
                continue
            for binding in bindings:
                if not isinstance(binding, Mapping):
                    continue
                available.append(f"{binding.get('name')} ({service_label})")
                if label is not None and binding.get("label", service_label) != label:
                    continue
                if name is not None and binding.get("name") != name:
                    continue
                if instance_name is not None and binding.get("instance_name") != instance_name:
                    continue
                matches.append((f"{source}[{service_label}][{binding.get('name')}]", binding))
        wanted = ", ".join(
            f"{k}={v!r}" for k, v in (("label", label), ("name", name), ("instance_name", instance_name)) if v
        )
        if not matches:
            raise ServiceKeyError(
                source,
                f"no binding matches {wanted or 'anything'}",
                hint=f"Bound services: {', '.join(available) or 'none'}",
            )
        if len(matches) > 1:
            raise ServiceKeyError(
                source,
                f"{len(matches)} bindings match {wanted or 'an empty filter'}",
                hint="Pass label=, name= or instance_name= to pick one",
            )
        where, binding = matches[0]
        credentials = binding.get("credentials")
        if not isinstance(credentials, Mapping):
            raise ServiceKeyError(where, "missing or not an object", field="credentials")
        return _parse_key(credentials, where)

    @classmethod
    def from_binding_dir(cls, path: str | os.PathLike[str]) -> ServiceKey:
        """Read a servicebinding.io directory (one file per field) as mounted by the SAP BTP
        service operator. Values holding JSON text are decoded; a ``.metadata`` file, when
        present, says which fields are JSON and which file holds the whole key.
        """
        root = Path(path)
        source = str(root)
        if not root.is_dir():
            raise ServiceKeyError(source, "not a directory", hint="Pass the binding's mount path")
        formats: dict[str, str] = {}
        containers: list[str] = []
        metadata_file = root / ".metadata"
        if metadata_file.is_file():
            metadata = _loads(metadata_file.read_text(encoding="utf-8"), f"{metadata_file}")
            props = metadata.get("credentialProperties") if isinstance(metadata, Mapping) else None
            for prop in props if isinstance(props, list) else []:
                if isinstance(prop, Mapping) and isinstance(prop.get("name"), str):
                    formats[prop["name"]] = str(prop.get("format", "text"))
                    if prop.get("container"):
                        containers.append(prop["name"])
        data: dict[str, Any] = {}
        for entry in sorted(root.iterdir()):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            text = entry.read_text(encoding="utf-8")
            fmt = formats.get(entry.name)
            if fmt == "json" or (fmt is None and text.lstrip()[:1] in ("{", "[")):
                try:
                    data[entry.name] = json.loads(text)
                except ValueError:
                    if fmt == "json":
                        raise ServiceKeyError(str(entry), "declared as JSON in .metadata but is not") from None
                    data[entry.name] = text
            else:
                data[entry.name] = text.strip() if "\n" not in text.strip() else text
        for name in containers:
            inner = data.pop(name, None)
            if isinstance(inner, Mapping):
                data.update(inner)
        return _parse_key(data, source)

    # -- checks ----------------------------------------------------------------------------

    def require(self, kind: ServiceKeyKind) -> ServiceKey:
        """Return ``self`` if it is of ``kind``, else raise :class:`ServiceKeyError`."""
        if self.kind is not kind:
            raise ServiceKeyError(
                self.source,
                f"expected {_KIND_NAMES[kind]}, but this is {_KIND_NAMES[self.kind]}",
                hint="Check that you passed the key of the right service instance",
            )
        return self


ServiceKeyLike: TypeAlias = ServiceKey | Mapping[str, Any] | str | os.PathLike[str]
"""What the session accepts wherever it needs a key: see :func:`load_service_key`."""


def load_service_key(source: ServiceKeyLike) -> ServiceKey:
    """Accept a :class:`ServiceKey`, a mapping, JSON text, or a path to a file/binding directory."""
    if isinstance(source, ServiceKey):
        return source
    if isinstance(source, Mapping):
        return ServiceKey.from_dict(source)
    if isinstance(source, str) and (source.lstrip().startswith("{") or "\n" in source):
        return ServiceKey.from_json(source)
    return ServiceKey.from_file(source)


# -- Cloud Foundry CLI ---------------------------------------------------------------------


@dataclass(frozen=True)
class CfCliConfig:
    """The login state of the ``cf`` CLI (``$CF_HOME/.cf/config.json``, default ``~/.cf``)."""

    source: str
    target: str | None
    uaa_endpoint: str | None
    authorization_endpoint: str | None
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    client_id: str = "cf"
    client_secret: str = field(default="", repr=False)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
    ) -> CfCliConfig:
        """Read the cf CLI config file from ``path``, ``$CF_HOME`` or the home directory."""
        env = os.environ if environ is None else environ
        if path is None:
            home = env.get("CF_HOME") or str(Path.home())
            path = Path(home) / ".cf" / "config.json"
        p = Path(path)
        source = str(p)
        try:
            data = _loads(p.read_text(encoding="utf-8"), source)
        except FileNotFoundError:
            raise ServiceKeyError(source, "cf CLI config not found", hint="Run `cf login` first") from None
        if not isinstance(data, Mapping):
            raise ServiceKeyError(source, f"expected a JSON object, got {_type_name(data)}")
        access = _opt_str(data, "AccessToken", source, "")
        if access and access.lower().startswith("bearer "):
            access = access[len("bearer ") :]
        config = cls(
            source=source,
            target=_opt_str(data, "Target", source, ""),
            uaa_endpoint=_opt_str(data, "UaaEndpoint", source, "") or _opt_str(data, "UAAEndpoint", source, ""),
            authorization_endpoint=_opt_str(data, "AuthorizationEndpoint", source, ""),
            access_token=access or None,
            refresh_token=_opt_str(data, "RefreshToken", source, "") or None,
            client_id=_opt_str(data, "UAAOAuthClient", source, "") or "cf",
            client_secret=_opt_str(data, "UAAOAuthClientSecret", source, "") or "",
        )
        if not config.access_token and not config.refresh_token:
            raise ServiceKeyError(source, "not logged in (no AccessToken/RefreshToken)", hint="Run `cf login`")
        return config


# -- parsing -------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    return {
        type(None): "null",
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
    }.get(type(value), type(value).__name__)


def _loads(text: str | bytes, source: str) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    try:
        return json.loads(text)
    except ValueError as first:
        # `cf service-key` prints "Getting key ... as user..." (and maybe a blank line) first.
        lines = text.splitlines()
        for index, line in enumerate(lines):
            if line.lstrip().startswith("{"):
                try:
                    return json.loads("\n".join(lines[index:]))
                except ValueError:
                    break
        # JSONDecodeError's own message holds only a position, never the document.
        detail = first.msg if isinstance(first, json.JSONDecodeError) else "invalid JSON"
        where = f" at line {first.lineno} column {first.colno}" if isinstance(first, json.JSONDecodeError) else ""
        raise ServiceKeyError(
            source,
            f"not valid JSON ({detail}{where})",
            hint="Pass the service key exactly as `cf service-key` or `btp get services/binding` prints it",
        ) from None


def _opt_str(data: Mapping[str, Any], name: str, source: str, prefix: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ServiceKeyError(
            source, f"expected a string, got {_type_name(value)}", field=f"{prefix}{name}", hint=_GET_A_KEY
        )
    return value


def _req_str(data: Mapping[str, Any], name: str, source: str, prefix: str) -> str:
    value = _opt_str(data, name, source, prefix)
    if not value:
        raise ServiceKeyError(source, "missing" if value is None else "empty", field=f"{prefix}{name}", hint=_GET_A_KEY)
    return value


def _parse_key(data: object, source: str) -> ServiceKey:
    if not isinstance(data, Mapping):
        raise ServiceKeyError(source, f"expected a JSON object, got {_type_name(data)}", hint=_GET_A_KEY)
    prefix = ""
    wrapped = data.get("credentials")
    if isinstance(wrapped, Mapping) and not ({"uaa", "clientid", "endpoints", "sm_url"} & data.keys()):
        data, prefix = wrapped, "credentials."
    elif "credentials" in data and not ({"uaa", "clientid", "endpoints", "sm_url"} & data.keys()):
        raise ServiceKeyError(
            source, f"expected an object, got {_type_name(wrapped)}", field="credentials", hint=_GET_A_KEY
        )

    if "sm_url" in data:
        return ServiceKey(
            kind=ServiceKeyKind.SERVICE_MANAGER,
            uaa=_parse_uaa(data, source, prefix),
            source=source,
            url=_req_str(data, "sm_url", source, prefix),
            raw=data,
        )
    if "endpoints" in data:
        endpoints = data["endpoints"]
        if not isinstance(endpoints, Mapping):
            raise ServiceKeyError(
                source,
                f"expected an object, got {_type_name(endpoints)}",
                field=f"{prefix}endpoints",
                hint=_GET_A_KEY,
            )
        urls = {str(k): v for k, v in endpoints.items() if isinstance(v, str)}
        if not urls:
            raise ServiceKeyError(source, "no endpoint URLs", field=f"{prefix}endpoints", hint=_GET_A_KEY)
        return ServiceKey(
            kind=ServiceKeyKind.CLOUD_MANAGEMENT,
            uaa=_parse_uaa_block(data, source, prefix),
            source=source,
            endpoints=urls,
            raw=data,
        )
    if "uaa" in data:
        uaa = _parse_uaa_block(data, source, prefix)
        url = _opt_str(data, "url", source, prefix)
        return ServiceKey(
            kind=ServiceKeyKind.AUDIT_LOG if url else ServiceKeyKind.UAA,
            uaa=uaa,
            source=source,
            url=url,
            raw=data,
        )
    if "clientid" in data:
        return ServiceKey(kind=ServiceKeyKind.UAA, uaa=_parse_uaa(data, source, prefix), source=source, raw=data)
    raise ServiceKeyError(
        source,
        "not a recognised service key",
        field=f"{prefix}uaa" if prefix or "url" in data else None,
        hint="Expected one of: " + "; ".join(_KIND_NAMES.values()),
    )


def _parse_uaa_block(data: Mapping[str, Any], source: str, prefix: str) -> UaaCredentials:
    block = data.get("uaa")
    if isinstance(block, str):  # bindings flattened to text, e.g. by a secret store
        with contextlib.suppress(ValueError):
            block = json.loads(block)
    if not isinstance(block, Mapping):
        problem = "missing" if "uaa" not in data else f"expected an object, got {_type_name(block)}"
        raise ServiceKeyError(source, problem, field=f"{prefix}uaa", hint=_GET_A_KEY)
    return _parse_uaa(block, source, f"{prefix}uaa.")


def _parse_uaa(block: Mapping[str, Any], source: str, prefix: str) -> UaaCredentials:
    client_id = _req_str(block, "clientid", source, prefix)
    declared = _opt_str(block, "credential-type", source, prefix)
    x509 = declared == "x509" or (declared is None and "certificate" in block and "clientsecret" not in block)
    xsappname = _opt_str(block, "xsappname", source, prefix)
    identity_zone = _opt_str(block, "identityzone", source, prefix)
    if x509:
        # Service Manager X.509 keys may carry the mTLS token host in `url` only.
        cert_url = _opt_str(block, "certurl", source, prefix) or _opt_str(block, "url", source, prefix)
        if not cert_url:
            raise ServiceKeyError(
                source, "missing (required for X.509 credentials)", field=f"{prefix}certurl", hint=_GET_A_KEY
            )
        return UaaCredentials(
            url=_opt_str(block, "url", source, prefix) or cert_url,
            client_id=client_id,
            cert_url=cert_url,
            certificate=_req_str(block, "certificate", source, prefix),
            key=_req_str(block, "key", source, prefix),
            xsappname=xsappname,
            identity_zone=identity_zone,
        )
    return UaaCredentials(
        url=_req_str(block, "url", source, prefix),
        client_id=client_id,
        client_secret=_req_str(block, "clientsecret", source, prefix),
        cert_url=_opt_str(block, "certurl", source, prefix),
        xsappname=xsappname,
        identity_zone=identity_zone,
    )
