"""A real Prometheus scrapes a running cloudsvc (uvicorn on a loopback port, with a metrics token) and the
test asks it, in PromQL, for what the test created: departments, quota limits and usage, requests. The
alert rules shipped in the chart are loaded too, and must evaluate without errors against real series."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloudsvc.config import Settings
from cloudsvc.db import Database
from tests.monitoring.prometheus_server import running_prometheus
from tests.support import BOOTSTRAP_TOKEN, World

METRICS_TOKEN = "prometheus-scrape-token-0123456789"
pytestmark = pytest.mark.usefixtures("prometheus_installed")
FILES = Path(__file__).resolve().parents[2] / "charts" / "cloudsvc" / "files"
RULES = FILES / "prometheus-rules.yaml"
DASHBOARD = FILES / "grafana-dashboard.json"
# Grafana's template variables as a user would set them ($level and $class: All).
VARIABLES = {"$__rate_interval": "1m", "$department": "prov", "$level": ".*", "$class": ".*"}


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in VARIABLES.items():
                expr = expr.replace(variable, value)
            queries.append(expr)
    return queries


@pytest.fixture
def settings(database: Database) -> Settings:
    return Settings(
        database_url=database.url,
        bootstrap_token=BOOTSTRAP_TOKEN,
        environment="test",
        worker_in_process=False,
        metrics_token=METRICS_TOKEN,
    )


def test_prometheus_sees_what_was_created(
    client: TestClient, world: World, live_server: str, tmp_path: Path
) -> None:
    admin = world.admin
    world.ok(client.put("/v1/departments/prov/quotas", headers=admin, json={"limits": {"vcpus": 100}}))
    world.ok(client.put("/v1/departments/city-a/quotas", headers=admin, json={"limits": {"vcpus": 10}}))
    requester = world.principal("requester@dept-a")
    for _ in range(3):
        world.submit(requester)  # 2 vCPUs each, pending approval
    world.approved(requester)
    target = live_server.removeprefix("http://")

    with running_prometheus(tmp_path, target, token=METRICS_TOKEN, rule_files=[RULES]) as prometheus:
        prometheus.at_successful_scrape("cloudsvc")  # so the token was accepted
        assert prometheus.query("cloudsvc_departments") == {
            (("instance", target), ("job", "cloudsvc"), ("level", level)): count
            for level, count in (("province", 1), ("city", 2), ("county", 2), ("department", 2))
        }
        limit = 'cloudsvc_quota_limit{department="%s",class="vcpus"}'
        assert prometheus.scalar(limit % "prov") == 100
        assert prometheus.scalar(limit % "city-a") == 10
        assert prometheus.scalar(limit % "dept-a") is None
        # The shipped rules' own ratio: reserved and used over the limit, matched on every label.
        ratio = (
            '(cloudsvc_quota_in_use{class="vcpus"} + cloudsvc_quota_reserved{class="vcpus"})'
            ' / cloudsvc_quota_limit{class="vcpus"}'
        )
        assert {dict(k)["department"]: v for k, v in prometheus.query(ratio).items()} == {
            "prov": 0.08,
            "city-a": 0.8,
        }
        assert (
            prometheus.scalar('sum by (parent) (cloudsvc_quota_reserved{class="vcpus",parent="prov"})') == 8
        )
        assert prometheus.scalar('count(cloudsvc_quota_in_use{class="vcpus"})') == 7
        assert prometheus.scalar('cloudsvc_requests{status="pending_approval",kind="server"}') == 3
        assert prometheus.scalar('cloudsvc_requests{status="approved",kind="server"}') == 1
        assert prometheus.scalar("cloudsvc_request_approval_wait_seconds_count") == 1
        assert prometheus.scalar("cloudsvc_worker_queue_depth") == 1
        assert prometheus.scalar("count(cloudsvc_build_info)") == 1

        # Every query of the Grafana dashboard runs; the quota views show the two limited departments.
        results = {expr: prometheus.query(expr) for expr in dashboard_queries()}
        assert len(results) >= 25
        closest = next(r for expr, r in results.items() if expr.startswith("topk(20"))
        assert {dict(k)["department"]: v for k, v in closest.items()} == {"prov": 0.08, "city-a": 0.8}
        assert sum(1 for r in results.values() if r) >= 15  # the rest need a worker or history

        groups = prometheus.wait_for_rules()
        rules = [rule for group in groups for rule in group["rules"]]
        assert {rule["name"] for rule in rules} >= {
            "CloudsvcQuotaAbove90Percent",
            "CloudsvcProvisioningFailureRate",
            "CloudsvcRequestsStuck",
            "CloudsvcWorkerDown",
            "CloudsvcAuditVerificationFailing",
        }
        assert [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"] == []
        # No worker has ever passed here, and nothing has verified the audit trail: both alerts are due.
        pending = {rule["name"] for rule in rules if rule["state"] in ("pending", "firing")}
        assert {"CloudsvcWorkerDown", "CloudsvcAuditNeverVerified"} <= pending
