"""Imports every model so that ``Base.metadata`` is complete (for Alembic and for tests)."""

from cloudsvc.audit.models import AuditChainHead, AuditEvent
from cloudsvc.db.base import Base
from cloudsvc.departments.models import Department
from cloudsvc.monitoring.models import (
    AuditVerificationResult,
    BackendErrorCount,
    BackendUsage,
    WorkerPass,
)
from cloudsvc.principals.models import Principal, RoleBinding
from cloudsvc.provisioning.models import (
    ProvisionedResource,
    ProvisioningStep,
    SimulatorObject,
    Tenancy,
    ZoneHealth,
)
from cloudsvc.quotas.models import QuotaLedgerEntry, quota_counters
from cloudsvc.resource_requests.models import (
    ApprovalPolicy,
    IdempotencyKey,
    RequestTransition,
    ResourceRequest,
)
from cloudsvc.zones.models import Zone

__all__ = [
    "ApprovalPolicy",
    "AuditChainHead",
    "AuditEvent",
    "AuditVerificationResult",
    "BackendErrorCount",
    "BackendUsage",
    "Base",
    "Department",
    "IdempotencyKey",
    "Principal",
    "ProvisionedResource",
    "ProvisioningStep",
    "QuotaLedgerEntry",
    "RequestTransition",
    "ResourceRequest",
    "RoleBinding",
    "SimulatorObject",
    "Tenancy",
    "WorkerPass",
    "Zone",
    "ZoneHealth",
    "quota_counters",
]
