"""The emulator keeps the API server's semantics the driver relies on; checked through the official
client, so a driver test that passes against it is not passing because the emulator is lenient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.kubernetes.emulator import Emulator, matches

NS = "team"


@pytest.fixture
def core(emulator: Emulator, kubeconfig: str) -> Iterator[Any]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        core: Any = client.CoreV1Api(api)  # Any: it wants its models; the tests send plain dicts
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        yield core


def config_map(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {}}


def status(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body or "")
    assert body["kind"] == "Status"
    assert body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


def test_a_name_clash_is_409_already_exists(core: Any) -> None:
    core.create_namespaced_config_map(NS, config_map("a"))
    with pytest.raises(ApiException) as clash:
        core.create_namespaced_config_map(NS, config_map("a"))
    body = status(clash.value)
    assert (clash.value.status, body["reason"], body["message"]) == (
        409,
        "AlreadyExists",
        'configmaps "a" already exists',
    )
    assert body["details"] == {"name": "a", "kind": "configmaps"}


def test_missing_is_404_not_found(core: Any) -> None:
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("nope", NS)
    body = status(missing.value)
    assert (missing.value.status, body["reason"], body["message"]) == (
        404,
        "NotFound",
        'configmaps "nope" not found',
    )
    with pytest.raises(ApiException) as no_namespace:
        core.create_namespaced_config_map("elsewhere", config_map("a"))
    assert status(no_namespace.value)["message"] == 'namespaces "elsewhere" not found'


def test_a_stale_resource_version_is_409_conflict(core: Any) -> None:
    made = core.create_namespaced_config_map(NS, config_map("a"))
    first = made.metadata.resource_version
    core.replace_namespaced_config_map("a", NS, {**config_map("a"), "data": {"k": "1"}})
    stale = {**config_map("a"), "metadata": {"name": "a", "resourceVersion": first}}
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("a", NS, stale)
    assert (conflict.value.status, status(conflict.value)["reason"]) == (409, "Conflict")
    assert int(core.read_namespaced_config_map("a", NS).metadata.resource_version) > int(first)


def test_label_selectors_select(core: Any) -> None:
    core.create_namespaced_config_map(NS, config_map("a", tier="web", env="prod"))
    core.create_namespaced_config_map(NS, config_map("b", tier="db", env="prod"))
    core.create_namespaced_config_map(NS, config_map("c", tier="web"))

    def selected(selector: str) -> list[str]:
        return sorted(
            i.metadata.name for i in core.list_namespaced_config_map(NS, label_selector=selector).items
        )

    assert selected("tier=web") == ["a", "c"]
    assert selected("tier=web,env=prod") == ["a"]
    assert selected("env!=prod") == ["c"]
    assert selected("tier in (db,web),!env") == ["c"]
    assert selected("env") == ["a", "b"]
    assert selected("tier notin (web)") == ["b"]
    assert not matches("a==b", {"a": "c"})


def test_an_invalid_object_is_422(core: Any) -> None:
    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_config_map(NS, {**config_map("Bad_Name")})
    body = status(invalid.value)
    assert (invalid.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name')


def test_deleting_a_namespace_deletes_its_content(core: Any, emulator: Emulator) -> None:
    core.create_namespaced_config_map(NS, config_map("a"))
    core.delete_namespace(NS)
    assert emulator.cluster.items("ConfigMap") == []
    with pytest.raises(ApiException) as gone:
        core.read_namespace(NS)
    assert gone.value.status == 404
