"""Migration progress as Prometheus gauges: the known inventory of the progress tests, scraped."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cloudsvc.db import Database
from tests.migration_support import known_inventory, operator
from tests.monitoring.scrape import matching, parse, value
from tests.support import World


def test_systems_and_kpis_per_subtree_against_their_targets(
    client: TestClient, world: World, database: Database
) -> None:
    known_inventory(client, world, database)
    World.ok(
        client.put(
            "/v1/migration/targets/classified_on_intranet",
            headers=operator(world),
            json={"share": 0.8, "due_on": "2027-06-30"},
        )
    )
    samples = parse(client.get("/metrics").text)

    province = {"department": "prov", "level": "province"}
    by_status = {
        dict(labels)["status"]: count
        for labels, count in matching(samples, "cloudsvc_migration_systems", **province).items()
    }
    assert by_status == {"migrated": 4, "not_started": 1, "planned": 1, "retired": 1}
    assert value(samples, "cloudsvc_migration_systems_by_strategy", **province, strategy="rehost") == 1
    assert value(samples, "cloudsvc_migration_systems_by_strategy", **province, strategy="undecided") == 5

    ratio, target = "cloudsvc_migration_kpi_ratio", "cloudsvc_migration_kpi_target_ratio"
    assert value(samples, ratio, **province, kpi="unclassified_on_extranet") == 0.5
    assert value(samples, target, **province, kpi="unclassified_on_extranet") == 0.95
    assert value(samples, ratio, **province, kpi="classified_on_intranet") == 0.5
    assert value(samples, target, **province, kpi="classified_on_intranet") == 0.8
    dept_b = {"department": "dept-b", "level": "department"}
    assert value(samples, ratio, **dept_b, kpi="classified_on_intranet") == 0.0
    # 2027-06-30T00:00:00Z
    assert value(samples, "cloudsvc_migration_kpi_due_timestamp_seconds", kpi="classified_on_intranet") == (
        1814313600.0
    )
    assert (
        value(samples, "cloudsvc_migration_kpi_due_timestamp_seconds", kpi="unclassified_on_extranet") is None
    )
