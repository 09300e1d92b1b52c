"""The chart's Prometheus rules: valid for promtool, and each alert fires (and stays quiet) as its unit
tests say."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.monitoring.scrape import promtool

pytestmark = pytest.mark.usefixtures("prometheus_installed")

FILES = Path(__file__).resolve().parents[2] / "charts" / "cloudsvc" / "files"


def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", str(FILES / "prometheus-rules.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 11 rules found" in checked.stdout


def test_the_rules_pass_their_unit_tests() -> None:
    tested = promtool("test", "rules", str(FILES / "prometheus-rules.test.yaml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
