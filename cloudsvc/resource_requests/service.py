"""Resource requests as department staff and approvers drive them: submit, read, approve, reject, cancel,
decommission. Transitions the control plane drives itself (provisioning) live in ``system``."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.audit.service import SYSTEM
from cloudsvc.db import UTCDateTime
from cloudsvc.departments import service as departments
from cloudsvc.departments.models import Department
from cloudsvc.errors import Conflict, Forbidden, IllegalTransition, InvalidInput, NotFound
from cloudsvc.principals.authz import Caller, Permission
from cloudsvc.quotas import service as quotas
from cloudsvc.resource_requests import accounting, lifecycle, policies
from cloudsvc.resource_requests.lifecycle import Stage, Status
from cloudsvc.resource_requests.models import IdempotencyKey, ResourceRequest
from cloudsvc.resource_requests.schemas import (
    Classification,
    QuotaChangeSubmission,
    RequestSubmission,
    ResourceSubmission,
)
from cloudsvc.zones import service as zones
from cloudsvc.zones.models import Network, Zone
from quotas.demand import QuotaClass, demand_of

_STAGE_PERMISSION = {
    Stage.department: Permission.request_approve_department,
    Stage.cloud: Permission.request_approve_cloud,
}


def _fingerprint(submission: RequestSubmission) -> str:
    canonical = json.dumps(submission.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_placement(zone: Zone, classification: Classification, mlps_level: int) -> None:
    """The government plans' placement rules; raise InvalidInput naming the field that breaks one."""
    if classification == Classification.classified and zone.network != Network.intranet:
        raise InvalidInput(
            f"classified (涉密) systems run only in intranet zones; zone {zone.name!r} is {zone.network}",
            field="zone",
        )
    if mlps_level > zone.mlps_level:
        raise InvalidInput(
            f"MLPS level {mlps_level} exceeds zone {zone.name!r}'s certified level {zone.mlps_level}",
            field="mlps_level",
        )


def _replay(session: Session, caller: Caller, key: str, fingerprint: str) -> ResourceRequest | None:
    stored = session.get(IdempotencyKey, (caller.principal_id, key), populate_existing=True)
    if stored is None:
        return None
    if stored.fingerprint != fingerprint:
        raise InvalidInput(
            "this Idempotency-Key was used for a different request body", field="Idempotency-Key"
        )
    return session.get_one(ResourceRequest, stored.request_id)


def submit(
    session: Session, caller: Caller, submission: RequestSubmission, *, idempotency_key: str | None = None
) -> tuple[ResourceRequest, bool]:
    """Create a request, or return the one first created with this idempotency key. True if created now."""
    fingerprint = _fingerprint(submission)
    if idempotency_key is not None and (earlier := _replay(session, caller, idempotency_key, fingerprint)):
        return earlier, False

    department = departments.visible(session, caller, submission.department_code, field="department_code")
    caller.require(
        Permission.request_submit,
        department.path,
        read=Permission.department_read,
        what="department",
        key=department.code,
    )
    spec = submission.spec.model_dump(mode="json")
    demand = demand_of(submission.kind, spec)
    request = ResourceRequest(
        id=str(uuid.uuid4()),
        department=department,
        kind=submission.kind,
        spec=spec,
        justification=submission.justification,
        requested_by=caller.principal_id,
        waived_stages=[],
        transitions=[],
    )
    if isinstance(submission, QuotaChangeSubmission):
        # Never waived by a policy: a change of limits always passes every stage.
        chain = departments.chain(session, department)
        quotas.check_limits(session, chain, submission.spec.limits, field="spec.limits")
    else:
        _place(session, request, submission, department)
    lifecycle.start(request, actor=caller.actor, reason=submission.justification)
    if idempotency_key is None:
        session.add(request)
        session.flush()
        quotas.reserve(session, request_id=request.id, department=department, demand=demand)
    else:
        try:
            with session.begin_nested():
                session.add(request)
                session.add(
                    IdempotencyKey(
                        principal_id=caller.principal_id,
                        key=idempotency_key,
                        fingerprint=fingerprint,
                        request=request,
                    )
                )
                session.flush()  # a concurrent retry with this key makes us wait here, then fail
                quotas.reserve(session, request_id=request.id, department=department, demand=demand)
        except IntegrityError:
            # A concurrent retry with the same key committed first (its insert made ours wait, then fail):
            # our request went with the savepoint; answer with theirs.
            earlier = _replay(session, caller, idempotency_key, fingerprint)
            if earlier is None:
                raise
            return earlier, False
    audit.record(
        session,
        actor=caller.actor,
        action="request.submit",
        target_type="request",
        target_id=request.id,
        detail={
            "department_code": department.code,
            "kind": submission.kind,
            "zone": request.zone.name if request.zone else None,
            "status": request.status,
            "waived_stages": request.waived_stages,
        },
    )
    return request, True


