"""Which MLPS levels the baseline covers, and what a zone certified above them gets.

The shipped baseline has level 2 and level 3 variants (level 1 is played as 2). A zone certified for
level 4 takes level-4 requests, which the play would refuse only once their servers exist; so such a zone
is refused at registration while its baseline is on, unless its baseline project has a level-4 variant
(an operator's own build, ``playbooks/vars/mlps-level4.yml``), which the play then uses.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cloudsvc.provisioning import baseline
from tests.ansible.test_baseline_play import job, local_settings
from tests.support import World


def register(client: TestClient, world: World, mlps_level: int, block: dict[str, Any]) -> Any:
    return client.post(
        "/v1/zones",
        headers=world.admin,
        json={
            "name": f"l{mlps_level}",
            "backend": "simulator",
            "network": "intranet",
            "mlps_level": mlps_level,
            "settings": {"baseline": block},
        },
    )


def project_with_level_4(tmp_path: Path) -> Path:
    """A copy of the shipped project with a level-4 variant: level 3's settings, stricter in two places."""
    project = tmp_path / "ansible"
    shutil.copytree(baseline.SOURCE_ANSIBLE_DIR, project)
    level = yaml.safe_load((project / "playbooks/vars/mlps-level3.yml").read_text())
    level["mlps"].update(level=4, ssh_max_auth_tries=2, session_timeout=180)
    (project / "playbooks/vars/mlps-level4.yml").write_text(yaml.safe_dump(level, allow_unicode=True))
    return project


def test_the_shipped_baseline_covers_levels_1_to_3() -> None:
    assert baseline.levels(baseline.BaselineSettings()) == {1, 2, 3}


def test_a_level_4_zone_with_the_baseline_on_is_refused_naming_mlps_level(
    client: TestClient, world: World
) -> None:
    response = register(client, world, 4, {"enabled": True})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == "mlps_level", problem
    assert "no MLPS level 4 variant" in problem["detail"]
    assert client.get("/v1/zones/l4", headers=world.admin).status_code == 404


@pytest.mark.parametrize("block", [{}, {"enabled": False}], ids=["no-baseline", "baseline-off"])
def test_a_level_4_zone_without_the_baseline_is_registered(
    client: TestClient, world: World, block: dict[str, Any]
) -> None:
    assert register(client, world, 4, block).status_code == 201


def test_a_level_3_zone_with_the_baseline_on_is_registered(client: TestClient, world: World) -> None:
    assert register(client, world, 3, {"enabled": True}).status_code == 201


def test_a_level_4_zone_whose_project_has_a_level_4_variant_is_registered(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    project = project_with_level_4(tmp_path)
    response = register(client, world, 4, {"enabled": True, "ansible_dir": str(project)})
    assert response.status_code == 201, response.text


def test_a_project_without_level_2_refuses_even_a_level_2_zone(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    project = tmp_path / "ansible"
    shutil.copytree(baseline.SOURCE_ANSIBLE_DIR, project)
    (project / "playbooks/vars/mlps-level2.yml").unlink()  # level 1 is played with level 2's settings
    response = register(client, world, 2, {"enabled": True, "ansible_dir": str(project)})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "mlps_level"
    assert "no MLPS level 1 variant" in response.json()["detail"]


def test_the_play_refuses_level_4_without_a_variant_before_changing_anything(tmp_path: Path) -> None:
    settings = local_settings(tmp_path)
    heard: list[tuple[str, str, str | None]] = []
    outcome = baseline.run_play(
        baseline.BaselineSettings.model_validate(settings),
        job(4, settings=settings),
        {"web-1": "127.0.0.1"},
        on_task=lambda *task: heard.append(task),
        cancel=lambda: False,
    )
    assert not outcome.ok
    assert outcome.failed_task == "Check the baseline's variables"
    assert "must have a variant" in (outcome.message or "")
    assert not (tmp_path / "etc").exists()


def test_the_play_uses_a_level_4_variant_where_the_project_has_one(tmp_path: Path) -> None:
    root = tmp_path / "root"
    settings = {**local_settings(root), "ansible_dir": str(project_with_level_4(tmp_path))}
    outcome = baseline.run_play(
        baseline.BaselineSettings.model_validate(settings),
        job(4, settings=settings),
        {"web-1": "127.0.0.1"},
        on_task=lambda *task: None,
        cancel=lambda: False,
    )
    assert outcome.ok, outcome
    sshd = (root / "etc/ssh/sshd_config.d/50-cloudsvc-baseline.conf").read_text()
    assert "MaxAuthTries 2" in sshd
    assert "TMOUT=180" in (root / "etc/profile.d/cloudsvc-timeout.sh").read_text()
