"""Reading what the worker recorded about requests, for their API representation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudsvc.provisioning.models import ProvisionedResource, ProvisioningStep


def resources_of(session: Session, request_ids: Sequence[str]) -> dict[str, list[ProvisionedResource]]:
    found: dict[str, list[ProvisionedResource]] = defaultdict(list)
    if request_ids:
        query = (
            select(ProvisionedResource)
            .where(ProvisionedResource.request_id.in_(request_ids))
            .order_by(ProvisionedResource.request_id, ProvisionedResource.index)
        )
        for row in session.scalars(query):
            found[row.request_id].append(row)
    return found


def recent_steps(session: Session, request_id: str, limit: int = 50) -> list[ProvisioningStep]:
    query = (
        select(ProvisioningStep)
        .where(ProvisioningStep.request_id == request_id)
        .order_by(ProvisioningStep.id.desc())
        .limit(limit)
    )
    return list(reversed(session.scalars(query).all()))
