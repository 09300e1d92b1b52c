"""The baseline over ssh holds each server to the host keys pinned for it: a real sshd on a loopback port
(tests/ansible/sshd.py) stands in for a new server, the real play runs against it through the worker.

The simulator's addresses must never be contacted, so the zone's vars point ansible (and the first-contact
scan) at 127.0.0.1, as the existing unreachable test does; the zone's ``port`` is the sshd's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudsvc.db import Database, utcnow
from cloudsvc.provisioning.jobs import Ledger
from cloudsvc.provisioning.models import ProvisionedResource, SimulatorObject
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from cloudsvc.resource_requests.models import ResourceRequest
from provisioners import base
from tests.ansible.sshd import Sshd
from tests.support import World

OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherHostKeyTheServerDoesNotHave000000"


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd(tmp_path / "sshd")
    server.authorize(True)
    server.start()
    yield server
    server.stop()


def over_ssh(sshd: Sshd, root: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "user": "root",
        "private_key_file": str(sshd.client_key),
        "port": sshd.port,
        "vars": {
            "ansible_host": "127.0.0.1",
            # this machine's login shell may find another python3 first (a pyenv shim, say); the system's
            # is the one with the Debian modules the play's package checks use, as on a real server
            "ansible_python_interpreter": "/usr/bin/python3",
            "baseline_root": str(root),
            "baseline_manage_services": False,
            "audit_forward_host": "127.0.0.1",
            "chrony_servers": ["ntp.test.invalid"],
        },
        **overrides,
    }


def pinned(database: Database, request_id: str) -> list[list[str] | None]:
    with database.session() as session:
        rows = session.scalars(
            select(ProvisionedResource)
            .where(ProvisionedResource.request_id == request_id)
            .order_by(ProvisionedResource.index)
        )
        return [row.host_keys for row in rows]


def test_first_contact_pins_the_servers_host_key_and_the_play_runs_over_ssh(
    client: TestClient, world: World, database: Database, sshd: Sshd, tmp_path: Path
) -> None:
    own_known_hosts = Path.home() / ".ssh/known_hosts"
    before = own_known_hosts.read_bytes() if own_known_hosts.exists() else None
    world.zone("sim", baseline=over_ssh(sshd, tmp_path / "root"))
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="sim", mlps_level=3)

    assert Worker(database, WorkerSettings()).tick() == 1

    body = client.get(f"/v1/requests/{request_id}", headers=owner).json()
    assert body["status"] == "active", (body["progress"], body["steps"])
    assert ("baseline: Check the baseline's variables", "done") in [
        (s["step"], s["outcome"]) for s in body["steps"]
    ]
    sshd_config = tmp_path / "root/etc/ssh/sshd_config.d/50-cloudsvc-baseline.conf"
    assert "MaxAuthTries 3" in sshd_config.read_text()  # written over ssh, by the level 3 play
    assert pinned(database, request_id) == [[sshd.host_public]]
    # the worker's own known_hosts is neither read for the decision nor written
    assert (own_known_hosts.read_bytes() if own_known_hosts.exists() else None) == before


def test_a_server_showing_another_host_key_on_a_later_run_fails_the_request_naming_it(
    client: TestClient, world: World, database: Database, sshd: Sshd, tmp_path: Path
) -> None:
    sshd.authorize(
        False
    )  # first contact: its key is seen and pinned, but the login fails (tried again later)
    world.zone("sim", baseline=over_ssh(sshd, tmp_path / "root"))
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="sim")

    Worker(database, WorkerSettings()).tick()
    body = client.get(f"/v1/requests/{request_id}", headers=owner).json()
    assert body["status"] == "provisioning", body
    assert body["progress"].startswith("waiting: baseline: a server did not answer yet"), body["progress"]
    first_key = sshd.host_public
    assert pinned(database, request_id) == [[first_key]]

    sshd.authorize(True)
    sshd.rekey()  # the same address now answers with another key; the login itself would succeed
    assert sshd.host_public != first_key
    ahead = Worker(database, WorkerSettings(), clock=lambda: utcnow() + timedelta(minutes=10))
    assert ahead.tick() == 1  # the refused run
    assert pinned(database, request_id) == [[first_key]]  # the pin is not replaced by what was shown
    for _ in range(2):  # then the clean-up of the server
        ahead.tick()

    body = client.get(f"/v1/requests/{request_id}", headers=owner).json()
    assert body["status"] == "failed", body
    reason = body["status_reason"]
    assert (
        f"cs-{request_id}-0 (127.0.0.1:{sshd.port}) showed an SSH host key other than the one pinned"
        in reason
    )
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in reason  # ssh's own words follow
    assert not (tmp_path / "root/etc").exists()  # nothing ran on the impostor
    with database.session() as session:  # the servers were deleted, as after any failed provisioning
        assert (
            list(session.scalars(select(SimulatorObject.key).where(SimulatorObject.key.like("cs-%")))) == []
        )


def test_keys_the_backend_reports_are_pinned_and_a_server_showing_others_is_refused(
    client: TestClient, world: World, database: Database, sshd: Sshd, tmp_path: Path
) -> None:
    # The simulator reports OTHER_KEY for its servers, as a cloud would from the console log; the sshd that
    # answers shows its own: not the server the backend made, whatever it shows at first contact.
    world.zone("sim", host_keys=[OTHER_KEY], baseline=over_ssh(sshd, tmp_path / "root"))
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="sim")

    worker = Worker(database, WorkerSettings())
    assert worker.tick() == 1  # the refused run
    assert pinned(database, request_id) == [[OTHER_KEY]]  # the backend's, not what the server showed
    for _ in range(2):  # then the clean-up (the server is gone, and so is its pin)
        worker.tick()

    body = client.get(f"/v1/requests/{request_id}", headers=owner).json()
    assert body["status"] == "failed", body
    assert "showed an SSH host key other than the one pinned" in body["status_reason"]
    assert not (tmp_path / "root/etc").exists()
    assert pinned(database, request_id) == [None]


def test_without_keys_from_the_backend_or_first_contact_pinning_the_request_fails(
    client: TestClient, world: World, database: Database, sshd: Sshd, tmp_path: Path
) -> None:
    world.zone("sim", baseline=over_ssh(sshd, tmp_path / "root", pin_first_contact=False))
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="sim")

    worker = Worker(database, WorkerSettings())
    for _ in range(3):
        worker.tick()

    body = client.get(f"/v1/requests/{request_id}", headers=owner).json()
    assert body["status"] == "failed", body
    assert "reports no SSH host keys" in body["status_reason"]
    assert "pin_first_contact is false" in body["status_reason"]


@pytest.mark.parametrize(
    "name", ["ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_host_key_checking"]
)
def test_zone_vars_that_would_loosen_the_ssh_checks_are_refused(
    client: TestClient, world: World, name: str
) -> None:
    response = client.post(
        "/v1/zones",
        headers=world.admin,
        json={
            "name": "loose",
            "backend": "simulator",
            "network": "extranet",
            "mlps_level": 3,
            "settings": {"baseline": {"enabled": True, "vars": {name: "-o StrictHostKeyChecking=no"}}},
        },
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == f"settings.baseline.vars.{name}"


def test_a_server_made_again_loses_its_pin(client: TestClient, world: World, database: Database) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="sim")
    assert Worker(database, WorkerSettings()).tick() == 1
    ledger = Ledger(database, "worker-test", timedelta(minutes=1))
    with database.transaction() as session:
        session.get_one(ResourceRequest, request_id).lease_owner = "worker-test"
    key = base.ResourceKey(request_id, 0, base.Kind.server)

    job = ledger.load(request_id, utcnow())
    ledger.record_host_keys(job, {0: (OTHER_KEY,)}, utcnow())
    job = ledger.load(request_id, utcnow())
    same = job.seen[0].backend_id
    ledger.record_resources(job, [(key, base.Observed(base.State.ready, backend_id=same))], utcnow())
    assert pinned(database, request_id) == [[OTHER_KEY]]  # the same object keeps its keys

    job = ledger.load(request_id, utcnow())
    ledger.record_resources(job, [(key, base.Observed(base.State.building, backend_id="another"))], utcnow())
    assert pinned(database, request_id) == [None]  # another object under the name: its keys are new


def test_a_simulator_reporting_malformed_host_keys_is_refused(client: TestClient, world: World) -> None:
    response = client.post(
        "/v1/zones",
        headers=world.admin,
        json={
            "name": "odd",
            "backend": "simulator",
            "network": "extranet",
            "mlps_level": 3,
            "settings": {"host_keys": ["ssh-ed25519"]},
        },
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "settings.host_keys"
