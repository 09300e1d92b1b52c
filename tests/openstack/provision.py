#!/usr/bin/python3
"""Helper for up.sh: idempotent Keystone/Glance/Nova provisioning and health probes.

Runs under Debian's /usr/bin/python3 (uses the system keystoneauth1, no openstacksdk).
Settings come from the environment (set by up.sh):
  OS_TC_AUTH_URL, OS_TC_ADMIN_PASSWORD, OS_TC_SERVICE_PASSWORD, OS_TC_REGION,
  OS_TC_STATE_DIR, OS_TC_COMPUTE_HOST, OS_TC_IMAGE_NAME, OS_TC_FLAVOR_NAME

Subcommands:
  keystone          create the service project/role/users, services and endpoints (idempotent)
  probe-compute     exit 0 when nova-compute is up and a hypervisor is listed
  probe-volume      exit 0 when cinder-scheduler and cinder-volume are up
  probe-network     exit 0 when neutron lists the bandwidth_limit QoS rule type
  resources         register the test image and the public flavor if missing
  ready             all three probes, then resources (exit 1 if a probe fails)
"""

import os
import sys
import time

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

ENV = os.environ
AUTH_URL = ENV.get("OS_TC_AUTH_URL", "http://127.0.0.1:5000/v3")
REGION = ENV.get("OS_TC_REGION", "RegionOne")
ADMIN_PASSWORD = ENV.get("OS_TC_ADMIN_PASSWORD", "admin")
SERVICE_PASSWORD = ENV.get("OS_TC_SERVICE_PASSWORD", "")
STATE_DIR = ENV.get("OS_TC_STATE_DIR", "/var/lib/cloudsvc-testcloud")
COMPUTE_HOST = ENV.get("OS_TC_COMPUTE_HOST", "host-ovs-filter-active")
IMAGE_NAME = ENV.get("OS_TC_IMAGE_NAME", "cirros-fake")
FLAVOR_NAME = ENV.get("OS_TC_FLAVOR_NAME", "m1.tiny")

BASE = "http://127.0.0.1"
# service name, type, description, endpoint URL
SERVICES = [
    ("glance", "image", "OpenStack Image", BASE + ":9292"),
    ("placement", "placement", "Placement API", BASE + ":8778"),
    ("nova", "compute", "OpenStack Compute", BASE + ":8774/v2.1"),
    ("neutron", "network", "OpenStack Networking", BASE + ":9696"),
    ("cinderv3", "volumev3", "OpenStack Block Storage", BASE + ":8776/v3/%(project_id)s"),
]
SERVICE_USERS = ["glance", "placement", "nova", "neutron", "cinder"]


_SESSION = None


