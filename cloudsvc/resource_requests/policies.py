"""Auto-approval policies: which approval stages a small enough request may skip, and who may say so."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.departments import service as departments
from cloudsvc.departments.models import Department
from cloudsvc.errors import Conflict, Forbidden, NotFound
from cloudsvc.principals.authz import Caller, Permission
from cloudsvc.principals.models import Role
from cloudsvc.resource_requests.lifecycle import STAGES, Stage
from cloudsvc.resource_requests.models import ApprovalPolicy
from cloudsvc.resource_requests.schemas import ApprovalPolicyIn
from quotas.demand import Demand, QuotaClass, exceeds

# Waiving a stage is the business of whoever owns it: a department cannot waive the province's review.
_MAY_WAIVE: dict[Stage, frozenset[Role]] = {
    Stage.department: frozenset({Role.dept_admin, Role.cloud_approver, Role.system_admin}),
    Stage.cloud: frozenset({Role.cloud_approver, Role.system_admin}),
}


def effective(session: Session, department: Department) -> ApprovalPolicy | None:
    """The policy set on the department or, failing that, on its nearest ancestor."""
    ids = department.ancestor_ids()
    found = {
        p.department_id: p
        for p in session.scalars(select(ApprovalPolicy).where(ApprovalPolicy.department_id.in_(ids)))
    }
    return next((found[i] for i in reversed(ids) if i in found), None)


def waived_stages(policy: ApprovalPolicy | None, demand: Demand) -> tuple[Stage, ...]:
    if policy is None:
        return ()
    ceiling = {QuotaClass(cls): amount for cls, amount in policy.max_demand.items()}
    if exceeds(demand, ceiling):
        return ()
    return tuple(stage for stage in STAGES if stage in policy.skip_stages)


def get(session: Session, caller: Caller, code: str) -> ApprovalPolicy:
    department = departments.visible(session, caller, code)
    policy = session.scalars(
        select(ApprovalPolicy).where(ApprovalPolicy.department_id == department.id)
    ).first()
    if policy is None:
        raise NotFound("approval policy of department", code)
    return policy


def put(session: Session, caller: Caller, code: str, data: ApprovalPolicyIn) -> ApprovalPolicy:
    department = departments.visible(session, caller, code)
    caller.require(
        Permission.approval_policy_manage,
        department.path,
        read=Permission.department_read,
        what="department",
        key=code,
    )
    roles = caller.roles_over(department.path)
    for stage in data.skip_stages:
        if not roles & _MAY_WAIVE[stage]:
            raise Forbidden(
                f"waiving the {stage} stage needs one of {', '.join(sorted(_MAY_WAIVE[stage]))}",
                field="skip_stages",
            )
    policy = session.scalars(
        select(ApprovalPolicy).where(ApprovalPolicy.department_id == department.id)
    ).first()
    if policy is None:
        policy = ApprovalPolicy(department_id=department.id)
        session.add(policy)
    policy.name = data.name
    policy.max_demand = {cls.value: amount for cls, amount in data.max_demand.items()}
    policy.skip_stages = sorted({s.value for s in data.skip_stages}, key=[s.value for s in STAGES].index)
    policy.set_by = caller.principal_id
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent first PUT for the same department won
        raise Conflict("the policy was set concurrently; retry", field="department") from exc
    audit.record(
        session,
        actor=caller.actor,
        action="approval_policy.put",
        target_type="department",
        target_id=code,
        detail={"name": data.name, "max_demand": policy.max_demand, "skip_stages": policy.skip_stages},
    )
    return policy
