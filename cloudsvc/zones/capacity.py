"""A zone's capacity: what the operators say it can hold, and what the cloud's requests hold in it.

A zone declares its capacity with a ``capacity`` block in its settings (cloudsvc's, not the driver's), in
quota classes, any subset of them::

    capacity: {vcpus: 2000, ram_mb: 8192000, volume_gb: 500000, bandwidth_mbps: 10000}

What is held there is the demand of the zone's requests that hold quota (reserved while they wait or are
built, in use while their resources exist: ``accounting.HOLDS``), so it counts what the cloud has promised,
not what the guests happen to use. The backends' own usage figures (``monitoring.backend_usage``) are CPU
time and memory of our servers, not room left on the hypervisors, so they do not enter here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudsvc.resource_requests.accounting import HOLDS
from cloudsvc.resource_requests.models import ResourceRequest
from provisioners.base import InvalidSettings
from quotas.demand import Demand, QuotaClass, demand_of

KEY = "capacity"
MAX_AMOUNT = 10**15


def parse(settings: Mapping[str, Any]) -> Demand | None:
    """The zone's declared capacity per quota class, or None when it declares none.

    Raises InvalidSettings naming the field (``capacity.<class>``).
    """
    if KEY not in settings:
        return None
    block = settings[KEY]
    if not isinstance(block, Mapping):
        raise InvalidSettings("capacity: must be an object of quota class to amount", field=KEY)
    declared: Demand = {}
    for name, amount in block.items():
        where = f"{KEY}.{name}"
        try:
            cls = QuotaClass(name)
        except ValueError:
            known = ", ".join(QuotaClass)
            raise InvalidSettings(f"{where}: not a quota class (one of {known})", field=where) from None
        # bool is an int to Python, but true is no amount
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_AMOUNT:
            raise InvalidSettings(f"{where}: must be a whole number from 0 to {MAX_AMOUNT}", field=where)
        declared[cls] = amount
    return declared


def held(session: Session, zone_ids: Iterable[int]) -> dict[int, Demand]:
    """Per zone, the demand of its requests that hold quota (every zone asked for is in the answer).

    One query for all the zones; the specs are summed here, because their figures sit in JSON whose
    functions differ between SQLite and PostgreSQL (a zone's live requests number thousands, not millions).
    """
    found: dict[int, Demand] = {zone_id: {} for zone_id in zone_ids}
    if not found:
        return found
    rows = session.execute(
        select(ResourceRequest.zone_id, ResourceRequest.kind, ResourceRequest.spec).where(
            ResourceRequest.zone_id.in_(list(found)), ResourceRequest.status.in_(list(HOLDS))
        )
    )
    for zone_id, kind, spec in rows:
        totals = found[zone_id]
        for cls, amount in demand_of(kind, spec).items():
            totals[cls] = totals.get(cls, 0) + amount
    return found