def admin_session():
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    auth = v3.Password(
        auth_url=AUTH_URL,
        username="admin",
        password=ADMIN_PASSWORD,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    _SESSION = ks_session.Session(auth=auth, timeout=30)
    return _SESSION


def ep(service_type):
    return {"service_type": service_type, "interface": "public", "region_name": REGION}


class Keystone:
    def __init__(self, sess):
        self.s = sess
        self.f = {"service_type": "identity", "interface": "public"}

    def find(self, coll, name, **filters):
        params = {"name": name}
        params.update(filters)
        items = self.s.get("/" + coll, endpoint_filter=self.f, params=params).json()[coll]
        return items[0] if items else None

    def ensure(self, coll, name, body, **filters):
        item = self.find(coll, name, **filters)
        if item:
            return item, False
        single = coll[:-1]
        body = dict(body, name=name)
        item = self.s.post("/" + coll, endpoint_filter=self.f, json={single: body}).json()[single]
        return item, True


def cmd_keystone():
    if not SERVICE_PASSWORD:
        sys.exit("OS_TC_SERVICE_PASSWORD is not set")
    ks = Keystone(admin_session())
    domain = ks.find("domains", "Default")
    domain_id = domain["id"]
    project, _ = ks.ensure(
        "projects", "service", {"domain_id": domain_id, "description": "Service project"}, domain_id=domain_id
    )
    roles = {}
    for rname in ("admin", "member", "reader", "service"):
        roles[rname], _ = ks.ensure("roles", rname, {})
    for uname in SERVICE_USERS:
        user, created = ks.ensure(
            "users",
            uname,
            {"domain_id": domain_id, "password": SERVICE_PASSWORD, "enabled": True},
            domain_id=domain_id,
        )
        if not created:
            # keep the password in line with the configuration files
            ks.s.patch(
                "/users/{}".format(user["id"]),
                endpoint_filter=ks.f,
                json={"user": {"password": SERVICE_PASSWORD}},
            )
        for rname in ("admin", "service"):
            ks.s.put(
                "/projects/{}/users/{}/roles/{}".format(project["id"], user["id"], roles[rname]["id"]),
                endpoint_filter=ks.f,
            )
    for name, stype, desc, url in SERVICES:
        svcs = ks.s.get("/services", endpoint_filter=ks.f, params={"type": stype}).json()["services"]
        if svcs:
            svc = svcs[0]
        else:
            svc = ks.s.post(
                "/services",
                endpoint_filter=ks.f,
                json={"service": {"name": name, "type": stype, "description": desc, "enabled": True}},
            ).json()["service"]
        eps = ks.s.get("/endpoints", endpoint_filter=ks.f, params={"service_id": svc["id"]}).json()[
            "endpoints"
        ]
        have = {(e["interface"], e.get("region_id")): e for e in eps}
        for iface in ("public", "internal", "admin"):
            cur = have.get((iface, REGION))
            if cur and cur["url"] == url:
                continue
            if cur:
                ks.s.patch(
                    "/endpoints/{}".format(cur["id"]), endpoint_filter=ks.f, json={"endpoint": {"url": url}}
                )
            else:
                ks.s.post(
                    "/endpoints",
                    endpoint_filter=ks.f,
                    json={
                        "endpoint": {
                            "service_id": svc["id"],
                            "interface": iface,
                            "url": url,
                            "region_id": REGION,
                            "enabled": True,
                        }
                    },
                )
    print("keystone: service project, users, services and endpoints in place")


def quiet_get(sess, url, service_type, **kw):
    try:
        return sess.get(url, endpoint_filter=ep(service_type), raise_exc=False, **kw)
    except ks_exc.ClientException as exc:  # connection refused etc.
        print(f"probe: {exc}", file=sys.stderr)
        return None


def cmd_probe_compute():
    sess = admin_session()
    r = quiet_get(sess, "/os-services", "compute", params={"binary": "nova-compute"})
    if r is None or r.status_code != 200:
        return 1
    up = [
        s
        for s in r.json()["services"]
        if s["host"] == COMPUTE_HOST and s["state"] == "up" and s["status"] == "enabled"
    ]
    if not up:
        print(f"probe: nova-compute on {COMPUTE_HOST} not up yet", file=sys.stderr)
        return 1
    r = quiet_get(sess, "/os-hypervisors/detail", "compute")
    if r is None or r.status_code != 200:
        return 1
    hyps = [h for h in r.json()["hypervisors"] if h.get("state") == "up"]
    if not hyps:
        print("probe: no hypervisor listed yet", file=sys.stderr)
        return 1
    print("compute: hypervisor(s) {}".format(", ".join(h["hypervisor_hostname"] for h in hyps)))
    return 0


def cmd_probe_volume():
    sess = admin_session()
    r = quiet_get(sess, "/os-services", "volumev3")
    if r is None or r.status_code != 200:
        return 1
    up = {s["binary"] for s in r.json()["services"] if s["state"] == "up" and s["status"] == "enabled"}
    missing = {"cinder-scheduler", "cinder-volume"} - up
    if missing:
        print("probe: cinder services not up yet: {}".format(", ".join(sorted(missing))), file=sys.stderr)
        return 1
    print("volume: cinder-scheduler and cinder-volume up")
    return 0


def cmd_probe_network():
    sess = admin_session()
    r = quiet_get(sess, "/v2.0/qos/rule-types", "network")
    if r is None or r.status_code != 200:
        return 1
    types = {t["type"] for t in r.json()["rule_types"]}
    if "bandwidth_limit" not in types:
        print(f"probe: neutron QoS rule types: {sorted(types)}", file=sys.stderr)
        return 1
    print("network: QoS rule types {}".format(", ".join(sorted(types))))
    return 0


def cmd_resources():
    sess = admin_session()
    # image
    img_ep = ep("image")
    images = sess.get("/v2/images", endpoint_filter=img_ep, params={"name": IMAGE_NAME}).json()["images"]
    image = next((i for i in images if i["status"] == "active"), None)
    for i in images:
        if i["status"] != "active":  # leftovers of an interrupted upload
            sess.delete("/v2/images/{}".format(i["id"]), endpoint_filter=img_ep, raise_exc=False)
    if image is None:
        path = os.path.join(STATE_DIR, "data", "cirros-fake.raw")
        if not os.path.exists(path) or os.path.getsize(path) != 4096:
            with open(path, "wb") as fh:
                fh.write(b"\0" * 4096)
        image = sess.post(
            "/v2/images",
            endpoint_filter=img_ep,
            json={
                "name": IMAGE_NAME,
                "disk_format": "raw",
                "container_format": "bare",
                "visibility": "public",
            },
        ).json()
        with open(path, "rb") as fh:
            sess.put(
                "/v2/images/{}/file".format(image["id"]),
                endpoint_filter=img_ep,
                data=fh,
                headers={"Content-Type": "application/octet-stream"},
            )
        for _ in range(60):
            image = sess.get("/v2/images/{}".format(image["id"]), endpoint_filter=img_ep).json()
            if image["status"] == "active":
                break
            time.sleep(0.5)
        else:
            sys.exit("image {} did not become active: {}".format(IMAGE_NAME, image["status"]))
        print("image: created {} ({})".format(IMAGE_NAME, image["id"]))
    else:
        print("image: {} present ({})".format(IMAGE_NAME, image["id"]))
    # flavor
    cmp_ep = ep("compute")
    flavors = sess.get("/flavors/detail", endpoint_filter=cmp_ep, params={"is_public": "None"}).json()[
        "flavors"
    ]
    flavor = next((f for f in flavors if f["name"] == FLAVOR_NAME), None)
    if flavor is None:
        flavor = sess.post(
            "/flavors",
            endpoint_filter=cmp_ep,
            json={
                "flavor": {
                    "name": FLAVOR_NAME,
                    "ram": 512,
                    "vcpus": 1,
                    "disk": 1,
                    "os-flavor-access:is_public": True,
                }
            },
        ).json()["flavor"]
        print("flavor: created {} ({})".format(FLAVOR_NAME, flavor["id"]))
    else:
        print("flavor: {} present ({})".format(FLAVOR_NAME, flavor["id"]))
    return 0


def cmd_ready():
    """All probes, then the test resources: the fast path of up.sh on a running stack."""
    for probe in (cmd_probe_compute, cmd_probe_volume, cmd_probe_network):
        if probe():
            return 1
    return cmd_resources()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    funcs = {
        "keystone": cmd_keystone,
        "probe-compute": cmd_probe_compute,
        "probe-volume": cmd_probe_volume,
        "probe-network": cmd_probe_network,
        "resources": cmd_resources,
        "ready": cmd_ready,
    }
    if cmd not in funcs:
        sys.exit(__doc__)
    try:
        rc = funcs[cmd]()
    except ks_exc.ClientException as exc:
        if cmd.startswith("probe-"):
            print(f"probe: {exc}", file=sys.stderr)
            return 1
        raise
    return rc or 0


if __name__ == "__main__":
    sys.exit(main())
