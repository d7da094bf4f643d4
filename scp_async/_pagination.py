"""Paginators for every paging style the BTP APIs use, driven by the generated list operations.

============================  ==========================  =============================
API                           request                     "is there more?"
============================  ==========================  =============================
Cloud Foundry V3              ``page``, ``per_page``       ``pagination.next`` is set
Service Manager               ``max_items``, ``token``     the page carries a ``token``
Events                        ``page_num``, ``page_size``  ``more_pages``
SaaS provisioning             ``page``, ``size``           ``more_pages``
============================  ==========================  =============================

(The audit log's ``Paging`` header is followed by :meth:`AuditLog.records`.)

``await paginate(op, ...)`` returns the first page; ``async for item in paginate(op, ...)`` yields every
item of every page; ``.pages()`` yields the pages themselves.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Paginator", "paginate"]

PageT = TypeVar("PageT")

_ITEM_FIELDS = ("resources", "items", "events", "subscriptions", "value")


def _is_set(value: Any) -> bool:
    return value is not None and type(value).__name__ != "Unset"


@dataclass(frozen=True)
class _Style:
    name: str
    following: Callable[[Any, dict[str, Any]], dict[str, Any] | None]


def _page_number(number: str) -> Callable[[Any, dict[str, Any]], dict[str, Any] | None]:
    def following(page: Any, arguments: dict[str, Any]) -> dict[str, Any] | None:
        if getattr(page, "more_pages", False) is not True:
            return None
        current: Any = arguments.get(number)
        # Pages count from 1; a request without a number asked for the first.
        return {**arguments, number: (int(current) if _is_set(current) else 1) + 1}

    return following


def _cf_following(page: Any, arguments: dict[str, Any]) -> dict[str, Any] | None:
    pagination = getattr(page, "pagination", None)
    if not _is_set(pagination) or not _is_set(getattr(pagination, "next_", None)):
        return None
    current: Any = arguments.get("page")
    return {**arguments, "page": (int(current) if _is_set(current) else 1) + 1}


def _token_following(page: Any, arguments: dict[str, Any]) -> dict[str, Any] | None:
    token = getattr(page, "token", None)
    return {**arguments, "token": token} if _is_set(token) and token else None


STYLES = (
    _Style("cf-v3", _cf_following),
    _Style("token", _token_following),
    _Style("page-num", _page_number("page_num")),
    _Style("page-size", _page_number("page")),
)


def _style_of(operation: Callable[..., Any]) -> _Style:
    names = set(inspect.signature(operation).parameters)
    if "per_page" in names:
        return STYLES[0]
    if {"max_items", "token"} <= names:
        return STYLES[1]
    if "page_num" in names:
        return STYLES[2]
    if {"page", "size"} <= names:
        return STYLES[3]
    name = getattr(operation, "__name__", repr(operation))
    raise TypeError(f"{name} is not a paged operation (no per_page, token, page_num or page/size parameter)")


def _items_of(page: Any) -> list[Any]:
    for name in _ITEM_FIELDS:
        value = getattr(page, name, None)
        if isinstance(value, list):
            return value
        if _is_set(value):
            break
    return []


class Paginator(Generic[PageT]):
    """Pages of a list operation: await it for the first page, iterate it for every item."""

    def __init__(self, operation: Callable[..., Awaitable[PageT]], arguments: dict[str, Any]) -> None:
        self._operation = operation
        self._style = _style_of(operation)
        self._arguments = arguments

    def __repr__(self) -> str:
        return f"Paginator({getattr(self._operation, '__qualname__', self._operation)!r}, style={self._style.name})"

    def __await__(self) -> Generator[Any, None, PageT]:
        return self._operation(**self._arguments).__await__()

    async def pages(self) -> AsyncIterator[PageT]:
        """Every page, requested one after the other as you iterate."""
        arguments: dict[str, Any] | None = self._arguments
        while arguments is not None:
            page = await self._operation(**arguments)
            yield page
            following = self._style.following(page, arguments)
            # A page that repeats the request it answered would loop forever.
            arguments = None if following == arguments else following

    async def __aiter__(self) -> AsyncIterator[Any]:
        async for page in self.pages():
            for item in _items_of(page):
                yield item


def paginate(operation: Callable[..., Awaitable[PageT]], /, **arguments: Any) -> Paginator[PageT]:
    """Page through ``operation`` (a namespace list method) called with ``arguments``.

    ``await paginate(cf.list_apps, per_page=100)`` is the first page;
    ``async for app in paginate(cf.list_apps, per_page=100)`` is every app.
    """
    return Paginator(operation, arguments)
