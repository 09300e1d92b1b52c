"""Servers (Nova), found again by name and tagged with their request in the metadata."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from openstack import exceptions as os_exceptions
from openstack.compute.v2.flavor import Flavor
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from provisioners.base import (
    Observed,
    PermanentError,
    ResourceKey,
    ResourceUsage,
    ServerSpec,
    State,
    TemporaryError,
)
from provisioners.openstack.apis import oldest, or_none
from provisioners.openstack.lookups import Remembered

# A flavor looked up for a size is used again for this long (flavors seldom change; one refused is looked
# up again at once).
FLAVOR_FRESH_SECONDS = 300.0
BUILDING = {
    "BUILD",
    "REBUILD",
    "RESIZE",
    "VERIFY_RESIZE",
    "REVERT_RESIZE",
    "MIGRATING",
    "REBOOT",
    "HARD_REBOOT",
}


def metadata(key: ResourceKey) -> dict[str, str]:
    return {"cloudsvc_key": key.name, "cloudsvc_request_id": key.request_id, "cloudsvc_index": str(key.index)}


def find(conn: Connection, key: ResourceKey) -> Server | None:
    # Nova's name filter is a regular expression (cs-x-1 also matches cs-x-10): compare exactly here.
    return oldest(s for s in conn.compute.servers(details=True, name=key.name) if s.name == key.name)


def exists(conn: Connection, key: ResourceKey) -> bool:
    """Whether Nova has a server of this name. Nova's index view: without the details, so without the
    Neutron calls Nova makes for them."""
    return any(s.name == key.name for s in conn.compute.servers(details=False, name=key.name))


def listing(conn: Connection) -> dict[str, list[Server]]:
    """Every cloudsvc server of the connection's project, by name: one call that many observations share."""
    found: dict[str, list[Server]] = {}
    for server in conn.compute.servers(details=True, name="^cs-"):
        found.setdefault(server.name, []).append(server)
    return found


def observe(conn: Connection, key: ResourceKey, listed: Mapping[str, list[Server]] | None = None) -> Observed:
    """What Nova has for ``key``: looked up by name, or in ``listed`` (a recent listing) when given."""
    server = find(conn, key) if listed is None else oldest(listed.get(key.name, ()))
    if server is None:
        return Observed.absent()
    if (server.status or "").upper() == "ERROR" and not server.fault:
        # Nova's list leaves the fault out; the server's own GET has it (unless it went since the list).
        listed_id = server.id
        server = or_none(lambda: conn.compute.get_server(listed_id))
        if server is None:
            return Observed.absent()
    return observed(server)


def observed(server: Server) -> Observed:
    status = (server.status or "").upper()
    flavor = server.flavor
    details: dict[str, Any] = {
        "status": status,
        "project_id": server.project_id,
        "image_id": server.image.id if server.image is not None else None,
        "flavor": {
            "name": flavor.original_name or flavor.name,
            "vcpus": flavor.vcpus,
            "ram_mb": flavor.ram,
            "disk_gb": flavor.disk,
        }
        if flavor is not None
        else None,
    }
    addresses = tuple(
        entry["addr"]
        for entries in (server.addresses or {}).values()
        for entry in entries
        if isinstance(entry, dict) and entry.get("addr")
    )
    if server.task_state == "deleting" or status in ("DELETED", "SOFT_DELETED"):
        state, message = State.deleting, None
    elif status == "ACTIVE":
        state, message = State.ready, None
    elif status == "ERROR":
        fault = server.fault or {}
        state, message = State.failed, fault.get("message") or "Nova reports the server in ERROR"
    else:
        # Stopped, shelved, paused …: not usable, but not broken either; the status says which.
        state, message = State.building, (None if status in BUILDING else f"server is {status}")
    return Observed(state, server.id, addresses, message, details)


