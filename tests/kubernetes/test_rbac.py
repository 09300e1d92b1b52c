"""The RBAC cloudsvc ships for a zone's cluster (charts/cloudsvc/files/kubernetes-zone-rbac.yaml) is valid
Kubernetes and is exactly what the driver needs: run as that ClusterRole against the emulator, which then
authorizes every request as RBAC would (emulator/rbac.py), the driver goes through everything it does in
all its modes, is refused nothing, and every rule is used. A permission taken away is refused in the API
server's words."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioners.base import (
    BandwidthSpec,
    Kind,
    PermanentError,
    ResourceKey,
    ServerSpec,
    State,
    VolumeSpec,
)
from tests.kubernetes import schemas
from tests.kubernetes.conftest import DriverFactory, tenancy
from tests.kubernetes.emulator import Authorizer, Emulator, grants

MANIFEST = Path(__file__).resolve().parents[2] / "charts/cloudsvc/files/kubernetes-zone-rbac.yaml"
SERVER = ServerSpec(vcpus=1, ram_mb=1024, disk_gb=10, image="kylin")
USER = "system:serviceaccount:cloudsvc-system:cloudsvc-driver"


def documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc]


def of_kind(kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents() if doc["kind"] == kind]
    return found


def rules(*also_bind: str) -> list[dict[str, Any]]:
    """The ClusterRole's rules; ``also_bind``: roles added to its bind rule, as the guide says to do for
    each department_role a zone names."""
    found: list[dict[str, Any]] = copy.deepcopy(of_kind("ClusterRole")["rules"])
    for rule in found:
        if rule["verbs"] == ["bind"]:
            rule["resourceNames"] = [*rule["resourceNames"], *also_bind]
    return found


def test_the_manifest_conforms_to_the_kubernetes_schemas() -> None:
    kinds = [doc["kind"] for doc in documents()]
    assert kinds == ["Namespace", "ServiceAccount", "Secret", "ClusterRole", "ClusterRoleBinding"]
    for doc in documents():
        assert schemas.problems(doc) == [], doc
    binding, account = of_kind("ClusterRoleBinding"), of_kind("ServiceAccount")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": of_kind("ClusterRole")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]
    token = of_kind("Secret")
    assert (
        token["metadata"]["annotations"]["kubernetes.io/service-account.name"] == account["metadata"]["name"]
    )


def test_the_operators_guide_lists_exactly_the_roles_grants() -> None:
    """The table in docs/operators-guide.md ("The ClusterRole grants:") says what the manifest grants."""
    guide = (MANIFEST.parents[3] / "docs/operators-guide.md").read_text()
    table = guide.split("The ClusterRole grants:\n\n", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    listed = set()
    for row in table:
        group, resources, verbs = (cell.strip() for cell in row.strip("|").split("|"))
        plain, *named = resources.split("`")  # "clusterroles `edit`": resourceNames in backquotes
        for resource in plain.split(","):
            for verb in verbs.split(","):
                names = tuple(n.strip() for n in named if n.strip())
                listed.add((group.strip("`").strip('"'), resource.strip(), verb.strip(), names))
    granted = {
        (group, resource, verb, tuple(rule.get("resourceNames") or ()))
        for rule in rules()
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert listed == granted


def test_a_misspelt_rule_would_be_refused() -> None:
    role = copy.deepcopy(of_kind("ClusterRole"))
    role["rules"][0]["verb"] = role["rules"][0].pop("verbs")
    assert schemas.problems(role)


def everything(make_driver: DriverFactory, emulator: Emulator) -> None:
    """All the driver does, in each of its modes: what it needs must then have been asked for."""
    department = tenancy()
    vm = make_driver()
    vm.check()
    vm.ensure_tenancy(department)
    vm.ensure_tenancy(tenancy(classification="classified", limits={"servers": 5, "vcpus": 16}))
    vm.ensure_tenancy(department)
    make_driver(department_role="view").ensure_tenancy(department)  # a changed roleRef: bound anew
    make_driver().ensure_tenancy(department)
    ns = "dept-dept-a"
    drifted = [  # edited by hand in the cluster: each is put back
        (emulator.cluster.get("LimitRange", "cloudsvc-defaults", ns), "spec", {"limits": []}),
        (emulator.cluster.get("NetworkPolicy", "cloudsvc-default-deny", ns), "spec", {"podSelector": {}}),
        (emulator.cluster.get("RoleBinding", "cloudsvc-department", ns), "subjects", []),
    ]
    for obj, part, value in drifted:
        assert obj is not None
        obj[part] = value
    vm.ensure_tenancy(department)
    server, volume, limit = (
        ResourceKey("srv", 0, Kind.server),
        ResourceKey("vol", 0, Kind.volume),
        ResourceKey("bw", 0, Kind.bandwidth),
    )
    assert vm.create(server, SERVER, department).state is State.ready
    assert vm.create(limit, BandwidthSpec(10, "both"), department).state is State.ready
    assert vm.create(volume, VolumeSpec(5, "local"), department).state is State.ready
    for key in (limit, volume, server):
        vm.observe(key, department)
        vm.delete(key, department)

    disks = make_driver(root_disk="dataVolume", root_storage_class="fast-ssd")
    disks.check()
    emulator.cluster.hold.add("DataVolume")
    assert disks.create(server, SERVER, department).state is State.building
    disks.delete(server, department)

    containers = make_driver(workload="container")
    containers.check()
    assert containers.create(server, SERVER, department).state is State.ready
    assert containers.create(limit, BandwidthSpec(10, "egress"), department).state is State.ready
    containers.delete(limit, department)
    containers.delete(server, department)


def test_the_driver_needs_no_more_and_no_less_than_the_cluster_role(
    make_driver: DriverFactory, emulator: Emulator
) -> None:
    authorizer = Authorizer(rules("view"), user=USER)
    emulator.cluster.authorizer = authorizer
    everything(make_driver, emulator)  # any refusal raises PermanentError
    assert authorizer.used == grants(authorizer.rules)


@pytest.mark.parametrize(
    ("taken", "act", "refusal"),
    [
        (
            ("", "persistentvolumeclaims", "create"),
            lambda driver: driver.create(ResourceKey("vol", 0, Kind.volume), VolumeSpec(5, "ssd"), tenancy()),
            f'persistentvolumeclaims is forbidden: User "{USER}" cannot create resource '
            '"persistentvolumeclaims" in API group "" in the namespace "dept-dept-a"',
        ),
        (
            ("storage.k8s.io", "storageclasses", "get"),
            lambda driver: driver.check(),
            f'storageclasses.storage.k8s.io "standard" is forbidden: User "{USER}" cannot get resource '
            '"storageclasses" in API group "storage.k8s.io" at the cluster scope',
        ),
        (
            ("rbac.authorization.k8s.io", "clusterroles", "bind"),
            lambda driver: driver.ensure_tenancy(tenancy()),
            f'rolebindings.rbac.authorization.k8s.io "cloudsvc-department" is forbidden: user "{USER}" '
            "is attempting to grant RBAC permissions not currently held",
        ),
    ],
    ids=["create-claims", "read-classes", "bind-the-department-role"],
)
def test_a_permission_the_role_lacks_is_refused_in_the_api_servers_words(
    make_driver: DriverFactory, emulator: Emulator, taken: tuple[str, str, str], act: Any, refusal: str
) -> None:
    group, resource, verb = taken
    lacking = [
        {**rule, "verbs": [v for v in rule["verbs"] if v != verb]}
        if group in rule["apiGroups"] and resource in rule["resources"]
        else rule
        for rule in rules()
    ]
    emulator.cluster.authorizer = Authorizer(lacking, user=USER)
    with pytest.raises(PermanentError) as refused:
        act(make_driver())
    assert refusal in str(refused.value)
    assert "(HTTP 403 Forbidden)" in str(refused.value)
