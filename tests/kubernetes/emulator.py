"""A Kubernetes API emulator: NOT A KUBE-APISERVER. A small real HTTP server on a loopback port, for the
paths the Kubernetes driver uses, with the API server's semantics where the driver depends on them.

No real kube-apiserver can run on these machines, so the driver is tested through the official client
against this. What it does, as the API server does:

- JSON over the real REST paths (/api/v1/…, /apis/<group>/<version>/…, namespaced and cluster-scoped);
  errors are ``Status`` objects with the API server's reasons, codes and message formats: 404 NotFound,
  409 AlreadyExists on a name clash, 409 Conflict on a stale resourceVersion, 422 Invalid, 403 Forbidden;
- uid, creationTimestamp, resourceVersion (one counter for everything) and generation on every object;
  a PUT with a stale resourceVersion is refused; status is not written through create or update;
- label selectors (=, ==, !=, in, notin, exists, !exists) on lists;
- objects in a namespace need the namespace; deleting a namespace deletes everything in it (and, with
  ``hold_terminating``, leaves it Terminating, refusing new content with 403, until ``finish_terminating``);
- deleting an object deletes what names it as owner (garbage collection, at once);
- ResourceQuota admission for persistentvolumeclaims, requests.storage, count/<resource> and the
  requests/limits of pods: over the quota is a 403 Forbidden with the API server's exact message;
- every object written is checked by ``validate`` (the tests pass the official OpenAPI schemas and the
  KubeVirt CRD schema) and refused with 422 Invalid when it does not conform;
- controllers, standing in for the cluster's: a VirtualMachine gets a VirtualMachineInstance with an
  address and becomes Running (or ErrImagePull for an image in ``broken_images``); a Deployment gets its
  pods (through quota admission: refused, it shows ReplicaFailure) and reports them ready; a claim binds
  (unless its StorageClass waits for a first consumer); ``hold`` keeps kinds from becoming ready.

What it does NOT do is listed in provisioners/kubernetes/README.md ("What the emulator does not cover").
Faults can be injected (``fail``): an HTTP status with a Status body, or a connection reset.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes.utils import parse_quantity

Obj = dict[str, Any]
TOKEN = "emulator-token"  # the one bearer token the emulator takes
Validator = Callable[[Obj], list[str]]


@dataclass(frozen=True)
class Resource:
    group_version: str  # "v1", "apps/v1" …
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.group_version.rpartition("/")[0]

    @property
    def qualified(self) -> str:
        """How the API server names the resource in messages: ``deployments.apps``, ``pods``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES = [
    Resource("v1", "namespaces", "Namespace", namespaced=False),
    Resource("v1", "resourcequotas", "ResourceQuota"),
    Resource("v1", "limitranges", "LimitRange"),
    Resource("v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    Resource("v1", "configmaps", "ConfigMap"),
    Resource("v1", "pods", "Pod"),
    Resource("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy"),
    Resource("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    Resource("apps/v1", "deployments", "Deployment"),
    Resource("storage.k8s.io/v1", "storageclasses", "StorageClass", namespaced=False),
    Resource("kubevirt.io/v1", "virtualmachines", "VirtualMachine"),
    Resource("kubevirt.io/v1", "virtualmachineinstances", "VirtualMachineInstance"),
]
BY_PATH = {(r.group_version, r.plural): r for r in RESOURCES}
BY_KIND = {r.kind: r for r in RESOURCES}
WITH_STATUS = {"Namespace", "ResourceQuota", "PersistentVolumeClaim", "Pod", "Deployment"} | {
    "VirtualMachine",
    "VirtualMachineInstance",
}
# Kinds whose DELETE answers with the object (as their registries do), not with a Status.
RETURN_DELETED = {"Namespace", "PersistentVolumeClaim", "Pod", "ResourceQuota", "VirtualMachine"} | {
    "VirtualMachineInstance"
}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.status: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
        if details is not None:
            self.status["details"] = details


def _details(resource: Resource, name: str) -> Obj:
    details = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource.qualified} "{name}" not found', _details(resource, name))


def forbidden(resource: Resource, name: str, why: str) -> ApiError:
    return ApiError(
        403, "Forbidden", f'{resource.qualified} "{name}" is forbidden: {why}', _details(resource, name)
    )


def invalid(resource: Resource, name: str, causes: list[str]) -> ApiError:
    kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
    message = f'{kind} "{name}" is invalid: ' + (causes[0] if len(causes) == 1 else f"[{', '.join(causes)}]")
    details = {**_details(resource, name), "kind": resource.kind, "causes": [{"message": c} for c in causes]}
    return ApiError(422, "Invalid", message, details)


def format_quantity(value: Decimal, like: str) -> str:
    """A quantity the way the API server prints one: in the binary suffixes when ``like`` used them,
    with the largest suffix that keeps it whole; milli-units for fractions."""
    if value != value.to_integral_value():
        return f"{int(value * 1000)}m"
    whole = int(value)
    if any(like.endswith(suffix) for suffix in BINARY):
        for suffix, power in sorted(BINARY.items(), key=lambda item: -item[1]):
            if whole and whole % (1024**power) == 0:
                return f"{whole // 1024**power}{suffix}"
    return str(whole)


# --- label selectors ---------------------------------------------------------------------------------


def _requirements(selector: str) -> Iterator[str]:
    depth, start = 0, 0
    for i, char in enumerate(selector):
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            yield selector[start:i].strip()
            start = i + 1
    if selector[start:].strip():
        yield selector[start:].strip()


def matches(selector: str, labels: dict[str, str]) -> bool:
    for requirement in _requirements(selector):
        set_based = re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", requirement)
        if set_based:
            key, op, values = set_based.groups()
            allowed = {v.strip() for v in values.split(",")}
            if (op == "in") != (labels.get(key) in allowed):
                return False
        elif "!=" in requirement:
            key, value = requirement.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in requirement:
            key, value = requirement.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif requirement.startswith("!"):
            if requirement[1:].strip() in labels:
                return False
        elif requirement not in labels:
            return False
    return True


# --- the emulated cluster ----------------------------------------------------------------------------


@dataclass
class Fault:
    """The next ``times`` requests whose method and path match answer ``status`` or are reset."""

    method: str  # or "*" for any
    path: str  # a regular expression searched in the path
    status: int | None = 503
    reset: bool = False
    times: int = 1


@dataclass
class Cluster:
    validate: Validator | None = None
    hold: set[str] = field(default_factory=set)  # kinds whose controllers leave them not ready
    broken_images: set[str] = field(default_factory=set)
    hold_terminating: bool = False
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
                        name,
                        f"unable to create new content in namespace {namespace} "
                        "because it is being terminated",
                    )
            if (resource.kind, namespace, name) in self.objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{resource.qualified} "{name}" already exists',
                    _details(resource, name),
                )
            if admit and namespace is not None:
                self._admit(resource, namespace, name, body)
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
                    _details(resource, name),
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
            self._run_vm(obj)
        elif kind == "Deployment":
            self._run_deployment(obj)

    def _address(self) -> str:
        return f"10.244.{self.version // 250 % 250}.{self.version % 250 + 2}"

    def _owner(self, obj: Obj) -> list[Obj]:
        meta = obj["metadata"]
        return [
            {
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]

    def _run_vm(self, vm: Obj) -> None:
        meta = vm["metadata"]
        volumes = vm["spec"]["template"]["spec"].get("volumes") or []
        images = {(v.get("containerDisk") or {}).get("image") for v in volumes}
        if images & self.broken_images:
            vm["status"] = {
                "printableStatus": "ErrImagePull",
                "ready": False,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "ErrImagePull",
                        "message": "Back-off pulling image",
                    }
                ],
            }
            return
        if self.get("VirtualMachineInstance", meta["name"], meta["namespace"]) is None:
            vmi = {
                "apiVersion": "kubevirt.io/v1",
                "kind": "VirtualMachineInstance",
                "metadata": {
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "labels": dict(vm["spec"]["template"].get("metadata", {}).get("labels") or {}),
                    "annotations": dict(vm["spec"]["template"].get("metadata", {}).get("annotations") or {}),
                    "ownerReferences": self._owner(vm),
                },
                "spec": vm["spec"]["template"]["spec"],
            }
            made = self.create(BY_KIND["VirtualMachineInstance"], meta["namespace"], vmi, admit=False)
            made["status"] = {
                "phase": "Running",
                "interfaces": [
                    {"name": "default", "ipAddress": self._address(), "ipAddresses": [self._address()]}
                ],
            }
        vm["status"] = {"printableStatus": "Running", "ready": True, "created": True}

    def _run_deployment(self, deployment: Obj) -> None:
        meta = deployment["metadata"]
        namespace = meta["namespace"]
        template = deployment["spec"]["template"]
        pods = [
            p
            for p in self.items("Pod", namespace)
            if any(ref["uid"] == meta["uid"] for ref in p["metadata"].get("ownerReferences") or [])
        ]
        conditions: list[Obj] = []
        for i in range(len(pods), int(deployment["spec"].get("replicas", 1))):
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{meta['name']}-{uuid.uuid4().hex[:5]}",
                    "labels": dict(template["metadata"].get("labels") or {}),
                    "annotations": dict(template["metadata"].get("annotations") or {}),
                    "ownerReferences": self._owner(deployment),
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
            made["status"] = {"phase": "Running", "podIP": self._address()}
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


