"""Bandwidth: a Neutron QoS policy with bandwidth-limit rules, attached to the department's network.

A network carries at most one QoS policy, so a department has one bandwidth limit at a time: a second
request's policy is not attached over the first one's (that would silently lift the first limit); it is
refused, and observed as failed, until the first is deleted.
"""

from __future__ import annotations

from typing import Any

from openstack import exceptions as os_exceptions
from openstack.connection import Connection
from openstack.network.v2.network import Network
from openstack.network.v2.qos_policy import QoSPolicy

from provisioners.base import BandwidthSpec, Observed, PermanentError, ResourceKey, State, TemporaryError
from provisioners.openstack.apis import oldest

DIRECTIONS = {"ingress": ("ingress",), "egress": ("egress",), "both": ("ingress", "egress")}


def find(admin: Connection, project_id: str, key: ResourceKey) -> QoSPolicy | None:
    policies = admin.network.qos_policies(name=key.name, project_id=project_id)
    return oldest(p for p in policies if p.name == key.name)


def _limits(policy: QoSPolicy) -> dict[str, int]:
    """Direction → max_kbps of the policy's bandwidth-limit rules."""
    return {
        rule["direction"]: int(rule["max_kbps"])
        for rule in policy.rules or []
        if rule.get("type") == "bandwidth_limit"
    }


def observed(policy: QoSPolicy, network: Network | None) -> Observed:
    attached_to = network.qos_policy_id if network is not None else None
    limits = _limits(policy)
    details: dict[str, Any] = {
        "policy_id": policy.id,
        "network_id": network.id if network is not None else None,
        "max_kbps": limits,
        "attached": attached_to == policy.id,
    }
    if attached_to == policy.id and limits:
        return Observed(State.ready, policy.id, details=details)
    if attached_to not in (None, policy.id):
        message = f"the department network already carries QoS policy {attached_to}; one limit per network"
        return Observed(State.failed, policy.id, message=message, details=details)
    return Observed(State.building, policy.id, details=details)


def _converge_rules(admin: Connection, policy: QoSPolicy, spec: BandwidthSpec) -> None:
    """The policy's rules made to say exactly what the spec asks, whatever a crash left half-done."""
    if spec.direction not in DIRECTIONS:
        raise PermanentError(f"bandwidth direction must be ingress, egress or both, not {spec.direction!r}")
    wanted = dict.fromkeys(DIRECTIONS[spec.direction], spec.mbps * 1000)  # Neutron counts kilobits
    for rule in admin.network.qos_bandwidth_limit_rules(policy):
        if rule.direction not in wanted:
            admin.network.delete_qos_bandwidth_limit_rule(rule, policy)
        elif rule.max_kbps != wanted.pop(rule.direction):
            admin.network.update_qos_bandwidth_limit_rule(rule, policy, max_kbps=spec.mbps * 1000)
    for direction, kbps in wanted.items():
        admin.network.create_qos_bandwidth_limit_rule(policy, max_kbps=kbps, direction=direction)


def create(
    admin: Connection, project_id: str, network: Network, key: ResourceKey, spec: BandwidthSpec
) -> Observed:
    policy = find(admin, project_id, key)
    if policy is None:
        policy = admin.network.create_qos_policy(
            name=key.name, project_id=project_id, description=f"cloudsvc request {key.request_id}"
        )
    _converge_rules(admin, policy, spec)
    if network.qos_policy_id is None:
        try:
            # Only if the network is still as looked at: a limit attached meanwhile (by another worker
            # process; the driver's own threads take turns) makes this one look again and be refused.
            # Neutron's check is not atomic, so two updates that overlap there can still both pass. (By id:
            # openstacksdk sends the If-Match header only when it differs from the object's last one.)
            network = admin.network.update_network(
                network.id, if_revision=network.revision_number, qos_policy_id=policy.id
            )
        except os_exceptions.PreconditionFailedException as exc:
            raise TemporaryError(
                f"the department network changed while {key.name} was being attached to it; trying again"
            ) from exc
    elif network.qos_policy_id != policy.id:
        raise PermanentError(
            f"the department network already carries QoS policy {network.qos_policy_id}; "
            "delete that bandwidth limit first (a network takes one QoS policy)"
        )
    return observed(admin.network.get_qos_policy(policy.id), network)


def delete(admin: Connection, project_id: str, network: Network | None, key: ResourceKey) -> None:
    policy = find(admin, project_id, key)
    if policy is None:
        return
    if network is not None and network.qos_policy_id == policy.id:
        # Neutron refuses to delete a policy in use.
        admin.network.update_network(network, qos_policy_id=None)
    try:
        admin.network.delete_qos_policy(policy.id, ignore_missing=True)
    except os_exceptions.ConflictException as exc:
        # Still bound (Neutron releases a detached network's binding, or a port's, a moment later):
        # look again soon rather than after a permanent failure's long wait.
        raise TemporaryError(f"QoS policy {policy.id} is still in use: {exc}") from exc
