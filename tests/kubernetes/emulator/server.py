"""The emulated cluster served over HTTP on a loopback port, with fault injection."""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.kubernetes.emulator.api import (
    BY_PATH,
    RESOURCES,
    RETURN_DELETED,
    TOKEN,
    ApiError,
    Obj,
    Resource,
    details_of,
    matches,
    not_found,
)
from tests.kubernetes.emulator.cluster import Cluster, Fault

CUSTOM = {r.group_version for r in RESOURCES if r.group.endswith("kubevirt.io")}  # KubeVirt's and CDI's

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

    def __init__(self, cluster: Cluster | None = None, *, token: str = TOKEN) -> None:
        self.cluster = cluster or Cluster()
        self.token = token  # the one bearer token this API server takes
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

    def kubeconfig(self, path: Path, *, context: str = "emulator", token: str | None = None) -> Path:
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "cloudsvc", "user": {"token": token or self.token}}],
            "contexts": [{"name": context, "context": {"cluster": "emulator", "user": "cloudsvc"}}],
            "current-context": context,
        }
        path.write_text(json.dumps(document))  # JSON is YAML
        return path

    def fail(
        self,
        method: str,
        path: str,
        *,
        status: int | None = 503,
        reset: bool = False,
        times: int = 1,
        before: Callable[[], object] | None = None,
    ) -> None:
        with self.cluster.lock:
            self.cluster.faults.append(Fault(method, path, status, reset, times, before))

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
        if fault is not None and fault.before is not None:
            fault.before()
        if fault is not None and fault.reset:
            # An abortive close (RST), as a crashed or overloaded proxy does.
            request.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            request.close_connection = True
            request.connection.close()
            return
        if request.headers.get("Authorization") != f"Bearer {self.token}":
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
        group_version = path.removeprefix("/apis/")
        if group_version in CUSTOM and method == "GET":
            if group_version not in cluster.served:
                raise LookupError(path)  # that operator is not installed
            return 200, {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": group_version,
                "resources": [
                    {
                        "name": r.plural,
                        "kind": r.kind,
                        "namespaced": True,
                        "singularName": "",
                        "verbs": ["get"],
                    }
                    for r in RESOURCES
                    if r.group_version == group_version
                ],
            }
        resource, namespace, name = _route(path)
        if resource.group_version in CUSTOM and resource.group_version not in cluster.served:
            raise LookupError(path)
        if cluster.authorizer is not None:  # authorization comes before anything is read or admitted
            cluster.authorizer.authorize(method, resource, namespace, name)
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
                return 201, self._shown(cluster.create(resource, namespace, self._bound(resource, raw)))
            if method == "PUT" and name is not None:
                body = self._bound(resource, raw)
                return 200, self._shown(cluster.replace(resource, namespace, name, body))
            if method == "DELETE" and name is not None:
                gone = cluster.delete(resource, namespace, name)
                if resource.kind in RETURN_DELETED:
                    return 200, self._shown(gone)
                return 200, {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {**details_of(resource, name), "uid": gone["metadata"]["uid"]},
                }
        raise ApiError(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
        )

    def _bound(self, resource: Resource, raw: bytes) -> Obj:
        """The body written; a RoleBinding's, once RBAC's escalation check has passed."""
        body = _json(raw)
        if self.cluster.authorizer is not None and resource.kind == "RoleBinding":
            self.cluster.authorizer.may_bind(resource, body)
        return body

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
