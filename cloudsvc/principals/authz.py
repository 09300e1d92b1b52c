"""Who may do what, where.

A role is bound at a department and holds over its whole subtree (or over the whole cloud). ``PERMISSIONS``
is the single table of what each role allows. A caller who may not even *read* a target is told it does not
exist (404), so that ids in other departments leak nothing; one who may read it but not act gets 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cloudsvc.audit.service import Actor
from cloudsvc.errors import Forbidden, NotFound
from cloudsvc.principals.models import Role


class Permission(StrEnum):
    department_read = "department.read"
    department_create = "department.create"
    approval_policy_manage = "approval_policy.manage"
    principal_manage = "principal.manage"
    zone_manage = "zone.manage"
    request_read = "request.read"
    request_submit = "request.submit"
    request_approve_department = "request.approve.department"
    request_approve_cloud = "request.approve.cloud"
    request_cancel_any = "request.cancel.any"
    request_cancel_own = "request.cancel.own"
    request_decommission_any = "request.decommission.any"
    request_decommission_own = "request.decommission.own"
    audit_read = "audit.read"
    quota_manage = "quota.manage"
    migration_read = "migration.read"  # the legacy-system inventory, plans, cutovers and progress
    migration_manage = "migration.manage"  # import, assess, plan, execute and cut over


P = Permission
PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.system_admin: frozenset(
        {
            P.department_read,
            P.department_create,
            P.approval_policy_manage,
            P.principal_manage,
            P.zone_manage,
            P.request_read,
            P.request_decommission_any,
            P.quota_manage,
            P.migration_read,
        }
    ),
    Role.security_admin: frozenset({P.department_read, P.principal_manage}),
    Role.auditor: frozenset({P.department_read, P.request_read, P.audit_read, P.migration_read}),
    Role.cloud_approver: frozenset(
        {
            P.department_read,
            P.request_read,
            P.request_approve_cloud,
            P.approval_policy_manage,
            P.migration_read,
        }
    ),
    Role.operator: frozenset(
        {
            P.department_read,
            P.zone_manage,
            P.request_read,
            P.request_decommission_any,
            P.migration_read,
            P.migration_manage,
        }
    ),
    Role.dept_admin: frozenset(
        {
            P.department_read,
            P.department_create,
            P.approval_policy_manage,
            P.principal_manage,
            P.request_read,
            P.request_submit,
            P.request_cancel_any,
            P.request_decommission_any,
            P.quota_manage,
            P.migration_read,
        }
    ),
    Role.dept_approver: frozenset(
        {P.department_read, P.request_read, P.request_approve_department, P.migration_read}
    ),
    Role.requester: frozenset(
        {
            P.department_read,
            P.request_read,
            P.request_submit,
            P.request_cancel_own,
            P.request_decommission_own,
            P.migration_read,
        }
    ),
    Role.viewer: frozenset({P.department_read, P.request_read, P.migration_read}),
}

# Roles a dept_admin may hand out inside its own subtree; the rest are the cloud's to give.
DEPARTMENT_ROLES = frozenset({Role.dept_admin, Role.dept_approver, Role.requester, Role.viewer})


@dataclass(frozen=True)
class Grant:
    role: Role
    scope_path: str | None  # materialised path of the department bound at; None = the whole cloud

    def covers(self, path: str) -> bool:
        return self.scope_path is None or path.startswith(self.scope_path)

    @property
    def cloud_wide(self) -> bool:
        """Bound to the whole cloud or at a root department (the province)."""
        return self.scope_path is None or self.scope_path.count("/") == 2


@dataclass(frozen=True)
class Caller:
    principal_id: str
    name: str
    grants: tuple[Grant, ...]
    http_request_id: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(principal_id=self.principal_id, name=self.name, http_request_id=self.http_request_id)

    def roles_over(self, path: str) -> set[Role]:
        return {g.role for g in self.grants if g.covers(path)}

    def may(self, permission: Permission, path: str) -> bool:
        return any(permission in PERMISSIONS[g.role] and g.covers(path) for g in self.grants)

    def may_cloud_wide(self, permission: Permission) -> bool:
        return any(permission in PERMISSIONS[g.role] and g.cloud_wide for g in self.grants)

    def may_globally(self, permission: Permission) -> bool:
        """Holds ``permission`` through a binding to the whole cloud (not to any department)."""
        return any(permission in PERMISSIONS[g.role] and g.scope_path is None for g in self.grants)

    def scopes(self, permission: Permission) -> list[str] | None:
        """Subtree paths where ``permission`` holds; None means everywhere, [] nowhere."""
        paths: list[str] = []
        for grant in self.grants:
            if permission in PERMISSIONS[grant.role]:
                if grant.scope_path is None:
                    return None
                paths.append(grant.scope_path)
        return paths

    def require(self, permission: Permission, path: str, *, read: Permission, what: str, key: str) -> None:
        """Allow, or say 403 if the caller can see the target, 404 if it cannot."""
        if self.may(permission, path):
            return
        if self.may(read, path):
            raise Forbidden(f"{self.name} may not {permission.value} on {what} {key!r}")
        raise NotFound(what, key)
