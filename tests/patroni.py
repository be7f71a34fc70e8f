"""A real Patroni cluster on loopback for the tests that patch PostgreSQL: one etcd (v3 API) and two
PostgreSQL 15 nodes under Debian's `patroni`, in a temporary directory, on free ports.

`running_patroni_cluster()` starts it and waits until one node leads and the other streams from it;
it yields a PatroniCluster (the REST URLs, the PostgreSQL ports, a DSN per node) and tears everything
down after, test failure or not. The `patroni_cluster` fixture shares one cluster per test module:
import it into the module (`from tests.patroni import patroni_cluster  # noqa: F401`).
`cluster.replay_held(replica)` makes a replica lag for as long as a test needs (for gates). A failed
start-up shows the cluster view and each node's log; KEEP_PATRONI_DIR=1 keeps the directory after.

PostgreSQL refuses to run as root, so when the tests run as root every process runs as the
`postgres` user and the directory is owned by it. Tear-down stops each Patroni's process group
(Patroni stops its PostgreSQL on the way out), then any postmaster that outlived its Patroni (Patroni
starts it in a session of its own, which no group signal reaches), then etcd.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests
import yaml

from tests.prometheus import free_port

PATRONI = shutil.which("patroni")
ETCD = shutil.which("etcd")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SCOPE = "estate-test"
REST_AUTH = ("estate", "patroni-test")  # Patroni asks it for commands (POST), as it should in production
START_TIMEOUT = 45  # seconds; start-up usually takes under 15
# Small timings make elections, switchovers and rejoins quick: Patroni wants
# loop_wait + 2 * retry_timeout <= ttl.
DCS = {"ttl": 10, "loop_wait": 1, "retry_timeout": 4, "maximum_lag_on_failover": 16 * 1024 * 1024}
PG_PARAMETERS = {
    "wal_level": "replica",
    "hot_standby": "on",
    "wal_log_hints": "on",  # pg_rewind needs it when a former leader rejoins
    "max_wal_senders": 5,
    "max_replication_slots": 5,
    "wal_keep_size": "64MB",
    "shared_buffers": "16MB",
    # Throw-away data: speed over durability. synchronous_commit stays on: an asynchronous commit is
    # not yet in the WAL the leader reports as written, so a replica would look caught up before it is.
    "fsync": "off",
    "max_standby_streaming_delay": -1,  # a replica's query that holds replay holds it (replay_held)
    "full_page_writes": "off",
}


@dataclass
class PatroniNode:
    name: str
    rest_url: str
    pg_port: int
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.pg_port} user=postgres dbname=postgres connect_timeout=3"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"


@dataclass
class PatroniCluster:
    """What a test needs from the running cluster; `nodes` in start order (node1 bootstrapped it)."""

    etcd_url: str
    nodes: list[PatroniNode] = field(default_factory=list)
    auth: tuple[str, str] = REST_AUTH  # the REST API's user and password for commands

    @property
    def rest_urls(self) -> list[str]:
        return [n.rest_url for n in self.nodes]

    @property
    def pg_ports(self) -> dict[str, int]:
        return {n.name: n.pg_port for n in self.nodes}

    def node(self, name: str) -> PatroniNode:
        return next(n for n in self.nodes if n.name == name)

    def view(self) -> dict:
        """GET /cluster from the first node that answers."""
        for url in self.rest_urls:
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{url}/cluster", timeout=2).json()
        return {"members": []}

    def leader_name(self) -> str:
        return next(m["name"] for m in self.view()["members"] if m["role"] == "leader")

    @contextlib.contextmanager
    def replay_held(self, name: str) -> Iterator[None]:
        """Hold the replica's replay behind a query of its own, the way a long report on a replica does:
        the replica keeps receiving WAL but replays nothing past the leader's ACCESS EXCLUSIVE lock,
        so its lag grows while the leader writes. Released on the way out, test failure or not.
        (Pausing replay with pg_wal_replay_pause() does not hold: Patroni resumes it within a loop.)"""
        leader = self.node(self.leader_name())
        _sql(leader.dsn, "CREATE TABLE IF NOT EXISTS replay_hold (id int)")
        replica = self.node(name)
        _wait(lambda: _sql(replica.dsn, "SELECT to_regclass('replay_hold')")[0][0], 10, "replay_hold on the replica")
        with psycopg.connect(replica.dsn) as report:  # a transaction: it keeps its lock until closed
            report.execute("SELECT count(*) FROM replay_hold")
            _sql(leader.dsn, "BEGIN; LOCK TABLE replay_hold IN ACCESS EXCLUSIVE MODE; COMMIT")
            yield

    def wait_until_healthy(self, timeout: float = START_TIMEOUT) -> tuple[str, str]:
        """Wait until one node leads and every other streams from it; (leader, replica) names."""
        return _wait(lambda: _leader_and_streaming_replica(self), timeout, "a leader and a streaming replica", self)


def _sql(dsn: str, statement: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


# --- start and stop ------------------------------------------------------------------------


def _as_postgres() -> dict:
    """Popen arguments that drop root for the postgres user (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


def _start(argv: list[str], log: Path, directory: Path) -> subprocess.Popen:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(directory)}
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=directory, env=env,
            start_new_session=True, **_as_postgres(),
        )  # fmt: skip


