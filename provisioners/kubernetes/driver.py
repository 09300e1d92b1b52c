"""The Kubernetes driver: departments as namespaces; servers, volumes and bandwidth limits in them."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from provisioners.base import (
    BandwidthSpec,
    Driver,
    InvalidSettings,
    Kind,
    Observed,
    PermanentError,
    ResourceKey,
    ServerSpec,
    Spec,
    Tenancy,
    TenancyRef,
    VolumeSpec,
)
from provisioners.kubernetes import objects, tenancy, workloads
from provisioners.kubernetes.api import Kube
from provisioners.kubernetes.errors import Edge
from provisioners.kubernetes.settings import KubernetesSettings, parse_settings

SPEC_OF_KIND: dict[Kind, type[Spec]] = {
    Kind.server: ServerSpec,
    Kind.volume: VolumeSpec,
    Kind.bandwidth: BandwidthSpec,
}


def kubeconfig(settings: KubernetesSettings) -> client.Configuration | None:
    """The client configuration from the kubeconfig file (local only: nothing is contacted), or None for
    in-cluster, which only the worker's pod can load (so it is loaded at the first call)."""
    if settings.in_cluster:
        return None
    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=settings.kubeconfig,
            context=settings.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except Exception as exc:  # ConfigException, YAML errors, a missing key …: all say the file is unusable
        field = "context" if settings.context and settings.context in str(exc) else "kubeconfig"
        raise InvalidSettings(f"{field}: {exc}", field=field) from exc
    return configuration


class KubernetesDriver(Driver):
    """One zone on one Kubernetes cluster, administered with one identity (kubeconfig or service account).

    Safe to share between threads: the API client is made once under a lock, and every call is idempotent.
    """

    name: ClassVar[str] = "kubernetes"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = parse_settings(settings)
        self._configuration = kubeconfig(self.settings)
        self._edge = Edge(self.settings.retry_attempts, self.settings.retry_max_seconds)
        self._lock = threading.Lock()
        self._kube: Kube | None = None

    # --- the contract --------------------------------------------------------------------------------

    def check(self) -> None:
        self._edge.run(self._check)

    def ensure_tenancy(self, tenancy: Tenancy) -> TenancyRef:
        return self._edge.run(lambda: self._ensure_tenancy(tenancy))

    def observe(self, key: ResourceKey, tenancy: Tenancy) -> Observed:
        return self._edge.run(lambda: self._observe(key, tenancy))

    def create(self, key: ResourceKey, spec: Spec, tenancy: Tenancy, *, first: bool = False) -> Observed:
        # The API server refuses a second object of one name (409): nothing to gain from skipping a look.
        return self._edge.run(lambda: self._create(key, spec, tenancy))

    def delete(self, key: ResourceKey, tenancy: Tenancy) -> None:
        self._edge.run(lambda: self._delete(key, tenancy))

    def close(self) -> None:
        with self._lock:
            if self._kube is not None:
                self._kube.api_client.close()
                self._kube = None

    # --- the client ----------------------------------------------------------------------------------

    def kube(self) -> Kube:
        with self._lock:
            if self._kube is None:
                configuration = self._configuration
                if configuration is None:
                    configuration = client.Configuration()
                    config.load_incluster_config(client_configuration=configuration)
                # tenacity at the edge is the one place that retries; urllib3 must not retry underneath.
                configuration.retries = False
                self._kube = Kube(client.ApiClient(configuration), self.settings.timeout)
            return self._kube

    def namespace(self, wanted: Tenancy) -> str:
        return objects.namespace_name(self.settings.namespace_prefix, wanted.department_code)

    # --- the calls -----------------------------------------------------------------------------------

    def _check(self) -> None:
        kube = self.kube()
        client.VersionApi(kube.api_client).get_code(_request_timeout=self.settings.timeout)
        if self.settings.workload == "vm":
            self._served(
                "kubevirt.io/v1",
                "workload",
                "is KubeVirt installed?); use workload container for a cluster without it",
            )
            if self.settings.root_disk == "dataVolume":
                self._served(
                    "cdi.kubevirt.io/v1beta1",
                    "root_disk",
                    "is CDI installed?); use root_disk containerDisk for a cluster without it",
                )
        classes = {
            f"storage_classes.{volume_type}": name
            for volume_type, name in self.settings.storage_classes.items()
        }
        if self.settings.workload == "vm" and self.settings.root_disk == "dataVolume":
            classes["root_storage_class"] = self.settings.root_storage_class
        for field, name in classes.items():
            if name is not None and kube.get("StorageClass", name) is None:
                raise InvalidSettings(f"the cluster has no StorageClass {name!r}", field=field)

    def _served(self, group_version: str, field: str, advice: str) -> None:
        group, version = group_version.split("/")
        try:
            self.kube().custom.get_api_resources(group, version, _request_timeout=self.settings.timeout)
        except ApiException as exc:
            if exc.status != 404:
                raise
            raise InvalidSettings(
                f"the cluster does not serve {group_version} ({advice}", field=field
            ) from exc

    def _ensure_tenancy(self, wanted: Tenancy) -> TenancyRef:
        details = tenancy.ensure(self.kube(), self.namespace(wanted), wanted, self.settings)
        return TenancyRef(backend_id=details["namespace"], details=details)

    def _present(self, wanted: Tenancy) -> str | None:
        """The department's namespace if it is there (and is the department's)."""
        name = self.namespace(wanted)
        found = self.kube().get("Namespace", name)
        if found is None:
            return None
        tenancy.check_owner(found, wanted.department_code)
        return name

    def _observe(self, key: ResourceKey, wanted: Tenancy) -> Observed:
        ns = self._present(wanted)
        if ns is None:
            return Observed.absent()
        if key.kind is Kind.server:
            return workloads.observe_server(self.kube(), ns, key, self.settings)
        if key.kind is Kind.volume:
            return workloads.observe_volume(self.kube(), ns, key)
        return workloads.observe_bandwidth(self.kube(), ns, key, self.settings)

    def _create(self, key: ResourceKey, spec: Spec, wanted: Tenancy) -> Observed:
        if not isinstance(spec, SPEC_OF_KIND[key.kind]):
            raise PermanentError(f"a {key.kind} needs a {SPEC_OF_KIND[key.kind].__name__}, not {spec!r}")
        ns = self._present(wanted)
        if ns is None:
            # Normally ensure_tenancy ran first; if not (or the namespace went), set the department up now.
            ns = self._ensure_tenancy(wanted).backend_id
        kube = self.kube()
        if isinstance(spec, ServerSpec):
            return workloads.create_server(kube, ns, key, spec, self.settings)
        if isinstance(spec, VolumeSpec):
            return workloads.create_volume(kube, ns, key, spec, self.settings)
        # A namespace's ResourceQuota refusing a claim (403 "exceeded quota") is permanent at the edge.
        return workloads.create_bandwidth(kube, ns, key, spec, self.settings)

    def _delete(self, key: ResourceKey, wanted: Tenancy) -> None:
        ns = self._present(wanted)
        if ns is None:
            return  # no namespace, so nothing of the department's is left
        if key.kind is Kind.server:
            workloads.delete_server(self.kube(), ns, key, self.settings)
        elif key.kind is Kind.volume:
            workloads.delete_volume(self.kube(), ns, key)
        else:
            workloads.delete_bandwidth(self.kube(), ns, key, self.settings)
