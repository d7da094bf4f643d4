"""The base of the generated per-API namespaces (`scp_async_clients.<api>._namespace`).

A namespace turns an :class:`~scp_async._session.ApiContext` (base URL + auth + the session's
transport) into one typed async method per operation. The generated client it drives is built on
first use and sends every request through the session, so authentication, retries, logging and the
error tree apply to every operation alike.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Self

import httpx

from ._errors import InvalidResponseError

if TYPE_CHECKING:
    from ._session import ApiContext

__all__ = ["Namespace", "given"]


def given(**arguments: Any) -> dict[str, Any]:
    """Keep only the arguments the caller set, so the generated function applies its own defaults."""
    return {name: value for name, value in arguments.items() if type(value).__name__ != "Unset"}


class Namespace:
    """One API's operations as async methods; see the generated subclasses for the methods."""

    _client_module: ClassVar[str]

    def __init__(self, context: ApiContext) -> None:
        self._context = context

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._context.base_url!r})"

    @property
    def base_url(self) -> str:
        """Where this API lives."""
        return self._context.base_url

    @property
    def context(self) -> ApiContext:
        """The untyped layer below: base URL, auth, and :meth:`request` for paths the spec lacks."""
        return self._context

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call any path of this API (auth, retries and errors included); see :meth:`ApiContext.request`."""
        return await self._context.request(method, path, **kwargs)

    def with_options(self, **options: Any) -> Self:
        """The same API with other per-call settings (``timeout``, ``max_retries``, ``retry``, ``headers``)."""
        return type(self)(self._context.with_options(**options))

    @cached_property
    def _client(self) -> Any:
        client_class = importlib.import_module(self._client_module).Client
        client = client_class(base_url=self._context.base_url, raise_on_unexpected_status=False)
        client.set_async_httpx_client(self._context.httpx_client())
        return client

    async def _call_raw(
        self, operation_id: str, operation: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Any:
        try:
            return await operation(*args, client=self._client, **kwargs)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError, OverflowError) as exc:
            # The body was 2xx but not what the spec promises (a missing field, null for an object, JSON
            # nested deeper than the parser's stack, a date of 1e300, ...).
            raise InvalidResponseError(operation_id, exc) from exc

    async def _call(
        self, operation_id: str, operation: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Any:
        response = await self._call_raw(operation_id, operation, *args, **kwargs)
        return response.parsed
