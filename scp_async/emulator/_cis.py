"""Stateful Cloud Management (CIS) routes: accounts, entitlements, provisioning, SaaS, events, jobs."""

from __future__ import annotations

import copy
import math
import re
from typing import TYPE_CHECKING, Any

from ._http import ApiError, Request, Response, empty_response, json_response
from ._state import SAAS_APPS, SERVICES, Transition, ms

if TYPE_CHECKING:
    from ._app import Context, Route

_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_CIS_APIS = ("accounts", "entitlements", "provisioning", "saas_provisioning")
_EVENT_TYPES = (
    "GlobalAccount_Update",
    "AccountDirectory_Creation",
    "AccountDirectory_Deletion",
    "Subaccount_Creation",
    "Subaccount_Deletion",
    "Subaccount_Update",
    "Subaccount_Move",
    "SubaccountAppSubscription_Creation",
    "SubaccountAppSubscription_Deletion",
    "EnvironmentInstance_Creation",
    "EnvironmentInstance_Deletion",
)
#: Event types of a region's own services (the rest are central, of the global account's services).
_LOCAL_EVENT_PREFIXES = ("SubaccountAppSubscription_", "AppRegistration_", "SubaccountTenant_", "EnvironmentInstance")


def routes(ctx: Context) -> list[Route]:
    from ._app import Route

    st = ctx.state
    cfg = ctx.config
    delay = cfg.transition_delay

    # -- accounts ------------------------------------------------------------------------------------
    def subaccount_or_404(guid: str) -> dict[str, Any]:
        sub = st.subaccounts.get(guid)
        if sub is None:
            raise ApiError(404, f"Subaccount {guid} not found", code=11002, target="/accounts/v1/subaccounts")
        return sub

    def directory_or_404(guid: str) -> dict[str, Any]:
        d = st.directories.get(guid)
        if d is None:
            raise ApiError(404, f"Directory {guid} not found", code=11003, target="/accounts/v1/directories")
        return d

    def get_global_account(req: Request) -> Response:
        ga = dict(st.global_account)
        if req.q_bool("expand"):
            children = []
            for d in st.directories.values():
                children.append(dict(d))
            ga["children"] = children
            ga["subaccounts"] = list(st.subaccounts.values())
        return json_response(ga)

    def update_global_account(req: Request) -> Response:
        body = req.json_object()
        for key in ("displayName", "description"):
            if isinstance(body.get(key), str):
                st.global_account[key] = body[key]
        st.global_account["modifiedDate"] = ms(st.now())
        return json_response(st.global_account)

    def list_subaccounts(req: Request) -> Response:
        directory = req.q("directoryGUID")
        selector = _label_selector(req.q("labelSelector"))
        items = []
        for sub in st.subaccounts.values():
            if directory and sub["parentGUID"] != directory:
                continue
            if selector and not _labels_match(sub.get("labels") or {}, selector):
                continue
            items.append(sub)
        return json_response({"value": items})

    def create_subaccount(req: Request) -> Response:
        body = req.json_object()
        name, region = body.get("displayName"), body.get("region")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise ApiError(400, "displayName must be 1 to 255 characters", code=11010, target="displayName")
        if region not in cfg.regions:
            raise ApiError(400, f"Region {region!r} is not available to this global account", code=11011)
        parent = body.get("parentGUID") or st.global_account["guid"]
        if parent != st.global_account["guid"]:
            directory_or_404(parent)
        guid = st.new_id()
        subdomain = body.get("subdomain") or f"{name.lower().replace(' ', '-')[:40]}-{guid[:8]}"
        subdomain = re.sub(r"[^a-z0-9-]", "-", str(subdomain).lower()).strip("-")[:63] or guid[:8]
        if not _SUBDOMAIN.match(subdomain):
            raise ApiError(400, "Invalid subdomain", code=11012, target="subdomain")
        if any(s["subdomain"] == subdomain for s in st.subaccounts.values()):
            raise ApiError(409, f"Subdomain {subdomain} already exists", code=11013, target="subdomain")
        now = st.now()
        sub = {
            "guid": guid,
            "technicalName": guid,
            "displayName": name,
            "description": str(body.get("description") or ""),
            "globalAccountGUID": st.global_account["guid"],
            "parentGUID": parent,
            "parentType": "ROOT" if parent == st.global_account["guid"] else "FOLDER",
            "region": region,
            "subdomain": subdomain,
            "betaEnabled": bool(body.get("betaEnabled", False)),
            "usedForProduction": body.get("usedForProduction") or "UNSET",
            "state": "STARTED",
            "stateMessage": "Subaccount creation started.",
            "createdBy": req.token.user_name or req.token.client_id if req.token else "unknown",
            "createdDate": ms(now),
            "modifiedDate": ms(now),
            "lastModifiedBy": req.token.user_name or req.token.client_id if req.token else "unknown",
            "contractStatus": "ACTIVE",
            "labels": body.get("labels") if isinstance(body.get("labels"), dict) else {},
        }
        st.subaccounts[guid] = sub
        st.entitlements[guid] = {("cloudfoundry", "MEMORY"): 1.0, ("xsuaa", "application"): 1.0}
        st.transitions[guid] = Transition(now + delay, "OK")
        st.add_event("Subaccount_Creation", guid, "Subaccount", now, {"region": region})
        return json_response(sub, 201)

    def get_subaccount(req: Request) -> Response:
        # one subaccount read by id also names the nearest parent that manages its entitlements
        sub = subaccount_or_404(req.path_params[0])
        return json_response({**sub, "closestEntitlementManagedParentGUID": st.global_account["guid"]})

    def update_subaccount(req: Request) -> Response:
        sub = subaccount_or_404(req.path_params[0])
        if sub["state"] in ("DELETING", "STARTED"):
            raise ApiError(409, f"Subaccount is in state {sub['state']}", code=11020)
        body = req.json_object()
        for key in ("displayName", "description", "usedForProduction"):
            if isinstance(body.get(key), str):
                sub[key] = body[key]
        if isinstance(body.get("betaEnabled"), bool):
            sub["betaEnabled"] = body["betaEnabled"]
        if isinstance(body.get("labels"), dict):
            sub["labels"] = body["labels"]
        sub["modifiedDate"] = ms(st.now())
        st.add_event("Subaccount_Update", sub["guid"], "Subaccount", st.now(), {})
        return json_response(sub)

    def delete_subaccount(req: Request) -> Response:
        sub = subaccount_or_404(req.path_params[0])
        if sub["state"] != "DELETING":
            now = st.now()
            sub["state"] = "DELETING"
            sub["stateMessage"] = "Subaccount deletion started."
            sub["modifiedDate"] = ms(now)
            st.transitions[sub["guid"]] = Transition(now + delay, None)
            st.add_event("Subaccount_Deletion", sub["guid"], "Subaccount", now, {})
        return json_response(sub)

    def move_subaccount(req: Request) -> Response:
        sub = subaccount_or_404(req.path_params[0])
        target = req.json_object().get("targetAccountGUID")
        if not isinstance(target, str):
            raise ApiError(400, "targetAccountGUID is required", target="targetAccountGUID")
        if target != st.global_account["guid"]:
            directory_or_404(target)
        sub["parentGUID"] = target
        sub["modifiedDate"] = ms(st.now())
        return json_response(sub)

    def labels_get(kind: str) -> Any:
        def handler(req: Request) -> Response:
            obj = lookup(kind, req.path_params[0])
            return json_response({"labels": obj.get("labels") or {}})

        return handler

    def labels_put(kind: str) -> Any:
        def handler(req: Request) -> Response:
            obj = lookup(kind, req.path_params[0])
            labels = req.json_object().get("labels")
            if not isinstance(labels, dict) or not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in labels.values()
            ):
                raise ApiError(400, "labels must map names to lists of strings", target="labels")
            obj["labels"] = labels
            return json_response({"labels": labels})

        return handler

    def labels_delete(kind: str) -> Any:
        def handler(req: Request) -> Response:
            obj = lookup(kind, req.path_params[0])
            obj["labels"] = {}
            return json_response({"labels": {}})

        return handler

    def lookup(kind: str, guid: str) -> dict[str, Any]:
        if kind == "subaccount":
            return subaccount_or_404(guid)
        if kind == "directory":
            return directory_or_404(guid)
        env = st.environments.get(guid)
        if env is None:
            raise ApiError(404, f"Environment instance {guid} not found", code=30004)
        return env

    def get_directory(req: Request) -> Response:
        d = dict(directory_or_404(req.path_params[0]))
        if req.q_bool("expand"):
            d["subaccounts"] = [s for s in st.subaccounts.values() if s["parentGUID"] == d["guid"]]
        return json_response(d)

    def create_directory(req: Request) -> Response:
        body = req.json_object()
        name = body.get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "displayName must not be empty", target="displayName")
        parent = req.q("parentGUID") or st.global_account["guid"]
        if parent != st.global_account["guid"]:
            directory_or_404(parent)
        now = st.now()
        guid = st.new_id()
        d = {
            "guid": guid,
            "globalAccountGUID": st.global_account["guid"],
            "parentGUID": parent,
            "parentGuid": parent,
            "parentType": "ROOT" if parent == st.global_account["guid"] else "FOLDER",
            "directoryType": "FOLDER",
            "contractStatus": "ACTIVE",
            "displayName": name,
            "description": str(body.get("description") or ""),
            "directoryFeatures": body.get("directoryFeatures") or ["DEFAULT"],
            "entityState": "STARTED",
            "stateMessage": "Directory creation started.",
            "createdBy": req.token.user_name or req.token.client_id if req.token else "unknown",
            "createdDate": ms(now),
            "modifiedDate": ms(now),
            "subdomain": body.get("subdomain") or f"dir-{guid[:8]}",
            "labels": body.get("labels") if isinstance(body.get("labels"), dict) else {},
        }
        st.directories[guid] = d
        st.transitions[guid] = Transition(now + delay, "OK")
        st.add_event("AccountDirectory_Creation", guid, "Directory", now, {})
        return json_response(d, 201)

    def update_directory(req: Request) -> Response:
        d = directory_or_404(req.path_params[0])
        body = req.json_object()
        for key in ("displayName", "description"):
            if isinstance(body.get(key), str):
                d[key] = body[key]
        d["modifiedDate"] = ms(st.now())
        return json_response(d)

    def delete_directory(req: Request) -> Response:
        d = directory_or_404(req.path_params[0])
        if any(s["parentGUID"] == d["guid"] for s in st.subaccounts.values()) and not req.q_bool("forceDelete"):
            raise ApiError(409, "Directory is not empty; use forceDelete=true", code=11030)
        now = st.now()
        d["entityState"] = "DELETING"
        st.transitions[d["guid"]] = Transition(now + delay, None)
        for s in st.subaccounts.values():
            if s["parentGUID"] == d["guid"]:
                s["state"] = "DELETING"
                st.transitions[s["guid"]] = Transition(now + delay, None)
        return json_response(d)

    def custom_properties(req: Request) -> Response:
        if req.path_params:
            obj = lookup("directory" if "/directories/" in req.path else "subaccount", req.path_params[0])
            return json_response({"value": obj.get("customProperties") or []})
        return json_response({"value": st.global_account.get("customProperties") or []})

    # -- jobs-management -------------------------------------------------------------------------------
    def job_status(req: Request) -> Response:
        job = st.jobs.get(req.path_params[0])
        if job is None:
            raise ApiError(404, f"Job {req.path_params[0]} not found", code=40004)
        done = st.now() >= job.until
        status = ("FAILED" if job.failed else "COMPLETED") if done else "IN_PROGRESS"
        return json_response(
            {
                "description": job.description,
                "status": status,
                "jobParams": {"jobId": job.id, "kind": job.kind, **job.params},
                "customParams": {},
                "statusDetails": {"resource": job.resource} if job.resource else {},
            }
        )

    # -- entitlements --------------------------------------------------------------------------------
    deprecation = {"deprecationMessage": None, "deprecationInfoLink": None, "endDate": None}

    def data_center(req: Request | None, r: str) -> dict[str, Any]:
        dc = {
            "name": f"cf-{r}",
            "displayName": r.upper(),
            "region": r,
            "environment": "cloudfoundry",
            "iaasProvider": "AWS",
            "supportsTrial": False,
            "provisioningServiceUrl": f"https://provisioning-service.cfapps.{r}.hana.ondemand.com",
            "saasRegistryServiceUrl": f"https://saas-manager.cfapps.{r}.hana.ondemand.com",
            "domain": f"{r}.hana.ondemand.com",
            "isMainDataCenter": True,
            "geoAccess": "STANDARD",
        }
        if req is not None:  # the allowed-data-centers list: this emulator's URLs, no SaaS registry URL
            dc["provisioningServiceUrl"] = f"{req.root_url}/provisioning"
            del dc["saasRegistryServiceUrl"]
            dc["domain"] = f"{r}.emulator.local"
            dc["restricted"] = False
        return dc

    def entitlement_tree(subaccount: str | None, directory: str | None) -> dict[str, Any]:
        subs = [subaccount] if subaccount else list(st.entitlements)
        if directory:
            subs = [s for s in subs if st.subaccounts.get(s, {}).get("parentGUID") == directory]
        assigned: list[dict[str, Any]] = []
        entitled: list[dict[str, Any]] = []
        for svc, display, category, plans in SERVICES:
            a_plans = []
            e_plans = []
            for plan, plan_cat, amount in plans:
                info = []
                for s in subs:
                    amt = st.entitlements.get(s, {}).get((svc, plan))
                    if amt is not None:
                        info.append(
                            {
                                "entityId": s,
                                "entityType": "SUBACCOUNT",
                                "amount": amt,
                                "requestedAmount": amt,
                                "entityState": "OK",
                                "stateMessage": "",
                                "autoAssign": False,
                                "autoAssigned": False,
                                "unlimitedAmountAssigned": amount is None,
                                "parentId": st.global_account["guid"],
                                "parentType": "GLOBAL_ACCOUNT",
                                "parentAmount": float(amount) if amount is not None else 0.0,
                                "createdDate": st.subaccounts.get(s, {}).get("createdDate", 0),
                                "modifiedDate": st.subaccounts.get(s, {}).get("modifiedDate", 0),
                                "resources": [],
                                "autoDistributeAmount": None,
                                "parentRemainingAmount": float(amount) if amount is not None else 0.0,
                                "billingObject": None,
                                "availableBillingObjects": None,
                                "parentAssignedBillingObject": None,
                            }
                        )
                plan_obj = {
                    "name": plan,
                    "displayName": plan,
                    "uniqueIdentifier": f"{svc}-{plan}",
                    "category": plan_cat,
                    "beta": False,
                    "unlimited": amount is None,
                    "maxAllowedSubaccountQuota": amount or 0,
                }
                source = {
                    "entitlementName": f"{svc}-{plan}-SYSTEM",
                    "productDisplayName": f"{display} - {plan}",
                    "licensedQuantity": float(amount or 0),
                    "productId": None,
                    "restricted": False,
                    "allowedSubaccounts": None,
                    "commercialModel": {
                        "name": "Subscription",
                        "displayName": "Subscription",
                        "consumptionBased": False,
                        "description": "Subscription-based commercial model",
                    },
                    "autoAssign": False,
                    "amount": float(amount or 0),
                }
                e_plans.append(
                    {
                        **plan_obj,
                        "description": f"{display}, plan {plan}",
                        "amount": float(amount or 0),
                        "remainingAmount": float(amount or 0),
                        "provisioningMethod": "SERVICE_BROKER" if plan_cat == "SERVICE" else "NONE_REQUIRED",
                        "providedBy": "VENDOR",
                        "availableForInternal": False,
                        "internalQuotaLimit": None,
                        "autoAssign": False,
                        "autoDistributeAmount": None,
                        "sourceEntitlements": [source],
                        "globalAccountSourceEntitlements": [source],
                        "dataCenters": [data_center(None, r) for r in cfg.regions],
                        "resources": [],
                        "additionalPlanFeatures": [],
                        "assignedBillingObject": None,
                        "assignedResources": [],
                        "billingObjects": [],
                        "dependsOn": [],
                        "numberOfAssignedEntities": len(info),
                        **deprecation,
                    }
                )
                if info:
                    a_plans.append({**plan_obj, "assignmentInfo": info, **deprecation})
            base = {
                "name": svc,
                "displayName": display,
                # An object in the spec (BusinessCategory), as the real service sends it.
                "businessCategory": {"id": category, "displayName": category.replace("_", " ").title()},
                "ownerType": "VENDOR",
                "iconBase64": "",
                # null where the service has no application behind the entitlement, as it sends it
                "applicationCoordinates": None,
            }
            entitled.append({**base, "description": display, "termsOfUseUrl": "N/A", "servicePlans": e_plans})
            if a_plans:
                assigned.append({**base, "servicePlans": a_plans})
        return {
            "assignedServices": assigned,
            "entitledServices": entitled,
            "fetchErrorFromExternalProviderRegistry": None,
            "serviceTermsOfUseStatus": [],
        }

    def get_assignments(req: Request) -> Response:
        sub = req.q("subaccountGUID")
        if sub:
            subaccount_or_404(sub)
        directory = req.q("directoryGUID")
        if directory:
            directory_or_404(directory)
        tree = entitlement_tree(sub, directory)
        _filter_services(tree, req)
        return json_response(tree)

    def get_ga_assignments(req: Request) -> Response:
        sub = req.q("subaccountGUID")
        if sub:
            subaccount_or_404(sub)
        tree = entitlement_tree(sub, None)
        _filter_services(tree, req)
        return json_response(tree)

    def set_service_plans(req: Request) -> Response:
        body = req.json_object()
        items = body.get("subaccountServicePlans")
        if not isinstance(items, list) or not items:
            raise ApiError(400, "subaccountServicePlans must be a non-empty list", target="subaccountServicePlans")
        known = {(s, p) for s, _d, _c, plans in SERVICES for p, _pc, _a in plans}
        changes: list[tuple[str, str, str, float | None]] = []
        for item in items:
            if not isinstance(item, dict):
                raise ApiError(400, "Each item must be an object")
            svc, plan = item.get("serviceName"), item.get("servicePlanName")
            if (svc, plan) not in known:
                raise ApiError(404, f"Service plan {svc}/{plan} is not entitled to the global account", code=20001)
            for assign in item.get("assignmentInfo") or []:
                if not isinstance(assign, dict):
                    raise ApiError(400, "assignmentInfo items must be objects")
                guid = assign.get("subaccountGUID")
                if not isinstance(guid, str):
                    raise ApiError(400, "subaccountGUID is required", target="subaccountGUID")
                subaccount_or_404(guid)
                enable = assign.get("enable")
                amount = assign.get("amount")
                if enable is False or amount == 0:
                    changes.append((guid, str(svc), str(plan), None))
                else:
                    try:
                        value = float(amount) if amount is not None else 1.0
                    except (TypeError, ValueError):
                        raise ApiError(400, "amount must be a number", target="amount") from None
                    if not math.isfinite(value) or value < 0:
                        raise ApiError(400, "amount must be a non-negative number", target="amount")
                    changes.append((guid, str(svc), str(plan), value))
        for guid, svc, plan, new_amount in changes:  # validated first, applied together
            ents = st.entitlements.setdefault(guid, {})
            if new_amount is None:
                ents.pop((svc, plan), None)
            else:
                ents[(svc, plan)] = new_amount
            st.add_event("SubaccountEntitlements_Update", guid, "Subaccount", st.now(), {"service": svc})
        job = st.new_job("ENTITLEMENTS", "Update subaccount service plans", None, items=len(changes))
        return Response(202, job.id.encode(), [(b"content-type", b"text/plain")])

    def data_centers(req: Request) -> Response:
        return json_response({"datacenters": [data_center(req, r) for r in cfg.regions]})

    # -- provisioning -----------------------------------------------------------------------------------
    def list_environments(req: Request) -> Response:
        sub = req.q("subaccountGUID")
        items = [e for e in st.environments.values() if not sub or e["subaccountGUID"] == sub]
        return json_response({"environmentInstances": items})

    def get_environment(req: Request) -> Response:
        return json_response(lookup("environment", req.path_params[0]))

    def create_environment(req: Request) -> Response:
        body = req.json_object()
        for key in ("environmentType", "planName", "serviceName"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise ApiError(400, f"{key} is required", target=key)
        sub_guid = req.q("subaccountGUID") or st.home_subaccount
        sub = subaccount_or_404(sub_guid)
        if body["environmentType"] == "cloudfoundry" and any(
            e["subaccountGUID"] == sub_guid and e["environmentType"] == "cloudfoundry" for e in st.environments.values()
        ):
            raise ApiError(409, "A Cloud Foundry environment already exists in this subaccount", code=30010)
        now = st.now()
        env_id = st.new_id()
        name = str(body.get("name") or f"{sub['subdomain']}-{body['environmentType']}")
        st.environments[env_id] = {
            "id": env_id,
            "name": name,
            "brokerId": "emulated-broker",
            "globalAccountGUID": st.global_account["guid"],
            "subaccountGUID": sub_guid,
            "tenantId": sub_guid,
            "serviceName": body["serviceName"],
            "planName": body["planName"],
            "environmentType": body["environmentType"],
            "landscapeLabel": str(body.get("landscapeLabel") or f"cf-{sub['region']}"),
            "platformId": st.new_id(),
            "state": "CREATING",
            "stateMessage": "Creating environment instance.",
            "type": "Provision",
            "status": "Processing",
            "operation": "provision",
            "createdDate": ms(now),
            "modifiedDate": ms(now),
            "labels": "{}",
            "parameters": _json_text(body.get("parameters")),
            "customLabels": {},
        }
        st.transitions[env_id] = Transition(now + delay, "OK")
        st.add_event("EnvironmentInstance_Creation", env_id, "EnvironmentInstance", now, {"subaccount": sub_guid})
        return json_response({"id": env_id}, 202)

    def delete_environment(req: Request) -> Response:
        env = lookup("environment", req.path_params[0])
        now = st.now()
        env["state"] = "DELETING"
        env["type"] = "Deprovision"
        env["operation"] = "deprovision"
        env["modifiedDate"] = ms(now)
        st.transitions[env["id"]] = Transition(now + delay, None)
        st.add_event("EnvironmentInstance_Deletion", env["id"], "EnvironmentInstance", now, {})
        return json_response(env, 202)

    def update_environment(req: Request) -> Response:
        env = lookup("environment", req.path_params[0])
        body = req.json_object()
        if "parameters" in body:
            env["parameters"] = _json_text(body["parameters"])
        if isinstance(body.get("planName"), str):
            env["planName"] = body["planName"]
        env["state"] = "UPDATING"
        env["type"] = "Update"
        env["modifiedDate"] = ms(st.now())
        st.transitions[env["id"]] = Transition(st.now() + delay, "OK")
        return json_response({}, 202)

    def available_environments(req: Request) -> Response:
        envs = [
            {
                "environmentType": "cloudfoundry",
                "planName": "standard",
                "serviceName": "cloudfoundry",
                "description": "Cloud Foundry environment",
                "availabilityLevel": "AVAILABLE",
                "landscapeLabel": f"cf-{r}",
                "createSchema": "{}",
                "planUpdatable": False,
                "allowAdditionalEnvironmentInstance": False,
                "serviceDisplayName": "Cloud Foundry Runtime",
                "serviceDescription": "Cloud Foundry environment",
                "serviceLongDescription": "Cloud Foundry environment for polyglot applications",
                "serviceDocumentationUrl": "https://help.sap.com/docs/btp",
                "serviceImageUrl": "",
                "serviceSupportUrl": "https://support.sap.com",
            }
            for r in cfg.regions
        ]
        return json_response({"availableEnvironments": envs})

    # -- SaaS provisioning -----------------------------------------------------------------------------
    def app_view(app: str, display: str, plan: str, category: str, subaccount: str) -> dict[str, Any]:
        sub = st.subscriptions.get((subaccount, app))
        view: dict[str, Any] = {
            "appId": f"{app}!t1",
            "appName": app,
            "commercialAppName": app,
            "displayName": display,
            "description": f"{display} (emulated)",
            "shortDescription": display,
            "planName": plan,
            "category": category,
            "categoryDisplayName": category,
            "globalAccountId": st.global_account["guid"],
            "authenticationProvider": "XSUAA",
            "supportsParametersUpdates": True,
            "supportsPlanUpdates": False,
            "supportsGetParameters": True,
            "customerDeveloped": False,
            "quota": 1,
            "state": "NOT_SUBSCRIBED",
            "tenantId": subaccount,
            "planDescription": f"{display}, plan {plan}",
            "iconBase64": "",
            "incidentTrackingComponent": "",
            "platformEntityId": "",
            "additionalPlanFeatures": [f"{display}: see the plan's documentation for its limits."],
            "allowedTargetPlans": [],
            "applicationCoordinates": None,
        }
        if sub is not None:
            view.update(
                {
                    "state": sub["state"],
                    "subscriptionGUID": sub["subscriptionGUID"],
                    "subscriptionUrl": sub["url"],
                    "subscribedSubaccountId": subaccount,
                    "subscribedTenantId": subaccount,
                    "tenantId": subaccount,
                    "planName": sub["planName"],
                    "createdDate": sub["createdDate"],
                    "modifiedDate": sub["modifiedDate"],
                }
            )
            if sub["labels"]:  # sent only when set
                view["labels"] = sub["labels"]
        return view

    def saas_subaccount(req: Request) -> str:
        return req.q("subaccountGUID") or st.home_subaccount

    def saas_app_or_404(name: str) -> tuple[str, str, str, str]:
        for item in SAAS_APPS:
            if item[0] == name:
                return item
        raise ApiError(404, f"Application {name} is not entitled", code=60004)

    def list_applications(req: Request) -> Response:
        sub = saas_subaccount(req)
        apps = [app_view(*a, sub) for a in SAAS_APPS]
        for app in apps:  # the list leaves out what only one application read by name carries
            del app["tenantId"]
        return json_response({"applications": apps})

    def get_application(req: Request) -> Response:
        app = app_view(*saas_app_or_404(req.path_params[0]), saas_subaccount(req))
        for key in ("allowedTargetPlans", "platformEntityId"):  # sent in lists only
            del app[key]
        return json_response(app)

    def subscribe(req: Request) -> Response:
        app, _display, plan, _cat = saas_app_or_404(req.path_params[0])
        sub_guid = saas_subaccount(req)
        subaccount_or_404(sub_guid)
        existing = st.subscriptions.get((sub_guid, app))
        if existing is not None and existing["state"] in ("SUBSCRIBED", "IN_PROCESS"):
            raise ApiError(409, f"Subaccount is already subscribed to {app}", code=60009)
        body = req.json_object()
        now = st.now()
        record = st._add_subscription(sub_guid, app, str(body.get("planName") or plan), now, "IN_PROCESS")
        if isinstance(body.get("subscriptionParams"), dict):
            record["parameters"] = body["subscriptionParams"]
        st.transitions[record["subscriptionGUID"]] = Transition(now + delay, "SUBSCRIBED")
        job = st.new_job("SUBSCRIBE", f"Subscribe to {app}", record["subscriptionGUID"])
        st.add_event("SubaccountAppSubscription_Creation", sub_guid, "Subaccount", now, {"appName": app})
        return empty_response(202, [(b"location", f"/api/v2.0/jobs/{job.id}".encode())])

    def unsubscribe(req: Request) -> Response:
        app = saas_app_or_404(req.path_params[0])[0]
        sub_guid = saas_subaccount(req)
        record = st.subscriptions.get((sub_guid, app))
        if record is None:
            raise ApiError(404, f"No subscription to {app}", code=60005)
        now = st.now()
        record["state"] = "IN_PROCESS"
        st.transitions[record["subscriptionGUID"]] = Transition(now + delay, None)
        job = st.new_job("UNSUBSCRIBE", f"Unsubscribe from {app}", record["subscriptionGUID"])
        st.add_event("SubaccountAppSubscription_Deletion", sub_guid, "Subaccount", now, {"appName": app})
        return empty_response(202, [(b"location", f"/api/v2.0/jobs/{job.id}".encode())])

    def saas_job(req: Request) -> Response:
        job = st.jobs.get(req.path_params[0])
        if job is None:
            raise ApiError(404, f"Job {req.path_params[0]} not found", code=60404)
        done = st.now() >= job.until
        return json_response(
            {
                "id": job.id,
                "state": ("FAILED" if job.failed else "SUCCEEDED") if done else "IN_PROGRESS",
                "description": job.description,
                "resourceId": job.resource,
                "createdAt": ms(job.created),
            }
        )

    def subscription_labels(req: Request) -> Response:
        app = saas_app_or_404(req.path_params[0])[0]
        record = st.subscriptions.get((saas_subaccount(req), app))
        if record is None:
            raise ApiError(404, f"No subscription to {app}", code=60005)
        if req.method == "PUT":
            labels = req.json_object().get("labels")
            if not isinstance(labels, dict):
                raise ApiError(400, "labels must be an object", target="labels")
            record["labels"] = labels
        elif req.method == "DELETE":
            record["labels"] = {}
        return json_response({"labels": record["labels"]})

    def subscription_params(req: Request) -> Response:
        app = saas_app_or_404(req.path_params[0])[0]
        record = st.subscriptions.get((saas_subaccount(req), app))
        if record is None:
            raise ApiError(404, f"No subscription to {app}", code=60005)
        return json_response({"parameters": record["parameters"]})

    def provider_subscriptions(req: Request) -> Response:
        page = req.q_int("page", 1, minimum=1)
        size = req.q_int("size", 50, minimum=1, maximum=1000)
        state = req.q("state")
        tenant = req.q("tenantId")
        items = [
            s
            for s in st.subscriptions.values()
            if (not state or s["state"] == state) and (not tenant or s["tenantId"] == tenant)
        ]
        total = len(items)
        pages = max(1, math.ceil(total / size))
        chunk = items[(page - 1) * size : page * size]
        out = [
            {
                "appName": s["appName"],
                "appId": f"{s['appName']}!t1",
                "subscriptionGUID": s["subscriptionGUID"],
                "consumerTenantId": s["tenantId"],
                "subaccountId": s["subaccountId"],
                "globalAccountId": s["globalAccountId"],
                "subdomain": s["subdomain"],
                "state": s["state"],
                "url": s["url"],
                "createdOn": str(s["createdDate"]),
                "changedOn": str(s["modifiedDate"]),
                "isConsumerTenantActive": True,
                "dependencies": [],
            }
            for s in chunk
        ]
        return json_response(
            {"subscriptions": out, "page": page, "total": total, "totalPages": pages, "morePages": page < pages}
        )

    # -- events ----------------------------------------------------------------------------------------
    def list_events(req: Request) -> Response:
        page = req.q_int("pageNum", 1, minimum=1)
        size = req.q_int("pageSize", 150, minimum=1, maximum=150)
        types = set(req.q_list("eventType"))
        ids = set(req.q_list("entityId"))
        entity_types = set(req.q_list("entityType"))
        event_ids = {int(x) for x in req.q_list("id") if x.isdigit()}
        lo_a, hi_a = req.q_int("fromActionTime", 0), req.q_int("toActionTime", 1 << 62)
        lo_c, hi_c = req.q_int("fromCreationTime", 0), req.q_int("toCreationTime", 1 << 62)
        items = [
            e
            for e in st.events
            if (not types or e["eventType"] in types)
            and (not ids or e["entityId"] in ids)
            and (not entity_types or e["entityType"] in entity_types)
            and (not event_ids or e["id"] in event_ids)
            and lo_a <= e["actionTime"] <= hi_a
            and lo_c <= e["creationTime"] <= hi_c
        ]
        field = req.q("sortField") or "actionTime"
        if field not in ("actionTime", "creationTime", "id", "eventType", "entityId"):
            raise ApiError(400, f"Unsupported sortField {field}", target="sortField")
        order = (req.q("sortOrder") or "DESC").upper()
        if order not in ("ASC", "DESC"):
            raise ApiError(400, "sortOrder must be ASC or DESC", target="sortOrder")
        items.sort(key=lambda e: (e[field], e["id"]), reverse=order == "DESC")
        total = len(items)
        pages = math.ceil(total / size)
        chunk = items[(page - 1) * size : page * size]
        return json_response(
            {"events": chunk, "total": total, "totalPages": pages, "pageNum": page, "morePages": page < pages}
        )

    def event_types(req: Request) -> Response:
        # A map keyed by type name, as the service sends it (the published document declares one object).
        types = sorted({e["eventType"] for e in st.events} | set(_EVENT_TYPES))
        return json_response(
            {
                t: {
                    "type": t,
                    "description": t.replace("_", " "),
                    "category": "LOCAL" if t.startswith(_LOCAL_EVENT_PREFIXES) else "CENTRAL",
                    "searchParams": ["entityId", "entityType", "fromActionTime", "toActionTime"],
                }
                for t in types
            }
        )

    out: list[Route] = []
    a = "accounts"
    out += [
        Route(a, "GET", "/accounts/v1/globalAccount", get_global_account),
        Route(a, "PATCH", "/accounts/v1/globalAccount", update_global_account),
        Route(a, "GET", "/accounts/v1/globalAccount/customProperties", custom_properties),
        Route(a, "GET", "/accounts/v1/subaccounts", list_subaccounts),
        Route(a, "POST", "/accounts/v1/subaccounts", create_subaccount),
        Route(a, "GET", "/accounts/v1/subaccounts/{subaccountGUID}", get_subaccount),
        Route(a, "PATCH", "/accounts/v1/subaccounts/{subaccountGUID}", update_subaccount),
        Route(a, "DELETE", "/accounts/v1/subaccounts/{subaccountGUID}", delete_subaccount),
        Route(a, "POST", "/accounts/v1/subaccounts/{subaccountGUID}/move", move_subaccount),
        Route(a, "GET", "/accounts/v1/subaccounts/{subaccountGUID}/customProperties", custom_properties),
        Route(a, "GET", "/accounts/v1/subaccounts/{subaccountGUID}/labels", labels_get("subaccount")),
        Route(a, "PUT", "/accounts/v1/subaccounts/{subaccountGUID}/labels", labels_put("subaccount")),
        Route(a, "DELETE", "/accounts/v1/subaccounts/{subaccountGUID}/labels", labels_delete("subaccount")),
        Route(a, "POST", "/accounts/v1/directories", create_directory),
        Route(a, "GET", "/accounts/v1/directories/{directoryGUID}", get_directory),
        Route(a, "PATCH", "/accounts/v1/directories/{directoryGUID}", update_directory),
        Route(a, "DELETE", "/accounts/v1/directories/{directoryGUID}", delete_directory),
        Route(a, "GET", "/accounts/v1/directories/{directoryGUID}/customProperties", custom_properties),
        Route(a, "GET", "/accounts/v1/directories/{directoryGUID}/labels", labels_get("directory")),
        Route(a, "PUT", "/accounts/v1/directories/{directoryGUID}/labels", labels_put("directory")),
        Route(a, "DELETE", "/accounts/v1/directories/{directoryGUID}/labels", labels_delete("directory")),
    ]
    for api in _CIS_APIS:
        out.append(Route(api, "GET", "/jobs-management/v1/jobs/{jobInstanceIdOrUniqueId}/status", job_status))
    e = "entitlements"
    out += [
        Route(e, "GET", "/entitlements/v1/assignments", get_assignments),
        Route(e, "GET", "/entitlements/v1/globalAccountAssignments", get_ga_assignments),
        Route(e, "PUT", "/entitlements/v1/subaccountServicePlans", set_service_plans),
        Route(e, "GET", "/entitlements/v1/globalAccountAllowedDataCenters", data_centers),
    ]
    p = "provisioning"
    sub_q = ("subaccountGUID",)
    out += [
        Route(p, "GET", "/provisioning/v1/environments", list_environments, sub_q),
        Route(p, "POST", "/provisioning/v1/environments", create_environment, sub_q),
        Route(p, "GET", "/provisioning/v1/environments/{environmentInstanceId}", get_environment),
        Route(p, "DELETE", "/provisioning/v1/environments/{environmentInstanceId}", delete_environment),
        Route(p, "PATCH", "/provisioning/v1/environments/{environmentInstanceId}", update_environment),
        Route(p, "GET", "/provisioning/v1/availableEnvironments", available_environments),
        Route(p, "GET", "/provisioning/v1/environments/{environmentInstanceId}/labels", labels_get("environment")),
        Route(p, "PUT", "/provisioning/v1/environments/{environmentInstanceId}/labels", labels_put("environment")),
        Route(
            p, "DELETE", "/provisioning/v1/environments/{environmentInstanceId}/labels", labels_delete("environment")
        ),
    ]
    s = "saas_provisioning"
    out += [
        Route(s, "GET", "/saas-manager/v1/applications", list_applications, sub_q),
        Route(s, "GET", "/saas-manager/v1/applications/{appName}", get_application, sub_q),
        Route(s, "POST", "/saas-manager/v1/applications/{appName}/subscription", subscribe, sub_q),
        Route(s, "DELETE", "/saas-manager/v1/applications/{appName}/subscription", unsubscribe, sub_q),
        Route(s, "GET", "/saas-manager/v1/applications/{appName}/subscription/labels", subscription_labels, sub_q),
        Route(s, "PUT", "/saas-manager/v1/applications/{appName}/subscription/labels", subscription_labels, sub_q),
        Route(s, "DELETE", "/saas-manager/v1/applications/{appName}/subscription/labels", subscription_labels, sub_q),
        Route(s, "GET", "/saas-manager/v1/applications/{appName}/subscription/parameters", subscription_params, sub_q),
        Route(s, "GET", "/saas-manager/v1/application/subscriptions", provider_subscriptions),
        Route(s, "GET", "/api/v2.0/jobs/{jobUuid}", saas_job),
    ]
    ev = "events"
    out += [
        Route(ev, "GET", "/cloud-management/v1/events", list_events),
        Route(ev, "GET", "/cloud-management/v1/events/types", event_types),
    ]
    return out


def _json_text(value: Any) -> str:
    import json

    if value is None:
        return "{}"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _label_selector(raw: str | None) -> list[tuple[str, set[str] | None]]:
    """``key=value1,value2;key2`` -> [(key, {values}) ...] (a simple form of SAP's label selectors)."""
    if not raw:
        return []
    out: list[tuple[str, set[str] | None]] = []
    for part in raw.replace(" and ", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, values = part.partition("=")
        out.append((key.strip(), {v.strip() for v in values.split(",")} if sep else None))
    return out


def _labels_match(labels: dict[str, list[str]], selector: list[tuple[str, set[str] | None]]) -> bool:
    for key, values in selector:
        have = labels.get(key)
        if have is None:
            return False
        if values is not None and not values.intersection(have):
            return False
    return True


def _filter_services(tree: dict[str, Any], req: Request) -> None:
    name = req.q("serviceName") or req.q("assignedServiceName")
    plan = req.q("planName")
    for key in ("assignedServices", "entitledServices"):
        services = tree[key]
        if name:
            services = [s for s in services if s["name"] == name]
        if plan:
            services = [{**s, "servicePlans": [p for p in s["servicePlans"] if p["name"] == plan]} for s in services]
            services = [s for s in services if s["servicePlans"]]
        tree[key] = copy.deepcopy(services) if services is not tree[key] else services
