"""Audit log retrieval (v2, ``Paging: handle=...`` in chunks of 500) and resource consumption (uas) reports."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._http import ApiError, Request, Response, empty_response, json_response
from ._state import AUDIT_CATEGORIES, DAY

if TYPE_CHECKING:
    from ._app import Context, Route

AUDIT_CHUNK = 500


def _parse_time(raw: str, name: str) -> float:
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1]
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"Invalid {name}: expected YYYY-MM-DDTHH:MM:SS", code=400, target=name) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def routes(ctx: Context) -> list[Route]:
    from ._app import Route

    st = ctx.state

    def audit_records(req: Request) -> Response:
        handle = req.q("handle")
        if handle:
            try:
                state = json.loads(base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4)))
                offset, t_from, t_to, cats = int(state["o"]), float(state["f"]), float(state["t"]), state["c"]
            except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
                raise ApiError(400, "Invalid paging handle", code=400, target="handle") from None
            if offset < 0 or not isinstance(cats, list) or any(c not in AUDIT_CATEGORIES for c in cats):
                raise ApiError(400, "Invalid paging handle", code=400, target="handle")
        else:
            offset = 0
            now = st.now()
            t_from = _parse_time(req.q("time_from") or "", "time_from") if req.q("time_from") else now - 30 * DAY
            t_to = _parse_time(req.q("time_to") or "", "time_to") if req.q("time_to") else now
            if t_from > t_to:
                raise ApiError(400, "time_from must not be after time_to", code=400, target="time_from")
            cats = req.q_list("category")
            unknown = [c for c in cats if c not in AUDIT_CATEGORIES]
            if unknown:
                raise ApiError(400, f"Unknown category {unknown[0]}", code=400, target="category")
        log = st.audit_records
        lo, hi = log.window(t_from, t_to)
        wanted = frozenset(AUDIT_CATEGORIES.index(c) for c in cats)
        chunk, more = log.select(lo, hi, wanted, offset, AUDIT_CHUNK)
        if not chunk:
            return empty_response(204)
        body = [_record(log[i], i) for i in chunk]
        headers = []
        if more:
            state = {"o": offset + AUDIT_CHUNK, "f": t_from, "t": t_to, "c": cats}
            token = base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")
            headers.append((b"paging", f"handle={token}".encode()))
        return json_response(body, headers=headers)

    # -- resource consumption -------------------------------------------------------------------------
    def months(req: Request) -> list[int]:
        lo, hi = _yyyymm(req, "fromDate"), _yyyymm(req, "toDate")
        if lo > hi:
            raise ApiError(400, "fromDate must not be after toDate", code=400, target="fromDate")
        out: list[int] = []
        y, m = divmod(lo, 100)
        while y * 100 + m <= hi and len(out) < 36:
            out.append(y * 100 + m)
            m += 1
            if m > 12:
                y, m = y + 1, 1
        return out

    def usage_rows(req: Request, with_cost: bool) -> list[dict[str, Any]]:
        ga = st.global_account
        rows = []
        for month in months(req):
            for sub in st.subaccounts.values():
                for svc, plan in list(st.entitlements.get(sub["guid"], {}))[:3]:
                    usage = _det(f"{month}{sub['guid']}{svc}{plan}") * 100
                    row: dict[str, Any] = {
                        "reportYearMonth": month,
                        "globalAccountId": ga["guid"],
                        "globalAccountName": ga["displayName"],
                        "directoryId": sub["parentGUID"] if sub["parentGUID"] != ga["guid"] else None,
                        "subaccountId": sub["guid"],
                        "subaccountName": sub["displayName"],
                        "dataCenter": f"cf-{sub['region']}",
                        "dataCenterName": sub["region"].upper(),
                        "serviceId": svc,
                        "serviceName": svc,
                        "plan": plan,
                        "planName": plan,
                        "measureId": "instances" if svc != "cloudfoundry" else "memory",
                        "metricName": "Instances" if svc != "cloudfoundry" else "Memory (GB)",
                        "unitSingular": "Instance" if svc != "cloudfoundry" else "GB",
                        "unitPlural": "Instances" if svc != "cloudfoundry" else "GB",
                        "usage": round(usage, 3),
                        "identityZone": sub["subdomain"],
                    }
                    if with_cost:
                        cost = round(usage * 1.7, 2)
                        row.update(
                            {
                                "cost": cost,
                                "quota": 0.0,
                                "actualUsage": round(usage, 3),
                                "chargedBlocks": float(int(usage) + 1),
                                "currency": "EUR",
                                "crmSku": f"800{len(svc)}{len(plan)}",
                                "estimated": month >= _current_month(st.now()),
                                "paygCost": 0.0,
                                "cloudCreditsCost": cost,
                            }
                        )
                    rows.append(row)
        return rows

    def monthly_usage(req: Request) -> Response:
        return json_response({"content": usage_rows(req, False)})

    def monthly_cost(req: Request) -> Response:
        return json_response({"content": usage_rows(req, True)})

    def subaccount_usage(req: Request) -> Response:
        sub_guid = req.q("subaccountId")
        sub = st.subaccounts.get(sub_guid or "")
        if sub is None:
            raise ApiError(404, f"Subaccount {sub_guid} not found", code=404, target="subaccountId")
        lo, hi = _yyyymmdd(req, "fromDate"), _yyyymmdd(req, "toDate")
        if lo > hi:
            raise ApiError(400, "fromDate must not be after toDate", code=400, target="fromDate")
        perspective = req.q("periodPerspective")
        if perspective not in (None, "DAY", "WEEK", "MONTH"):
            raise ApiError(400, "periodPerspective must be DAY, WEEK or MONTH", target="periodPerspective")
        rows = []
        for svc, plan in list(st.entitlements.get(sub["guid"], {}))[:3]:
            rows.append(
                {
                    "globalAccountId": st.global_account["guid"],
                    "subaccountId": sub["guid"],
                    "subaccountName": sub["displayName"],
                    "serviceId": svc,
                    "serviceName": svc,
                    "plan": plan,
                    "planName": plan,
                    "categoryId": 1.0,
                    "categoryName": "Default",
                    "periodStartDate": lo,
                    "periodEndDate": hi,
                    "usage": round(_det(f"{lo}{hi}{svc}{plan}{sub['guid']}") * 50, 3),
                    "dataCenter": f"cf-{sub['region']}",
                }
            )
        return json_response({"content": rows})

    def cloud_credits(req: Request) -> Response:
        view = req.q("viewPhases") or "CURRENT"
        if view not in ("CURRENT", "ALL"):
            raise ApiError(400, "viewPhases must be CURRENT or ALL", target="viewPhases")
        year = datetime.fromtimestamp(st.now(), UTC).year
        phases = [
            {
                "phaseStartDate": f"{y}-01-01",
                "phaseEndDate": f"{y}-12-31",
                "phaseUpdates": [
                    {
                        "balance": 25000.0 - 1000 * (year - y),
                        "cloudCreditsForPhase": 50000.0,
                        "phaseUpdatedOn": f"{y}-06-30",
                    }
                ],
            }
            for y in ((year - 1, year) if view == "ALL" else (year,))
        ]
        return json_response(
            {
                "globalAccountId": st.global_account["guid"],
                "globalAccountName": st.global_account["displayName"],
                "contracts": [
                    {
                        "contractStartDate": f"{year - 1}-01-01",
                        "contractEndDate": f"{year + 1}-12-31",
                        "currency": "EUR",
                        "phases": phases,
                    }
                ],
            }
        )

    rc = "resource_consumption"
    dates = ("fromDate", "toDate")
    return [
        Route(
            "audit_log",
            "GET",
            "/auditlog/v2/auditlogrecords",
            audit_records,
            ("time_from", "time_to", "category", "handle"),
        ),
        Route(rc, "GET", "/reports/v1/monthlyUsage", monthly_usage, dates),
        Route(rc, "GET", "/reports/v1/monthlyDirectoryUsage", monthly_usage, dates),
        Route(rc, "GET", "/reports/v1/monthlySubaccountsCost", monthly_cost, dates),
        Route(
            rc, "GET", "/reports/v1/subaccountUsage", subaccount_usage, ("subaccountId", *dates, "periodPerspective")
        ),
        Route(rc, "GET", "/reports/v1/cloudCreditsDetails", cloud_credits, ("viewPhases",)),
    ]


def _record(rec: dict[str, Any], index: int) -> dict[str, Any]:
    """``message`` is a JSON string on every other record and an object on the rest: SAP documents an
    object, live consumers ``JSON.parse`` a string, so clients must take both."""
    if index % 2 == 0:
        return {**rec, "message": json.dumps(rec["message"], separators=(",", ":"))}
    return rec


def _det(seed: str) -> float:
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big") / 2**32


def _current_month(now: float) -> int:
    dt = datetime.fromtimestamp(now, UTC)
    return dt.year * 100 + dt.month


def _yyyymm(req: Request, name: str) -> int:
    raw = req.q(name)
    if raw is None:
        raise ApiError(400, f"Missing required parameter {name}", code=400, target=name)
    if not (raw.isdigit() and len(raw) == 6 and 1 <= int(raw[4:]) <= 12):
        raise ApiError(400, f"{name} must be YYYYMM", code=400, target=name)
    return int(raw)


def _yyyymmdd(req: Request, name: str) -> int:
    raw = req.q(name)
    if raw is None:
        raise ApiError(400, f"Missing required parameter {name}", code=400, target=name)
    try:
        datetime.strptime(raw, "%Y%m%d")
    except ValueError:
        raise ApiError(400, f"{name} must be YYYYMMDD", code=400, target=name) from None
    return int(raw)
