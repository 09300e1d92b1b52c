"""Persistence: the declarative base, column types and the engine/session factory."""

from cloudsvc.db.base import Base, UTCDateTime, utcnow
from cloudsvc.db.engine import Database, normalise_url
from cloudsvc.db.upsert import upsert

__all__ = ["Base", "Database", "UTCDateTime", "normalise_url", "upsert", "utcnow"]
