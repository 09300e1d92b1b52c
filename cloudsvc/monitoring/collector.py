"""The prometheus-client collector that runs the sample sources against the database at each scrape."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from prometheus_client.core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from cloudsvc.db import Database
from cloudsvc.monitoring.sources import SOURCES, Source


class DatabaseCollector(Collector):
    """Every source, in one database session per scrape."""

    def __init__(self, database: Database, sources: Sequence[Source]) -> None:
        self.database = database
        self.sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        with self.database.session() as session:
            for source in self.sources:
                yield from source(session)

    def describe(self) -> Iterable[Metric]:
        # Nothing up front: registering must not query the database (it may not be migrated yet).
        return ()


def metrics_registry(database: Database, sources: Sequence[Source] = SOURCES) -> CollectorRegistry:
    """A registry of our own (not prometheus-client's global one, which also exports this process's
    Python and GC figures: those differ between API processes and say nothing about the cloud)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(database, sources))
    return registry
