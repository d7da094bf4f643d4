"""Service keys: loading them from wherever BTP puts them, and validating them early.

A key is checked when it is loaded, not when the first request fails, so that a wrong field is
reported with the place it came from (``/path/key.json: uaa.clientsecret: missing``).
Secrets are kept out of ``repr`` and out of every error message.

Bindings are found where ``@sap/xsenv`` finds them: ``VCAP_SERVICES_FILE_PATH`` or ``VCAP_SERVICES``
on Cloud Foundry, then the directories under ``SERVICE_BINDING_ROOT`` (or ``/etc/secrets/sapcp``) on
Kubernetes, in each of the layouts the SAP BTP service operator writes. What the platform says about
the binding (label, plan, tags, instance ...) is kept in :class:`BindingInfo`, apart from the
credentials.
"""

from __future__ import annotations

import enum
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import httpx

from ._errors import ServiceKeyError

__all__ = [
    "BindingInfo",
    "CfCliConfig",
    "CredentialType",
    "ServiceKey",
    "ServiceKeyKind",
    "ServiceKeyLike",
    "UaaCredentials",
    "load_service_key",
]

_GET_A_KEY = "Create a new service key (cf create-service-key / btp create services/binding) and pass it"
_PICK_ONE = "Pass name=, label=, tag=, plan=, type= or instance_name= to pick one"
# Keys are a few KB and CF caps the whole environment near 130 KB: anything this large is not a key
# (or is /dev/zero), and reading it whole would only cost memory.
_MAX_FILE_BYTES = 16 * 1024 * 1024
# A Kubernetes secret holds at most 1 MiB; a binding directory far beyond that is something else.
_MAX_BINDING_FILES = 256
_MAX_BINDING_BYTES = 4 * 1024 * 1024
# What @sap/xsenv reads when neither a path nor SERVICE_BINDING_ROOT is given.
DEFAULT_BINDING_ROOT = "/etc/secrets/sapcp"
# Names the SAP BTP service operator (and servicebinding.io) use for facts about the binding; in a
# directory without `.metadata` these are told apart from credentials by name.
_METADATA_NAMES = frozenset(
    {
        "type",
        "provider",
        "label",
        "plan",
        "tags",
        "instance_name",
        "instance_guid",
        "instance_external_name",
        "binding_name",
        "binding_guid",
    }
)
# Credential fields whose value is an object, so a file of that name is a field, not a whole key.
_OBJECT_FIELDS = frozenset({"uaa", "endpoints"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LINE_BREAKING = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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
class BindingInfo:
    """What the platform says about a binding, never its credentials.

    ``name`` is the binding's name (``name`` in ``VCAP_SERVICES``, the directory name under
    ``SERVICE_BINDING_ROOT``), ``label`` the service offering, ``type`` the servicebinding.io type.
    ``extra`` holds the other facts found (``binding_guid``, ``instance_external_name``,
    ``syslog_drain_url`` ...).
    """

    name: str | None = None
    label: str | None = None
    plan: str | None = None
    type: str | None = None
    provider: str | None = None
    instance_name: str | None = None
    instance_guid: str | None = None
    tags: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ServiceKey:
    """A validated service key.

    ``url`` is the API base URL of single-endpoint keys (Audit Log ``url``, Service Manager
    ``sm_url``); ``endpoints`` the named API URLs of a Cloud Management key. ``raw`` is the
    credentials as loaded, with ``uaa``/``endpoints`` given as JSON text decoded (hidden from
    ``repr``: it holds the secrets). ``binding`` is what the platform said about the binding the key
    came from (``None`` for a key given as a file, text or mapping).
    """

    kind: ServiceKeyKind
    uaa: UaaCredentials
    source: str
    url: str | None = None
    endpoints: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    binding: BindingInfo | None = None

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
        """Read a JSON key file (UTF-8), or a binding directory (see :meth:`from_binding_dir`)."""
        p = Path(path)
        if _is_dir(p):
            return cls.from_binding_dir(p)
        source = _display(p)
        return _parse_key(_loads(_read_file(p, source), source), source)

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
        name: str | None = None,
        label: str | None = None,
        tag: str | None = None,
        plan: str | None = None,
        instance_name: str | None = None,
        path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ServiceKey:
        """Pick the credentials of a service bound to this Cloud Foundry app.

        The bindings are read from ``path`` if given, else from the file named by
        ``VCAP_SERVICES_FILE_PATH``, else from ``VCAP_SERVICES``. A binding must match every
        criterion given (``tag`` matches any of its tags); with none given, the only binding is taken.
        """
        env = os.environ if environ is None else environ
        document = _vcap_document(env, path)
        if document is None:
            raise ServiceKeyError(
                "VCAP_SERVICES",
                "not set (nor VCAP_SERVICES_FILE_PATH)",
                hint="Bind the service to the app, or load a key instead",
            )
        services, source = document
        query = _Query(name=name, label=label, tag=tag, plan=plan, instance_name=instance_name)
        return _select(_vcap_bindings(services, source), query, source)

    @classmethod
    def from_default_env(
        cls,
        path: str | os.PathLike[str] = "default-env.json",
        *,
        name: str | None = None,
        label: str | None = None,
        tag: str | None = None,
        plan: str | None = None,
        instance_name: str | None = None,
    ) -> ServiceKey:
        """Pick a binding from the ``VCAP_SERVICES`` of a ``default-env.json`` file (the local stand-in
        for an app's environment that ``@sap/xsenv``'s ``loadEnv`` reads); criteria as in
        :meth:`from_vcap_services`."""
        p = Path(path)
        source = _display(p)
        document = _loads(_read_file(p, source), source)
        if not isinstance(document, Mapping):
            raise ServiceKeyError(source, f"expected a JSON object, got {_type_name(document)}")
        services = document.get("VCAP_SERVICES")
        if services is None:
            raise ServiceKeyError(source, "missing", field="VCAP_SERVICES", hint="Add the app's VCAP_SERVICES")
        where = f"{source}: VCAP_SERVICES"
        if isinstance(services, str):  # loadEnv also accepts it as JSON text
            services = _loads(services, where)
        query = _Query(name=name, label=label, tag=tag, plan=plan, instance_name=instance_name)
        return _select(_vcap_bindings(services, where), query, where)

    @classmethod
    def from_binding_dir(cls, path: str | os.PathLike[str]) -> ServiceKey:
        """Read one binding directory as the SAP BTP service operator mounts it.

        Three layouts are understood: a file per field with a ``.metadata`` file saying which
        fields are JSON and which are facts about the binding (the default); the same with the
        whole credentials as JSON in one file (``secretKey``); and a single file holding one JSON
        object of credentials and binding facts, every value a string (``secretRootKey``). Without
        ``.metadata``, values that are JSON objects are decoded and the operator's binding facts
        (``type``, ``label``, ``plan``, ``tags``, ``instance_*`` ...) are told apart by name.
        Files that are not UTF-8 (a ``ca.p12``) are kept as bytes unless a field needs them.
        """
        root = Path(path)
        source = _display(root)
        if not _is_dir(root):
            problem = "not a directory" if _exists(root) else "directory not found"
            raise ServiceKeyError(source, problem, hint="Pass the binding's mount path")
        meta, credentials, has_files = _read_binding(root, source)
        if not has_files and _subdirectories(root):
            raise ServiceKeyError(
                source,
                "holds directories, not a binding's files",
                hint="This looks like a binding root: use ServiceKey.from_binding_root(path, label=...)",
            )
        return _parse_key(credentials, source, binding=_binding_info(root.name, meta))

    @classmethod
    def from_binding_root(
        cls,
        root: str | os.PathLike[str] | None = None,
        *,
        name: str | None = None,
        label: str | None = None,
        tag: str | None = None,
        plan: str | None = None,
        type: str | None = None,
        instance_name: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ServiceKey:
        """Pick one of the bindings mounted under ``root`` (default: ``SERVICE_BINDING_ROOT``).

        Each directory under the root is a binding named after it (read as by
        :meth:`from_binding_dir`); the older ``<root>/<service>/<instance>/`` layout is read too,
        with the service directory as label and tag. Criteria as in :meth:`from_vcap_services`,
        plus ``type``.
        """
        env = os.environ if environ is None else environ
        if root is None:
            root = env.get("SERVICE_BINDING_ROOT") or None
            if root is None:
                raise ServiceKeyError(
                    "SERVICE_BINDING_ROOT", "not set", hint="Pass the directory the bindings are mounted under"
                )
        query = _Query(name=name, label=label, tag=tag, plan=plan, type=type, instance_name=instance_name)
        source = _display(root)
        return _select(_root_bindings(Path(root), source), query, source)

    @classmethod
    def find(
        cls,
        *,
        name: str | None = None,
        label: str | None = None,
        tag: str | None = None,
        plan: str | None = None,
        type: str | None = None,
        instance_name: str | None = None,
        root: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ServiceKey:
        """Look a binding up wherever the app runs, in ``@sap/xsenv``'s order: ``VCAP_SERVICES_FILE_PATH``
        or ``VCAP_SERVICES`` first; if nothing there matches, the bindings under ``root``,
        ``SERVICE_BINDING_ROOT`` or ``/etc/secrets/sapcp``."""
        env = os.environ if environ is None else environ
        query = _Query(name=name, label=label, tag=tag, plan=plan, type=type, instance_name=instance_name)
        searched: list[str] = []
        available: list[_Found] = []
        document = _vcap_document(env, None)
        if document is not None:
            services, source = document
            found = _vcap_bindings(services, source)
            if any(query.matches(f.info) for f in found):
                return _select(found, query, source)
            searched.append(source)
            available += found
        if root is None:
            root = env.get("SERVICE_BINDING_ROOT") or (
                DEFAULT_BINDING_ROOT if _is_dir(Path(DEFAULT_BINDING_ROOT)) else None
            )
        if root is not None:
            source = _display(root)
            found = _root_bindings(Path(root), source)
            if any(f.error is not None or query.matches(f.info) for f in found):
                return _select(found, query, source)
            searched.append(source)
            available += found
        if not searched:
            raise ServiceKeyError(
                "environment",
                "no bindings: neither VCAP_SERVICES(_FILE_PATH) nor SERVICE_BINDING_ROOT is set",
                hint="Bind the service to the app, or load a key instead",
            )
        raise ServiceKeyError(
            " and ".join(searched), f"no binding matches {query}", hint=f"Bindings: {_names(available)}"
        )

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
        source = _display(p)
        if not _exists(p):
            raise ServiceKeyError(source, "cf CLI config not found", hint="Run `cf login` first")
        data = _loads(_read_file(p, source), source)
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


# -- reading -------------------------------------------------------------------------------


def _display(path: str | os.PathLike[str]) -> str:
    """A path as it may be printed: undecodable bytes and NUL escaped, so an error message can always
    be written out."""
    text = os.fspath(path)
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _subdirectories(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if not p.name.startswith(".") and _is_dir(p))
    except OSError:
        return []


def _read_bytes(path: Path, source: str, limit: int = _MAX_FILE_BYTES) -> bytes:
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ServiceKeyError(source, "is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block, /dev/zero never end
            raise ServiceKeyError(source, "not a regular file")
        # Non-blocking, so that a file swapped for a FIFO meanwhile, or /proc/kmsg, cannot hang us.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ServiceKeyError(source, "not a regular file")
            data = handle.read(limit + 1)
    except ServiceKeyError:  # a ValueError too: not to be taken for the NUL case below
        raise
    except FileNotFoundError:
        raise ServiceKeyError(source, "file not found", hint="Check the path") from None
    except OSError as exc:
        raise ServiceKeyError(source, f"cannot read file ({exc.strerror or type(exc).__name__})") from None
    except ValueError:
        raise ServiceKeyError(source, "not a usable path (it contains a NUL character)") from None
    if len(data) > limit:
        raise ServiceKeyError(source, f"larger than {limit // 2**20} MiB, so not a service key")
    return data


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # The offset, never the bytes: they may be part of a secret.
        raise ServiceKeyError(
            source, f"not UTF-8 text (invalid byte at offset {exc.start})", hint="Save the key as UTF-8"
        ) from None


def _read_file(path: Path, source: str) -> str:
    return _decode(_read_bytes(path, source), source)


def _loads(text: str | bytes, source: str) -> Any:
    if isinstance(text, bytes | bytearray):
        text = _decode(bytes(text), source)
    elif not isinstance(text, str):
        raise ServiceKeyError(source, f"expected JSON text, got {_type_name(text)}")
    else:
        _check_unicode(text, source, None)
    try:
        return json.loads(text)
    except RecursionError:
        raise ServiceKeyError(source, "not a service key (JSON nested too deeply)", hint=_GET_A_KEY) from None
    except ValueError as first:
        # `cf service-key` prints "Getting key ... as user..." (and maybe a blank line) first.
        lines = text.splitlines()
        for index, line in enumerate(lines):
            if line.lstrip().startswith("{"):
                try:
                    return json.loads("\n".join(lines[index:]))
                except (ValueError, RecursionError):
                    break
        # JSONDecodeError's own message holds only a position, never the document.
        detail = first.msg if isinstance(first, json.JSONDecodeError) else "invalid JSON"
        where = f" at line {first.lineno} column {first.colno}" if isinstance(first, json.JSONDecodeError) else ""
        raise ServiceKeyError(
            source,
            f"not valid JSON ({detail}{where})",
            hint="Pass the service key exactly as `cf service-key` or `btp get services/binding` prints it",
        ) from None


def _check_unicode(text: str, source: str, field_name: str | None) -> None:
    # Environment variables and file names carry undecodable bytes as lone surrogates, which
    # would only fail later, when the value is put on the wire.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ServiceKeyError(
            source, f"not UTF-8 text (undecodable byte at offset {exc.start})", field=field_name
        ) from None


def _object_text(value: Any) -> Any:
    """``value`` decoded when it is a JSON object written as text, else ``value`` unchanged."""
    if isinstance(value, str) and value.lstrip().startswith("{") and value.rstrip().endswith("}"):
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            return value
        if isinstance(decoded, Mapping):
            return decoded
    return value


def _file_value(data: bytes) -> str | bytes:
    """A file of a binding directory: text when UTF-8, the bytes otherwise (a keystore, say)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data
    # `echo secret > file` adds a newline no credential means to have; PEM blocks keep theirs.
    stripped = text.strip()
    return stripped if "\n" not in stripped else text


# -- bindings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    name: str | None = None
    label: str | None = None
    tag: str | None = None
    plan: str | None = None
    type: str | None = None
    instance_name: str | None = None

    def matches(self, info: BindingInfo) -> bool:
        return (
            (self.name is None or info.name == self.name)
            and (self.label is None or info.label == self.label)
            and (self.tag is None or self.tag in info.tags)
            and (self.plan is None or info.plan == self.plan)
            and (self.type is None or info.type == self.type)
            and (self.instance_name is None or info.instance_name == self.instance_name)
        )

    def __str__(self) -> str:
        given = [f"{k}={v!r}" for k, v in vars(self).items() if v is not None]
        return ", ".join(given) or "anything"


@dataclass(frozen=True)
class _Found:
    info: BindingInfo
    source: str
    credentials: Any = field(default=None, repr=False)
    error: ServiceKeyError | None = None


def _names(found: list[_Found]) -> str:
    names = [f"{f.info.name} ({f.info.label or f.info.type or '?'})" for f in found if f.error is None]
    return ", ".join(names) or "none"


def _select(found: list[_Found], query: _Query, where: str) -> ServiceKey:
    matches = [f for f in found if f.error is None and query.matches(f.info)]
    if not matches:
        broken = [f.error for f in found if f.error is not None]
        if broken:  # a binding that could not be read may be the one asked for: say why
            raise broken[0]
        raise ServiceKeyError(where, f"no binding matches {query}", hint=f"Bindings: {_names(found)}")
    if len(matches) > 1:
        raise ServiceKeyError(where, f"{len(matches)} bindings match {query}: {_names(matches)}", hint=_PICK_ONE)
    (chosen,) = matches
    if not isinstance(chosen.credentials, Mapping):
        problem = (
            "missing" if chosen.credentials is None else f"expected an object, got {_type_name(chosen.credentials)}"
        )
        raise ServiceKeyError(chosen.source, problem, field="credentials", hint=_GET_A_KEY)
    return _parse_key(chosen.credentials, chosen.source, binding=chosen.info)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _binding_info(
    name: str | None, meta: Mapping[str, Any], *, label: str | None = None, tags: tuple[str, ...] = ()
) -> BindingInfo:
    raw_tags = meta.get("tags")
    if isinstance(raw_tags, str):  # the operator writes them as JSON text
        try:
            raw_tags = json.loads(raw_tags)
        except (ValueError, RecursionError):
            raw_tags = [raw_tags]
    found_tags = tuple(str(t) for t in raw_tags) if isinstance(raw_tags, list) else ()
    if tags:
        found_tags = found_tags + tuple(t for t in tags if t not in found_tags)
    known = {"name", "label", "plan", "type", "provider", "instance_name", "instance_guid", "tags"}
    return BindingInfo(
        name=_text_or_none(meta.get("name")) or name,
        label=_text_or_none(meta.get("label")) or label,
        plan=_text_or_none(meta.get("plan")),
        type=_text_or_none(meta.get("type")),
        provider=_text_or_none(meta.get("provider")),
        instance_name=_text_or_none(meta.get("instance_name")),
        instance_guid=_text_or_none(meta.get("instance_guid")),
        tags=found_tags,
        extra={k: v for k, v in meta.items() if k not in known},
    )


def _vcap_document(env: Mapping[str, str], path: str | os.PathLike[str] | None) -> tuple[Any, str] | None:
    """The bound services, from ``path``, ``VCAP_SERVICES_FILE_PATH`` or ``VCAP_SERVICES`` (in that order,
    as @sap/xsenv reads them), and where they came from."""
    if path is None:
        path = env.get("VCAP_SERVICES_FILE_PATH") or None
    if path is not None:
        p = Path(path)
        source = _display(p)
        return _loads(_read_file(p, source), source), source
    text = env.get("VCAP_SERVICES")
    if not text:
        return None
    return _loads(text, "VCAP_SERVICES"), "VCAP_SERVICES"


def _vcap_bindings(services: Any, source: str) -> list[_Found]:
    if not isinstance(services, Mapping):
        raise ServiceKeyError(source, f"expected a JSON object, got {_type_name(services)}")
    found: list[_Found] = []
    for service_label, bindings in services.items():
        if not isinstance(bindings, list):
            raise ServiceKeyError(
                source, f"expected an array of bindings, got {_type_name(bindings)}", field=str(service_label)
            )
        for index, binding in enumerate(bindings):
            if not isinstance(binding, Mapping):
                raise ServiceKeyError(
                    source, f"expected an object, got {_type_name(binding)}", field=f"{service_label}[{index}]"
                )
            meta = {k: v for k, v in binding.items() if k != "credentials" and isinstance(k, str)}
            info = _binding_info(None, meta, label=str(service_label))
            where = f"{source}[{service_label}][{info.name if info.name is not None else index}]"
            found.append(_Found(info, where, binding.get("credentials")))
    return found


def _root_bindings(root: Path, source: str) -> list[_Found]:
    if not _is_dir(root):
        problem = "not a directory" if _exists(root) else "directory not found"
        raise ServiceKeyError(source, problem, hint="Pass the directory the bindings are mounted under")
    found: list[_Found] = []
    for directory in _subdirectories(root):
        where = _display(directory)
        try:
            meta, credentials, has_files = _read_binding(directory, where)
            if has_files:
                found.append(_Found(_binding_info(directory.name, meta), where, credentials))
                continue
            # <root>/<service>/<instance>/, the layout @sap/xsenv reads from /etc/secrets/sapcp.
            for instance in _subdirectories(directory):
                inner = _display(instance)
                try:
                    meta, credentials, _ = _read_binding(instance, inner)
                    info = _binding_info(instance.name, meta, label=directory.name, tags=(directory.name,))
                    found.append(_Found(info, inner, credentials))
                except ServiceKeyError as exc:
                    found.append(_Found(BindingInfo(name=instance.name), inner, error=exc))
        except ServiceKeyError as exc:
            found.append(_Found(BindingInfo(name=directory.name), where, error=exc))
    return found


def _read_binding(directory: Path, source: str) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """The binding facts and the credentials of one binding directory, and whether it held any file."""
    files: dict[str, str | bytes] = {}
    metadata: bytes | None = None
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        raise ServiceKeyError(source, f"cannot list directory ({exc.strerror or type(exc).__name__})") from None
    # `..data` and `..<timestamp>` are Kubernetes' own links; names that are not text are no field.
    wanted = [e for e in entries if e.name == ".metadata" or not (e.name.startswith(".") or _is_dir(e))]
    wanted = [e for e in wanted if _is_text_name(e.name)]
    if len(wanted) > _MAX_BINDING_FILES:  # e.g. SERVICE_BINDING_ROOT=/: say so instead of reading /usr/bin
        raise ServiceKeyError(source, f"more than {_MAX_BINDING_FILES} files, so not a binding")
    budget = _MAX_BINDING_BYTES
    for entry in wanted:
        data = _read_bytes(entry, _display(entry), budget)
        budget -= len(data)
        if entry.name == ".metadata":
            metadata = data
        else:
            files[entry.name] = _file_value(data)
    has_files = bool(files) or metadata is not None
    if metadata is not None:
        return (*_apply_metadata(metadata, files, source), has_files)
    meta: dict[str, Any] = {}
    credentials: dict[str, Any] = {}
    if len(files) == 1:
        ((only, value),) = files.items()
        document = _object_text(value) if only not in _OBJECT_FIELDS else None
        if isinstance(document, Mapping):
            # secretRootKey: one object of credentials and binding facts, every value a string.
            for key, item in document.items():
                if key in _METADATA_NAMES:
                    meta[key] = item
                else:
                    credentials[str(key)] = _object_text(item)
            if len(credentials) == 1:
                ((inner_name, inner),) = credentials.items()
                if isinstance(inner, Mapping) and inner_name not in _OBJECT_FIELDS:
                    credentials = dict(inner)  # secretKey inside secretRootKey
            return meta, credentials, has_files
    for key, item in files.items():
        if key in _METADATA_NAMES:
            meta[key] = item
        else:
            credentials[key] = _object_text(item)
    return meta, credentials, has_files


def _is_text_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _apply_metadata(
    metadata: bytes, files: Mapping[str, str | bytes], source: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read the fields ``.metadata`` declares, as @sap/xsenv does: the others are not part of the binding."""
    where = f"{source}/.metadata"
    document = _loads(metadata, where)
    if not isinstance(document, Mapping):
        raise ServiceKeyError(where, f"expected a JSON object, got {_type_name(document)}")
    meta = _declared(document, "metaDataProperties", files, source)
    credentials = _declared(document, "credentialProperties", files, source)
    # The operator writes instance_external_name without declaring it; it is still no credential.
    for name in _METADATA_NAMES - meta.keys() - credentials.keys():
        value = files.get(name)
        if isinstance(value, str):
            meta[name] = value
    return meta, credentials


def _declared(
    document: Mapping[str, Any], section: str, files: Mapping[str, str | bytes], source: str
) -> dict[str, Any]:
    where = f"{source}/.metadata"
    properties = document.get(section)
    if properties is None:
        return {}
    if not isinstance(properties, list):
        raise ServiceKeyError(where, f"expected an array, got {_type_name(properties)}", field=section)
    values: dict[str, Any] = {}
    for index, prop in enumerate(properties):
        name = prop.get("name") if isinstance(prop, Mapping) else None
        if not isinstance(name, str):
            raise ServiceKeyError(where, "expected an object with a `name`", field=f"{section}[{index}]")
        if name not in files:
            continue  # declared but not mounted: @sap/xsenv skips it too
        value = files[name]
        file_source = f"{source}/{name}"
        if isinstance(value, bytes):
            raise ServiceKeyError(file_source, "not UTF-8 text", hint="Declared in .metadata, so it must be text")
        if prop.get("format") != "json":
            values[name] = value
            continue
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            raise ServiceKeyError(file_source, "declared as JSON in .metadata but is not") from None
        if prop.get("container"):
            if not isinstance(decoded, Mapping):
                raise ServiceKeyError(file_source, f"expected a JSON object (a container), got {_type_name(decoded)}")
            values.update(decoded)
        else:
            values[name] = decoded
    return values


# -- parsing -------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    return {
        type(None): "null",
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        bytes: "binary data (not UTF-8 text)",
    }.get(type(value), type(value).__name__)


def _opt_str(data: Mapping[str, Any], name: str, source: str, prefix: str, *, multiline: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ServiceKeyError(
            source, f"expected a string, got {_type_name(value)}", field=f"{prefix}{name}", hint=_GET_A_KEY
        )
    _check_unicode(value, source, f"{prefix}{name}")
    if (_LINE_BREAKING if multiline else _CONTROL).search(value):
        raise ServiceKeyError(source, "contains a control character", field=f"{prefix}{name}", hint=_GET_A_KEY)
    return value


def _req_str(data: Mapping[str, Any], name: str, source: str, prefix: str, *, multiline: bool = False) -> str:
    value = _opt_str(data, name, source, prefix, multiline=multiline)
    if not value:
        raise ServiceKeyError(source, "missing" if value is None else "empty", field=f"{prefix}{name}", hint=_GET_A_KEY)
    return value


def _check_url(value: str, source: str, field_name: str) -> str:
    try:
        url = httpx.URL(value)
        usable = url.scheme in ("http", "https") and bool(url.host) and not any(c.isspace() for c in value)
    except (httpx.InvalidURL, ValueError, TypeError):
        usable = False
    if not usable:  # the value itself stays out: a URL may carry userinfo
        raise ServiceKeyError(source, "not an http(s) URL", field=field_name, hint=_GET_A_KEY)
    return value


def _opt_url(data: Mapping[str, Any], name: str, source: str, prefix: str) -> str | None:
    value = _opt_str(data, name, source, prefix)
    return None if value is None else _check_url(value, source, f"{prefix}{name}")


def _req_url(data: Mapping[str, Any], name: str, source: str, prefix: str) -> str:
    return _check_url(_req_str(data, name, source, prefix), source, f"{prefix}{name}")


def _shape_hint(data: Mapping[str, Any]) -> str | None:
    if "VCAP_SERVICES" in data:
        return "This is an app environment (default-env.json): use ServiceKey.from_default_env(path, label=...)"
    values = list(data.values())
    if values and all(isinstance(v, list) and v and all(isinstance(b, Mapping) for b in v) for v in values):
        return "This is a VCAP_SERVICES document: use ServiceKey.from_vcap_services(path=..., label=...)"
    return None


def _parse_key(data: object, source: str, *, binding: BindingInfo | None = None) -> ServiceKey:
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
    # Bindings flattened to strings (operator secrets, secret stores) hold these objects as JSON text.
    data = {**data, **{name: _object_text(data[name]) for name in _OBJECT_FIELDS if name in data}}

    if "sm_url" in data:
        return ServiceKey(
            kind=ServiceKeyKind.SERVICE_MANAGER,
            uaa=_parse_uaa(data, source, prefix),
            source=source,
            url=_req_url(data, "sm_url", source, prefix),
            raw=data,
            binding=binding,
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
        urls = {
            str(k): _check_url(v, source, f"{prefix}endpoints.{k}") for k, v in endpoints.items() if isinstance(v, str)
        }
        if not urls:
            raise ServiceKeyError(source, "no endpoint URLs", field=f"{prefix}endpoints", hint=_GET_A_KEY)
        return ServiceKey(
            kind=ServiceKeyKind.CLOUD_MANAGEMENT,
            uaa=_parse_uaa_block(data, source, prefix),
            source=source,
            endpoints=urls,
            raw=data,
            binding=binding,
        )
    if "uaa" in data:
        uaa = _parse_uaa_block(data, source, prefix)
        url = _opt_url(data, "url", source, prefix)
        return ServiceKey(
            kind=ServiceKeyKind.AUDIT_LOG if url else ServiceKeyKind.UAA,
            uaa=uaa,
            source=source,
            url=url,
            raw=data,
            binding=binding,
        )
    if "clientid" in data:
        return ServiceKey(
            kind=ServiceKeyKind.UAA, uaa=_parse_uaa(data, source, prefix), source=source, raw=data, binding=binding
        )
    raise ServiceKeyError(
        source,
        "not a recognised service key",
        field=f"{prefix}uaa" if prefix or "url" in data else None,
        hint=_shape_hint(data) or "Expected one of: " + "; ".join(_KIND_NAMES.values()),
    )


def _parse_uaa_block(data: Mapping[str, Any], source: str, prefix: str) -> UaaCredentials:
    block = data.get("uaa")
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
        cert_url = _opt_url(block, "certurl", source, prefix) or _opt_url(block, "url", source, prefix)
        if not cert_url:
            raise ServiceKeyError(
                source, "missing (required for X.509 credentials)", field=f"{prefix}certurl", hint=_GET_A_KEY
            )
        certificate = _req_str(block, "certificate", source, prefix, multiline=True)
        key = _req_str(block, "key", source, prefix, multiline=True)
        _check_key_pair(certificate, key, source, prefix, client_id)
        return UaaCredentials(
            url=_opt_url(block, "url", source, prefix) or cert_url,
            client_id=client_id,
            cert_url=cert_url,
            certificate=certificate,
            key=key,
            xsappname=xsappname,
            identity_zone=identity_zone,
        )
    return UaaCredentials(
        url=_req_url(block, "url", source, prefix),
        client_id=client_id,
        client_secret=_req_str(block, "clientsecret", source, prefix),
        cert_url=_opt_url(block, "certurl", source, prefix),
        xsappname=xsappname,
        identity_zone=identity_zone,
    )


def _check_key_pair(certificate: str, key: str, source: str, prefix: str, client_id: str) -> None:
    """Fail at load, not at the first token request, when the PEM is broken or the key is not the
    certificate's. TLS presents the first certificate of the chain, so that one must match."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    whose = f"X.509 credentials of client {client_id}"
    hint = "Use the certificate and key of the same service key, in PEM format"
    try:
        chain = x509.load_pem_x509_certificates(certificate.encode("utf-8"))
    except (ValueError, UnsupportedAlgorithm):
        raise ServiceKeyError(
            source, f"{whose}: not a PEM certificate", field=f"{prefix}certificate", hint=hint
        ) from None
    try:
        private_key = serialization.load_pem_private_key(key.encode("utf-8"), password=None)
    except TypeError:
        raise ServiceKeyError(
            source, f"{whose}: the private key is encrypted", field=f"{prefix}key", hint=hint
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ServiceKeyError(source, f"{whose}: not a PEM private key", field=f"{prefix}key", hint=hint) from None
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        matches = chain[0].public_key().public_bytes(*spki) == private_key.public_key().public_bytes(*spki)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        matches = False
    if not matches:
        raise ServiceKeyError(
            source, f"{whose}: the private key does not belong to the certificate", field=f"{prefix}key", hint=hint
        )
