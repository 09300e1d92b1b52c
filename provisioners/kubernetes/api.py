"""A thin layer over the official kubernetes client: every object as a plain dict (what the API server
sends and takes), addressed by kind. The typed models are turned into dicts at once, so the rest of the
driver reads and writes objects the same way whatever their kind, KubeVirt's custom resources included."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from provisioners.kubernetes.errors import reason_of

Obj = dict[str, Any]


@dataclass(frozen=True)
class Typed:
    """A built-in kind: which client API class serves it, and the suffix of its method names."""

    api: type[Any]
    suffix: str  # create_<suffix>, read_<suffix> …
    api_version: str
    namespaced: bool = True


@dataclass(frozen=True)
class Custom:
    """A custom resource (KubeVirt's, CDI's), served by CustomObjectsApi."""

    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


KINDS: dict[str, Typed | Custom] = {
    "Namespace": Typed(client.CoreV1Api, "namespace", "v1", namespaced=False),
    "ResourceQuota": Typed(client.CoreV1Api, "namespaced_resource_quota", "v1"),
    "LimitRange": Typed(client.CoreV1Api, "namespaced_limit_range", "v1"),
    "PersistentVolumeClaim": Typed(client.CoreV1Api, "namespaced_persistent_volume_claim", "v1"),
    "ConfigMap": Typed(client.CoreV1Api, "namespaced_config_map", "v1"),
    "Pod": Typed(client.CoreV1Api, "namespaced_pod", "v1"),
    "NetworkPolicy": Typed(client.NetworkingV1Api, "namespaced_network_policy", "networking.k8s.io/v1"),
    "RoleBinding": Typed(
        client.RbacAuthorizationV1Api, "namespaced_role_binding", "rbac.authorization.k8s.io/v1"
    ),
    "Deployment": Typed(client.AppsV1Api, "namespaced_deployment", "apps/v1"),
    "StorageClass": Typed(client.StorageV1Api, "storage_class", "storage.k8s.io/v1", namespaced=False),
    "VirtualMachine": Custom("kubevirt.io", "v1", "virtualmachines"),
    "VirtualMachineInstance": Custom("kubevirt.io", "v1", "virtualmachineinstances"),
    "DataVolume": Custom("cdi.kubevirt.io", "v1beta1", "datavolumes"),
}


class Kube:
    """get/list/create/replace/delete of any kind in KINDS, objects as dicts."""

    def __init__(self, api_client: client.ApiClient, timeout: float) -> None:
        self.api_client = api_client
        self.timeout = timeout
        self._apis: dict[type[Any], Any] = {}
        self.custom = client.CustomObjectsApi(api_client)

    def _api(self, kind: Typed) -> Any:
        if kind.api not in self._apis:
            self._apis[kind.api] = kind.api(self.api_client)
        return self._apis[kind.api]

    def _dict(self, value: Any) -> Obj:
        result: Obj = self.api_client.sanitize_for_serialization(value)
        return result

    def _call(self, kind: str, verb: str, namespace: str | None, *args: Any, **kwargs: Any) -> Any:
        spec = KINDS[kind]
        kwargs["_request_timeout"] = self.timeout
        if isinstance(spec, Custom):
            where = (spec.group, spec.version, namespace, spec.plural)
            method = getattr(self.custom, f"{verb}_namespaced_custom_object")
            return method(*where, *args, **kwargs)
        method = getattr(self._api(spec), f"{verb}_{spec.suffix}")
        if spec.namespaced:
            if verb in ("create", "list"):
                return method(namespace, *args, **kwargs)
            return method(args[0], namespace, *args[1:], **kwargs)
        return method(*args, **kwargs)

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        verb = "get" if isinstance(KINDS[kind], Custom) else "read"
        try:
            return self._dict(self._call(kind, verb, namespace, name))
        except ApiException as exc:
            if exc.status == 404 and reason_of(exc) == "NotFound":
                return None
            raise

    def list(self, kind: str, namespace: str, selector: str) -> list[Obj]:
        found = self._dict(self._call(kind, "list", namespace, label_selector=selector))
        items: list[Obj] = list(found.get("items") or [])
        for item in items:  # items of a list carry no kind of their own
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", KINDS[kind].api_version)
        return items

    def create(self, body: Obj) -> Obj | None:
        """The object as created, or None if one of that name exists already (409 AlreadyExists)."""
        try:
            return self._dict(self._call(body["kind"], "create", body["metadata"].get("namespace"), body))
        except ApiException as exc:
            if exc.status == 409 and reason_of(exc) == "AlreadyExists":
                return None
            raise

    def replace(self, body: Obj) -> Obj:
        """PUT with the resourceVersion read before: a 409 Conflict if someone changed it since."""
        metadata = body["metadata"]
        return self._dict(
            self._call(body["kind"], "replace", metadata.get("namespace"), metadata["name"], body)
        )

    def replace_if_present(self, body: Obj) -> Obj | None:
        """As replace, but None if the object was deleted since it was read (404 NotFound)."""
        try:
            return self.replace(body)
        except ApiException as exc:
            if exc.status == 404 and reason_of(exc) == "NotFound":
                return None
            raise

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        """False if there was nothing to delete."""
        try:
            self._call(kind, "delete", namespace, name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status == 404 and reason_of(exc) == "NotFound":
                return False
            raise
        return True
