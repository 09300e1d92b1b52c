"""A real Prometheus (Debian's package) in a temporary directory, on a loopback port, for tests."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url
        self.time: str | None = None

    def at_successful_scrape(self, job: str, *, timeout: float = 60) -> None:
        """Evaluate later queries at the time of a scrape that succeeded. (A scrape that fails, e.g. one
        slowed past its timeout on a busy machine, marks every series stale from then on.)"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.get("/api/v1/query", query=f'up{{job="{job}"}} == 1')["result"]
            if found:
                self.time = str(found[0]["value"][0])
                return
            time.sleep(0.25)
        raise AssertionError(f"no successful scrape of {job} within {timeout} s; targets: {self.targets()}")

    def get(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        body = response.json()
        assert response.status_code == 200, body
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query's result as {sorted labels (without __name__): value}, evaluated at the time
        ``at_successful_scrape`` fixed, if it did."""
        at = {"time": self.time} if self.time is not None else {}
        data = self.get("/api/v1/query", query=promql, **at)
        assert data["resultType"] == "vector", data
        return {
            tuple(sorted((k, v) for k, v in item["metric"].items() if k != "__name__")): float(
                item["value"][1]
            )
            for item in data["result"]
        }

    def scalar(self, promql: str) -> float | None:
        """The value of a query that gives at most one series."""
        result = self.query(promql)
        assert len(result) <= 1, result
        return next(iter(result.values()), None)

    def wait_for_rules(self, *, timeout: float = 60) -> list[Any]:
        """The rule groups, once every rule has been evaluated at least once."""
        deadline = time.monotonic() + timeout
        while True:
            groups: list[Any] = self.get("/api/v1/rules")["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            if rules and all(rule["health"] != "unknown" for rule in rules):
                return groups
            assert time.monotonic() < deadline, f"rules not evaluated within {timeout} s: {groups}"
            time.sleep(0.25)

    def targets(self) -> Any:
        return self.get("/api/v1/targets")


@contextmanager
def running_prometheus(
    workdir: Path, target: str, *, token: str | None = None, rule_files: list[Path] | None = None
) -> Iterator[Prometheus]:
    """Prometheus scraping ``target`` (host:port) every second, with the given rule files loaded."""
    scrape: dict[str, Any] = {
        "job_name": "cloudsvc",
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "static_configs": [{"targets": [target]}],
    }
    if token is not None:
        scrape["authorization"] = {"type": "Bearer", "credentials": token}
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rule_files or []],
        "scrape_configs": [scrape],
    }
    config_file = workdir / "prometheus.yml"
    config_file.write_text(json.dumps(config))  # YAML is a superset of JSON
    port = free_port()
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (workdir / "prometheus.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "Prometheus did not become ready"
            time.sleep(0.2)
        yield Prometheus(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
