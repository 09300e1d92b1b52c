"""Checks every object the driver sends: built-in kinds against the official Kubernetes OpenAPI schemas
(kubernetes-validate, strict: unknown fields are errors), VirtualMachines against the KubeVirt CRD schema
kept beside this file (made strict the same way) and KubeVirt's admission webhook rules the driver meets."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

SCHEMAS = Path(__file__).parent / "schemas"
KUBERNETES_VERSION = kubernetes_validate.latest_version()
SCHEMA_DIR = f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict"
RUN_STRATEGIES = {"Always", "RerunOnFailure", "Manual", "Halted", "Once", "WaitAsReceiver"}


def crd() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((SCHEMAS / "virtualmachines.kubevirt.io.yaml").read_text())
    return document


def _strict(schema: Any) -> Any:
    """openAPIV3Schema as a JSON Schema that refuses what the real API server would prune or refuse."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {
        key: _strict(value)
        for key, value in schema.items()
        if not key.startswith("x-kubernetes-") and key not in ("nullable", "description", "format")
    }
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        result["additionalProperties"] = False
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
    if "properties" in result:
        result["properties"] = {name: _strict(sub) for name, sub in schema["properties"].items()}
    return result


@cache
def _vm_validator() -> jsonschema.Draft7Validator:
    schema = _strict(crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def _webhook(vm: dict[str, Any]) -> list[str]:
    """The rules KubeVirt's validating webhook adds to the schema, for the parts the driver uses."""
    spec = vm.get("spec") or {}
    errors = []
    if "running" in spec and "runStrategy" in spec:
        errors.append("spec.running: running and runStrategy are mutually exclusive")
    if "runStrategy" in spec and spec["runStrategy"] not in RUN_STRATEGIES:
        errors.append(f"spec.runStrategy: unsupported value {spec['runStrategy']!r}")
    template = (spec.get("template") or {}).get("spec") or {}
    devices = (template.get("domain") or {}).get("devices") or {}
    volumes = {v["name"]: v for v in template.get("volumes") or []}
    for disk in devices.get("disks") or []:
        if disk["name"] not in volumes:
            errors.append(f"spec.template.spec.domain.devices.disks: disk {disk['name']} has no volume")
    networks = {n["name"] for n in template.get("networks") or []}
    for interface in devices.get("interfaces") or []:
        if interface["name"] not in networks:
            errors.append(f"spec.template.spec.domain.devices.interfaces: {interface['name']} has no network")
    templates = {t["metadata"]["name"] for t in spec.get("dataVolumeTemplates") or []}
    for volume in volumes.values():
        name = (volume.get("dataVolume") or {}).get("name")
        if name is not None and name not in templates:
            errors.append(f"spec.template.spec.volumes: dataVolume {name} is in no dataVolumeTemplate")
    return errors


def problems(obj: dict[str, Any]) -> list[str]:
    """Why the API server (with KubeVirt installed) would refuse ``obj``; empty if it would take it."""
    if obj.get("apiVersion") == "cdi.kubevirt.io/v1beta1":
        return []  # DataVolumes are made by the emulator's stand-in for KubeVirt, never by the driver
    if obj.get("apiVersion") == "kubevirt.io/v1":
        if obj.get("kind") == "VirtualMachineInstance":
            return []  # made by the emulator's stand-in for virt-controller, never by the driver
        errors = [
            f"{'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
            for error in _vm_validator().iter_errors(obj)
        ]
        return errors + _webhook(obj)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in _builtin_validator(str(obj.get("kind")), str(obj.get("apiVersion"))).iter_errors(obj)
    ]


@cache
def _definitions() -> Registry[Any]:
    return (
        Resource.from_contents(schema_contents(f"{SCHEMA_DIR}/_definitions.json", KUBERNETES_VERSION))
        @ Registry()
    )


@cache
def _builtin_validator(kind: str, api_version: str) -> jsonschema.Draft202012Validator:
    """What kubernetes_validate.validate(…, strict=True) checks, built once per kind: it reads the
    (large) definitions file on every call, which makes thousands of checks slow."""
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)  # rbac.authorization.k8s.io/v1 → rbac-v1
    schema = schema_contents(f"{SCHEMA_DIR}/{kind.lower()}-{group}.json", KUBERNETES_VERSION)
    return jsonschema.Draft202012Validator(schema, registry=Resource.from_contents(schema) @ _definitions())
