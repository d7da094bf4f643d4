"""Waiting for asynchronous jobs: poll until a resource is ready, failed, or time is up."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import anyio

from ._errors import ScpAsyncError

__all__ = [
    "WaitFailedError",
    "WaitTimeoutError",
    "wait_for_cf_job",
    "wait_for_cis_job",
    "wait_for_mta_operation",
    "wait_for_service_instance",
    "wait_for_subaccount",
    "wait_until",
]

T = TypeVar("T")


class WaitTimeoutError(ScpAsyncError):
    """The awaited condition did not hold in time; ``last`` is the last value seen."""

    def __init__(self, message: str, last: object) -> None:
        super().__init__(message)
        self.last = last


class WaitFailedError(ScpAsyncError):
    """The polled resource reached a failed state; ``last`` is that value, ``reason`` what the service
    said about the failure (``None`` when it said nothing)."""

    def __init__(self, message: str, last: object, reason: str | None = None) -> None:
        super().__init__(message)
        self.last = last
        self.reason = reason


async def wait_until(
    poll: Callable[[], Awaitable[T]],
    ready: Callable[[T], bool],
    *,
    failed: Callable[[T], bool] | None = None,
    timeout: float = 600.0,  # noqa: ASYNC109 - a deadline for the whole wait, like anyio.fail_after's
    interval: float = 5.0,
    max_interval: float = 30.0,
    description: str = "condition",
    reason: Callable[[T], str | None] | None = None,
) -> T:
    """Call ``poll`` until ``ready(value)``; returns that value.

    The interval grows by half each round up to ``max_interval`` (jobs that take minutes need not be
    asked every few seconds). Raises :class:`WaitFailedError` as soon as ``failed(value)`` and
    :class:`WaitTimeoutError` after ``timeout`` seconds. ``reason(value)`` says why a failed value
    failed (it goes into the error's message and ``reason``).
    """
    last: T | None = None
    delay = interval
    with anyio.move_on_after(timeout) as scope:
        while True:
            last = await poll()
            if ready(last):
                return last
            if failed is not None and failed(last):
                why = reason(last) if reason is not None else None
                detail = why if why else _short(last)
                raise WaitFailedError(f"{description}: failed ({detail})", last, why)
            await anyio.sleep(delay)
            delay = min(delay * 1.5, max_interval)
    assert scope.cancelled_caught
    raise WaitTimeoutError(f"{description}: not reached within {timeout:g} s (last: {_short(last)})", last)


def _short(value: object) -> str:
    try:
        text = repr(value)
    except RecursionError:  # a value nested deeper than the stack (from a service's JSON) still gets a message
        text = f"<{type(value).__name__} nested too deep to show>"
    return text if len(text) <= 160 else text[:157] + "..."


# -- named waiters ---------------------------------------------------------------------------------------------
# Each polls one kind of job the way its service reports progress, and fails with the service's own words.


def _field(value: Any, *names: str) -> Any:
    """The first set field of a model or mapping (``Unset``/``None`` count as missing; enums give their value)."""
    for name in names:
        item = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
        if item is None or type(item).__name__ == "Unset":
            continue
        return getattr(item, "value", item)
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    try:
        return str(value)
    except RecursionError:
        return f"<{type(value).__name__} nested too deep to show>"


class _SubaccountApi(Protocol):
    async def get_subaccount(self, subaccount_guid: str) -> Any: ...


class _JobStatusApi(Protocol):
    async def get_status(self, job_instance_id_or_unique_id: str) -> Any: ...


class _CfJobApi(Protocol):
    async def get_job(self, guid: Any) -> Any: ...


class _MtaApi(Protocol):
    async def get_mta_operation(self, space_guid: str, operation_id: str) -> Any: ...


class _ServiceInstanceApi(Protocol):
    async def get_service_instance_by_id(self, service_instance_id: str) -> Any: ...


async def wait_for_subaccount(
    accounts: _SubaccountApi,
    subaccount_guid: str,
    *,
    timeout: float = 1800.0,  # noqa: ASYNC109 - a deadline for the whole wait
    interval: float = 5.0,
) -> Any:
    """Poll ``accounts.get_subaccount`` until the subaccount is ``OK``; a ``*_FAILED`` state raises
    :class:`WaitFailedError` with its ``stateMessage``. Returns the subaccount."""
    return await wait_until(
        lambda: accounts.get_subaccount(subaccount_guid),
        lambda s: _field(s, "state") == "OK",
        failed=lambda s: _text(_field(s, "state")).endswith("FAILED"),
        reason=lambda s: f"{_field(s, 'state')}: {_text(_field(s, 'state_message', 'stateMessage'))}",
        timeout=timeout,
        interval=interval,
        description=f"subaccount {subaccount_guid}",
    )


def _job_status(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: nested past the stack, as unreadable as bad JSON
            return {"status": value}
    return value


async def wait_for_cis_job(
    api: _JobStatusApi,
    job_id: str,
    *,
    timeout: float = 1800.0,  # noqa: ASYNC109 - a deadline for the whole wait
    interval: float = 5.0,
) -> Any:
    """Poll the jobs-management status of a Cloud Management job (``cis.accounts``, ``cis.entitlements``, ...
    all have ``get_status``) until ``COMPLETED``; ``FAILED`` raises with the job's description or error."""

    async def poll() -> Any:
        return _job_status(await api.get_status(job_id))

    return await wait_until(
        poll,
        lambda s: _field(s, "status") == "COMPLETED",
        failed=lambda s: _field(s, "status") == "FAILED",
        reason=lambda s: _text(_field(s, "error", "errorMessage", "description")) or None,
        timeout=timeout,
        interval=interval,
        description=f"job {job_id}",
    )


async def wait_for_cf_job(
    cf: _CfJobApi,
    job_guid: Any,
    *,
    timeout: float = 600.0,  # noqa: ASYNC109 - a deadline for the whole wait
    interval: float = 1.0,
) -> Any:
    """Poll a Cloud Foundry V3 job (``cf.get_job``) until ``COMPLETE``; ``FAILED`` raises with the job's
    errors (``title: detail``)."""

    def why(job: Any) -> str | None:
        errors = _field(job, "errors") or []
        parts = [": ".join(p for p in (_text(_field(e, "title")), _text(_field(e, "detail"))) if p) for e in errors]
        return "; ".join(p for p in parts if p) or None

    return await wait_until(
        lambda: cf.get_job(job_guid),
        lambda j: _field(j, "state") == "COMPLETE",
        failed=lambda j: _field(j, "state") == "FAILED",
        reason=why,
        timeout=timeout,
        interval=interval,
        description=f"CF job {job_guid}",
    )


async def wait_for_mta_operation(
    multiapps: _MtaApi,
    space_guid: str,
    operation_id: str,
    *,
    timeout: float = 3600.0,  # noqa: ASYNC109 - a deadline for the whole wait
    interval: float = 5.0,
) -> Any:
    """Poll a MultiApps (deploy service) operation until ``FINISHED``; ``ERROR`` or ``ABORTED`` raises with
    the operation's error type and state."""
    return await wait_until(
        lambda: multiapps.get_mta_operation(space_guid, operation_id),
        lambda o: _field(o, "state") == "FINISHED",
        failed=lambda o: _field(o, "state") in ("ERROR", "ABORTED"),
        reason=lambda o: " ".join(
            p for p in (_text(_field(o, "state")), _text(_field(o, "error_type", "errorType"))) if p
        ),
        timeout=timeout,
        interval=interval,
        description=f"MTA operation {operation_id}",
    )


async def wait_for_service_instance(
    service_manager: _ServiceInstanceApi,
    instance_id: str,
    *,
    timeout: float = 1800.0,  # noqa: ASYNC109 - a deadline for the whole wait
    interval: float = 5.0,
) -> Any:
    """Poll a Service Manager instance until its last operation ``succeeded``; ``failed`` raises with the
    operation's description."""

    def state(instance: Any) -> Any:
        return _field(_field(instance, "last_operation") or {}, "state")

    return await wait_until(
        lambda: service_manager.get_service_instance_by_id(instance_id),
        lambda i: state(i) == "succeeded",
        failed=lambda i: state(i) == "failed",
        reason=lambda i: _text(_field(_field(i, "last_operation") or {}, "description")) or None,
        timeout=timeout,
        interval=interval,
        description=f"service instance {instance_id}",
    )
