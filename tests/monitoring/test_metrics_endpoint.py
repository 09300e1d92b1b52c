"""GET /metrics against what the test created through the API, on both databases: quota figures with the
tree's labels, requests, histograms, worker figures, the formats, the token, and nothing personal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from pydantic import SecretStr

from cloudsvc.app import create_app
from cloudsvc.cli import main
from cloudsvc.config import Settings
from cloudsvc.db import Database, utcnow
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from tests.monitoring.scrape import Samples, matching, parse, promtool, value
from tests.support import BOOTSTRAP_TOKEN, World, bearer

METRICS_TOKEN = "metrics-token-for-tests-0123456789"
MiB, GiB = 2**20, 2**30


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def test_quota_figures_per_department_and_class_with_the_tree_as_labels(
    client: TestClient, world: World
) -> None:
    world.ok(
        client.put(
            "/v1/departments/prov/quotas",
            headers=world.admin,
            json={"limits": {"vcpus": 100, "ram_mb": 8192}},
        )
    )
    world.ok(client.put("/v1/departments/city-a/quotas", headers=world.admin, json={"limits": {"vcpus": 10}}))
    world.submit(world.principal("requester@dept-a"))  # 2 vCPUs, 4096 MiB, 40 GiB disk: reserved

    samples = scrape(client)
    prov = {"department": "prov", "parent": "", "level": "province"}
    city = {"department": "city-a", "parent": "prov", "level": "city"}
    dept = {"department": "dept-a", "parent": "cty-a", "level": "department"}
    assert value(samples, "cloudsvc_quota_limit", **prov, **{"class": "vcpus"}) == 100
    assert value(samples, "cloudsvc_quota_limit", **prov, **{"class": "ram_bytes"}) == 8192 * MiB
    assert value(samples, "cloudsvc_quota_limit", **city, **{"class": "vcpus"}) == 10
    assert matching(samples, "cloudsvc_quota_limit", department="dept-a") == {}  # no limit of its own
    for where in (prov, city, dept):
        assert value(samples, "cloudsvc_quota_reserved", **where, **{"class": "vcpus"}) == 2
        assert value(samples, "cloudsvc_quota_reserved", **where, **{"class": "ram_bytes"}) == 4096 * MiB
        assert value(samples, "cloudsvc_quota_reserved", **where, **{"class": "volume_bytes"}) == 40 * GiB
        assert value(samples, "cloudsvc_quota_in_use", **where, **{"class": "vcpus"}) == 0
    assert value(samples, "cloudsvc_quota_reserved", department="city-b", parent="prov", level="city",
                 **{"class": "vcpus"}) == 0  # fmt: skip
    # Every department has all six classes, for in_use and reserved alike.
    assert len(matching(samples, "cloudsvc_quota_in_use")) == 7 * 6
    assert value(samples, "cloudsvc_departments", level="county") == 2


def test_requests_resources_and_durations_follow_the_lifecycle(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    world.submit(owner, zone="sim")  # stays pending
    spec = {"vcpus": 1, "ram_mb": 1024, "disk_gb": 10, "image": "kylin", "count": 3}
    world.approved(owner, zone="sim", spec=spec)

    before = scrape(client)
    assert value(before, "cloudsvc_requests", status="pending_approval", kind="server") == 1
    assert value(before, "cloudsvc_requests", status="approved", kind="server") == 1
    assert value(before, "cloudsvc_request_approval_wait_seconds_count") == 1
    assert value(before, "cloudsvc_request_approval_wait_seconds_bucket", le="60.0") == 1  # approved at once
    assert value(before, "cloudsvc_provisioning_duration_seconds_count") == 0
    assert value(before, "cloudsvc_worker_queue_depth") == 1

    Worker(database, WorkerSettings(), clock=Clock()).tick()
    after = scrape(client)
    assert value(after, "cloudsvc_requests", status="active", kind="server") == 1
    assert value(after, "cloudsvc_requests", status="approved", kind="server") is None
    assert value(after, "cloudsvc_resources", zone="sim", kind="server", state="ready") == 3
    assert value(after, "cloudsvc_provisioning_duration_seconds_count") == 1
    assert value(after, "cloudsvc_provisioning_duration_seconds_bucket", le="+Inf") == 1
    assert value(after, "cloudsvc_worker_queue_depth") == 0  # next look is the drift check, later
    for where in ("prov", "dept-a"):
        assert (
            value(after, "cloudsvc_quota_in_use", department=where, **_labels(where), **{"class": "servers"})
            == 3
        )


def _labels(code: str) -> dict[str, str]:
    return {
        "prov": {"parent": "", "level": "province"},
        "dept-a": {"parent": "cty-a", "level": "department"},
    }[code]


def test_backend_errors_are_counted_by_the_worker_per_zone_kind_and_class(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("down", unreachable=True)
    world.zone("picky", refuse_images=["no-such-image"])
    owner = world.principal("requester@dept-a")
    world.approved(owner, zone="down")
    bad = {"vcpus": 1, "ram_mb": 1024, "disk_gb": 10, "image": "no-such-image", "count": 1}
    world.approved(owner, zone="picky", spec=bad)
    clock = Clock()
    worker = Worker(database, WorkerSettings(), clock=clock)
    worker.tick()
    clock.advance(600)  # past the retry delay: the unreachable zone is tried again
    worker.tick()

    samples = scrape(client)
    errors = "cloudsvc_backend_errors_total"
    assert value(samples, errors, zone="down", kind="server", error="zone_unavailable") == 2
    assert value(samples, errors, zone="picky", kind="server", error="permanent") == 1
    assert len(matching(samples, errors)) == 2


def test_backend_usage_is_collected_by_the_worker_and_dropped_when_the_request_ends(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    spec = {"vcpus": 2, "ram_mb": 2048, "disk_gb": 20, "image": "kylin", "count": 2}
    request_id = world.approved(owner, zone="sim", spec=spec)
    clock = Clock()
    worker = Worker(database, WorkerSettings(), clock=clock)
    worker.tick()
    assert matching(scrape(client), "cloudsvc_backend_memory_used_bytes") == {}  # not asked yet

    worker.monitor.after_pass()
    samples = scrape(client)
    # The simulator reports half the memory in use and one CPU-second per vCPU per question.
    assert (
        value(samples, "cloudsvc_backend_memory_used_bytes", department="dept-a", zone="sim")
        == 2 * 1024 * MiB
    )
    assert value(samples, "cloudsvc_backend_cpu_seconds", department="dept-a", zone="sim") == 4
    assert value(samples, "cloudsvc_backend_usage_resources", department="dept-a", zone="sim") == 2
    assert value(samples, "cloudsvc_worker_last_pass_timestamp_seconds") == pytest.approx(
        clock.now.timestamp()
    )

    worker.monitor.after_pass()  # too soon: nobody is asked
    assert value(scrape(client), "cloudsvc_backend_cpu_seconds", department="dept-a", zone="sim") == 4
    clock.advance(61)
    worker.monitor.after_pass()
    assert value(scrape(client), "cloudsvc_backend_cpu_seconds", department="dept-a", zone="sim") == 8

    world.ok(client.post(f"/v1/requests/{request_id}/decommission", headers=owner))
    worker.tick()
    clock.advance(61)
    worker.monitor.after_pass()
    assert matching(scrape(client), "cloudsvc_backend_cpu_seconds") == {}


def test_the_last_audit_verification_is_exported(
    client: TestClient, world: World, database: Database
) -> None:
    assert value(scrape(client), "cloudsvc_audit_verification_ok") is None  # never verified

    def verify() -> int:
        return (
            CliRunner()
            .invoke(main, ["audit", "verify"], env={"CLOUDSVC_DATABASE_URL": database.url})
            .exit_code
        )

    assert verify() == 0
    samples = scrape(client)
    assert value(samples, "cloudsvc_audit_verification_ok") == 1
    assert value(samples, "cloudsvc_audit_verified_events") == 10  # the first admin, 7 departments, 2 zones
    with database.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE audit_events SET actor_name = 'mallory' WHERE id = 3")
    assert verify() == 1
    assert value(scrape(client), "cloudsvc_audit_verification_ok") == 0


def test_openmetrics_when_the_accept_header_asks(client: TestClient, world: World) -> None:
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    parsed = openmetrics_families(response.text)  # type: ignore[no-untyped-call]  # untyped upstream
    families = {f.name: f for f in parsed}
    assert families["cloudsvc_backend_errors"].type == "counter"
    assert families["cloudsvc_request_approval_wait_seconds"].type == "histogram"


@pytest.mark.usefixtures("prometheus_installed")
def test_promtool_finds_nothing_to_complain_about(client: TestClient, world: World) -> None:
    world.submit(world.principal("requester@dept-a"))
    checked = promtool("check", "metrics", stdin=client.get("/metrics").text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == checked.stderr.strip() == ""


@pytest.fixture
def guarded(settings: Settings, database: Database) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)}), database)
    with TestClient(app) as client:
        yield client


def test_a_metrics_token_when_set_is_required_and_no_other_token_will_do(guarded: TestClient) -> None:
    for headers in ({}, bearer("wrong"), bearer(BOOTSTRAP_TOKEN)):
        refused = guarded.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"] == "Bearer"
    assert guarded.get("/metrics", headers=bearer(METRICS_TOKEN)).status_code == 200


def test_metrics_name_no_person_and_show_no_token(guarded: TestClient, database: Database) -> None:
    world = World.build(guarded)
    person = world.principal("requester@dept-a", name="张三-zhang.san")
    world.submit(person, justification="secret project codename BLUEFISH")
    created = world.ok(
        guarded.post(
            "/v1/principals", headers=world.admin, json={"name": "李四", "roles": [{"role": "auditor"}]}
        )
    )
    text = guarded.get("/metrics", headers=bearer(METRICS_TOKEN)).text
    assert "cloudsvc_quota_reserved" in text
    for secret in (
        "张三",
        "zhang.san",
        "李四",
        person["Authorization"].removeprefix("Bearer "),
        created["token"],
        created["id"],
        BOOTSTRAP_TOKEN,
        METRICS_TOKEN,
        "BLUEFISH",
    ):
        assert secret not in text


@pytest.mark.parametrize("token", ["changeme", "too-short-0123456789"])
def test_production_refuses_a_placeholder_or_short_metrics_token(token: str) -> None:
    with pytest.raises(ValueError, match="CLOUDSVC_METRICS_TOKEN"):
        Settings(environment="production", bootstrap_token=None, metrics_token=SecretStr(token))
    good = Settings(environment="production", bootstrap_token=None, metrics_token=SecretStr(METRICS_TOKEN))
    assert good.metrics_token is not None
