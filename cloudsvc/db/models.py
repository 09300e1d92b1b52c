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
from cloudsvc.principals.models import Principal, RoleBinding
from cloudsvc.provisioning.models import (
    ProvisionedResource,
    ProvisioningStep,
    SimulatorObject,
    Tenancy,
    ZoneHealth,
)
from cloudsvc.quotas.models import QuotaCounter, QuotaLedgerEntry
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
    "QuotaCounter",
    "QuotaLedgerEntry",
    "RequestTransition",
    "ResourceRequest",
    "RoleBinding",
    "SimulatorObject",
    "SystemDependency",
    "Tenancy",
    "WaveSystem",
    "Zone",
    "ZoneHealth",
]
