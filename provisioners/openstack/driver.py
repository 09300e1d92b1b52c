"""The OpenStack driver: departments as Keystone projects; servers, volumes and bandwidth limits in them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from openstack.connection import Connection
from openstack.network.v2.network import Network

from provisioners.base import (
    BandwidthSpec,
    Driver,
    InvalidSettings,
    Kind,
    Observed,
    PermanentError,
    ResourceKey,
    ResourceUsage,
    ServerSpec,
    Spec,
    TemporaryError,
    Tenancy,
    TenancyRef,
    VolumeSpec,
)
from provisioners.openstack import bandwidth, servers, tenancy, volumes
from provisioners.openstack.errors import Edge, authentication_error
from provisioners.openstack.settings import cloud_region, parse_settings

T = TypeVar("T")
SPEC_OF_KIND: dict[Kind, type[Spec]] = {
    Kind.server: ServerSpec,
    Kind.volume: VolumeSpec,
    Kind.bandwidth: BandwidthSpec,
}
MAX_PROJECT_CONNECTIONS = 64
# Services a zone must offer in its region, as openstacksdk names them.
SERVICES = ("compute", "block-storage", "network", "image")


class OpenStackDriver(Driver):
    """One zone on one OpenStack cloud (one region), administered with one admin account.

    Safe to share between threads: connections and lookups are cached under a lock, and every call is
    idempotent, so two threads doing the same thing converge on the same backend objects.
    """

    name: ClassVar[str] = "openstack"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = parse_settings(settings)
        self._config = cloud_region(self.settings)  # local only: nothing is contacted before a call
        self._auth_url = str((self._config.config.get("auth") or {}).get("auth_url") or "the auth_url")
        self._edge = Edge(self.settings.retry_attempts, self.settings.retry_max_seconds)
        self._lock = threading.Lock()
        self._admin: Connection | None = None
        self._domain_id: str | None = None
        self._departments: dict[str, tenancy.Department] = {}
        self._project_connections: dict[str, Connection] = {}

    # --- the contract --------------------------------------------------------------------------------

    def check(self) -> None:
        self._edge.run(self._check)

    def ensure_tenancy(self, tenancy: Tenancy) -> TenancyRef:
        return self._run(tenancy, lambda: self._ensure_tenancy(tenancy))

    def observe(self, key: ResourceKey, tenancy: Tenancy) -> Observed:
        return self._run(tenancy, lambda: self._observe(key, tenancy))

    def create(self, key: ResourceKey, spec: Spec, tenancy: Tenancy) -> Observed:
        return self._run(tenancy, lambda: self._create(key, spec, tenancy))

    def delete(self, key: ResourceKey, tenancy: Tenancy) -> None:
        self._run(tenancy, lambda: self._delete(key, tenancy))

    def usage(self, key: ResourceKey, tenancy: Tenancy) -> ResourceUsage | None:
        if key.kind is not Kind.server:
            return None  # Cinder and Neutron report no per-object use
        return self._run(tenancy, lambda: self._usage(key, tenancy))

    # --- connections ---------------------------------------------------------------------------------

    def _run(self, tenancy: Tenancy, call: Callable[[], T]) -> T:
        try:
            return self._edge.run(call)
        except BaseException:
            # The project may have been removed behind our back: look it up afresh next time.
            with self._lock:
                department = self._departments.pop(tenancy.department_code, None)
                conn = self._project_connections.pop(department.project_id, None) if department else None
            if conn is not None:
                conn.close()
            raise

    def _authenticate(self, conn: Connection) -> Connection:
        """A token now (cached until it expires), so that failing to get one reads as ZoneUnavailable."""
        try:
            conn.session.get_token()
        except Exception as exc:
            raise authentication_error(exc, self._auth_url) from exc
        return conn

    def _admin_connection(self) -> Connection:
        with self._lock:
            if self._admin is None:
                self._admin = Connection(config=self._config)
            admin = self._admin
        return self._authenticate(admin)

    def _project_connection(self, department: tenancy.Department) -> Connection:
        """Nova and Cinder create in the token's project, so those calls go through a project token."""
        with self._lock:
            conn = self._project_connections.get(department.project_id)
        if conn is None:
            admin = self._admin_connection()
            tenancy.ensure_role(admin, department.project_id, self.settings.project_role)
            conn = admin.connect_as(project_id=department.project_id)
            with self._lock:
                self._project_connections[department.project_id] = conn
                if len(self._project_connections) > MAX_PROJECT_CONNECTIONS:
                    # Each holds a token and an HTTP pool; the least recently made one goes.
                    self._project_connections.pop(next(iter(self._project_connections))).close()
        return self._authenticate(conn)

    def _domain(self, admin: Connection) -> str:
        if self._domain_id is None:
            self._domain_id = tenancy.domain_id(admin, self.settings)
        return self._domain_id

    # --- the calls -----------------------------------------------------------------------------------

    def _check(self) -> None:
        admin = self._admin_connection()
        missing = [service for service in SERVICES if not admin.endpoint_for(service)]
        if missing:
            region = self.settings.region_name or self._config.region_name or "(default)"
            raise InvalidSettings(
                f"the catalog has no {', '.join(missing)} endpoint in region {region}", field="region_name"
            )
        self._domain(admin)

    def _ensure_tenancy(self, wanted: Tenancy) -> TenancyRef:
        admin = self._admin_connection()
        domain = self._domain(admin)
        project = tenancy.ensure_project(admin, domain, wanted)
        tenancy.ensure_role(admin, project.id, self.settings.project_role)
        quotas = tenancy.set_quotas(admin, project.id, wanted.limits)
        network, subnet = tenancy.ensure_network(admin, project.id, wanted.department_code, self.settings)
        department = tenancy.Department(wanted.department_code, project.id, project.name, domain)
        with self._lock:
            self._departments[wanted.department_code] = department
        return TenancyRef(
            backend_id=project.id,
            details={
                "project_name": project.name,
                "domain_id": domain,
                "network_id": network.id,
                "subnet_id": subnet.id,
                "cidr": subnet.cidr,
                "quotas": quotas,
            },
        )

    def _department(self, wanted: Tenancy) -> tenancy.Department | None:
        with self._lock:
            department = self._departments.get(wanted.department_code)
        if department is not None:
            return department
        admin = self._admin_connection()
        domain = self._domain(admin)
        project = tenancy.find_project(admin, domain, wanted.department_code)
        if project is None:
            return None
        department = tenancy.Department(wanted.department_code, project.id, project.name, domain)
        with self._lock:
            self._departments[wanted.department_code] = department
        return department

    def _network(self, department: tenancy.Department) -> Network | None:
        return tenancy.find_network(self._admin_connection(), department.project_id, department.code)

    def _observe(self, key: ResourceKey, wanted: Tenancy) -> Observed:
        department = self._department(wanted)
        if department is None:
            return Observed.absent()
        if key.kind is Kind.server:
            return servers.observe(self._project_connection(department), key)
        if key.kind is Kind.volume:
            conn = self._project_connection(department)
            volume = volumes.find(conn, key)
            return volumes.observed(conn, volume) if volume is not None else Observed.absent()
        policy = bandwidth.find(self._admin_connection(), department.project_id, key)
        return (
            bandwidth.observed(policy, self._network(department)) if policy is not None else Observed.absent()
        )

    def _usage(self, key: ResourceKey, wanted: Tenancy) -> ResourceUsage | None:
        department = self._department(wanted)
        if department is None:
            return None
        server = servers.find(self._project_connection(department), key)
        if server is None or (server.status or "").upper() != "ACTIVE":
            return None
        # Diagnostics are admin-only in Nova's default policy.
        return servers.usage(self._admin_connection(), server)

    def _create(self, key: ResourceKey, spec: Spec, wanted: Tenancy) -> Observed:
        if not isinstance(spec, SPEC_OF_KIND[key.kind]):
            raise PermanentError(f"a {key.kind} needs a {SPEC_OF_KIND[key.kind].__name__}, not {spec!r}")
        department = self._department(wanted)
        network = self._network(department) if department is not None else None
        if department is None or network is None:
            # Normally ensure_tenancy ran first; if not (or the network went), set the department up now.
            self._ensure_tenancy(wanted)
            department = self._department(wanted)
            network = self._network(department) if department is not None else None
            if department is None or network is None:
                raise TemporaryError(f"department {wanted.department_code} was set up but is not found yet")
        admin = self._admin_connection()
        if isinstance(spec, ServerSpec):
            return servers.create(self._project_connection(department), admin, key, spec, network.id)
        if isinstance(spec, VolumeSpec):
            return volumes.create(self._project_connection(department), key, spec, self.settings.volume_types)
        return bandwidth.create(admin, department.project_id, network, key, spec)

    def _delete(self, key: ResourceKey, wanted: Tenancy) -> None:
        department = self._department(wanted)
        if department is None:
            return  # no project, so nothing of the department's is left
        if key.kind is Kind.server:
            servers.delete(self._project_connection(department), key)
        elif key.kind is Kind.volume:
            volumes.delete(self._project_connection(department), key)
        else:
            bandwidth.delete(self._admin_connection(), department.project_id, self._network(department), key)
