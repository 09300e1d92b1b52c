from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Body, Header, Response, status
from sqlalchemy.orm import Session

from cloudsvc.api.deps import CallerDep, Cursor, Limit, SessionDep
from cloudsvc.api.params import DepartmentCodePath, OptionalCodeQuery, RequestIdPath
from cloudsvc.pagination import decode_time_cursor, encode_cursor
from cloudsvc.provisioning import records
from cloudsvc.provisioning.models import ProvisionedResource, ProvisioningStep
from cloudsvc.resource_requests import policies, service
from cloudsvc.resource_requests.lifecycle import Status
from cloudsvc.resource_requests.models import ApprovalPolicy, ResourceRequest
from cloudsvc.resource_requests.schemas import (
    ApprovalPolicyIn,
    ApprovalPolicyOut,
    ApproveBody,
    ReasonBody,
    RejectBody,
    RequestOut,
    RequestPage,
    RequestSubmission,
    ResourceOut,
    StepOut,
    TransitionOut,
)
from quotas.demand import demand_of

router = APIRouter(prefix="/v1", tags=["requests"])

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[\x21-\x7e]{1,255}$",
        description="Retrying a POST with the same key returns the first result instead of a second request",
    ),
]


def request_out(
    request: ResourceRequest,
    resources: Sequence[ProvisionedResource] = (),
    steps: Sequence[ProvisioningStep] | None = None,
) -> RequestOut:
    return RequestOut(
        id=request.id,
        department_code=request.department.code,
        kind=request.kind,
        zone=request.zone.name if request.zone else None,
        spec=request.spec,
        demand={k.value: v for k, v in demand_of(request.kind, request.spec).items()},
        classification=request.classification,
        mlps_level=request.mlps_level,
        justification=request.justification,
        lease_days=request.lease_days,
        status=request.status,
        approval_stage=request.approval_stage,
        waived_stages=request.waived_stages,
        status_reason=request.status_reason,
        requested_by=request.requested_by,
        created_at=request.created_at,
        updated_at=request.updated_at,
        lease_expires_at=request.lease_expires_at,
        history=[TransitionOut.model_validate(t, from_attributes=True) for t in request.transitions],
        progress=request.progress,
        drift=request.drift,
        resources=[ResourceOut.model_validate(r, from_attributes=True) for r in resources],
        steps=None if steps is None else [StepOut.model_validate(s, from_attributes=True) for s in steps],
    )


def full_out(session: Session, request: ResourceRequest) -> RequestOut:
    """One request with what the worker recorded: its backend objects and recent steps."""
    return request_out(
        request,
        records.resources_of(session, [request.id])[request.id],
        records.recent_steps(session, request.id),
    )


@router.post("/requests", status_code=status.HTTP_201_CREATED, name="requests.submit")
def submit_request(
    body: Annotated[RequestSubmission, Body()],
    session: SessionDep,
    caller: CallerDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> RequestOut:
    request, created = service.submit(session, caller, body, idempotency_key=idempotency_key)
    session.commit()
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return request_out(request)


@router.get("/requests/{request_id}", name="requests.get")
def get_request(request_id: RequestIdPath, session: SessionDep, caller: CallerDep) -> RequestOut:
    return full_out(session, service.get(session, caller, str(request_id)))


@router.get("/requests", name="requests.list")
def list_requests(
    session: SessionDep,
    caller: CallerDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    department_code: OptionalCodeQuery = None,
    status: Status | None = None,
) -> RequestPage:
    before = decode_time_cursor(cursor) if cursor else None
    found = service.list_visible(
        session, caller, department_code=department_code, status=status, before=before, limit=limit
    )
    resources = records.resources_of(session, [r.id for r in found])
    last = found[-1] if len(found) == limit else None
    return RequestPage(
        items=[request_out(r, resources[r.id]) for r in found],
        next_cursor=encode_cursor(last.created_at.isoformat(), last.id) if last else None,
    )


@router.post("/requests/{request_id}/approve", name="requests.approve")
def approve_request(
    request_id: RequestIdPath, session: SessionDep, caller: CallerDep, body: ApproveBody | None = None
) -> RequestOut:
    request = service.approve(session, caller, str(request_id), comment=body.comment if body else None)
    session.commit()
    return full_out(session, request)


@router.post("/requests/{request_id}/reject", name="requests.reject")
def reject_request(
    request_id: RequestIdPath, body: RejectBody, session: SessionDep, caller: CallerDep
) -> RequestOut:
    request = service.reject(session, caller, str(request_id), reason=body.reason)
    session.commit()
    return full_out(session, request)


@router.post("/requests/{request_id}/cancel", name="requests.cancel")
def cancel_request(
    request_id: RequestIdPath, session: SessionDep, caller: CallerDep, body: ReasonBody | None = None
) -> RequestOut:
    request = service.cancel(session, caller, str(request_id), reason=body.reason if body else None)
    session.commit()
    return full_out(session, request)


@router.post("/requests/{request_id}/decommission", name="requests.decommission")
def decommission_request(
    request_id: RequestIdPath, session: SessionDep, caller: CallerDep, body: ReasonBody | None = None
) -> RequestOut:
    request = service.decommission(session, caller, str(request_id), reason=body.reason if body else None)
    session.commit()
    return full_out(session, request)


def _policy_out(policy: ApprovalPolicy, code: str) -> ApprovalPolicyOut:
    return ApprovalPolicyOut(
        id=policy.id,
        department_code=code,
        name=policy.name,
        max_demand=policy.max_demand,
        skip_stages=policy.skip_stages,
        set_by=policy.set_by,
        updated_at=policy.updated_at,
    )


@router.put("/departments/{code}/approval-policy", name="approval_policies.put", tags=["departments"])
def put_approval_policy(
    code: DepartmentCodePath, body: ApprovalPolicyIn, session: SessionDep, caller: CallerDep
) -> ApprovalPolicyOut:
    policy = policies.put(session, caller, code, body)
    session.commit()
    return _policy_out(policy, code)


@router.get("/departments/{code}/approval-policy", name="approval_policies.get", tags=["departments"])
def get_approval_policy(
    code: DepartmentCodePath, session: SessionDep, caller: CallerDep
) -> ApprovalPolicyOut:
    return _policy_out(policies.get(session, caller, code), code)
