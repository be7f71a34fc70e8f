"""A small client of Patroni's REST API: what a runbook needs to patch a PostgreSQL cluster under Patroni.

    client = PatroniClient(["http://10.0.0.5:8008", "http://10.0.0.6:8008"], auth=("estate", password))
    client.members()                    # [Member(name="pg-1", role="leader", ...), ...] from GET /cluster
    client.leader()                     # the Member that leads now
    client.restart("pg-2")              # POST /restart on pg-2: "patch a node" restarts its PostgreSQL
    client.replication_lag_seconds("pg-2")  # 0.0 when pg-2 has replayed all the leader wrote
    client.switchover("pg-1", "pg-2")   # POST /switchover, then wait until pg-2 leads and pg-1 follows
    client.server_version("pg-2")       # "15.20", from GET /patroni

The URLs are the REST endpoints of the cluster's members (Patroni's restapi.connect_address); the
cluster view is read from the first that answers, so one node down does not blind the client. A
member's own calls (restart, version, lag) go to the api_url Patroni advertises for it. `auth` is
the user and password of Patroni's restapi.authentication, which Patroni asks for commands. Every call
goes through estate.core.outbound: loopback, link-local and metadata addresses are refused unless
OUTBOUND_ALLOWED_NETWORKS allows them (tests allow 127.0.0.1/32).

Every failure raises PatroniError whose `reason` is meant for the operator: the node could not be
reached, answered an error (`status` holds the HTTP status), refused a switchover (Patroni's own
words: "candidate does not exists", "leader name does not match"), or a wait ran out (PatroniTimeout).

Replication lag in seconds: 0 when the replica has replayed everything the leader had written when
asked; otherwise the time since the last transaction the replica replayed
(pg_last_xact_replay_timestamp, which Patroni reports). That is PostgreSQL's usual measure and it
overstates the lag of a replica that is behind on an idle leader; a gate that waits for the lag to
stay low for a while rides that out.

The blocking waits (switchover's, restart's, wait_for) suit tests and short scripts; a Celery step
should rather call the non-blocking checks (switchover_done, is_streaming) and reschedule itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
import urllib3

from estate.core import outbound

MAX_URLS = 16
MAX_NAME = 255
MAX_BODY = 1024 * 1024  # a cluster view of a few members is a few KiB
READ_TIMEOUT = 5.0  # seconds for a status read; commands get their own timeout
CONNECT_TIMEOUT = 3.0
POLL_SECONDS = 0.5
# Patroni answers a switchover once the new leader holds the lock: up to 2 x max(10, loop_wait) s.
SWITCHOVER_TIMEOUT = 60.0
RESTART_TIMEOUT = 120.0


class PatroniError(Exception):
    """A Patroni call failed; `reason` says why in words for the operator, `status` is the HTTP status if any."""

    def __init__(self, reason: str, *, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class PatroniTimeout(PatroniError):
    """A call or a wait (for a switchover, a restart, a condition) ran out of time."""


@dataclass(frozen=True)
class Member:
    """One member as Patroni's cluster view shows it."""

    name: str
    role: str  # leader, replica, sync_standby (standby_leader in a standby cluster)
    state: str  # running, starting, stopped, ... as Patroni says
    host: str
    port: int | None
    timeline: int | None
    lag_bytes: int | None  # bytes behind the leader; 0 for the leader, None when Patroni does not know
    api_url: str  # the member's REST endpoint, e.g. http://10.0.0.6:8008

    @property
    def is_leader(self) -> bool:
        return self.role in ("leader", "standby_leader")

    @classmethod
    def from_cluster_view(cls, item: dict) -> Member:
        lag = item.get("lag", 0)
        return cls(
            name=str(item["name"]),
            role=str(item.get("role", "")),
            state=str(item.get("state", "")),
            host=str(item.get("host", "")),
            port=item.get("port"),
            timeline=item.get("timeline"),
            lag_bytes=lag if isinstance(lag, int) else None,
            api_url=str(item.get("api_url", "")).removesuffix("/patroni"),
        )


@dataclass(frozen=True)
class Answer:
    """A Patroni answer, read whole up to MAX_BODY bytes."""

    status: int
    body: bytes

    @property
    def text(self) -> str:
        """The body as one short line for a message (Patroni answers commands in plain words)."""
        text = " ".join(self.body.decode("utf-8", "replace").split())[:300]
        return text or f"HTTP {self.status}"


