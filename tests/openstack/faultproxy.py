"""A fault-injecting reverse proxy for the test OpenStack's APIs: one loopback port per service.

Each call is forwarded to the real service, except that a seeded fraction of calls meet a fault:

- ``error``: a 500, 502 or 503 answer; half the time the call was first forwarded, so the cloud did it
  and only the answer is lost (as when a load balancer times out on a slow backend)
- ``delay``: the call is held 0.5–2 s before it is forwarded
- ``reset``: the connection is reset (RST, no answer): before forwarding, after forwarding (the cloud
  did it), or half-way through the answer

The ``Host`` header is passed on unchanged, so the services (none has a public endpoint configured)
build their version documents and links with the proxy's address, and clients stay on the proxy.

Stdlib only: ``http.server`` in threads, ``http.client`` to the service.
"""

from __future__ import annotations

import http.client
import http.server
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

# Headers about one connection, not the message: not passed on (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
KINDS = ("error", "delay", "reset")


@dataclass
class Faults:
    """What to inject, shared by every proxy; records what each service was sent. Thread-safe.

    Each service draws from its own generator, seeded from ``seed`` and its name, so that which of its
    calls meet a fault does not depend on how the calls to the other services interleave in time.
    """

    rate: float = 0.0  # the fraction of calls that meet a fault; 0 turns faults off
    seed: int = 0
    delay: tuple[float, float] = (0.5, 2.0)
    calls: Counter[str] = field(default_factory=Counter)  # by service
    injected: Counter[tuple[str, str]] = field(default_factory=Counter)  # by (service, kind)
    sent: list[tuple[str, str, str]] = field(default_factory=list)  # (service, method, path) of each call
    journal: list[str] = field(default_factory=list)  # each call, what it met and its answer, to read
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _randoms: dict[str, random.Random] = field(default_factory=dict)

    def draw(self, service: str, method: str, path: str) -> tuple[str | None, float, bool]:
        """(fault kind or None, a delay or status choice, whether the fault comes after forwarding)."""
        with self._lock:
            self.calls[service] += 1
            self.sent.append((service, method, path))
            rng = self._randoms.setdefault(service, random.Random(f"{self.seed}-{service}"))
            faulty = rng.random() < self.rate
            kind, choice, after = rng.choice(KINDS), rng.random(), rng.random() < 0.5
            if not faulty:
                self.journal.append(f"{service} {method} {path} @{time.monotonic():.2f}")
                return None, 0.0, False
            self.injected[service, kind] += 1
            self.journal.append(
                f"{service} {method} {path} {kind}{' after' if after else ''} {choice:.2f} "
                f"@{time.monotonic():.2f}"
            )
            return kind, choice, after

    def note(self, line: str) -> None:
        with self._lock:
            self.journal.append(f"{line} @{time.monotonic():.2f}")

    def by_kind(self) -> Counter[str]:
        with self._lock:
            totals: Counter[str] = Counter()
            for (_, kind), n in self.injected.items():
                totals[kind] += n
            return totals

    def count(self, service: str, method: str, path: str) -> int:
        """How many calls ``service`` was sent with ``method`` and a path matching the regex ``path``."""
        pattern = re.compile(path)
        with self._lock:
            return sum(
                1
                for s, m, p in self.sent
                if s == service and m == method and pattern.fullmatch(p) is not None
            )


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients expect
    server: _Server

    def do_GET(self) -> None:
        self._proxy()

    def do_HEAD(self) -> None:
        self._proxy()

    def do_POST(self) -> None:
        self._proxy()

    def do_PUT(self) -> None:
        self._proxy()

    def do_PATCH(self) -> None:
        self._proxy()

    def do_DELETE(self) -> None:
        self._proxy()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _proxy(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        faults = self.server.faults
        kind, choice, after = faults.draw(self.server.service, self.command, self.path)
        if kind == "delay":
            low, high = faults.delay
            time.sleep(low + (high - low) * choice)
        elif kind == "reset" and not after:
            self._reset()
            return
        elif kind == "error" and not after:
            self._error(choice)
            return
        try:
            status, reason, headers, payload = self._forward(body)
            faults.note(f"  <- {status} for {self.command} {self.path}")
        except (OSError, http.client.HTTPException) as exc:
            self._error(0.0, f"the proxy could not reach the service: {exc}")
            return
        if kind == "reset":
            if choice < 0.5:  # the answer's head and part of its body, then the reset
                self._answer(status, reason, headers, payload, cut=True)
            self._reset()
        elif kind == "error":
            self._error(choice)
        else:
            self._answer(status, reason, headers, payload)

    def _forward(self, body: bytes | None) -> tuple[int, str, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()  # whole (chunked or not); answered with a Content-Length
            return response.status, response.reason, response.getheaders(), payload
        finally:
            upstream.close()

    def _answer(
        self, status: int, reason: str, headers: list[tuple[str, str]], payload: bytes, *, cut: bool = False
    ) -> None:
        self.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        bodyless = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        if not bodyless:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if cut:
            self.wfile.write(payload[: len(payload) // 2])
        elif not bodyless:
            self.wfile.write(payload)
        self.wfile.flush()

    def _error(self, choice: float, message: str = "injected fault") -> None:
        status = (500, 502, 503)[min(int(choice * 3), 2)]
        body = json.dumps({"error": {"code": status, "message": message}}).encode()
        self._answer(
            status,
            http.HTTPStatus(status).phrase,
            [("Content-Type", "application/json")],
            body,
        )

    def _reset(self) -> None:
        """Close with an RST: SO_LINGER on with a zero timeout makes close() abort the connection."""
        with suppress(OSError):
            self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        # socketserver's shutdown_request() would shutdown(SHUT_WR) first (a FIN, not a reset): close now.
        self.connection.close()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, service: str, upstream_port: int, faults: Faults) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.service = service
        self.upstream_port = upstream_port
        self.faults = faults

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away mid-answer is no news here


@dataclass
class FaultProxies:
    """One proxy per service, all sharing ``faults``; ``url(service, path)`` is where clients go."""

    faults: Faults
    servers: dict[str, _Server] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)

    def port(self, service: str) -> int:
        return int(self.servers[service].server_address[1])

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port(service)}{path}"

    def close(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(timeout=10)


@contextmanager
def fault_proxies(upstreams: Mapping[str, int], faults: Faults) -> Iterator[FaultProxies]:
    """Proxies in front of ``upstreams`` (service → its loopback port), serving until the block ends."""
    proxies = FaultProxies(faults)
    try:
        for service, port in upstreams.items():
            server = _Server(service, port, faults)
            proxies.servers[service] = server
            thread = threading.Thread(target=server.serve_forever, name=f"faultproxy-{service}", daemon=True)
            thread.start()
            proxies.threads.append(thread)
        yield proxies
    finally:
        proxies.close()
