"""The base of the generated per-API namespaces (`scp_async_clients.<api>._namespace`).

A namespace turns an :class:`~scp_async._session.ApiContext` (base URL + auth + the session) into one
typed async method per operation. Each call has three steps, each with its own errors:

1. check the arguments (the generated method does, inline, with :func:`wrong_type`, :func:`empty` and
   :func:`list_of`): a wrong type raises ``TypeError``, an empty path segment ``ValueError``, each naming
   the method and the parameter, before anything is built or sent; then build the request with the
   generated module's ``_get_kwargs``;
2. send it through :meth:`ApiContext.request`, the session's one HTTP layer (auth, deadline, retries,
   logging, error statuses → :class:`~scp_async.ApiError`);
3. check the status against the ones the spec lists (:class:`~scp_async.UnexpectedStatusError`
   otherwise) and parse the body with the generated ``_build_response``
   (:class:`~scp_async.InvalidResponseError` when it does not match the spec).

Every method also takes the per-call options ``timeout=``, ``deadline=``, ``max_retries=``,
``extra_headers=`` and ``extra_query=`` (:data:`CALL_OPTIONS`). They go straight to
:meth:`ApiContext.request` for that one call; headers and query parameters join the operation's own (and
win over them). A call that gives none of them costs nothing more than before (no copy of the context, no
extra arguments).
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Coroutine, Mapping
from http import HTTPStatus
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import httpx

from ._direct import Answer
from ._errors import InvalidResponseError, UnexpectedStatusError
from ._options import NOT_GIVEN, NotGiven, TimeoutTypes
from ._retry import ALREADY_DELETED

if TYPE_CHECKING:
    from ._session import ApiContext

__all__ = ["CALL_OPTIONS", "NOT_GIVEN", "Namespace", "OperationModules", "empty", "given", "list_of", "wrong_type"]

#: The keyword-only options every generated method takes besides the operation's own parameters (the
#: generator refuses an operation with a parameter of one of these names).
CALL_OPTIONS = ("timeout", "deadline", "max_retries", "extra_headers", "extra_query")


class OperationModules(dict[str, ModuleType]):
    """The operation modules of one generated package (``"api.<tag>.<operation>"``), each imported on
    first use: an API's namespace costs nothing until called, and a call after the first
    finds its module in this dict (a ``from ... import`` in the method took ~1.5 µs on every call)."""

    def __init__(self, package: str) -> None:
        super().__init__()
        self._package = package

    def __missing__(self, name: str) -> ModuleType:
        module = self[name] = importlib.import_module(f"{self._package}.{name}")
        return module


def wrong_type(method: str, name: str, expected: str, value: object) -> TypeError:
    """The error for an argument of the wrong type (its type is named, never its value: it may be a secret)."""
    got = "None" if value is None else type(value).__qualname__
    if "a list of" in expected and isinstance(value, list | tuple) and value:
        # The list is right, some items are not: name their types.
        got = f"a {got} holding {', '.join(sorted({type(item).__qualname__ for item in value}))}"
    return TypeError(f"{method}(): {name} must be {expected}, not {got}")


def empty(method: str, name: str) -> ValueError:
    """The error for an empty path parameter, which would address another resource than the one meant."""
    return ValueError(f"{method}(): {name} must not be empty (it is a segment of the URL path)")


def list_of(value: object, types: type | tuple[type, ...], no_bool: bool = False) -> bool:
    """Whether `value` is a list (or tuple) of `types` only; `no_bool`: for int items, True is no int."""
    if not isinstance(value, list | tuple):
        return False
    if no_bool:
        return all(isinstance(item, types) and type(item) is not bool for item in value)
    return all(isinstance(item, types) for item in value)


def given(**arguments: Any) -> dict[str, Any]:
    """Keep only the arguments the caller set, so the generated function applies its own defaults."""
    return {name: value for name, value in arguments.items() if type(value).__name__ != "Unset"}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and type(value) is not bool


def _call_options(
    method: str,
    timeout: TimeoutTypes | NotGiven,
    deadline: float | NotGiven | None,
    max_retries: int | NotGiven,
    extra_headers: Mapping[str, str] | None,
    extra_query: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The per-call options given to `method`, checked, as keyword arguments of :meth:`ApiContext.request`."""
    options: dict[str, Any] = {}
    if timeout is not NOT_GIVEN:
        if not (timeout is None or _number(timeout) or isinstance(timeout, httpx.Timeout)):
            raise wrong_type(method, "timeout", "float or httpx.Timeout or None", timeout)
        options["timeout"] = timeout
    if deadline is not NOT_GIVEN:
        if deadline is not None and not _number(deadline):
            raise wrong_type(method, "deadline", "float or None", deadline)
        if deadline is not None and not deadline > 0:
            raise ValueError(f"{method}(): deadline must be a positive number of seconds or None")
        options["deadline"] = deadline
    if max_retries is not NOT_GIVEN:
        if not isinstance(max_retries, int) or type(max_retries) is bool:
            raise wrong_type(method, "max_retries", "int", max_retries)
        if max_retries < 0:
            raise ValueError(f"{method}(): max_retries must be >= 0")
        options["max_retries"] = max_retries
    if extra_headers is not None:
        if not isinstance(extra_headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in extra_headers.items()
        ):
            # The header's type only: its value may be a secret (an Authorization header).
            raise wrong_type(method, "extra_headers", "a mapping of str to str", extra_headers)
        options["headers"] = dict(extra_headers)
    if extra_query is not None:
        if not isinstance(extra_query, Mapping) or not all(
            isinstance(k, str) and _query_value(v) for k, v in extra_query.items()
        ):
            raise wrong_type(
                method, "extra_query", "a mapping of str to str, int, float, bool or a list of them", extra_query
            )
        options["params"] = dict(extra_query)
    return options