def _start_etcd(base: Path) -> tuple[subprocess.Popen, str]:
    client, peer = free_port(), free_port()
    url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    argv = [
        ETCD, "--name", "etcd0", "--data-dir", str(base / "etcd"),
        "--listen-client-urls", url, "--advertise-client-urls", url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"etcd0={peer_url}", "--initial-cluster-state", "new",
        "--log-level", "warn", "--logger", "zap",
    ]  # fmt: skip
    process = _start(argv, base / "etcd.log", base)
    _wait(lambda: requests.get(f"{url}/health", timeout=1).json().get("health") == "true", 15, "etcd to start")
    return process, url


def _node_config(node: PatroniNode, etcd_url: str) -> dict:
    rest = node.rest_url.removeprefix("http://")
    return {
        "scope": SCOPE,
        "name": node.name,
        "log": {"level": "WARNING"},
        "restapi": {
            "listen": rest,
            "connect_address": rest,
            "authentication": {"username": REST_AUTH[0], "password": REST_AUTH[1]},
        },
        "etcd3": {"hosts": [etcd_url.removeprefix("http://")], "protocol": "http"},
        "bootstrap": {
            "dcs": {**DCS, "postgresql": {"use_pg_rewind": True, "parameters": PG_PARAMETERS}},
            "initdb": [{"encoding": "UTF8"}],
            "pg_hba": [
                "local all all trust",
                "host replication replicator 127.0.0.1/32 trust",
                "host all all 127.0.0.1/32 trust",
            ],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{node.pg_port}",
            "connect_address": f"127.0.0.1:{node.pg_port}",
            "data_dir": str(node.data_dir),
            "bin_dir": str(PG_BIN),
            "pgpass": str(node.directory / "pgpass"),
            "authentication": {
                "superuser": {"username": "postgres", "password": "postgres"},
                "replication": {"username": "replicator", "password": "replicator"},
            },
            "basebackup": [{"checkpoint": "fast"}],
            "parameters": {"unix_socket_directories": str(node.directory)},
        },
    }


def _start_node(node: PatroniNode, etcd_url: str) -> None:
    node.directory.mkdir()
    config = node.directory / "patroni.yml"
    config.write_text(yaml.safe_dump(_node_config(node, etcd_url)))
    _chown_tree(node.directory)
    node.process = _start([PATRONI, str(config)], node.directory / "patroni.log", node.directory)


def _chown_tree(path: Path) -> None:
    if os.geteuid() != 0:
        return
    postgres = pwd.getpwnam("postgres")
    for item in [path, *path.rglob("*")]:
        os.chown(item, postgres.pw_uid, postgres.pw_gid)


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _postmaster_pid(node: PatroniNode) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((node.data_dir / "postmaster.pid").read_text().split()[0])
    return None


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM the processes' groups (Patroni stops its PostgreSQL on the way out), then SIGKILL what is left."""
    for process in processes:
        _kill_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in processes:
        _kill_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


def _stop_postmaster(node: PatroniNode) -> None:
    """A postmaster that outlived its Patroni (Patroni crashed or was killed): Patroni started it in a
    session of its own, so no group signal reached it. Immediate shutdown (SIGQUIT), then SIGKILL."""
    pid = _postmaster_pid(node)
    if pid is None or not _serves(pid, node.data_dir):
        return
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while _serves(pid, node.data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)


