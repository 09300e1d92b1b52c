#!/usr/bin/env python3
"""Quick end-to-end check of the test OpenStack with openstacksdk (from PyPI).

    python3 -m venv /tmp/ossmoke && /tmp/ossmoke/bin/pip install openstacksdk
    OS_CLIENT_CONFIG_FILE=/var/lib/cloudsvc-testcloud/clouds.yaml /tmp/ossmoke/bin/python smoke.py

Creates a project, sets compute/volume/network quotas, a network+subnet, a QoS policy with a
bandwidth-limit rule, a port using it, a server on that port (to ACTIVE), a 1 GB volume (to
available), attaches and detaches it, reads the quota usage back, then deletes everything.
Exits non-zero on any failure. OS_CLOUD selects the cloud (default cloudsvc-test).
"""

import os
import sys
import time
import traceback
import uuid

import openstack

CLOUD = os.environ.get("OS_CLOUD", "cloudsvc-test")
IMAGE = os.environ.get("OS_TESTCLOUD_IMAGE", "cirros-fake")
FLAVOR = os.environ.get("OS_TESTCLOUD_FLAVOR", "m1.tiny")
TIMEOUT = int(os.environ.get("OS_TESTCLOUD_SMOKE_TIMEOUT", "120"))

T0 = time.monotonic()