def _matching_flavor(admin: Connection, spec: ServerSpec) -> Flavor | None:
    def fits(f: Flavor) -> bool:
        return (
            f.vcpus == spec.vcpus
            and f.ram == spec.ram_mb
            and f.disk == spec.disk_gb
            and not f.swap
            and not f.ephemeral
            and not f.is_disabled
            and not f.extra_specs  # extra specs could pin hosts or hardware nobody asked for
        )

    return oldest(f for f in admin.compute.flavors(details=True, is_public=True) if fits(f))


class Flavors(Remembered[tuple[int, int, int], Flavor]):
    """Flavors by size, remembered for FLAVOR_FRESH_SECONDS after being looked up (or made)."""

    def __init__(self) -> None:
        super().__init__(FLAVOR_FRESH_SECONDS)

    def of(self, admin: Connection, spec: ServerSpec, *, fresh: bool = False) -> tuple[Flavor, bool]:
        """The flavor for ``spec``, and whether it was looked up just now (rather than remembered)."""
        size = (spec.vcpus, spec.ram_mb, spec.disk_gb)
        return self.get(size, lambda: flavor_for(admin, spec), fresh=fresh)


class Images(Remembered[tuple[str, str], str]):
    """Image ids by (project, name or id), remembered like flavors: a lookup by name is two Glance calls."""

    def __init__(self) -> None:
        super().__init__(FLAVOR_FRESH_SECONDS)

    def of(self, conn: Connection, image: str, *, fresh: bool = False) -> tuple[str, bool]:
        return self.get((str(conn.current_project_id), image), lambda: _image_id(conn, image), fresh=fresh)


@dataclass(frozen=True)
class Sources:
    """What a server is made from, looked up once for many servers: its flavor, its image, its network
    (the network by a callable, ``fresh`` asking past what is remembered; it answers (id, looked up now))."""

    flavors: Flavors
    images: Images
    network: Callable[[bool], tuple[str, bool]]


def flavor_for(admin: Connection, spec: ServerSpec) -> Flavor:
    """A public flavor of exactly this size, created when the cloud has none."""
    flavor = _matching_flavor(admin, spec)
    if flavor is not None:
        return flavor
    name = f"cs.{spec.vcpus}c.{spec.ram_mb}m.{spec.disk_gb}g"
    try:
        return admin.compute.create_flavor(
            name=name, vcpus=spec.vcpus, ram=spec.ram_mb, disk=spec.disk_gb, is_public=True
        )
    except os_exceptions.ConflictException:
        # Another worker made it first (names are unique in Nova): use that one.
        flavor = _matching_flavor(admin, spec)
        if flavor is None:
            raise
        return flavor


def _image_id(conn: Connection, image: str) -> str:
    # Looked up as the department's project sees images, so a private image of another project is refused.
    try:
        found = or_none(lambda: conn.image.find_image(image, ignore_missing=False))
    except os_exceptions.DuplicateResource as exc:
        raise PermanentError(f"several images are named {image!r}; ask for one by id") from exc
    if found is None:
        raise PermanentError(f"image {image!r} not found in the zone")
    if found.status in ("queued", "saving", "importing", "uploading"):
        raise TemporaryError(f"image {image!r} is still {found.status}")
    if found.status != "active":
        raise PermanentError(f"image {image!r} is {found.status}, not active")
    return str(found.id)


