from fastapi.testclient import TestClient

from tests.support import World


def test_the_standard_world_builds_and_a_requester_submits(client: TestClient, world: World) -> None:
    requester = world.principal("requester@dept-a")
    created = world.submit(requester)
    assert created["status"] == "pending_approval"
    assert created["approval_stage"] == "department"
    assert created["demand"] == {"servers": 1, "vcpus": 2, "ram_mb": 4096, "volume_gb": 40}