def _place(
    session: Session, request: ResourceRequest, submission: ResourceSubmission, department: Department
) -> None:
    """Zone, placement rules, lease, and the auto-approval decision of a request for resources."""
    zone = zones.by_name(session, submission.zone)
    if zone is None:
        raise InvalidInput(f"zone {submission.zone!r} does not exist", field="zone")
    check_placement(zone, submission.classification, submission.mlps_level)
    request.zone = zone
    request.classification = submission.classification
    request.mlps_level = submission.mlps_level
    request.lease_days = submission.lease_days
    policy = policies.effective(session, department)
    waived = policies.waived_stages(policy, demand_of(submission.kind, request.spec))
    if waived and policy is not None:
        request.approval_policy_id = policy.id
        request.waived_stages = list(waived)


def _load(session: Session, caller: Caller, request_id: str, *, for_update: bool = False) -> ResourceRequest:
    query = select(ResourceRequest).where(ResourceRequest.id == request_id)
    if for_update:
        # Serialises concurrent approvals of one request; SQLite already serialises every writer.
        query = query.with_for_update(of=ResourceRequest)
    request = session.scalars(query).unique().one_or_none()
    if request is None or not caller.may(Permission.request_read, request.department.path):
        raise NotFound("request", request_id)
    return request


def get(session: Session, caller: Caller, request_id: str) -> ResourceRequest:
    return _load(session, caller, request_id)


def _decide(session: Session, caller: Caller, request_id: str) -> tuple[ResourceRequest, Stage]:
    """Load a request for an approval decision and check the caller is the one to decide it now."""
    request = _load(session, caller, request_id, for_update=True)
    path = request.department.path
    holds = [stage for stage, permission in _STAGE_PERMISSION.items() if caller.may(permission, path)]
    if not holds:
        raise Forbidden(f"{caller.name} is not an approver for this request")
    if request.status != Status.pending_approval:
        raise IllegalTransition(
            current=request.status,
            wanted=Status.approved,
            message=f"request is {request.status}; only a pending_approval request awaits a decision",
        )
    stage = Stage(request.approval_stage or "")
    if stage not in holds:
        raise Conflict(
            f"request awaits {stage} approval; {caller.name} approves at the {' and '.join(holds)} stage",
            current_status=request.status,
            approval_stage=stage,
        )
    if request.requested_by == caller.principal_id:
        raise Forbidden("a requester can never approve or reject its own request")
    return request, stage


def approve(session: Session, caller: Caller, request_id: str, *, comment: str | None) -> ResourceRequest:
    request, stage = _decide(session, caller, request_id)
    lifecycle.pass_stage(request, stage, actor=caller.actor, reason=comment)
    if request.kind == "quota" and request.status == Status.approved:
        _apply_quota_change(session, request)
    audit.record(
        session,
        actor=caller.actor,
        action="request.approve",
        target_type="request",
        target_id=request.id,
        detail={"stage": stage.value, "status": request.status},
    )
    return request