def _serves(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is (still) the postmaster of `data_dir`, not a stale pid the system gave to another process."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return str(data_dir).encode() in cmdline and state != "Z"


def _stop_cluster(cluster: PatroniCluster, etcd: subprocess.Popen | None) -> None:
    """The nodes first, while etcd still answers (else Patroni retries its leader key before it exits)."""
    _stop([n.process for n in cluster.nodes if n.process])
    for node in cluster.nodes:
        _stop_postmaster(node)
    if etcd:
        _stop([etcd])


# --- waiting -------------------------------------------------------------------------------


def _wait(check, timeout: float, what: str, cluster: PatroniCluster | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cluster and any(n.process and n.process.poll() is not None for n in cluster.nodes):
            raise AssertionError(f"a Patroni process exited while waiting for {what}{_diagnosis(cluster)}")
        with contextlib.suppress(requests.RequestException, ValueError, KeyError):
            value = check()
            if value:
                return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{_diagnosis(cluster)}")


def _diagnosis(cluster: PatroniCluster | None) -> str:
    if cluster is None:
        return ""
    logs = "".join(f"\n--- {n.name} log (tail) ---\n{_tail(n.directory / 'patroni.log')}" for n in cluster.nodes)
    return f"\ncluster view: {cluster.view()}{logs}"


def _tail(path: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def _leader_and_streaming_replica(cluster: PatroniCluster) -> tuple[str, str] | None:
    members = cluster.view()["members"]
    leaders = [m for m in members if m["role"] == "leader" and m["state"] == "running"]
    # Patroni updates a member's state in the DCS once per loop, a little after PostgreSQL streams.
    replicas = [m for m in members if m["role"] != "leader" and m["state"] == "running"]
    if len(leaders) != 1 or len(replicas) != len(cluster.nodes) - 1:
        return None
    status = requests.get(f"{leaders[0]['api_url'].removesuffix('/patroni')}/patroni", timeout=2).json()
    streaming = {r["application_name"] for r in status.get("replication", []) if r["state"] == "streaming"}
    if all(r["name"] in streaming for r in replicas):
        return leaders[0]["name"], replicas[0]["name"] if replicas else ""
    return None


# --- the cluster ---------------------------------------------------------------------------


def _scratch_dir() -> str | None:
    """RAM (/dev/shm) when it has room: the data is thrown away, and a busy disk slows start and clean-up."""
    with contextlib.suppress(OSError):
        if shutil.disk_usage("/dev/shm").free > 1024**3:
            return "/dev/shm"
    return None


def skip_unless_installed() -> None:
    missing = [what for what, found in (("patroni", PATRONI), ("etcd", ETCD)) if not found]
    if not (PG_BIN / "postgres").exists():
        missing.append(f"PostgreSQL 15 binaries in {PG_BIN}")
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)} (Debian packages patroni, etcd-server, postgresql-15; .ci/run installs them)"
        )


@contextlib.contextmanager
def running_patroni_cluster(names: tuple[str, ...] = ("node1", "node2")) -> Iterator[PatroniCluster]:
    """etcd and one Patroni node per name; node1 bootstraps and leads at first, the others stream from it."""
    skip_unless_installed()
    base = Path(tempfile.mkdtemp(prefix="estate-patroni-", dir=_scratch_dir()))
    _chown_tree(base)
    etcd, cluster = None, PatroniCluster(etcd_url="")
    try:
        etcd, cluster.etcd_url = _start_etcd(base)
        for name in names:
            port = free_port()
            cluster.nodes.append(PatroniNode(name, f"http://127.0.0.1:{free_port()}", port, base / name))
        # The first node bootstraps alone, so that it is the one that leads; the others clone it.
        _start_node(cluster.nodes[0], cluster.etcd_url)
        _wait(lambda: _leader_and_streaming_replica(PatroniCluster("", cluster.nodes[:1])), START_TIMEOUT,
              "node1 to bootstrap and lead", cluster)  # fmt: skip
        for node in cluster.nodes[1:]:
            _start_node(node, cluster.etcd_url)
        cluster.wait_until_healthy()
        yield cluster
    finally:
        _stop_cluster(cluster, etcd)
        if not os.environ.get("KEEP_PATRONI_DIR"):
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def patroni_cluster() -> Iterator[PatroniCluster]:
    """One real cluster for the whole test module (start-up takes seconds, not milliseconds)."""
    with running_patroni_cluster() as cluster:
        yield cluster
