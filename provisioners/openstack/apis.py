"""Small helpers around openstacksdk: the API versions the driver speaks, narrowed for the type checker
(openstacksdk types a proxy as the union of every version it knows), and finding things."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from openstack import exceptions as os_exceptions
from openstack.block_storage.v3._proxy import Proxy as BlockStorage
from openstack.connection import Connection
from openstack.identity.v3._proxy import Proxy as Identity

from provisioners.base import PermanentError

R = TypeVar("R")


def or_none(find: Callable[[], R]) -> R | None:
    """A find_* call (with ignore_missing=False, which openstacksdk 5 makes the only way) or None."""
    try:
        return find()
    except os_exceptions.NotFoundException:
        return None


def identity(conn: Connection) -> Identity:
    proxy = conn.identity
    if not isinstance(proxy, Identity):
        proxy.get_endpoint()  # a service missing from the catalog raises here, saying why
        raise PermanentError("the zone's Keystone does not offer the identity v3 API")
    return proxy


def block_storage(conn: Connection) -> BlockStorage:
    proxy = conn.block_storage
    if not isinstance(proxy, BlockStorage):
        proxy.get_endpoint()
        raise PermanentError("the zone's Cinder does not offer the block-storage v3 API")
    return proxy


def oldest(items: Iterable[R]) -> R | None:
    """Two workers racing can each create an object; all of them then settle on the same (oldest) one."""
    ordered = sorted(
        items, key=lambda item: (str(getattr(item, "created_at", None) or ""), str(getattr(item, "id", "")))
    )
    return ordered[0] if ordered else None
