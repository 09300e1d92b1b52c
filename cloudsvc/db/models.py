"""Imports every model so that ``Base.metadata`` is complete (for Alembic and for tests)."""

from cloudsvc.audit.models import AuditChainHead, AuditEvent
from cloudsvc.db.base import Base
from cloudsvc.departments.models import Department
from cloudsvc.migration.models import (
    CutoverStep,
    LegacySystem,
    MigrationPlan,
    MigrationRequest,
    MigrationTarget,
    MigrationWave,
    SystemDependency,
    WaveSystem,
)
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
from cloudsvc.quotas.models import quota_counters, quota_ledger
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
    "CutoverStep",
    "Department",
    "IdempotencyKey",
    "LegacySystem",
    "MigrationPlan",
    "MigrationRequest",
    "MigrationTarget",
    "MigrationWave",
    "Principal",
    "ProvisionedResource",
    "ProvisioningStep",
    "RequestTransition",
    "ResourceRequest",
    "RoleBinding",
    "SimulatorObject",
    "SystemDependency",
    "Tenancy",
    "WaveSystem",
    "WorkerPass",
    "Zone",
    "ZoneHealth",
    "quota_counters",
    "quota_ledger",
]
