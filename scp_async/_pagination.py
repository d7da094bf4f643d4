"""Paginators for every paging style the BTP APIs use, driven by the generated list operations.

=====================  ==========================  =========================================================
API                    request                     there is another page when
=====================  ==========================  =========================================================
Cloud Foundry V3       ``page``, ``per_page``      ``pagination.next`` is set (its ``page`` is used) and
                                                   this page is not ``pagination.total_pages``
Service Manager        ``max_items``, ``token``    the page carries a ``token``
Events                 ``page_num``, ``page_size``  ``morePages`` (or ``pageNum < totalPages``)
SaaS provisioning      ``page``, ``size``          ``morePages`` (or ``page < totalPages``)
XSUAA (SCIM)           ``start_index``, ``count``  ``startIndex + itemsPerPage <= totalResults``
XSUAA role collections ``skip``, ``top``           the page was full (``top`` items)
=====================  ==========================  =========================================================

(The audit log's ``Paging`` header is followed by :meth:`AuditLog.records`.)

Whatever a server says, paging ends: on an empty page, on a page that repeats an earlier one (same
next link or token, or the same items), and at ``max_pages`` pages, where :class:`PaginationError` is
raised rather than looping on.

``await paginate(op, ...)`` returns the first page; ``async for item in paginate(op, ...)`` yields every
item of every page, typed as the page's ``resources``/``items``/``events``/... element type;
``.pages()`` yields the pages themselves.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, ParamSpec, Protocol, TypeVar, overload
from urllib.parse import parse_qs, urlsplit

from ._decoding import unread_body
from ._errors import ScpAsyncError

__all__ = ["DEFAULT_MAX_PAGES", "PaginationError", "Paginator", "paginate"]

#: Far beyond any real list (10,000 pages of CF's 5,000 items), yet it ends a server's endless chain.
DEFAULT_MAX_PAGES = 10_000

P = ParamSpec("P")
T = TypeVar("T")
PageT_co = TypeVar("PageT_co", covariant=True)


class PaginationError(ScpAsyncError):
    """Paging stopped at the page ceiling (``max_pages``) while the server still announced more pages."""

    def __init__(self, operation: str, max_pages: int) -> None:
        self.operation = operation
        self.max_pages = max_pages
        super().__init__(
            f"{operation}: the server still announced more pages after {max_pages}; stopped there. "
            "If the list is really that long, raise the ceiling: paginate(...).with_max_pages(n)"
        )


# -- item types: the element type of the page's list field --------------------------------------


class _Unset(Protocol):
    # Each generated package has its own `Unset`; all are falsy by type, which lists are not.
    def __bool__(self) -> Literal[False]: ...


class _Resources(Protocol[T]):
    @property
    def resources(self) -> list[T] | _Unset: ...


class _Items(Protocol[T]):
    @property
    def items(self) -> list[T] | _Unset: ...


class _Events(Protocol[T]):
    @property
    def events(self) -> list[T] | _Unset: ...


class _Subscriptions(Protocol[T]):
    @property
    def subscriptions(self) -> list[T] | _Unset: ...


class _Data(Protocol[T]):
    @property
    def data(self) -> list[T] | _Unset: ...


_ITEM_FIELDS = ("resources", "items", "events", "subscriptions", "data")


def _is_set(value: Any) -> bool:
    return value is not None and type(value).__name__ != "Unset"


def _field(source: Any, name: str) -> Any:
    """``source.name`` on a model, ``source[name]`` on a mapping, or a field the spec did not declare."""
    if isinstance(source, Mapping):
        return source.get(name)
    value = getattr(source, name, None)
    if _is_set(value):
        return value
    extra = getattr(source, "additional_properties", None)
    return extra.get(name) if isinstance(extra, Mapping) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _items_of(page: Any) -> list[Any]:
    if isinstance(page, list):
        return page
    for name in _ITEM_FIELDS:
        value = _field(page, name)
        if isinstance(value, list):
            return value
        if _is_set(value):
            break
    return []


def _identity(item: Any) -> Hashable:
    # An item read on first use (see _decoding.ReadOnFirstUse) is told by its body's id, as sent: reading
    # the field costs a page of CF apps fifty UUIDs for a fingerprint.
    unread = unread_body(item)
    for name in ("guid", "id", "uuid", "message_uuid"):
        value = unread.get(name) if unread is not None else _field(item, name)
        if _is_set(value) and isinstance(value, Hashable):
            return value
    # No id of its own: the whole item (a model's repr is short and shows only identifying fields).
    to_dict = getattr(item, "to_dict", None)
    data = to_dict() if callable(to_dict) else item
    return json.dumps(data, sort_keys=True, default=str)


# -- paging styles: what the next request is, and what marks it ----------------------------------


@dataclass(frozen=True)
class _Next:
    arguments: dict[str, Any]
    #: What the server handed out for the next page (a link, a token), to notice it handing it out twice.
    marker: Hashable


Following = Callable[[Any, list[Any], dict[str, Any]], "_Next | None"]


def _number(arguments: dict[str, Any], name: str, default: int = 1) -> int:
    current = _int(arguments.get(name)) if _is_set(arguments.get(name)) else None
    return default if current is None else current


def _cf_following(page: Any, items: list[Any], arguments: dict[str, Any]) -> _Next | None:
    # Operations whose list schema is built with allOf have the pagination fields on the page itself.
    pagination = _field(page, "pagination")
    if not _is_set(pagination):
        pagination = page
    link = _field(pagination, "next_")
    if not _is_set(link):
        link = _field(pagination, "next")
    if not _is_set(link):
        return None
    href = _field(link, "href")
    current = _number(arguments, "page")
    total = _int(_field(pagination, "total_pages"))
    if total is not None and current >= total:
        return None
    following = current + 1
    if isinstance(href, str):
        linked = _int(parse_qs(urlsplit(href).query).get("page", [None])[0])
        if linked is not None:
            following = linked
    return _Next({**arguments, "page": following}, ("next", href if isinstance(href, str) else following))


def _token_following(page: Any, items: list[Any], arguments: dict[str, Any]) -> _Next | None:
    token = _field(page, "token")
    if not (isinstance(token, str) and token):
        return None
    return _Next({**arguments, "token": token}, ("token", token))


def _more_pages(number: str) -> Following:
    def following(page: Any, items: list[Any], arguments: dict[str, Any]) -> _Next | None:
        current = _number(arguments, number)
        total = _int(_field(page, "total_pages"))
        more = _field(page, "more_pages")
        if total is not None and current >= total:
            return None
        if more is True or (more is None and total is not None):
            return _Next({**arguments, number: current + 1}, (number, current + 1))
        return None

    return following


def _scim_following(page: Any, items: list[Any], arguments: dict[str, Any]) -> _Next | None:
    start = _number(arguments, "start_index", _int(_field(page, "start_index")) or 1)
    following = start + len(items)
    total = _int(_field(page, "total_results"))
    if total is not None and following > total:
        return None
    return _Next({**arguments, "start_index": following}, ("start_index", following))


def _skip_top_following(page: Any, items: list[Any], arguments: dict[str, Any]) -> _Next | None:
    top = _int(arguments.get("top")) if _is_set(arguments.get("top")) else None
    if top is not None and len(items) < top:
        return None
    following = _number(arguments, "skip", 0) + len(items)
    return _Next({**arguments, "skip": following}, ("skip", following))


@dataclass(frozen=True)
class _Style:
    name: str
    parameters: frozenset[str]
    following: Following


STYLES = (
    _Style("cf-v3", frozenset({"per_page"}), _cf_following),
    _Style("token", frozenset({"max_items", "token"}), _token_following),
    _Style("page-num", frozenset({"page_num"}), _more_pages("page_num")),
    _Style("page-size", frozenset({"page", "size"}), _more_pages("page")),
    _Style("scim", frozenset({"start_index", "count"}), _scim_following),
    _Style("skip-top", frozenset({"skip", "top"}), _skip_top_following),
)


def _name(operation: Callable[..., Any]) -> str:
    return str(getattr(operation, "__name__", None) or repr(operation))


# The style of each paged function (a bound method's function: its instances page alike). inspect.signature
# on every paginate() cost a fan-out of paginators as much as the rest of their set-up.
_STYLES: weakref.WeakKeyDictionary[Callable[..., Any], _Style] = weakref.WeakKeyDictionary()


def _style_of(operation: Callable[..., Any]) -> _Style:
    function = getattr(operation, "__func__", operation)
    try:
        return _STYLES[function]
    except (KeyError, TypeError):  # not seen yet, or not weakly referable (nor cached)
        pass
    style = _find_style(operation)
    with contextlib.suppress(TypeError):
        _STYLES[function] = style
    return style


def _find_style(operation: Callable[..., Any]) -> _Style:
    names = set(inspect.signature(operation).parameters)
    for style in STYLES:
        if style.parameters <= names:
            return style
    known = ", ".join("/".join(sorted(style.parameters)) for style in STYLES)
    raise TypeError(f"{_name(operation)} is not a paged operation (it has none of these parameters: {known})")


# -- the paginator -----------------------------------------------------------------------------------


class Paginator(Generic[PageT_co]):
    """Pages of a list operation: await it for the first page, iterate it for every item."""

    def __init__(
        self,
        operation: Callable[..., Awaitable[PageT_co]],
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, not {max_pages}")
        self._operation = operation
        self._style = _style_of(operation)
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        self.max_pages = max_pages

    def __repr__(self) -> str:
        name = getattr(self._operation, "__qualname__", self._operation)
        return f"Paginator({name!r}, style={self._style.name}, max_pages={self.max_pages})"

    def with_max_pages(self, max_pages: int) -> Paginator[PageT_co]:
        """The same paging with another page ceiling (:data:`DEFAULT_MAX_PAGES` by default)."""
        return Paginator(self._operation, self._args, self._kwargs, max_pages=max_pages)

    def __await__(self) -> Generator[Any, None, PageT_co]:
        return self._operation(*self._args, **self._kwargs).__await__()

    async def pages(self) -> AsyncIterator[PageT_co]:
        """Every page, requested one after the other as you iterate.

        Ends after the last page the server announces, on an empty page, or on a page that repeats an
        earlier one (which is not yielded); raises :class:`PaginationError` beyond ``max_pages``.
        """
        arguments = self._kwargs
        markers: set[Hashable] = set()
        seen: set[int] = set()
        fetched = 0
        while True:
            if fetched == self.max_pages:
                raise PaginationError(_name(self._operation), self.max_pages)
            page = await self._operation(*self._args, **arguments)
            fetched += 1
            items = _items_of(page)
            fingerprint = hash(tuple(_identity(item) for item in items))
            if fetched > 1 and (not items or fingerprint in seen):
                return  # nothing new: an empty last page, or the server answering the same page again
            seen.add(fingerprint)
            yield page
            following = self._style.following(page, items, arguments) if items else None
            # The next page is awaited without this one: a fan-out of paginators would otherwise keep
            # two pages each alive, and Python's cyclic collector walks them all again and again.
            del page, items
            if following is None or following.marker in markers or following.arguments == arguments:
                return
            markers.add(following.marker)
            arguments = following.arguments

    @overload
    def __aiter__(self: Paginator[list[T]]) -> AsyncIterator[T]: ...
    @overload
    def __aiter__(self: Paginator[_Resources[T]]) -> AsyncIterator[T]: ...
    @overload
    def __aiter__(self: Paginator[_Items[T]]) -> AsyncIterator[T]: ...
    @overload
    def __aiter__(self: Paginator[_Events[T]]) -> AsyncIterator[T]: ...
    @overload
    def __aiter__(self: Paginator[_Subscriptions[T]]) -> AsyncIterator[T]: ...
    @overload
    def __aiter__(self: Paginator[_Data[T]]) -> AsyncIterator[T]: ...
    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items()

    async def _items(self) -> AsyncIterator[Any]:
        async for page in self.pages():
            items = _items_of(page)
            del page  # not kept while the next page is awaited (see `pages`)
            for item in items:
                yield item
            del items


def paginate(operation: Callable[P, Awaitable[PageT_co]], /, *args: P.args, **kwargs: P.kwargs) -> Paginator[PageT_co]:
    """Page through ``operation`` (a namespace list method) called with ``args`` and ``kwargs``.

    ``await paginate(cf.list_apps, per_page=100)`` is the first page;
    ``async for app in paginate(cf.list_apps, per_page=100)`` is every app (typed as ``App``);
    ``paginate(...).with_max_pages(n)`` changes the page ceiling.
    """
    return Paginator(operation, args, kwargs)
