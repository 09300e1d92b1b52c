"""RBAC for the one identity the emulator serves, when a test gives it rules: NOT THE API SERVER'S
AUTHORIZER. It decides as RBAC does for rules bound cluster-wide (a ClusterRole's rules through a
ClusterRoleBinding): a request is allowed when one rule names its API group, resource and verb (or
``*``), and, if the rule has resourceNames, the object's name; otherwise 403 Forbidden in the API server's
words. Writing a RoleBinding also needs ``bind`` on the ClusterRole it refers to (RBAC's escalation check;
the alternative, holding every permission of that role, is not modelled, and the refusal's message is
shortened). Discovery (``/version``, ``/apis/…``) is open, as ``system:discovery`` makes it for every
authenticated user. No Roles, RoleBindings of its own, groups, aggregation or subresources.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tests.kubernetes.emulator.api import ApiError, Obj, Resource, details_of

Grant = tuple[str, str, str]  # (API group, resource, verb)
VERBS = {"GET": "get", "POST": "create", "PUT": "update", "DELETE": "delete", "PATCH": "patch"}


def _covers(values: list[str], wanted: str) -> bool:
    return "*" in values or wanted in values


def grants(rules: list[Obj]) -> set[Grant]:
    """Every (group, resource, verb) the rules name (no wildcards expected)."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


@dataclass
class Authorizer:
    rules: list[Obj]
    user: str = "system:serviceaccount:cloudsvc-system:cloudsvc-driver"
    used: set[Grant] = field(default_factory=set)  # what requests were allowed by
    lock: threading.Lock = field(default_factory=threading.Lock)

    def allows(self, group: str, resource: str, verb: str, name: str | None) -> bool:
        for rule in self.rules:
            names = rule.get("resourceNames") or []
            if (
                _covers(rule["apiGroups"], group)
                and _covers(rule["resources"], resource)
                and _covers(rule["verbs"], verb)
                and (not names or name in names)
            ):
                with self.lock:
                    self.used.add((group, resource, verb))
                return True
        return False

    def authorize(self, method: str, resource: Resource, namespace: str | None, name: str | None) -> None:
        verb = VERBS[method] if method != "GET" or name is not None else "list"
        if self.allows(resource.group, resource.plural, verb, name):
            return
        where = f'in the namespace "{namespace}"' if namespace is not None else "at the cluster scope"
        subject = f'{resource.qualified} "{name}"' if name is not None else resource.qualified
        message = (
            f'{subject} is forbidden: User "{self.user}" cannot {verb} resource "{resource.plural}" '
            f'in API group "{resource.group}" {where}'
        )
        raise ApiError(403, "Forbidden", message, details_of(resource, name or ""))

    def may_bind(self, resource: Resource, binding: Obj) -> None:
        """RBAC's escalation check on a RoleBinding written: ``bind`` on the ClusterRole it grants."""
        role = (binding.get("roleRef") or {}).get("name")
        if self.allows("rbac.authorization.k8s.io", "clusterroles", "bind", role):
            return
        name = binding["metadata"]["name"]
        message = (
            f'{resource.qualified} "{name}" is forbidden: user "{self.user}" is attempting to grant RBAC '
            f"permissions not currently held (those of clusterrole {role})"
        )
        raise ApiError(403, "Forbidden", message, details_of(resource, name))
