"""Volumes (Cinder), found again by name and tagged with their request in the metadata."""

from __future__ import annotations

from collections.abc import Mapping

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as os_exceptions
from openstack.block_storage.v3.volume import Volume
from openstack.connection import Connection

from provisioners.base import Observed, PermanentError, ResourceKey, State, TemporaryError, VolumeSpec
from provisioners.openstack.apis import block_storage, oldest
from provisioners.openstack.servers import metadata

READY = {"available", "in-use"}
DELETING = {"deleting"}
FAILED = {"error", "error_deleting", "error_extending", "error_restoring", "error_managing"}
# Cinder refuses to delete a volume in these; they end by themselves.
BUSY = {
    "creating",
    "attaching",
    "detaching",
    "extending",
    "downloading",
    "uploading",
    "backing-up",
    "restoring-backup",
    "retyping",
    "reserved",
    "maintenance",
    "awaiting-transfer",
}


def find(conn: Connection, key: ResourceKey) -> Volume | None:
    return oldest(v for v in block_storage(conn).volumes(details=True, name=key.name) if v.name == key.name)


def _error_message(conn: Connection, volume: Volume) -> str:
    """Cinder keeps why a volume failed in its user messages, not on the volume."""
    fallback = f"Cinder reports the volume in {volume.status}"
    try:
        for message in block_storage(conn).messages(sort="created_at:desc", limit=50):
            if message.resource_uuid == volume.id and message.user_message:
                return f"{fallback}: {message.user_message}"
    except (os_exceptions.SDKException, ks_exceptions.ClientException):
        pass  # the reason is a nicety; the state is what matters
    return fallback


def observed(conn: Connection, volume: Volume) -> Observed:
    status = volume.status or ""
    details = {
        "status": status,
        "size_gb": volume.size,
        "volume_type": volume.volume_type,
        "project_id": volume.project_id,
        "attachments": [a.get("server_id") for a in volume.attachments or []],
    }
    if status in READY:
        return Observed(State.ready, volume.id, details=details)
    if status in DELETING:
        return Observed(State.deleting, volume.id, details=details)
    if status in FAILED:
        return Observed(State.failed, volume.id, message=_error_message(conn, volume), details=details)
    return Observed(State.building, volume.id, details=details)


def create(conn: Connection, key: ResourceKey, spec: VolumeSpec, types: Mapping[str, str | None]) -> Observed:
    volume = find(conn, key)
    if volume is None:
        # A cloudsvc type the zone does not map is passed on as a Cinder type name.
        volume_type = types.get(spec.volume_type, spec.volume_type)
        attrs: dict[str, object] = {"name": key.name, "size": spec.size_gb, "metadata": metadata(key)}
        if volume_type is not None:
            attrs["volume_type"] = volume_type
        volume = block_storage(conn).create_volume(**attrs)
    return observed(conn, volume)


def delete(conn: Connection, key: ResourceKey) -> None:
    volume = find(conn, key)
    if volume is None or volume.status in DELETING:
        return
    if volume.status in BUSY:
        raise TemporaryError(f"volume {key.name} is {volume.status}; it can be deleted once that ends")
    if volume.status == "in-use":
        servers = ", ".join(str(a.get("server_id")) for a in volume.attachments or [])
        raise PermanentError(f"volume {key.name} is attached to server(s) {servers}; detach it first")
    try:
        block_storage(conn).delete_volume(volume.id, ignore_missing=True)
    except os_exceptions.BadRequestException as exc:
        # The status can change between the look and the DELETE; a busy volume is worth another try.
        again = find(conn, key)
        if again is not None and again.status in BUSY:
            raise TemporaryError(
                f"volume {key.name} is {again.status}; it can be deleted once that ends"
            ) from exc
        raise
