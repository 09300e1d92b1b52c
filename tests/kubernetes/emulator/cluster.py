"""The emulated cluster: objects, ResourceQuota admission, and stand-ins for the controllers."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from kubernetes.utils import parse_quantity

from tests.kubernetes.emulator import cdi, kubevirt
from tests.kubernetes.emulator.api import (
    BY_KIND,
    DNS_LABEL,
    DNS_SUBDOMAIN,
    LABEL_NAME,
    LABEL_VALUE,
    RESOURCES,
    WITH_STATUS,
    ApiError,
    Obj,
    Resource,
    Validator,
    details_of,
    forbidden,
    format_quantity,
    invalid,
    not_found,
    owned_by,
)
from tests.kubernetes.emulator.rbac import Authorizer

# --- the emulated cluster ----------------------------------------------------------------------------


@dataclass
class Fault:
    """The next ``times`` requests whose method and path match answer ``status`` or are reset; ``before``
    runs first (another client acting in between), and with ``status`` None the request is then served."""

    method: str  # or "*" for any
    path: str  # a regular expression searched in the path
    status: int | None = 503
    reset: bool = False
    times: int = 1
    before: Callable[[], object] | None = None


@dataclass
class Cluster:
    validate: Validator | None = None
    hold: set[str] = field(default_factory=set)  # kinds whose controllers leave them not ready
    broken_images: set[str] = field(default_factory=set)
    hold_terminating: bool = False
    # the custom API groups whose operators are installed (KubeVirt's, CDI's)
    served: set[str] = field(default_factory=lambda: {"kubevirt.io/v1", "cdi.kubevirt.io/v1beta1"})
    authorizer: Authorizer | None = None  # None: the identity may do anything (rbac.py)
    launcher_overhead_mb: int = 256  # memory a virt-launcher pod asks beyond its VM's (see kubevirt.py)
    objects: dict[tuple[str, str | None, str], Obj] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    written: list[Obj] = field(default_factory=list)  # every body accepted by a create or update
    version: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- storage --

    def _bump(self, obj: Obj) -> None:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)

    def items(self, kind: str, namespace: str | None = None) -> list[Obj]:
        return [
            obj
            for (k, ns, _), obj in sorted(self.objects.items())
            if k == kind and (namespace is None or ns == namespace)
        ]

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        return self.objects.get((kind, namespace, name))

    # -- writes --

    def _check(self, resource: Resource, body: Obj, name: str) -> None:
        meta = body.get("metadata") or {}
        pattern = DNS_LABEL if resource.kind == "Namespace" else DNS_SUBDOMAIN
        limit = 63 if resource.kind == "Namespace" else 253
        causes = []
        if not pattern.match(name) or len(name) > limit:
            causes.append(f'metadata.name: Invalid value: "{name}": must be a lowercase RFC 1123 name')
        for key, value in (meta.get("labels") or {}).items():
            prefix, _, label = key.rpartition("/")
            if not LABEL_NAME.match(label) or len(label) > 63 or (prefix and not DNS_SUBDOMAIN.match(prefix)):
                causes.append(
                    f'metadata.labels: Invalid value: "{key}": name part must be a valid label name'
                )
            if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
                causes.append(
                    f'metadata.labels: Invalid value: "{value}": a valid label must be 63 characters or less'
                )
        if body.get("kind") != resource.kind or body.get("apiVersion") != resource.group_version:
            causes.append(f"kind/apiVersion: must be {resource.kind} {resource.group_version}")
        if self.validate is not None and not causes:
            causes.extend(self.validate(body))
        if causes:
            raise invalid(resource, name, causes)

    def create(self, resource: Resource, namespace: str | None, body: Obj, *, admit: bool = True) -> Obj:
        with self.lock:
            body = copy.deepcopy(body)
            meta = body.setdefault("metadata", {})
            name = str(meta.get("name") or "")
            # Refusals name an object made by generateName as its prefix ("virt-launcher-vm1-"), as the
            # API server does: admission runs before the name is made up.
            shown = name or str(meta.get("generateName") or "")
            if not name and shown:
                name = meta["name"] = f"{shown}{uuid.uuid4().hex[:5]}"
            if resource.namespaced:
                if meta.get("namespace", namespace) != namespace:
                    raise ApiError(
                        400,
                        "BadRequest",
                        "the namespace of the provided object does not match the namespace sent on the "
                        "request",
                    )
                meta["namespace"] = namespace
            self._check(resource, body, name)
            if resource.namespaced:
                assert namespace is not None
                ns = self.get("Namespace", namespace)
                if ns is None:
                    raise not_found(BY_KIND["Namespace"], namespace)
                if ns["status"]["phase"] == "Terminating":
                    raise forbidden(
                        resource,
                        shown,
                        f"unable to create new content in namespace {namespace} "
                        "because it is being terminated",
                    )
            if (resource.kind, namespace, name) in self.objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{resource.qualified} "{name}" already exists',
                    details_of(resource, name),
                )
            if admit and namespace is not None:
                self._admit(resource, namespace, shown, body)
            body.pop("status", None)
            _canonical(body)
            meta.update(
                uid=str(uuid.uuid4()),
                creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            if resource.kind != "Namespace":
                meta["generation"] = 1
            else:
                meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
                body["status"] = {"phase": "Active"}
                body.setdefault("spec", {"finalizers": ["kubernetes"]})
            self._bump(body)
            self.objects[(resource.kind, namespace, name)] = body
            self.written.append(copy.deepcopy(body))
            self._control(body)
            return body

    def replace(self, resource: Resource, namespace: str | None, name: str, body: Obj) -> Obj:
        with self.lock:
            current = self.get(resource.kind, name, namespace)
            if current is None:
                raise not_found(resource, name)
            body = copy.deepcopy(body)
            meta = body.setdefault("metadata", {})
            if meta.get("name") != name:
                raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
            if resource.namespaced:
                meta["namespace"] = namespace
            self._check(resource, body, name)
            wanted = meta.get("resourceVersion")
            if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource.qualified} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    details_of(resource, name),
                )
            if resource.kind == "RoleBinding" and body.get("roleRef") != current.get("roleRef"):
                raise invalid(resource, name, ["roleRef: Invalid value: cannot change roleRef"])
            for kept in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
                if kept in current["metadata"]:
                    meta[kept] = current["metadata"][kept]
            _canonical(body)
            if resource.kind in WITH_STATUS:
                body["status"] = copy.deepcopy(current.get("status"))
                if body["status"] is None:
                    body.pop("status")
            if body.get("spec") != current.get("spec") and "generation" in meta:
                meta["generation"] += 1
            self._bump(body)
            self.objects[(resource.kind, namespace, name)] = body
            self.written.append(copy.deepcopy(body))
            self._control(body)
            return body

    def delete(self, resource: Resource, namespace: str | None, name: str) -> Obj:
        with self.lock:
            current = self.get(resource.kind, name, namespace)
            if current is None:
                raise not_found(resource, name)
            if resource.kind == "Namespace":
                for key in [k for k in self.objects if k[1] == name]:
                    self.objects.pop(key)
                if self.hold_terminating:
                    current["status"]["phase"] = "Terminating"
                    current["metadata"]["deletionTimestamp"] = datetime.now(UTC).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    )
                    self._bump(current)
                    return current
            self.objects.pop((resource.kind, namespace, name))
            self._collect(current["metadata"]["uid"])
            return current

    def finish_imports(self) -> None:
        """Held imports complete, and the VMs waiting for them start (CDI's and KubeVirt's next passes)."""
        with self.lock:
            self.hold.discard("DataVolume")
            for data_volume in self.items("DataVolume"):
                cdi.run_data_volume(self, data_volume)
            for vm in self.items("VirtualMachine"):
                self._control(vm)

    def finish_terminating(self) -> None:
        with self.lock:
            for ns in self.items("Namespace"):
                if ns["status"]["phase"] == "Terminating":
                    self.objects.pop(("Namespace", None, ns["metadata"]["name"]))

    def _collect(self, owner_uid: str) -> None:
        """The garbage collector: whatever names a deleted object as its owner goes too."""
        for key, obj in list(self.objects.items()):
            owners = obj["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == owner_uid for ref in owners) and key in self.objects:
                self.objects.pop(key)
                self._collect(obj["metadata"]["uid"])

    # -- ResourceQuota admission --

    def _usage(self, namespace: str, name: str) -> Decimal:
        """What the namespace uses of the quota resource ``name``."""
        total = Decimal(0)
        if name.startswith("count/"):
            qualified = name.removeprefix("count/")
            kind = next(r.kind for r in RESOURCES if r.qualified == qualified)
            return Decimal(len(self.items(kind, namespace)))
        if name == "persistentvolumeclaims":
            return Decimal(len(self.items("PersistentVolumeClaim", namespace)))
        if name == "requests.storage":
            for claim in self.items("PersistentVolumeClaim", namespace):
                total += _claim_storage(claim)
            return total
        if name == "pods":
            return Decimal(len(self.items("Pod", namespace)))
        for pod in self.items("Pod", namespace):
            total += _pod_amount(pod, name)
        return total

    def _delta(self, resource: Resource, body: Obj, name: str) -> Decimal:
        if name == f"count/{resource.qualified}" or (
            name in ("persistentvolumeclaims", "pods") and name == resource.plural
        ):
            return Decimal(1)
        if resource.kind == "PersistentVolumeClaim" and name == "requests.storage":
            return _claim_storage(body)
        if resource.kind == "Pod":
            return _pod_amount(body, name)
        return Decimal(0)

    def _admit(self, resource: Resource, namespace: str, name: str, body: Obj) -> None:
        for quota in self.items("ResourceQuota", namespace):
            hard: dict[str, str] = quota["spec"].get("hard") or {}
            exceeded = []
            for resource_name, limit in sorted(hard.items()):
                delta = self._delta(resource, body, resource_name)
                if not delta:
                    continue
                used = self._usage(namespace, resource_name)
                if used + delta > parse_quantity(limit):
                    exceeded.append((resource_name, delta, used, limit))
            if exceeded:
                requested = ",".join(f"{n}={format_quantity(d, limit)}" for n, d, _, limit in exceeded)
                used_now = ",".join(f"{n}={format_quantity(u, limit)}" for n, _, u, limit in exceeded)
                limited = ",".join(
                    f"{n}={format_quantity(parse_quantity(limit), limit)}" for n, _, _, limit in exceeded
                )
                why = (
                    f"exceeded quota: {quota['metadata']['name']}, requested: {requested}, "
                    f"used: {used_now}, limited: {limited}"
                )
                raise forbidden(resource, name, why)

    def quota_status(self, quota: Obj) -> Obj:
        namespace = quota["metadata"]["namespace"]
        hard = dict(quota["spec"].get("hard") or {})
        used = {name: format_quantity(self._usage(namespace, name), value) for name, value in hard.items()}
        return {"hard": hard, "used": used}

    # -- controllers --

    def _control(self, obj: Obj) -> None:
        kind = obj["kind"]
        if kind == "DataVolume":
            cdi.run_data_volume(self, obj)  # held, it stays importing
            return
        if kind in self.hold:
            return
        if kind == "PersistentVolumeClaim":
            class_name = obj["spec"].get("storageClassName")
            storage = self.get("StorageClass", class_name) if class_name else None
            waits = storage is not None and storage.get("volumeBindingMode") == "WaitForFirstConsumer"
            obj["status"] = (
                {"phase": "Pending"}
                if waits
                else {"phase": "Bound", "accessModes": obj["spec"]["accessModes"]}
            )
        elif kind == "VirtualMachine":
            kubevirt.run_vm(self, obj)
        elif kind == "Deployment":
            self._run_deployment(obj)

    def address(self) -> str:
        return f"10.244.{self.version // 250 % 250}.{self.version % 250 + 2}"

    def _run_deployment(self, deployment: Obj) -> None:
        meta = deployment["metadata"]
        namespace = meta["namespace"]
        template = deployment["spec"]["template"]
        pods = [
            p
            for p in self.items("Pod", namespace)
            if any(ref["uid"] == meta["uid"] for ref in p["metadata"].get("ownerReferences") or [])
        ]
        # A changed pod template rolls the pods: those of another template are replaced, at once (a real
        # Deployment surges through a new ReplicaSet and waits for readiness).
        for pod in list(pods):
            pod_meta = pod["metadata"]
            if (
                (pod_meta.get("annotations") or {}) != (template["metadata"].get("annotations") or {})
                or (pod_meta.get("labels") or {}) != (template["metadata"].get("labels") or {})
                or pod["spec"] != template["spec"]
            ):
                self.delete(BY_KIND["Pod"], namespace, pod_meta["name"])
                pods.remove(pod)
        conditions: list[Obj] = []
        for i in range(len(pods), int(deployment["spec"].get("replicas", 1))):
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{meta['name']}-{uuid.uuid4().hex[:5]}",
                    "labels": dict(template["metadata"].get("labels") or {}),
                    "annotations": dict(template["metadata"].get("annotations") or {}),
                    "ownerReferences": owned_by(deployment),
                },
                "spec": copy.deepcopy(template["spec"]),
            }
            try:
                made = self.create(BY_KIND["Pod"], namespace, pod)
            except ApiError as exc:
                conditions.append(
                    {
                        "type": "ReplicaFailure",
                        "status": "True",
                        "reason": "FailedCreate",
                        "message": str(exc),
                    }
                )
                break
            made["status"] = {"phase": "Running", "podIP": self.address()}
            pods.append(made)
            del i
        ready = len(pods)
        deployment["status"] = {
            "replicas": ready,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": meta.get("generation", 1),
            "conditions": conditions,
        }


def _canonical(obj: Obj) -> None:
    """Quantities are stored, and sent back, in canonical form ("8192Mi" comes back "8Gi")."""
    if obj.get("kind") == "ResourceQuota":
        hard = (obj.get("spec") or {}).get("hard") or {}
        for name, value in hard.items():
            hard[name] = format_quantity(parse_quantity(value), str(value))


def _claim_storage(claim: Obj) -> Decimal:
    requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
    return Decimal(parse_quantity(requests.get("storage", "0")))


def _pod_amount(pod: Obj, name: str) -> Decimal:
    """requests.cpu, limits.memory … of a pod: the sum over its containers (``cpu`` means requests.cpu)."""
    which, _, resource = name.rpartition(".")
    which = which or "requests"
    total = Decimal(0)
    for container in (pod.get("spec") or {}).get("containers") or []:
        amounts = (container.get("resources") or {}).get(which) or {}
        total += parse_quantity(amounts.get(resource, "0"))
    return total
