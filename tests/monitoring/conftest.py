"""Monitoring tests need Debian's Prometheus (server and promtool); the project's script installs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def prometheus_installed() -> None:
    subprocess.run([str(ROOT / "scripts" / "ensure-prometheus.sh")], check=True, timeout=900)