def create(
    conn: Connection,
    admin: Connection,
    key: ResourceKey,
    spec: ServerSpec,
    sources: Sources,
    *,
    first: bool = False,
) -> Observed:
    """The server named after ``key``, posted unless one exists; ``first`` (never attempted before)
    skips looking, a listing that queues on nova-api with the POSTs."""
    if not first and exists(conn, key):
        return observe(conn, key)

    def look_up(*, fresh: bool) -> tuple[Flavor, str, str, bool]:
        """(flavor, image id, network id, whether all three were looked up just now)."""
        flavor, flavor_now = sources.flavors.of(admin, spec, fresh=fresh)
        image_id, image_now = sources.images.of(conn, spec.image, fresh=fresh)
        network_id, network_now = sources.network(fresh)
        return flavor, image_id, network_id, flavor_now and image_now and network_now

    def post(flavor: Flavor, image_id: str, network_id: str) -> Server:
        return conn.compute.create_server(
            name=key.name,
            image_id=image_id,
            flavor_id=flavor.id,
            networks=[{"uuid": network_id}],
            metadata=metadata(key),
        )

    flavor, image_id, network_id, all_fresh = look_up(fresh=False)
    try:
        server = post(flavor, image_id, network_id)
    except os_exceptions.BadRequestException:
        if all_fresh:
            raise
        # Something remembered (flavor, image, network) may have been deleted since: look again, once (a
        # 400 made no server).
        flavor, image_id, network_id, _ = look_up(fresh=True)
        server = post(flavor, image_id, network_id)
    # The POST answers with little more than the id: the server is building; the next look tells the rest.
    details = {
        "status": "BUILD",
        "project_id": conn.current_project_id,
        "image_id": image_id,
        "flavor": {"name": flavor.name, "vcpus": flavor.vcpus, "ram_mb": flavor.ram, "disk_gb": flavor.disk},
    }
    return Observed(State.building, server.id, details=details)


def delete(conn: Connection, key: ResourceKey, listed: Mapping[str, list[Server]] | None = None) -> bool:
    """True if Nova was asked to delete the server now. A server in ``listed`` (a recent listing) is taken
    from there; one not in it is looked up afresh, in case it was made after the listing."""
    server = oldest(listed.get(key.name, ())) if listed is not None else None
    if server is None:
        server = find(conn, key)
    if server is None or server.task_state == "deleting":
        return False
    conn.compute.delete_server(server.id, ignore_missing=True)
    return True


def usage(admin: Connection, server: Server) -> ResourceUsage | None:
    """From Nova's standard diagnostics (microversion 2.48): CPU time in ns per vCPU, memory in MiB. None
    when Nova has none to give now: the server went (404) or has a task under way, a deletion say (409)."""
    try:
        diagnostics = admin.compute.get_server_diagnostics(server.id)
    except os_exceptions.HttpException as exc:
        if exc.status_code in (404, 409):
            return None
        raise
    times = [cpu.get("time") for cpu in diagnostics.cpu_details or [] if isinstance(cpu, dict)]
    known = [t for t in times if isinstance(t, int | float)]
    used = (diagnostics.memory_details or {}).get("used")
    return ResourceUsage(
        cpu_seconds=sum(known) / 1e9 if known else None,
        memory_used_bytes=int(used) * 2**20 if isinstance(used, int | float) else None,
    )


# cloud-init (module keys_to_console, on by default) prints the new server's host public keys to the
# console between these lines, once the keys exist; Nova keeps the console log.
_KEYS_BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
_KEYS_END = "-----END SSH HOST KEY KEYS-----"
_HOST_KEY = re.compile(
    r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) ([A-Za-z0-9+/]+={0,3})(?:\s|$)"
)
# Nova answers these when a server has no console log to give (not running, or a hypervisor without one).
_NO_CONSOLE = {400, 404, 409, 501}


def host_keys_from_console(text: str) -> tuple[str, ...]:
    """The host keys (``"<type> <base64>"``) of the last complete block cloud-init printed; () if none. A
    block still being written, or one after a reboot, is not mixed with an earlier one."""
    blocks: list[set[str]] = []
    current: set[str] | None = None
    for line in text.splitlines():
        if _KEYS_BEGIN in line:
            current = set()
        elif _KEYS_END in line and current is not None:
            blocks.append(current)
            current = None
        elif current is not None and (found := _HOST_KEY.search(line)):
            current.add(f"{found.group(1)} {found.group(2)}")
    return tuple(sorted(blocks[-1])) if blocks and blocks[-1] else ()


def console_host_keys(conn: Connection, server: Server) -> tuple[str, ...] | None:
    """The host keys the server's console log shows, or None if it shows none (yet) or has no log."""
    try:
        console = conn.compute.get_server_console_output(server)
    except os_exceptions.HttpException as exc:
        if exc.status_code in _NO_CONSOLE:
            return None
        raise
    keys = host_keys_from_console(str((console or {}).get("output") or ""))
    return keys or None