def _apply_quota_change(session: Session, request: ResourceRequest) -> None:
    """The last stage approved a change of limits: it takes effect now, or fails if it no longer can."""
    limits = {QuotaClass(cls): int(limit) for cls, limit in request.spec["limits"].items()}
    chain = departments.chain(session, request.department)
    try:
        quotas.check_limits(session, chain, limits, field="spec.limits")
    except InvalidInput as refusal:  # an ancestor's limit was lowered since submission
        accounting.move(session, request, Status.failed, actor=SYSTEM, reason=refusal.message)
        return
    accounting.move(session, request, Status.provisioning, actor=SYSTEM, reason="applying the new limits")
    quotas.apply_limits(session, SYSTEM, chain, limits)
    accounting.move(session, request, Status.active, actor=SYSTEM, reason="the new limits are in effect")


def reject(session: Session, caller: Caller, request_id: str, *, reason: str) -> ResourceRequest:
    request, stage = _decide(session, caller, request_id)
    accounting.move(session, request, Status.rejected, actor=caller.actor, reason=reason, stage=stage)
    audit.record(
        session,
        actor=caller.actor,
        action="request.reject",
        target_type="request",
        target_id=request.id,
        detail={"stage": stage.value},
    )
    return request


def _require_owner_or_any(
    caller: Caller, request: ResourceRequest, *, any_: Permission, own: Permission, verb: str
) -> None:
    path = request.department.path
    if caller.may(any_, path) or (caller.may(own, path) and request.requested_by == caller.principal_id):
        return
    raise Forbidden(f"{caller.name} may not {verb} this request")


def cancel(session: Session, caller: Caller, request_id: str, *, reason: str | None) -> ResourceRequest:
    request = _load(session, caller, request_id, for_update=True)
    _require_owner_or_any(
        caller, request, any_=Permission.request_cancel_any, own=Permission.request_cancel_own, verb="cancel"
    )
    accounting.move(session, request, Status.cancelled, actor=caller.actor, reason=reason)
    audit.record(
        session, actor=caller.actor, action="request.cancel", target_type="request", target_id=request.id
    )
    return request


def decommission(session: Session, caller: Caller, request_id: str, *, reason: str | None) -> ResourceRequest:
    request = _load(session, caller, request_id, for_update=True)
    _require_owner_or_any(
        caller,
        request,
        any_=Permission.request_decommission_any,
        own=Permission.request_decommission_own,
        verb="decommission",
    )
    if request.kind == "quota":
        raise Conflict(
            "a quota change stays in effect; submit another change to set different limits",
            current_status=request.status,
        )
    accounting.move(session, request, Status.decommissioning, actor=caller.actor, reason=reason)
    audit.record(
        session,
        actor=caller.actor,
        action="request.decommission",
        target_type="request",
        target_id=request.id,
    )
    return request


def list_visible(
    session: Session,
    caller: Caller,
    *,
    department_code: str | None,
    status: Status | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[ResourceRequest]:
    """Newest first. ``department_code`` selects that department's whole subtree."""
    query = (
        select(ResourceRequest)
        .join(ResourceRequest.department)
        .where(departments.subtree_filter(caller.scopes(Permission.request_read)))
    )
    if department_code is not None:
        department = departments.by_code(session, department_code)
        if department is None or not caller.may(Permission.request_read, department.path):
            raise NotFound("department", department_code, field="department_code")
        query = query.where(Department.path.startswith(department.path, autoescape=True))
    if status is not None:
        query = query.where(ResourceRequest.status == status)
    if before is not None:
        query = query.where(
            tuple_(ResourceRequest.created_at, ResourceRequest.id)
            < tuple_(bindparam(None, before[0], type_=UTCDateTime()), before[1])
        )
    query = query.order_by(ResourceRequest.created_at.desc(), ResourceRequest.id.desc()).limit(limit)
    return session.scalars(query).unique().all()
