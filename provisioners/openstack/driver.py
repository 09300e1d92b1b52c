"""The OpenStack driver: departments as Keystone projects; servers, volumes and bandwidth limits in them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

from openstack.compute.v2.server import Server
from openstack.connection import Connection
from openstack.network.v2.network import Network

from provisioners.base import (
    BandwidthSpec,
    Driver,
    DriverError,
    InvalidSettings,
    Kind,
    Observed,
    PermanentError,
    ResourceKey,
    ResourceUsage,
    ServerSpec,
    Spec,
    State,
    Tenancy,
    TenancyRef,
    VolumeSpec,
)
from provisioners.openstack import bandwidth, servers, tenancy, volumes
from provisioners.openstack.apis import oldest
from provisioners.openstack.errors import Edge, TenancyGone, authentication_error, may_be_gone
from provisioners.openstack.lookups import Remembered
from provisioners.openstack.settings import cloud_region, parse_settings

T = TypeVar("T")
SPEC_OF_KIND: dict[Kind, type[Spec]] = {
    Kind.server: ServerSpec,
    Kind.volume: VolumeSpec,
    Kind.bandwidth: BandwidthSpec,
}
MAX_PROJECT_CONNECTIONS = 64
# A department's tenancy, once ensured, is taken as it was left for this long (unless asked for with other
# limits): the requests of one department and their later passes do not each re-apply the project, role,
# quotas and network, about ten API calls.
TENANCY_FRESH_SECONDS = 60.0
# Observations of a department's servers share one listing of them for this long: the requests waiting on
# their servers cost one Nova call a second between them, not one each.
SERVER_LISTING_FRESH_SECONDS = 1.0
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
        self._connecting = threading.Lock()  # held while a project connection is being made
        self._admin: Connection | None = None
        self._domain_id: str | None = None
        self._departments: dict[str, tenancy.Department] = {}
        self._project_connections: dict[str, Connection] = {}
        self._ensured: dict[str, tuple[Tenancy, float, TenancyRef]] = {}  # code → (as asked, when, result)
        self._ensuring: dict[str, threading.Lock] = {}  # code → held while its tenancy is being ensured
        self._listings: dict[str, tuple[float, dict[str, list[Server]]]] = {}  # project id → (when, by name)
        # server name → (when this driver's last create or delete of it ended, whether it was a delete)
        self._server_changes: dict[str, tuple[float, bool]] = {}
        self._listing_locks: dict[str, threading.Lock] = {}
        self._flavors = servers.Flavors()
        self._images = servers.Images()
        self._network_ids: Remembered[str, str | None] = Remembered(TENANCY_FRESH_SECONDS)  # code → id
        self._department_locks: dict[str, threading.Lock] = {}  # code → see _department_lock

    # --- the contract --------------------------------------------------------------------------------

    def check(self) -> None:
        self._edge.run(self._check)

    def ensure_tenancy(self, tenancy: Tenancy) -> TenancyRef:
        code = tenancy.department_code
        with self._lock:
            ensuring = self._ensuring.setdefault(code, threading.Lock())
            ensured = self._ensured.get(code)
        known = ensured is not None and ensured[0] == tenancy
        if not ensuring.acquire(blocking=not known):
            # Another thread is bringing this very tenancy up to date: as it was a while ago will do.
            assert ensured is not None
            return ensured[2]
        try:  # one at a time per department: those that waited find it freshly done
            with self._lock:
                ensured = self._ensured.get(code)
            if ensured is not None:
                asked, when, ref = ensured
                if asked == tenancy and time.monotonic() - when < TENANCY_FRESH_SECONDS:
                    return ref
            began = time.monotonic()
            ref = self._run(tenancy, lambda: self._ensure_tenancy(tenancy))
            with self._lock:
                self._ensured[code] = (tenancy, began, ref)
            return ref
        finally:
            ensuring.release()

    def observe(self, key: ResourceKey, tenancy: Tenancy) -> Observed:
        return self._run(tenancy, lambda: self._observe(key, tenancy))

    def create(self, key: ResourceKey, spec: Spec, tenancy: Tenancy, *, first: bool = False) -> Observed:
        attempts = 0

        def attempt() -> Observed:
            # Only the first attempt may skip looking: a retried POST may have made the server anyway.
            nonlocal attempts
            attempts += 1
            return self._create(key, spec, tenancy, first=first and attempts == 1)

        return self._run(tenancy, attempt)

    def delete(self, key: ResourceKey, tenancy: Tenancy) -> None:
        self._run(tenancy, lambda: self._delete(key, tenancy))

    def usage(self, key: ResourceKey, tenancy: Tenancy) -> ResourceUsage | None:
        if key.kind is not Kind.server:
            return None  # Cinder and Neutron report no per-object use
        return self._run(tenancy, lambda: self._usage(key, tenancy))

    def host_keys(self, key: ResourceKey, tenancy: Tenancy) -> tuple[str, ...] | None:
        if key.kind is not Kind.server:
            return None
        return self._run(tenancy, lambda: self._host_keys(key, tenancy))

    # --- connections ---------------------------------------------------------------------------------

    def _run(self, tenancy: Tenancy, call: Callable[[], T]) -> T:
        try:
            return self._edge.run(call)
        except DriverError as exc:
            if may_be_gone(exc):
                self._forget(tenancy.department_code)
            raise

    def _forget(self, code: str) -> None:
        """The department's project or network may have been removed behind our back: look them up afresh
        next time (and let the project's token go). Not after every error: each forgetting costs a new
        token, a role check and the tenancy's upkeep, about a dozen calls."""
        self._network_ids.forget(code)
        with self._lock:
            self._ensured.pop(code, None)
            department = self._departments.pop(code, None)
            conn = self._project_connections.pop(department.project_id, None) if department else None
        if conn is not None:
            conn.close()

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
            with self._connecting:  # threads needing a new one wait for the one being made
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

    def _department_lock(self, code: str) -> threading.Lock:
        """Held by the one thread at a time that may change what a department's requests share (its project,
        network and the network's QoS policy): looking and then changing is not atomic in OpenStack."""
        with self._lock:
            return self._department_locks.setdefault(code, threading.Lock())

    def _ensure_tenancy(self, wanted: Tenancy) -> TenancyRef:
        # Two threads that both found no network would each make one (Neutron allows two of a name; the
        # second would be neither used nor deleted), and the second project would be refused.
        with self._department_lock(wanted.department_code):
            return self._set_up_tenancy(wanted)

    def _set_up_tenancy(self, wanted: Tenancy) -> TenancyRef:
        admin = self._admin_connection()
        domain = self._domain(admin)
        project = tenancy.ensure_project(admin, domain, wanted)
        tenancy.ensure_role(admin, project.id, self.settings.project_role)
        quotas = tenancy.set_quotas(admin, project.id, wanted.limits)
        network, subnet = tenancy.ensure_network(admin, project.id, wanted.department_code, self.settings)
        department = tenancy.Department(wanted.department_code, project.id, project.name, domain)
        self._network_ids.remember(wanted.department_code, network.id)
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

    def _listed_server(
        self, department: tenancy.Department, key: ResourceKey
    ) -> tuple[Connection, dict[str, list[Server]], bool]:
        """(project connection, a listing of the department's servers, whether this driver has asked Nova to
        delete ``key``'s server since it began). The listing is shared with other calls (see
        SERVER_LISTING_FRESH_SECONDS) but never older than this driver's own last create of that server."""
        conn = self._project_connection(department)
        with self._lock:
            change = self._server_changes.get(key.name)
        not_before = time.monotonic() - SERVER_LISTING_FRESH_SECONDS
        if change is not None and not change[1]:
            not_before = max(not_before, change[0])  # made by us: only a listing begun since shows it
        began, listed = self._server_listing(department.project_id, conn, not_before)
        return conn, listed, change is not None and change[1] and began < change[0]

    def _observe_server(self, department: tenancy.Department, key: ResourceKey) -> Observed:
        conn, listed, deleted_since = self._listed_server(department, key)
        seen = servers.observe(conn, key, listed)
        # Nova marks a server deleting before it answers the DELETE.
        return replace(seen, state=State.deleting) if deleted_since else seen

    def _delete_server(self, department: tenancy.Department, key: ResourceKey) -> None:
        conn, listed, deleted_since = self._listed_server(department, key)
        if deleted_since:
            return  # asked already
        asked = True  # unless known otherwise: a failed call may still have reached Nova
        try:
            asked = servers.delete(conn, key, listed)
        finally:
            if asked:
                self._server_changed(key.name, deleted=True)

    def _server_listing(
        self, project_id: str, conn: Connection, not_before: float
    ) -> tuple[float, dict[str, list[Server]]]:
        """(when it began, servers by name): the project's last listing if it began at ``not_before`` or
        later, else a new one. Callers arriving while the project is being listed wait for that listing."""
        with self._lock:
            lock = self._listing_locks.setdefault(project_id, threading.Lock())
        with lock:
            with self._lock:
                kept = self._listings.get(project_id)
            if kept is not None and kept[0] >= not_before:
                return kept
            began = time.monotonic()
            listed = servers.listing(conn)
            with self._lock:
                self._listings[project_id] = (began, listed)
            return began, listed

    def _server_changed(self, name: str, *, deleted: bool) -> None:
        now = time.monotonic()
        with self._lock:
            # A change older than any listing still usable no longer matters.
            stale = now - 60 * SERVER_LISTING_FRESH_SECONDS
            for old in [n for n, (when, _) in self._server_changes.items() if when < stale]:
                del self._server_changes[old]
            self._server_changes[name] = (now, deleted)

    def _network(self, department: tenancy.Department) -> Network | None:
        return tenancy.find_network(self._admin_connection(), department.project_id, department.code)

    def _network_id(self, department: tenancy.Department, *, fresh: bool = False) -> tuple[str | None, bool]:
        """(the department network's id, whether looked up just now): servers are made in it, and each
        made many times a minute need not look it up each time."""

        def look() -> str | None:
            network = self._network(department)
            return network.id if network is not None else None

        return self._network_ids.get(department.code, look, fresh=fresh)

    def _observe(self, key: ResourceKey, wanted: Tenancy) -> Observed:
        department = self._department(wanted)
        if department is None:
            return Observed.absent()
        if key.kind is Kind.server:
            return self._observe_server(department, key)
        if key.kind is Kind.volume:
            conn = self._project_connection(department)
            volume = volumes.find(conn, key)
            return volumes.observed(conn, volume) if volume is not None else Observed.absent()
        policy = bandwidth.find(self._admin_connection(), department.project_id, key)
        return (
            bandwidth.observed(policy, self._network(department)) if policy is not None else Observed.absent()
        )

    def _host_keys(self, key: ResourceKey, wanted: Tenancy) -> tuple[str, ...] | None:
        department = self._department(wanted)
        if department is None:
            return None
        conn = self._project_connection(department)
        server = servers.find(conn, key)
        return servers.console_host_keys(conn, server) if server is not None else None

    def _usage(self, key: ResourceKey, wanted: Tenancy) -> ResourceUsage | None:
        department = self._department(wanted)
        if department is None:
            return None
        _, listed, deleted_since = self._listed_server(department, key)
        server = oldest(listed.get(key.name, ()))  # usage is asked of many servers: one listing for them all
        if server is None or deleted_since or (server.status or "").upper() != "ACTIVE" or server.task_state:
            return None
        # Diagnostics are admin-only in Nova's default policy.
        return servers.usage(self._admin_connection(), server)

    def _create(self, key: ResourceKey, spec: Spec, wanted: Tenancy, *, first: bool) -> Observed:
        if not isinstance(spec, SPEC_OF_KIND[key.kind]):
            raise PermanentError(f"a {key.kind} needs a {SPEC_OF_KIND[key.kind].__name__}, not {spec!r}")
        department = self._department(wanted)
        network_id, network_now = self._network_id(department) if department is not None else (None, False)
        if department is None or network_id is None:
            # Normally ensure_tenancy ran first; if not (or the network went), set the department up now.
            self._ensure_tenancy(wanted)
            department = self._department(wanted)
            network_id, network_now = (
                self._network_id(department, fresh=True) if department is not None else (None, False)
            )
            if department is None or network_id is None:
                raise TenancyGone(f"department {wanted.department_code} was set up but is not found yet")
        admin = self._admin_connection()
        if isinstance(spec, ServerSpec):
            known, code = network_id, department.code

            def network(fresh: bool) -> tuple[str, bool]:
                if not fresh:
                    return known, network_now
                found, _ = self._network_id(department, fresh=True)
                if found is None:  # the next pass sets the department up again (see _run)
                    raise TenancyGone(f"the network of department {code} is gone")
                return found, True

            sources = servers.Sources(self._flavors, self._images, network)
            try:
                conn = self._project_connection(department)
                return servers.create(conn, admin, key, spec, sources, first=first)
            finally:
                self._server_changed(key.name, deleted=False)
        if isinstance(spec, VolumeSpec):
            return volumes.create(self._project_connection(department), key, spec, self.settings.volume_types)
        # Two limits attached side by side would both succeed (last writer wins, even with If-Match: Neutron
        # checks the revision before its update, not in it) and both read as applied: one at a time, each
        # looking at the network as it is once its turn comes.
        with self._department_lock(department.code):
            current = self._network(department)
            if current is None:  # the next pass sets the department up again (see _run)
                raise TenancyGone(f"the network of department {department.code} is gone")
            return bandwidth.create(admin, department.project_id, current, key, spec)

    def _delete(self, key: ResourceKey, wanted: Tenancy) -> None:
        department = self._department(wanted)
        if department is None:
            return  # no project, so nothing of the department's is left
        if key.kind is Kind.server:
            self._delete_server(department, key)
        elif key.kind is Kind.volume:
            volumes.delete(self._project_connection(department), key)
        else:
            bandwidth.delete(self._admin_connection(), department.project_id, self._network(department), key)
