"""The Helm chart, linted by Helm's own library (helm-sdkpy, run from .venv-helm, made by
scripts/ensure-helm-sdk.sh) with the default values and with every optional part turned on; its values
checked against values.schema.json here too.

Checked: the chart's metadata, that every template renders with those values (helm lint renders them),
that the rendered documents are YAML, that the values satisfy the schema, and that a wrong value is refused.
Not checked: the rendered manifests against the Kubernetes OpenAPI schemas (helm-sdkpy exposes lint but not
template, and no helm binary can be installed here), nor anything needing a cluster.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts/cloudsvc"
HELM_PYTHON = ROOT / ".venv-helm/bin/python"
LINT = """
import asyncio, json, sys
import helm_sdkpy
result = asyncio.run(helm_sdkpy.Lint(helm_sdkpy.Configuration()).run(sys.argv[1]))
print(json.dumps(result))
"""
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


def helm_lint(tmp_path: Path, chart_values: dict[str, Any]) -> list[dict[str, Any]]:
    """Lint a copy of the chart whose values.yaml is ``chart_values``; the warnings and errors."""
    copy = tmp_path / "cloudsvc"
    shutil.copytree(CHART, copy)
    (copy / "values.yaml").write_text(yaml.safe_dump(chart_values))
    found = subprocess.run(
        [str(HELM_PYTHON), "-c", LINT, str(copy)], capture_output=True, text=True, check=True, timeout=300
    )
    result = json.loads(found.stdout)
    return [m for m in result["Messages"] if m["Severity"] >= 2]  # 2 warning, 3 error


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


def test_helm_lint_passes_with_the_default_values(tmp_path: Path) -> None:
    assert helm_lint(tmp_path, values()) == []


def test_helm_lint_passes_with_every_optional_part_on(tmp_path: Path) -> None:
    assert helm_lint(tmp_path, merged(values(), ALL_ON)) == []


def test_helm_lint_fails_a_value_the_schema_refuses(tmp_path: Path) -> None:
    problems = helm_lint(tmp_path, merged(values(), {"api": {"replicas": "many"}}))
    assert problems
    assert {p["Severity"] for p in problems} == {3}


def test_the_prometheus_rule_comes_from_the_shared_rules_file() -> None:
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
