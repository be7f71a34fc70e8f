"""The Patroni client against a real cluster: etcd and two PostgreSQL 15 nodes under Patroni on loopback.

One cluster serves the whole module (tests/patroni.py); each test reads who leads now instead of
assuming it, since a switchover earlier in the module swaps the roles.
"""

from __future__ import annotations

import psycopg
import pytest

from estate.patching.patroni import PatroniClient, PatroniError, wait_for
from tests.patroni import PatroniCluster, patroni_cluster  # noqa: F401  (the module's cluster)
from tests.prometheus import free_port

CATCH_UP = 20  # seconds a replica on loopback gets to catch up or to stream again


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    # The outbound guard refuses loopback unless configured: the cluster lives on 127.0.0.1.
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"


@pytest.fixture
def client(patroni_cluster: PatroniCluster) -> PatroniClient:  # noqa: F811
    return PatroniClient(patroni_cluster.rest_urls)


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
    new_leader = client.switchover(leader, replica)
    assert new_leader.name == replica and client.leader().name == replica
    assert client.member(leader).role == "replica"
    wait_for(lambda: client.is_streaming(leader), timeout=CATCH_UP, what=f"{leader} to stream from {replica}")
    sql(patroni_cluster, replica, "CREATE TABLE after_switchover AS SELECT 1 AS id")
    wait_caught_up(client, leader)
    assert sql(patroni_cluster, leader, "SELECT id FROM after_switchover", read_only=True) == [(1,)]
    assert client.member(leader).timeline == client.member(replica).timeline == new_leader.timeline


@pytest.mark.postgres
def test_switchover_to_an_unknown_member_is_refused_with_patronis_reason(client):
    leader, _ = roles(client)
    with pytest.raises(PatroniError, match="candidate does not exists") as refused:
        client.switchover(leader, "node9")
    assert refused.value.status == 412
    with pytest.raises(PatroniError, match="the candidate 'node1' is the leader itself"):
        client.switchover("node1", "node1")
    assert client.leader().name == leader


def test_loopback_is_refused_unless_outbound_allowed_networks_allows_it(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ""
    with pytest.raises(PatroniError, match="a loopback address; outbound calls to it are refused"):
        PatroniClient("http://127.0.0.1:8008").members()