# --- HTTP --------------------------------------------------------------------------------------------


def _route(path: str) -> tuple[Resource, str | None, str | None]:
    """(resource, namespace, name) of a REST path."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group_version, rest = "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        raise LookupError(path)
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not 1 <= len(rest) <= 2 or (group_version, rest[0]) not in BY_PATH:
        raise LookupError(path)
    resource = BY_PATH[(group_version, rest[0])]
    if resource.namespaced != (namespace is not None) and not (len(rest) == 1 and namespace is None):
        raise LookupError(path)
    return resource, namespace, rest[1] if len(rest) == 2 else None


class Emulator:
    """The cluster served over HTTP on 127.0.0.1 in a thread; ``kubeconfig`` writes a file to reach it."""

    def __init__(self, cluster: Cluster | None = None) -> None:
        self.cluster = cluster or Cluster()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the tests read emulator.cluster.log instead

            def do_GET(self) -> None:
                emulator.handle(self, "GET")

            def do_POST(self) -> None:
                emulator.handle(self, "POST")

            def do_PUT(self) -> None:
                emulator.handle(self, "PUT")

            def do_DELETE(self) -> None:
                emulator.handle(self, "DELETE")

            def do_PATCH(self) -> None:
                emulator.handle(self, "PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="k8s-emulator", daemon=True)

    def __enter__(self) -> Emulator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def kubeconfig(self, path: Path, *, context: str = "emulator", token: str = TOKEN) -> Path:
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "cloudsvc", "user": {"token": token}}],
            "contexts": [
                {"name": context, "context": {"cluster": "emulator", "user": "cloudsvc"}},
                {
                    "name": "elsewhere",
                    "context": {"cluster": "emulator", "user": "cloudsvc", "namespace": "x"},
                },
            ],
            "current-context": context,
        }
        path.write_text(json.dumps(document))  # JSON is YAML
        return path

    def fail(
        self, method: str, path: str, *, status: int | None = 503, reset: bool = False, times: int = 1
    ) -> None:
        with self.cluster.lock:
            self.cluster.faults.append(Fault(method, path, status, reset, times))

    def _fault(self, method: str, path: str) -> Fault | None:
        with self.cluster.lock:
            for fault in self.cluster.faults:
                if fault.method in (method, "*") and re.search(fault.path, path) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(request.path)
        url = url._replace(path=url.path.rstrip("/") or "/")
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        self.cluster.log.append((method, url.path))
        fault = self._fault(method, url.path)
        if fault is not None and fault.reset:
            # An abortive close (RST), as a crashed or overloaded proxy does.
            request.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            request.close_connection = True
            request.connection.close()
            return
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(request, 401, ApiError(401, "Unauthorized", "Unauthorized").status)
            return
        if fault is not None and fault.status is not None:
            error = ApiError(fault.status, "InternalError", f"injected fault on {method} {url.path}")
            self._send(request, fault.status, error.status)
            return
        try:
            code, body = self._answer(method, url.path, parse_qs(url.query), raw)
        except ApiError as exc:
            code, body = exc.status["code"], exc.status
        except LookupError:
            request.send_response(404)
            payload = b"404 page not found\n"
            request.send_header("Content-Type", "text/plain; charset=utf-8")
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)
            return
        self._send(request, code, body)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, code: int, body: Obj) -> None:
        payload = json.dumps(body).encode()
        request.send_response(code)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _answer(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> tuple[int, Obj]:
        cluster = self.cluster
        if path == "/version" and method == "GET":
            return 200, {
                "major": "1",
                "minor": "31",
                "gitVersion": "v1.31.0-emulated",
                "gitCommit": "0" * 40,
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.22.5",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        if path.rstrip("/") == "/apis/kubevirt.io/v1" and method == "GET":
            return 200, {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": "kubevirt.io/v1",
                "resources": [
                    {
                        "name": r.plural,
                        "kind": r.kind,
                        "namespaced": True,
                        "singularName": "",
                        "verbs": ["get"],
                    }
                    for r in RESOURCES
                    if r.group == "kubevirt.io"
                ],
            }
        resource, namespace, name = _route(path)
        with cluster.lock:
            if method == "GET" and name is None:
                selector = (query.get("labelSelector") or [""])[0]
                items = [
                    self._shown(obj)
                    for obj in cluster.items(resource.kind, namespace)
                    if not selector or matches(selector, obj["metadata"].get("labels") or {})
                ]
                if not resource.group.endswith("kubevirt.io"):
                    for item in items:  # built-in lists carry no kind per item
                        item.pop("kind", None)
                        item.pop("apiVersion", None)
                listed = {"kind": f"{resource.kind}List", "apiVersion": resource.group_version}
                return 200, {**listed, "metadata": {"resourceVersion": str(cluster.version)}, "items": items}
            if method == "GET" and name is not None:
                found = cluster.get(resource.kind, name, namespace)
                if found is None:
                    raise not_found(resource, name)
                return 200, self._shown(found)
            if method == "POST" and name is None:
                return 201, self._shown(cluster.create(resource, namespace, _json(raw)))
            if method == "PUT" and name is not None:
                return 200, self._shown(cluster.replace(resource, namespace, name, _json(raw)))
            if method == "DELETE" and name is not None:
                gone = cluster.delete(resource, namespace, name)
                if resource.kind in RETURN_DELETED:
                    return 200, self._shown(gone)
                return 200, {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {**_details(resource, name), "uid": gone["metadata"]["uid"]},
                }
        raise ApiError(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
        )

    def _shown(self, obj: Obj) -> Obj:
        shown = copy.deepcopy(obj)
        if obj["kind"] == "ResourceQuota":
            shown["status"] = self.cluster.quota_status(obj)
        return shown


def _json(raw: bytes) -> Obj:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"the body of the request was in an unknown format: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
    return body
