"""N servers through cloudsvc against the same N made directly with openstacksdk: same test cloud, same run.

Needs the test OpenStack (tests/openstack/up.sh) and PostgreSQL on 127.0.0.1:5432
(scripts/ensure-postgres.sh). Each round measures both sides on the same cloud, one after the other; the
order alternates between rounds, and with several rounds the median ratio is the verdict.

direct    openstacksdk on its own, in a project set up like a cloudsvc department's (the same quotas, the
          admin user as member, a network and subnet; token had beforehand): W threads POST the N servers
          (image ``cirros-fake``, flavor m1.tiny, the project's network), then one poller lists the
          project's servers every 0.5 s until all are ACTIVE (create); then W threads DELETE them and the
          poller waits until none is left (delete).
cloudsvc  N one-server requests of the same size (m1.tiny's), submitted and passed through the department
          stage of approval beforehand; the clock starts when the cloud stage approves all N (one
          transaction) and stops when every request is ``active`` (create); then all N are decommissioned
          (one transaction) and the clock stops when every request is ``decommissioned`` (delete). W
          ``Worker.run`` loops with the default WorkerSettings (threads in this process, or ``cloudsvc
          worker`` processes with ``--processes``) do the work, on a throwaway PostgreSQL database.

Why this baseline: the worker never waits for a server inside a step; it creates, lets go, and looks
again later, with several requests under way at once. The direct side does the same the way a careful
SDK script would: concurrent POSTs, then one list call per poll for all servers (not a wait per server at
openstacksdk's default 2 s interval). Sequential create-and-wait would take about N build times and hide
everything cloudsvc adds; more client threads change little here, because this cloud's nova-api serves
two requests at a time. So the ratio measures what cloudsvc adds: claim latency, database bookkeeping,
the driver's own lookups (tokens, tenancy upkeep, existence checks before creating), the recheck cadence,
and the load those put on the cloud. Setting up the two projects is done before the clocks start and is
counted on neither side; the workers start cold (no tokens yet), as after a restart, in round 1 only.

With the times it prints the CPU each side cost: this process's (the SDK client's threads, or the worker
threads; not worker processes) and the machine's (the cloud's services, PostgreSQL, everything). On a
machine of two cores the cloud and cloudsvc share them, so what cloudsvc burns slows the cloud too.

Everything the bench creates in OpenStack carries the run's id (project tags ``cloudsvc-bench:<run>`` and
``cloudsvc-dept:bench-<run>``) and is deleted at the end, whatever happened.
Run: .venv/bin/python -m bench.provision_openstack [--servers 15] [--workers 4] [--rounds 2] [--processes]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from openstack.config import OpenStackConfig
from openstack.connection import Connection
from openstack.identity.v3.project import Project
from sqlalchemy import select

from bench.common import throwaway_postgres
from cloudsvc.db import Database
from cloudsvc.departments import service as departments
from cloudsvc.departments.schemas import DepartmentCreate
from cloudsvc.principals import service as principals
from cloudsvc.principals.authz import Caller, Grant
from cloudsvc.principals.models import Role
from cloudsvc.principals.schemas import PrincipalCreate
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from cloudsvc.quotas import service as quotas
from cloudsvc.resource_requests import service as requests
from cloudsvc.resource_requests.models import ResourceRequest
from cloudsvc.resource_requests.schemas import ServerSubmission
from cloudsvc.zones import service as zones
from cloudsvc.zones.schemas import ZoneCreate
from provisioners.base import Tenancy
from provisioners.openstack import OpenStackDriver
from provisioners.openstack.apis import identity
from provisioners.openstack.tenancy import department_tag
from quotas.demand import QuotaClass

CLOUDS_YAML = os.path.join(os.environ.get("OS_TESTCLOUD_DIR", "/var/lib/cloudsvc-testcloud"), "clouds.yaml")
CLOUD = "cloudsvc-test"
IMAGE = "cirros-fake"
FLAVOR = "m1.tiny"
BENCH_TAG = "cloudsvc-bench"
POLL = 0.5  # seconds between the direct side's list calls
STATUS_POLL = 0.1  # seconds between the bench's looks at the request statuses (a cheap local query)
TIMEOUT = 600.0  # seconds any one phase may take before the bench gives up
CLOUDSVC_WORKER = str(Path(sys.executable).parent / "cloudsvc")

log = logging.getLogger("bench.provision_openstack")


@dataclass(frozen=True)
class Timing:
    create: float
    delete: float
    # CPU seconds over both phases: this process (the SDK client, or cloudsvc's workers) and the whole
    # machine (the cloud's services, PostgreSQL, everything), which on a small machine they share.
    own_cpu: float = 0.0
    machine_cpu: float = 0.0

    @property
    def total(self) -> float:
        return self.create + self.delete


def cpu_seconds() -> tuple[float, float]:
    """(this process's CPU time, the machine's busy CPU time since boot), in seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return own.ru_utime + own.ru_stime, (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def with_cpu(measure: Callable[[], Timing]) -> Timing:
    own, machine = cpu_seconds()
    timing = measure()
    own_after, machine_after = cpu_seconds()
    return replace(timing, own_cpu=own_after - own, machine_cpu=machine_after - machine)


# --- OpenStack: the direct side, and cleaning up --------------------------------------------------------


def admin_connection() -> Connection:
    config = OpenStackConfig(config_files=[CLOUDS_YAML], load_envvars=False).get_one(cloud=CLOUD)
    return Connection(config=config)


@dataclass
class DirectProject:
    """A project set up like a cloudsvc department's, and a connection scoped to it."""

    project_id: str
    network_id: str
    conn: Connection


def direct_project(admin: Connection, run: str, servers: int, ram_mb: int, vcpus: int) -> DirectProject:
    keystone = identity(admin)
    project = keystone.create_project(
        name=f"bench-direct-{run}",
        domain_id="default",
        description="cloudsvc bench: openstacksdk on its own",
        tags=[BENCH_TAG, f"{BENCH_TAG}:{run}"],
        is_enabled=True,
    )
    role = keystone.find_role("member", ignore_missing=False)
    user_id = admin.current_user_id
    assert user_id is not None, "the clouds.yaml credentials name no user"
    keystone.assign_project_role_to_user(project.id, user_id, role)
    admin.compute.update_quota_set(project.id, instances=servers, cores=servers * vcpus, ram=servers * ram_mb)
    admin.network.update_quota(project.id, port=servers + 8)
    network = admin.network.create_network(name=f"bench-direct-{run}", project_id=project.id)
    admin.network.create_subnet(
        name=f"bench-direct-{run}",
        network_id=network.id,
        project_id=project.id,
        ip_version=4,
        cidr="192.168.77.0/24",
    )
    conn = admin.connect_as(project_id=project.id)
    conn.session.get_token()  # the token is had before the clock starts, as cloudsvc's setup had its own
    return DirectProject(project.id, network.id, conn)


def wait_servers(conn: Connection, prefix: str, done: Callable[[dict[str, str]], bool], what: str) -> None:
    """List the project's servers every POLL seconds until ``done`` holds for {name: status} of ours."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        found = {
            s.name: (s.status or "").upper()
            for s in conn.compute.servers(details=True)
            if s.name.startswith(prefix)
        }
        broken = [name for name, status in found.items() if status == "ERROR"]
        if broken:
            raise RuntimeError(f"direct: servers in ERROR: {broken}")
        if done(found):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"direct: servers not {what} after {TIMEOUT:.0f} s: {found}")
        time.sleep(POLL)


def run_direct(project: DirectProject, servers: int, workers: int, round_: int, run: str) -> Timing:
    conn = project.conn
    prefix = f"bench-{run}-r{round_}-"
    names = [f"{prefix}{i}" for i in range(servers)]
    with ThreadPoolExecutor(workers) as pool:
        began = time.perf_counter()
        image_id = conn.image.find_image(IMAGE, ignore_missing=False).id
        flavor_id = conn.compute.find_flavor(FLAVOR, ignore_missing=False).id

        def create(name: str) -> str:
            server = conn.compute.create_server(
                name=name, image_id=image_id, flavor_id=flavor_id, networks=[{"uuid": project.network_id}]
            )
            return str(server.id)

        ids = list(pool.map(create, names))
        wait_servers(
            conn,
            prefix,
            lambda found: len(found) == servers and set(found.values()) == {"ACTIVE"},
            "ACTIVE",
        )
        created = time.perf_counter() - began

        began = time.perf_counter()
        list(pool.map(lambda server_id: conn.compute.delete_server(server_id, ignore_missing=True), ids))
        wait_servers(conn, prefix, lambda found: not found, "deleted")
        deleted = time.perf_counter() - began
    return Timing(created, deleted)


def purge_project(admin: Connection, project: Project) -> list[str]:
    """Delete a project with its servers, ports, QoS policies, subnets, networks and quotas. Best effort:
    returns what could not be deleted."""
    problems: list[str] = []
    pid = project.id
    network = admin.network

    def attempt(what: str, step: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        try:
            step(*args, **kwargs)
        except Exception as exc:  # keep going: one leftover must not keep the rest
            problems.append(f"{project.name}: {what}: {exc}")

    found = list(admin.compute.servers(all_projects=True, project_id=pid))
    for server in found:
        attempt("server", admin.compute.delete_server, server, ignore_missing=True)
    for server in found:
        attempt("server", admin.compute.wait_for_delete, server, interval=0.5, wait=120)
    networks = list(network.networks(project_id=pid))
    for net in networks:
        if net.qos_policy_id:
            attempt("qos detach", network.update_network, net, qos_policy_id=None)
    for policy in list(network.qos_policies(project_id=pid)):
        attempt("qos policy", network.delete_qos_policy, policy)
    for port in list(network.ports(project_id=pid)):
        attempt("port", network.delete_port, port)
    for subnet in list(network.subnets(project_id=pid)):
        attempt("subnet", network.delete_subnet, subnet)
    for net in networks:
        attempt("network", network.delete_network, net)
    attempt("compute quotas", admin.compute.revert_quota_set, pid)
    attempt("network quotas", network.delete_quota, pid)
    attempt("project", identity(admin).delete_project, pid)
    return problems


def purge(admin: Connection, tags: Sequence[str]) -> None:
    for tag in tags:
        for project in [p for p in identity(admin).projects(tags=tag) if tag in (p.tags or [])]:
            for problem in purge_project(admin, project):
                print(f"cleanup: {problem}", file=sys.stderr)


# --- cloudsvc -------------------------------------------------------------------------------------------


@dataclass
class Actors:
    admin: Caller
    requester: Caller
    dept_approver: Caller
    cloud_approver: Caller


def actors(database: Database) -> Actors:
    def make(name: str, role: Role) -> Caller:
        with database.transaction() as session:
            created = principals.create(
                session, None, PrincipalCreate.model_validate({"name": name, "roles": [{"role": role.value}]})
            )
        return Caller(principal_id=created.principal.id, name=name, grants=(Grant(role, None),))

    return Actors(
        admin=make("bench-admin", Role.system_admin),
        requester=make("bench-requester", Role.requester),
        dept_approver=make("bench-dept-approver", Role.dept_approver),
        cloud_approver=make("bench-cloud-approver", Role.cloud_approver),
    )


def cloudsvc_department(database: Database, who: Actors, code: str, limits: dict[QuotaClass, int]) -> None:
    with database.transaction() as session:
        zones.create(
            session,
            who.admin,
            ZoneCreate.model_validate(
                {
                    "name": "os-bench",
                    "backend": "openstack",
                    "network": "extranet",
                    "mlps_level": 3,
                    "settings": {"cloud": CLOUD, "clouds_yaml": CLOUDS_YAML},
                }
            ),
        )
        department = departments.create(
            session,
            who.admin,
            DepartmentCreate.model_validate(
                {"code": code, "name": "Bench bureau", "level": "department", "parent_code": None}
            ),
        )
        quotas.set_limits(session, who.admin, departments.chain(session, department), dict(limits))


def submitted(database: Database, who: Actors, code: str, servers: int, flavor: dict[str, int]) -> list[str]:
    """N one-server requests, through the department stage of approval; their ids."""
    ids = []
    for _ in range(servers):
        submission = ServerSubmission.model_validate(
            {
                "department_code": code,
                "kind": "server",
                "zone": "os-bench",
                "spec": {**flavor, "image": IMAGE},
                "classification": "unclassified",
                "mlps_level": 2,
                "justification": "benchmark",
            }
        )
        with database.transaction() as session:
            request, _ = requests.submit(session, who.requester, submission)
            ids.append(request.id)
        with database.transaction() as session:
            requests.approve(session, who.dept_approver, request.id, comment=None)
    return ids


def wait_statuses(database: Database, ids: Sequence[str], want: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        with database.session() as session:
            rows = session.execute(
                select(ResourceRequest.status, ResourceRequest.progress, ResourceRequest.status_reason).where(
                    ResourceRequest.id.in_(ids)
                )
            ).all()
        if all(row.status == want for row in rows):
            return
        failed = [row.status_reason for row in rows if row.status == "failed"]
        if failed:
            raise RuntimeError(f"cloudsvc: requests failed: {failed[:3]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"cloudsvc: not all {want} after {TIMEOUT:.0f} s: {[tuple(r) for r in rows]}")
        time.sleep(STATUS_POLL)


def run_cloudsvc(database: Database, who: Actors, ids: Sequence[str]) -> Timing:
    began = time.perf_counter()
    with database.transaction() as session:
        for request_id in ids:
            requests.approve(session, who.cloud_approver, request_id, comment=None)
    wait_statuses(database, ids, "active")
    created = time.perf_counter() - began

    began = time.perf_counter()
    with database.transaction() as session:
        for request_id in ids:
            requests.decommission(session, who.requester, request_id, reason="benchmark")
    wait_statuses(database, ids, "decommissioned")
    deleted = time.perf_counter() - began
    return Timing(created, deleted)


@contextmanager
def worker_threads(database: Database, count: int) -> Iterator[None]:
    stop = threading.Event()
    threads = [
        threading.Thread(target=Worker(database, WorkerSettings()).run, args=(stop,), daemon=True)
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


@contextmanager
def worker_processes(url: str, count: int) -> Iterator[None]:
    """``cloudsvc worker`` processes with the default settings, started (imports done) before this yields."""
    env = {**os.environ, "CLOUDSVC_DATABASE_URL": url}
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as logs:
        processes: list[tuple[subprocess.Popen[bytes], Path]] = []
        try:
            for i in range(count):
                path = Path(logs) / f"worker-{i}.log"
                with path.open("wb") as out:
                    processes.append(
                        (subprocess.Popen([CLOUDSVC_WORKER, "worker"], env=env, stdout=out, stderr=out), path)
                    )
            deadline = time.monotonic() + 120
            for process, path in processes:
                while b"started" not in path.read_bytes():
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"a cloudsvc worker did not start:\n{path.read_text()[-2000:]}")
                    time.sleep(0.05)
            yield
        finally:
            for process, _ in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process, path in processes:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                problems = [line for line in path.read_text().splitlines() if " ERROR " in line]
                if problems:
                    print(
                        f"worker log {path.name}: {len(problems)} errors, e.g. {problems[0]}", file=sys.stderr
                    )


# --- the run --------------------------------------------------------------------------------------------


def print_table(rounds: list[tuple[Timing, Timing]], servers: int, workers: int, how: str) -> None:
    print(f"\n{servers} servers ({FLAVOR}, {IMAGE}) on the test cloud; {workers} worker {how}; same run\n")
    print(f"{'round':<7}{'phase':<8}{'direct s':>10}{'cloudsvc s':>12}{'ratio':>8}")
    for number, (direct, cloudsvc) in enumerate(rounds, 1):
        for phase in ("create", "delete", "total"):
            d, c = getattr(direct, phase), getattr(cloudsvc, phase)
            print(f"{number:<7}{phase:<8}{d:>10.2f}{c:>12.2f}{c / d:>8.2f}")
    if len(rounds) > 1:
        for phase in ("create", "delete", "total"):
            ratios = [getattr(c, phase) / getattr(d, phase) for d, c in rounds]
            print(
                f"{'median':<7}{phase:<8}{statistics.median(getattr(d, phase) for d, _ in rounds):>10.2f}"
                f"{statistics.median(getattr(c, phase) for _, c in rounds):>12.2f}"
                f"{statistics.median(ratios):>8.2f}   (ratios {min(ratios):.2f}-{max(ratios):.2f})"
            )
    print(f"\n{'round':<7}{'CPU s':<8}{'direct':>10}{'cloudsvc':>12}")
    for number, (direct, cloudsvc) in enumerate(rounds, 1):
        print(f"{number:<7}{'own':<8}{direct.own_cpu:>10.1f}{cloudsvc.own_cpu:>12.1f}")
        print(f"{number:<7}{'machine':<8}{direct.machine_cpu:>10.1f}{cloudsvc.machine_cpu:>12.1f}")
    ratio = statistics.median(c.total / d.total for d, c in rounds)
    verdict = "met" if ratio <= 1.1 else "NOT met"
    print(f"\ngoal: cloudsvc end-to-end at most 1.1x direct: {ratio:.2f}x, {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--servers", type=int, default=15, help="servers per side and round")
    parser.add_argument(
        "--workers", type=int, default=4, help="cloudsvc workers, and the direct side's threads"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds, alternating which side goes first")
    parser.add_argument(
        "--processes", action="store_true", help="run `cloudsvc worker` processes instead of worker threads"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    run = uuid.uuid4().hex[:8]
    code = f"bench-{run}"
    tags = [f"{BENCH_TAG}:{run}", department_tag(code)]
    admin = admin_connection()
    with ExitStack() as cleanup:
        cleanup.callback(admin.close)
        cleanup.callback(purge, admin, tags)  # runs after the workers have stopped (LIFO)

        flavor = admin.compute.find_flavor(FLAVOR, ignore_missing=False)
        size = {"vcpus": int(flavor.vcpus), "ram_mb": int(flavor.ram), "disk_gb": int(flavor.disk)}
        n = args.servers
        limits = {
            QuotaClass.servers: n,
            QuotaClass.vcpus: n * size["vcpus"],
            QuotaClass.ram_mb: n * size["ram_mb"],
            QuotaClass.volume_gb: n * size["disk_gb"],
        }
        direct = direct_project(admin, run, n, size["ram_mb"], size["vcpus"])
        cleanup.callback(direct.conn.close)

        url = cleanup.enter_context(throwaway_postgres("cloudsvc_bench_os"))
        database = Database(url, pool_size=2 * args.workers + 4)  # and twice that in overflow
        cleanup.callback(database.dispose)
        who = actors(database)
        cloudsvc_department(database, who, code, limits)
        # The department's project, as the worker's first pass would make it (not counted, like the direct
        # project above).
        driver = OpenStackDriver({"cloud": CLOUD, "clouds_yaml": CLOUDS_YAML})
        driver.ensure_tenancy(
            Tenancy(
                department_code=code,
                department_name="Bench bureau",
                level="department",
                classification="unclassified",
                mlps_level=2,
                limits={c.value: limit for c, limit in limits.items()},
            )
        )
        if args.processes:
            cleanup.enter_context(worker_processes(url, args.workers))
        else:
            cleanup.enter_context(worker_threads(database, args.workers))

        rounds: list[tuple[Timing, Timing]] = []
        for number in range(args.rounds):

            def cloudsvc() -> Timing:
                return run_cloudsvc(database, who, submitted(database, who, code, n, size))

            def straight(number: int = number) -> Timing:
                return run_direct(direct, n, args.workers, number, run)

            if number % 2 == 0:
                d, c = with_cpu(straight), with_cpu(cloudsvc)
            else:
                c, d = with_cpu(cloudsvc), with_cpu(straight)
            rounds.append((d, c))
            print(
                f"round {number + 1}: direct {d.create:.2f} + {d.delete:.2f} s, "
                f"cloudsvc {c.create:.2f} + {c.delete:.2f} s; CPU s (this process, machine): "
                f"direct {d.own_cpu:.1f}, {d.machine_cpu:.1f}; cloudsvc {c.own_cpu:.1f}, {c.machine_cpu:.1f}",
                flush=True,
            )
    print_table(rounds, n, args.workers, "processes" if args.processes else "threads")


if __name__ == "__main__":
    main()
