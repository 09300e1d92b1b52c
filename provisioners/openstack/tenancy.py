"""A department's place in the zone: a Keystone project with quotas, and a network with a subnet."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openstack import exceptions as os_exceptions
from openstack.connection import Connection
from openstack.identity.v3.project import Project
from openstack.network.v2.network import Network
from openstack.network.v2.subnet import Subnet
from openstack.network.v2.subnet_pool import SubnetPool

from provisioners.base import InvalidSettings, Tenancy
from provisioners.openstack.apis import block_storage, identity, oldest, or_none
from provisioners.openstack.settings import OpenStackSettings

UNLIMITED = -1
# Room for the ports that are not servers' (DHCP, router interfaces), so that Neutron's port quota is never
# tighter than the server limit cloudsvc admits against.
SPARE_PORTS = 8


@dataclass(frozen=True)
class Department:
    """What the driver needs to act in a department's project."""

    code: str
    project_id: str
    project_name: str
    domain_id: str


def project_name(code: str) -> str:
    """``dept-<code>``; Keystone names stop at 64 characters, so a long code is cut and hashed."""
    name = f"dept-{code}"
    if len(name) <= 64:
        return name
    return f"dept-{code[:50]}-{hashlib.sha256(code.encode()).hexdigest()[:8]}"


def department_tag(code: str) -> str:
    # The tag carries the whole code: the project is found by it, whatever its (possibly cut) name.
    return f"cloudsvc-dept:{code}"


def network_name(code: str) -> str:
    return f"dept-{code}"


def domain_id(admin: Connection, settings: OpenStackSettings) -> str:
    domain = or_none(lambda: identity(admin).find_domain(settings.domain, ignore_missing=False))
    if domain is None:
        raise InvalidSettings(f"Keystone has no domain {settings.domain!r}", field="domain")
    return str(domain.id)


def find_project(admin: Connection, domain: str, code: str) -> Project | None:
    tag = department_tag(code)
    # The tag filter may ignore case (MySQL collation): compare exactly here.
    found = [p for p in identity(admin).projects(domain_id=domain, tags=tag) if tag in (p.tags or [])]
    return oldest(found)


def ensure_project(admin: Connection, domain: str, tenancy: Tenancy) -> Project:
    description = f"cloudsvc department {tenancy.department_code}: {tenancy.department_name}"
    project = find_project(admin, domain, tenancy.department_code)
    if project is None:
        try:
            return identity(admin).create_project(
                name=project_name(tenancy.department_code),
                domain_id=domain,
                description=description,
                tags=["cloudsvc", department_tag(tenancy.department_code)],
                is_enabled=True,
            )
        except os_exceptions.ConflictException:
            # Another worker made it first (names are unique in a domain): use that one.
            project = find_project(admin, domain, tenancy.department_code)
            if project is None:  # the name is taken by a project that is not the department's
                raise
    # cloudsvc is the record of what a department is: a renamed department or a project disabled by hand
    # is brought back in line.
    if project.description != description or not project.is_enabled:
        project = identity(admin).update_project(project, description=description, is_enabled=True)
    return project


def ensure_role(admin: Connection, project_id: str, role_name: str) -> None:
    """The driver's own user needs a role on the project to get a token scoped to it (Nova and Cinder
    create servers and volumes only in the token's project). Keystone's PUT is idempotent."""
    role = or_none(lambda: identity(admin).find_role(role_name, ignore_missing=False))
    if role is None:
        raise InvalidSettings(f"Keystone has no role {role_name!r}", field="project_role")
    user_id = admin.current_user_id
    if user_id is None:
        raise InvalidSettings("the zone's credentials name no user", field="auth")
    identity(admin).assign_project_role_to_user(project_id, user_id, role)


def _limit(limits: Mapping[str, int | None], name: str) -> int:
    value = limits.get(name)
    return UNLIMITED if value is None else int(value)


def set_quotas(admin: Connection, project_id: str, limits: Mapping[str, int | None]) -> dict[str, Any]:
    """The backend quotas from cloudsvc's limits (None: unlimited). Bandwidth has no OpenStack quota."""
    compute = {
        "instances": _limit(limits, "servers"),
        "cores": _limit(limits, "vcpus"),
        "ram": _limit(limits, "ram_mb"),
    }
    volume = {"volumes": _limit(limits, "volumes"), "gigabytes": _limit(limits, "volume_gb")}
    servers = compute["instances"]
    network = {"port": UNLIMITED if servers == UNLIMITED else servers + SPARE_PORTS}
    admin.compute.update_quota_set(
        project_id, instances=compute["instances"], cores=compute["cores"], ram=compute["ram"]
    )
    block_storage(admin).update_quota_set(project_id, **volume)
    admin.network.update_quota(project_id, **network)
    return {"compute": compute, "volume": volume, "network": network}


def find_network(admin: Connection, project_id: str, code: str) -> Network | None:
    name = network_name(code)
    return oldest(n for n in admin.network.networks(name=name, project_id=project_id) if n.name == name)


def _subnet_pool(admin: Connection, settings: OpenStackSettings) -> SubnetPool:
    """One pool per configured CIDR: Neutron hands each department a subnet that overlaps no other."""
    name = f"cloudsvc-departments-{settings.network_cidr}"
    pool = oldest(p for p in admin.network.subnet_pools(name=name) if p.name == name)
    if pool is None:
        pool = admin.network.create_subnet_pool(
            name=name,
            prefixes=[str(settings.network_cidr)],
            default_prefixlen=settings.subnet_prefix_length,
            description="cloudsvc: department subnets are allocated from here",
        )
    return pool


def ensure_network(
    admin: Connection, project_id: str, code: str, settings: OpenStackSettings
) -> tuple[Network, Subnet]:
    name = network_name(code)
    network = find_network(admin, project_id, code)
    if network is None:
        network = admin.network.create_network(
            name=name, project_id=project_id, description=f"cloudsvc department {code}"
        )
    subnet = oldest(s for s in admin.network.subnets(network_id=network.id) if s.name == name)
    if subnet is None:
        pool = _subnet_pool(admin, settings)
        subnet = admin.network.create_subnet(
            name=name,
            network_id=network.id,
            project_id=project_id,
            ip_version=4,
            subnetpool_id=pool.id,
            prefixlen=settings.subnet_prefix_length,
        )
    return network, subnet
