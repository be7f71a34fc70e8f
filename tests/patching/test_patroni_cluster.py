"""The Patroni client against a real cluster: etcd and two PostgreSQL 15 nodes under Patroni on loopback.

One cluster serves the whole module (tests/patroni.py); each test reads who leads now instead of
assuming it, since a switchover earlier in the module swaps the roles. The failures a healthy cluster
does not produce (a 503, a hang, a body that is not JSON) come from a stand-in on loopback at the end.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from estate.patching.patroni import PatroniClient, PatroniError, PatroniTimeout, wait_for
from tests.patroni import PatroniCluster, patroni_cluster  # noqa: F401  (the module's cluster)
from tests.prometheus import free_port

CATCH_UP = 20  # seconds a replica on loopback gets to catch up or to stream again


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    # The outbound guard refuses loopback unless configured: the cluster lives on 127.0.0.1.
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"


@pytest.fixture
def client(patroni_cluster: PatroniCluster) -> PatroniClient:  # noqa: F811
    return PatroniClient(patroni_cluster.rest_urls, auth=patroni_cluster.auth)


def sql(cluster: PatroniCluster, node: str, statement: str, *, read_only: bool = False):
    with psycopg.connect(cluster.node(node).dsn, autocommit=True) as connection:
        return connection.execute(statement).fetchall() if read_only else connection.execute(statement)


def roles(client: PatroniClient) -> tuple[str, str]:
    leader = client.leader().name
    return leader, next(m.name for m in client.members() if m.name != leader)


def wait_caught_up(client: PatroniClient, replica: str) -> None:
    wait_for(lambda: client.replication_lag_seconds(replica) == 0.0, timeout=CATCH_UP, what=f"{replica} to catch up")


@pytest.mark.postgres
def test_members_leader_and_versions_are_read_from_the_cluster(patroni_cluster, client):  # noqa: F811
    members = {m.name: m for m in client.members()}
    assert set(members) == {"node1", "node2"}
    leader, replica = client.leader(), members[roles(client)[1]]
    assert leader.role == "leader" and leader.state == "running" and leader.lag_bytes == 0
    assert replica.role == "replica" and replica.state == "running" and isinstance(replica.lag_bytes, int)
    assert {m.name: (m.host, m.port) for m in members.values()} == {
        name: ("127.0.0.1", port) for name, port in patroni_cluster.pg_ports.items()
    }
    assert leader.timeline == replica.timeline
    for name in members:
        [(shown,)] = sql(patroni_cluster, name, "SHOW server_version", read_only=True)
        assert shown.startswith(client.server_version(name) + " ") and shown.startswith("15.")


@pytest.mark.postgres
def test_a_dead_endpoint_is_skipped_and_an_unknown_member_is_named(patroni_cluster):  # noqa: F811
    dead = f"http://127.0.0.1:{free_port()}"
    assert {m.name for m in PatroniClient([dead, *patroni_cluster.rest_urls]).members()} == {"node1", "node2"}
    with pytest.raises(PatroniError, match="could not be reached"):
        PatroniClient(dead).members()
    with pytest.raises(PatroniError, match=r"'node9' is not a member of the cluster \(members: node1, node2\)"):
        PatroniClient(patroni_cluster.rest_urls).server_version("node9")


@pytest.mark.postgres
def test_rows_written_on_the_leader_are_read_on_the_replica_once_it_caught_up(patroni_cluster, client):  # noqa: F811
    leader, replica = roles(client)
    sql(patroni_cluster, leader, "CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 5000) g")
    wait_caught_up(client, replica)
    assert sql(patroni_cluster, replica, "SELECT count(*) FROM orders", read_only=True) == [(5000,)]
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        sql(patroni_cluster, replica, "INSERT INTO orders VALUES (0)")


@pytest.mark.postgres
def test_lag_grows_while_a_query_holds_the_replicas_replay_and_falls_to_zero_after(patroni_cluster, client):  # noqa: F811
    leader, replica = roles(client)
    sql(patroni_cluster, leader, "CREATE TABLE IF NOT EXISTS ticks (at timestamptz)")
    sql(patroni_cluster, leader, "INSERT INTO ticks VALUES (now())")
    wait_caught_up(client, replica)  # it has replayed a transaction: its replay time is known
    with patroni_cluster.replay_held(replica):
        sql(patroni_cluster, leader, "INSERT INTO ticks VALUES (now())")
        lagging = lambda: client.replication_lag_seconds(replica) >= 1.0  # noqa: E731
        wait_for(lagging, timeout=CATCH_UP, what=f"{replica} to lag a second behind")
        assert client.replication_lag_seconds(leader) == 0.0
    wait_caught_up(client, replica)
    assert sql(patroni_cluster, replica, "SELECT count(*) FROM ticks", read_only=True) == [(2,)]


@pytest.mark.postgres
def test_restarted_replica_comes_back_streaming(patroni_cluster, client):  # noqa: F811
    replica = roles(client)[1]
    started = client.status(replica)["postmaster_start_time"]
    client.restart(replica)
    assert client.status(replica)["postmaster_start_time"] != started
    wait_for(lambda: client.is_streaming(replica), timeout=CATCH_UP, what=f"{replica} to stream again")
    wait_caught_up(client, replica)


@pytest.mark.postgres
def test_switchover_swaps_the_roles_and_the_old_leader_rejoins_as_a_replica(patroni_cluster, client):  # noqa: F811
    leader, replica = roles(client)
    timeline = client.leader().timeline
    new_leader = client.switchover(leader, replica)
    assert new_leader.name == replica and client.leader().name == replica
    assert client.member(leader).role == "replica"
    wait_for(lambda: client.is_streaming(leader), timeout=CATCH_UP, what=f"{leader} to stream from {replica}")
    sql(patroni_cluster, replica, "CREATE TABLE after_switchover AS SELECT 1 AS id")
    wait_caught_up(client, leader)
    assert sql(patroni_cluster, leader, "SELECT id FROM after_switchover", read_only=True) == [(1,)]
    # A promotion starts the next timeline; each member reports it within a loop of Patroni.
    on_next = lambda: {m.timeline for m in client.members()} == {timeline + 1}  # noqa: E731
    wait_for(on_next, timeout=CATCH_UP, what=f"both members on timeline {timeline + 1}")
    # Asked again (a worker that died mid-step asks again), it does not switch back.
    assert client.switchover(leader, replica).name == replica
    assert client.leader().name == replica and client.leader().timeline == timeline + 1


@pytest.mark.postgres
def test_switchover_to_an_unknown_member_or_without_credentials_is_refused_with_patronis_reason(
    patroni_cluster,  # noqa: F811
    client,
):
    leader, replica = roles(client)
    with pytest.raises(PatroniError, match=r"to 'node9' \(HTTP 412\): candidate does not exists") as refused:
        client.switchover(leader, "node9")
    assert refused.value.status == 412
    anonymous = PatroniClient(patroni_cluster.rest_urls)
    with pytest.raises(PatroniError, match=r"\(HTTP 401\): no auth header received"):
        anonymous.switchover(leader, replica)
    with pytest.raises(PatroniError, match="the candidate 'node1' is the leader itself"):
        client.switchover("node1", "node1")
    assert client.leader().name == leader


def test_loopback_is_refused_unless_outbound_allowed_networks_allows_it(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ""
    with pytest.raises(PatroniError, match="a loopback address; outbound calls to it are refused"):
        PatroniClient("http://127.0.0.1:8008").members()


# --- failures a healthy cluster does not produce, from a stand-in Patroni on loopback -------------


@pytest.fixture
def stand_in():
    """A Patroni stand-in: GET /cluster names one member (itself); POST answers as `answers` says."""
    answers: dict[str, tuple[int, str, float]] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status: int, body: str, delay: float = 0.0):
            time.sleep(delay)
            payload = body.encode()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def do_GET(self):
            url = f"http://127.0.0.1:{self.server.server_port}/patroni"
            members = [{"name": "node2", "role": "replica", "state": "running", "api_url": url, "lag": "unknown"}]
            self._answer(*answers.get(self.path, (200, json.dumps({"members": members}), 0.0)))

        def do_POST(self):
            self._answer(*answers[self.path])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield PatroniClient(f"http://127.0.0.1:{server.server_port}"), answers
    server.shutdown()
    server.server_close()


def test_an_unknown_lag_is_none_and_a_cluster_without_leader_says_so(stand_in):
    client, _ = stand_in
    assert client.member("node2").lag_bytes is None
    with pytest.raises(PatroniError, match="the cluster has no leader right now"):
        client.leader()


def test_a_failed_restart_carries_patronis_answer_and_status(stand_in):
    client, answers = stand_in
    answers["/restart"] = (503, "restart failed", 0.0)
    with pytest.raises(PatroniError, match=r"Patroni could not restart 'node2' \(HTTP 503\): restart failed") as failed:
        client.restart("node2")
    assert failed.value.status == 503


def test_a_node_that_does_not_answer_in_time_is_a_timeout(stand_in):
    client, answers = stand_in
    answers["/restart"] = (200, "restarted successfully", 2.0)
    with pytest.raises(PatroniTimeout, match=r"timed out: no answer within 0\.5 s"):
        client.restart("node2", timeout=0.5)


def test_an_error_page_a_body_that_is_not_json_or_one_too_big_is_named(stand_in):
    client, answers = stand_in
    answers["/cluster"] = (503, "<html>Service Unavailable</html>", 0.0)
    with pytest.raises(PatroniError, match=r"answered HTTP 503: <html>Service Unavailable</html>") as failed:
        client.members()
    assert "no Patroni member answered" in failed.value.reason
    answers["/cluster"] = (200, "not json", 0.0)
    with pytest.raises(PatroniError, match="answered something that is not JSON"):
        client.members()
    answers["/cluster"] = (200, " " * (1024 * 1024 + 1), 0.0)
    with pytest.raises(PatroniError, match="answered more than 1024 KiB"):
        client.members()