def wait_for(condition: Callable[[], object], *, timeout: float, what: str):
    """Poll `condition` until it returns something true and return that; PatroniTimeout after `timeout` s.
    A PatroniError inside counts as "not yet" (a node restarting does not answer); the last one is told."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            value = condition()
            if value:
                return value
        except PatroniError as exc:
            last_error = f" (last error: {exc.reason})"
        if time.monotonic() >= deadline:
            raise PatroniTimeout(f"timed out after {timeout:g} s waiting for {what}{last_error}")
        time.sleep(POLL_SECONDS)


def server_version_text(number: int) -> str:
    """PostgreSQL's server_version_num as people write it: 150020 -> "15.20", 90624 -> "9.6.24"."""
    if number >= 100000:
        return f"{number // 10000}.{number % 10000}"
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"


class PatroniClient:
    """Talks to one Patroni cluster through the REST endpoints of its members."""

    def __init__(self, urls: str | Sequence[str], *, auth: tuple[str, str] | None = None):
        urls = [urls] if isinstance(urls, str) else list(urls)
        if not urls or len(urls) > MAX_URLS:
            raise PatroniError(f"name between 1 and {MAX_URLS} Patroni REST URLs (got {len(urls)})")
        self.urls = [str(url).rstrip("/") for url in urls]
        self.auth = auth

    # --- HTTP ----------------------------------------------------------------------------------

    def _call(self, method: str, url: str, *, timeout: float = READ_TIMEOUT, **kwargs) -> Answer:
        """One request through the outbound guard; transport failures become PatroniError."""
        # Reads may be retried on a dropped connection; a command never is (a switchover sent twice
        # could switch back).
        retries = outbound.retry(total=1, statuses=()) if method == "GET" else 0
        try:
            with outbound.request(
                method, url, retries=retries, auth=self.auth, timeout=(CONNECT_TIMEOUT, timeout), stream=True, **kwargs
            ) as response:
                body = response.raw.read(MAX_BODY + 1, decode_content=True)
        except outbound.OutboundRefused as exc:
            raise PatroniError(f"{url}: {exc}") from exc
        except (requests.ReadTimeout, urllib3.exceptions.ReadTimeoutError) as exc:
            raise PatroniTimeout(f"Patroni at {url} timed out: no answer within {timeout:g} s") from exc
        except (outbound.OutboundUnresolved, requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise PatroniError(f"Patroni at {url} could not be reached: {exc}") from exc
        if len(body) > MAX_BODY:
            raise PatroniError(f"Patroni at {url} answered more than {MAX_BODY // 1024} KiB")
        return Answer(response.status_code, body)

    def _json(self, url: str) -> dict:
        answer = self._call("GET", url)
        if answer.status != 200:
            raise PatroniError(f"Patroni at {url} answered HTTP {answer.status}: {answer.text}", status=answer.status)
        try:
            body = json.loads(answer.body)
        except ValueError as exc:
            raise PatroniError(f"Patroni at {url} answered something that is not JSON") from exc
        if not isinstance(body, dict):
            raise PatroniError(f"Patroni at {url} answered an unexpected document")
        return body

    # --- reading -------------------------------------------------------------------------------

    def members(self) -> list[Member]:
        """Every member, from GET /cluster of the first URL that answers."""
        errors = []
        for url in self.urls:
            try:
                view = self._json(f"{url}/cluster")
                return [Member.from_cluster_view(item) for item in view.get("members", [])]
            except (PatroniError, KeyError, TypeError) as exc:
                errors.append(getattr(exc, "reason", f"{url}/cluster: malformed member {exc}"))
        raise PatroniError("no Patroni member answered: " + "; ".join(errors))

    def member(self, name: str) -> Member:
        members = self.members()
        found = next((m for m in members if m.name == name), None)
        if found is None:
            known = ", ".join(m.name for m in members) or "none"
            raise PatroniError(f"{_shown(name)} is not a member of the cluster (members: {known})")
        return found

    def leader(self) -> Member:
        """The member that holds the leader lock now; PatroniError when none does (an election is on)."""
        found = next((m for m in self.members() if m.is_leader), None)
        if found is None:
            raise PatroniError("the cluster has no leader right now")
        return found

    def status(self, name: str) -> dict:
        """The member's own GET /patroni (state, role, server_version, xlog, replication, timeline)."""
        return self._json(f"{self.member(name).api_url}/patroni")

    def server_version(self, name: str) -> str:
        """The member's PostgreSQL version, e.g. "15.20"; PatroniError when its PostgreSQL is not running."""
        number = self.status(name).get("server_version")
        if not isinstance(number, int):
            raise PatroniError(f"{_shown(name)} reports no server version (is its PostgreSQL running?)")
        return server_version_text(number)

    def is_streaming(self, name: str) -> bool:
        """Whether the member is a replica that streams WAL from the leader right now."""
        replication = self._json(f"{self.leader().api_url}/patroni").get("replication", [])
        return any(r.get("application_name") == name and r.get("state") == "streaming" for r in replication)

    def replication_lag_seconds(self, name: str) -> float:
        """How far the member's replay is behind the leader, in seconds (see the module's docstring)."""
        leader = self.leader()
        if leader.name == name:
            return 0.0
        # The leader's position first: a replica at or past it has replayed all that was written.
        written = self._json(f"{leader.api_url}/patroni").get("xlog", {}).get("location")
        xlog = self.status(name).get("xlog", {})
        replayed = xlog.get("replayed_location")
        if not isinstance(written, int) or not isinstance(replayed, int):
            raise PatroniError(f"replication lag of {_shown(name)} is unknown: its PostgreSQL reports no position")
        if replayed >= written:
            return 0.0
        if not xlog.get("replayed_timestamp"):
            raise PatroniError(f"replication lag of {_shown(name)} is unknown: it has replayed no transaction yet")
        replayed_at = datetime.fromisoformat(xlog["replayed_timestamp"])
        return max(0.0, (datetime.now(UTC) - replayed_at).total_seconds())

    # --- commands ------------------------------------------------------------------------------

    def switchover(self, leader: str, candidate: str, *, timeout: float = SWITCHOVER_TIMEOUT) -> Member:
        """Hand the leadership from `leader` to `candidate` (POST /switchover), then wait until the
        candidate leads and the old leader runs as its replica. Returns the new leader.
        Refusals (a name that is no member, a leader that does not lead) carry Patroni's reason.
        Asked again once the candidate leads (a worker that died mid-step asks again), it only waits."""
        _check_name(leader, "leader")
        _check_name(candidate, "candidate")
        if leader == candidate:
            raise PatroniError(f"switchover refused: the candidate {_shown(candidate)} is the leader itself")
        deadline = time.monotonic() + timeout
        current = self.leader()
        if current.name != candidate:
            self._post_switchover(current, leader, candidate, timeout=timeout)
        what = f"{_shown(candidate)} to lead and {_shown(leader)} to follow it"
        left = max(0.0, deadline - time.monotonic())
        wait_for(lambda: self.switchover_done(leader, candidate), timeout=left, what=what)
        return self.member(candidate)

    def _post_switchover(self, current: Member, leader: str, candidate: str, *, timeout: float) -> None:
        # Patroni answers once the candidate holds the leader lock (or it gave up: 503).
        body = {"leader": leader, "candidate": candidate}
        response = self._call("POST", f"{current.api_url}/switchover", json=body, timeout=timeout)
        if response.status != 200:
            raise PatroniError(
                f"Patroni refused the switchover from {_shown(leader)} to {_shown(candidate)} "
                f"(HTTP {response.status}): {response.text}",
                status=response.status,
            )

    def switchover_done(self, leader: str, candidate: str) -> bool:
        """Whether `candidate` leads and the former `leader` is back as a running replica."""
        members = {m.name: m for m in self.members()}
        new, old = members.get(candidate), members.get(leader)
        return bool(new and old and new.is_leader and new.state == "running" and not old.is_leader
                    and old.state == "running")  # fmt: skip

    def restart(self, name: str, *, timeout: float = RESTART_TIMEOUT) -> None:
        """Restart the member's PostgreSQL (POST /restart on that member) and wait until it runs again.
        Patroni restarts synchronously and answers 200 once PostgreSQL is back up."""
        _check_name(name, "member")
        deadline = time.monotonic() + timeout
        url = f"{self.member(name).api_url}/restart"
        response = self._call("POST", url, json={}, timeout=timeout)
        if response.status != 200:
            raise PatroniError(
                f"Patroni could not restart {_shown(name)} (HTTP {response.status}): {response.text}",
                status=response.status,
            )
        left = max(0.0, deadline - time.monotonic())
        wait_for(lambda: self.member(name).state == "running", timeout=left, what=f"{_shown(name)} to run")


def _check_name(name: object, field: str) -> None:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise PatroniError(f"{field}: a member name of 1 to {MAX_NAME} characters is required")


def _shown(name: object) -> str:
    return repr(str(name)[:80])