def step(msg, since):
    print(f"[smoke {time.monotonic() - T0:6.2f}s] {msg:<52} ({time.monotonic() - since:.2f} s)", flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def wait_volume(conn, vol, status):
    return conn.block_storage.wait_for_status(
        vol, status=status, failures=["error"], interval=0.5, wait=TIMEOUT
    )


def main():
    if not os.environ.get("OS_CLIENT_CONFIG_FILE"):
        print("note: OS_CLIENT_CONFIG_FILE is not set; openstacksdk searches its default places")
    admin = openstack.connect(cloud=CLOUD)
    suffix = uuid.uuid4().hex[:8]
    name = "smoke-" + suffix
    cleanup = []  # (description, callable), run in reverse order
    failed = False

    try:
        t = time.monotonic()
        image = admin.image.find_image(IMAGE, ignore_missing=False)
        flavor = admin.compute.find_flavor(FLAVOR, ignore_missing=False)
        step(f"found image {IMAGE} and flavor {FLAVOR}", t)

        # --- project, with the admin user as member so we can act inside it
        t = time.monotonic()
        project = admin.identity.create_project(
            name=name, domain_id="default", description="cloudsvc smoke test"
        )
        cleanup.append(("project", lambda: admin.identity.delete_project(project)))
        user = admin.identity.find_user("admin", domain_id="default", ignore_missing=False)
        for role_name in ("member", "admin"):
            role = admin.identity.find_role(role_name, ignore_missing=False)
            admin.identity.assign_project_role_to_user(project, user, role)
        conn = admin.connect_as_project(name)
        step(f"project {name}", t)

        # --- quotas
        t = time.monotonic()
        admin.set_compute_quotas(project.id, instances=3, cores=4, ram=4096)
        admin.set_volume_quotas(project.id, volumes=3, gigabytes=5)
        admin.set_network_quotas(project.id, network=3, subnet=3, port=10)
        step("quotas set (compute, volume, network)", t)

        # --- network, subnet, QoS policy with bandwidth-limit rule, port
        t = time.monotonic()
        net = conn.network.create_network(name=name)
        cleanup.append(("network", lambda: conn.network.delete_network(net)))
        subnet = conn.network.create_subnet(
            network_id=net.id, name=name, ip_version=4, cidr=f"10.199.{int(suffix[:2], 16) % 250}.0/24"
        )
        cleanup.append(("subnet", lambda: conn.network.delete_subnet(subnet)))
        policy = admin.network.create_qos_policy(name=name, project_id=project.id)
        cleanup.append(("qos policy", lambda: admin.network.delete_qos_policy(policy)))
        admin.network.create_qos_bandwidth_limit_rule(
            policy, max_kbps=10000, max_burst_kbps=1000, direction="egress"
        )
        port = conn.network.create_port(network_id=net.id, name=name, qos_policy_id=policy.id)
        cleanup.append(("port", lambda: conn.network.delete_port(port)))
        check(port.qos_policy_id == policy.id, "port has no QoS policy")
        step("network, subnet, QoS policy+rule, port", t)

        # --- server on the port
        t = time.monotonic()
        server = conn.compute.create_server(
            name=name, image_id=image.id, flavor_id=flavor.id, networks=[{"port": port.id}]
        )
        cleanup.append(
            (
                "server",
                lambda: (
                    conn.compute.delete_server(server),
                    conn.compute.wait_for_delete(server, interval=0.5, wait=TIMEOUT),
                ),
            )
        )
        server = conn.compute.wait_for_server(
            server, status="ACTIVE", failures=["ERROR"], interval=0.5, wait=TIMEOUT
        )
        step("server {} ACTIVE on {}".format(server.id, server.hypervisor_hostname or "?"), t)
        bound = admin.network.get_port(port.id)
        check(
            bound.binding_vif_type not in ("binding_failed", "unbound", None),
            f"port binding: {bound.binding_vif_type}",
        )
        check(bound.device_id == server.id, "port not attached to the server")
        print(
            f"        port bound: vif_type={bound.binding_vif_type} host={bound.binding_host_id}"
            f" qos={bound.qos_policy_id}"
        )

        # --- volume, attach, detach
        t = time.monotonic()
        vol = conn.block_storage.create_volume(size=1, name=name)
        cleanup.append(
            (
                "volume",
                lambda: (
                    conn.block_storage.delete_volume(vol),
                    conn.block_storage.wait_for_delete(vol, interval=0.5, wait=TIMEOUT),
                ),
            )
        )
        vol = wait_volume(conn, vol, "available")
        step("volume 1 GB available", t)

        t = time.monotonic()
        conn.compute.create_volume_attachment(server, volume=vol)
        vol = wait_volume(conn, vol, "in-use")
        check(
            any(a.get("server_id") == server.id for a in vol.attachments),
            "volume attachment does not name the server",
        )
        step("volume attached (in-use)", t)

        # --- quota usage while everything exists
        t = time.monotonic()
        cq = admin.compute.get_quota_set(project.id, usage=True)
        vq = admin.block_storage.get_quota_set(project.id, usage=True)
        nq = admin.network.get_quota(project.id, details=True)
        c_inst = cq.usage.get("instances") if cq.usage else None
        v_vols = vq.usage.get("volumes") if vq.usage else None
        n_ports = nq.ports.get("used") if isinstance(nq.ports, dict) else None
        print(
            "        usage: instances {}/{}, volumes {}/{}, gigabytes {}/{}, ports {}/{}".format(
                c_inst,
                cq.instances,
                v_vols,
                vq.volumes,
                vq.usage.get("gigabytes") if vq.usage else None,
                vq.gigabytes,
                n_ports,
                nq.ports.get("limit") if isinstance(nq.ports, dict) else None,
            )
        )
        check(c_inst == 1, f"compute usage instances={c_inst!r}, expected 1")
        check(cq.instances == 3, f"compute quota instances={cq.instances!r}, expected 3")
        check(v_vols == 1, f"volume usage volumes={v_vols!r}, expected 1")
        check(vq.volumes == 3, f"volume quota volumes={vq.volumes!r}, expected 3")
        check(n_ports is not None and n_ports >= 1, f"network usage ports={n_ports!r}")
        step("quota usage read back", t)

        t = time.monotonic()
        conn.compute.delete_volume_attachment(server, vol)
        vol = wait_volume(conn, vol, "available")
        step("volume detached (available)", t)
    except Exception:
        failed = True
        traceback.print_exc()
        print("smoke: FAILED, cleaning up", file=sys.stderr)

    # --- delete everything, newest first
    t = time.monotonic()
    for what, func in reversed(cleanup):
        try:
            func()
        except Exception as exc:  # keep cleaning
            failed = True
            print(f"smoke: cleanup of {what} failed: {exc}", file=sys.stderr)
    step("deleted everything", t)

    total = time.monotonic() - T0
    if failed:
        print(f"smoke: FAILED after {total:.1f} s")
        return 1
    print(f"smoke: OK in {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