def _query_value(value: object) -> bool:
    """Whether `value` is what a query can carry: a str, number or bool, or a list (tuple) of them."""
    if isinstance(value, list | tuple):
        return all(isinstance(item, str | int | float) for item in value)
    return isinstance(value, str | int | float)


class _ParseSettings:
    """What the generated ``_parse_response`` reads from its ``client`` argument, and nothing else."""

    # Statuses are checked before parsing (UnexpectedStatusError), so the parser never sees a stranger.
    raise_on_unexpected_status = False


_PARSE_SETTINGS = _ParseSettings()


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
        """The same API with other per-call settings (``timeout``, ``deadline``, ``max_retries``, ``retry``,
        ``headers``)."""
        return type(self)(self._context.with_options(**options))

    # `_call_raw` and `_call` hand back `_run`'s coroutine rather than awaiting it: one coroutine less per
    # call, kept alive for as long as the call waits (in a fan-out, in every slot).
    def _call_raw(
        self, operation_id: str, operation: ModuleType, success: Collection[int], *args: Any, **kwargs: Any
    ) -> Coroutine[Any, Any, Any]:
        # `kwargs` holds the operation's keyword arguments and the per-call options (see `_run`).
        return self._run(operation_id, operation, success, False, args, **kwargs)

    def _call(
        self, operation_id: str, operation: ModuleType, success: Collection[int], *args: Any, **kwargs: Any
    ) -> Coroutine[Any, Any, Any]:
        # Only the parsed value leaves: the response may stay the direct lane's lighter answer.
        return self._run(operation_id, operation, success, True, args, **kwargs)

    async def _run(
        self,
        operation_id: str,
        operation: ModuleType,
        success: Collection[int],
        lean: bool,
        args: tuple[Any, ...],
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,  # noqa: ASYNC109 - httpx's per-request timeouts
        deadline: float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        has_options = not (
            timeout is NOT_GIVEN
            and deadline is NOT_GIVEN
            and max_retries is NOT_GIVEN
            and extra_headers is None
            and extra_query is None
        )
        if has_options:  # checked before the request is built, as the operation's own arguments are
            method_name = operation.__name__.rpartition(".")[2]
            options = _call_options(method_name, timeout, deadline, max_retries, extra_headers, extra_query)
        try:
            request: dict[str, Any] = operation._get_kwargs(*args, **kwargs)
        except AttributeError as exc:
            # The generated encoder calls `.to_dict()`/`.value` on models and enums: a plain dict or str was given.
            raise TypeError(f"{operation_id}: an argument is not of the declared type ({exc})") from None
        method = str(request.pop("method")).upper()
        if has_options:
            if "headers" in options:  # the caller's headers extend (and win over) the operation's own
                options["headers"] = {**request.get("headers", {}), **options["headers"]}
            if "params" in options:  # so do the caller's query parameters (CF's created_ats[gt]=..., say)
                options["params"] = {**request.get("params", {}), **options["params"]}
            request.update(options)
        context = self._context
        url = request.pop("url")
        pending = context._answer(method, url, **request) if lean else context.request(method, url, **request)
        # What built the request is not kept while the call waits (in a fan-out, in every slot).
        del request, args, kwargs
        response = await pending
        if response.extensions.get(ALREADY_DELETED):
            # A retried DELETE whose lost first attempt already deleted it: success, and no body to parse.
            if lean:
                return None
            return operation.Response(
                status_code=HTTPStatus(response.status_code),
                content=response.content,
                headers=response.headers,
                parsed=None,
            )
        # Error statuses were raised by the session; a success status the spec does not list has a body
        # of unknown shape (a 204 instead of a 200 with a body, a redirect), so it is not guessed at.
        if success and response.status_code not in success:
            # The error scrubs its copy itself: it needs the request's credentials to find their echoes.
            full = response.to_httpx() if isinstance(response, Answer) else response
            raise UnexpectedStatusError(operation_id, full, sorted(success))
        try:
            if lean:  # only the value leaves: no Response around it (nor headers, nor an HTTPStatus) to make
                return operation._parse_response(client=_PARSE_SETTINGS, response=response)
            built = operation._build_response(client=_PARSE_SETTINGS, response=response)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
            # The body was 2xx but not what the spec promises (a missing field, null for an object, JSON
            # nested deeper than the parser's stack, ...).
            raise InvalidResponseError(operation_id, exc) from exc
        return built
