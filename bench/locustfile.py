"""Locust users for bench/bench_load.py: people in browsers, and agents posting telemetry.

Not meant to be run on its own: bench_load.py builds the database, writes the fixture this file
reads (users, feed keys, ingest tokens, component ids, instance names) to $LOAD_FIXTURE, starts
gunicorn and runs locust headless against it.

The measured minute starts when the last browser user has logged in: the log-ins (PBKDF2, about
0.4 s of server CPU each) are a burst of their own, recorded apart as the log-in phase. Then
`FIXTURE["seconds"]` later this file stops locust itself (its --run-time is only a safety net).

Every request goes through `check()`, so the failures locust reports say what went wrong: an
HTTP status ("HTTP 500", "HTTP 429" — counted apart by bench_load.py), a connection error, or
"session lost" (a page answered with a redirect to the log-in form). Every request's time and
outcome is also written to $LOAD_RECORD when locust quits: bench_load.py computes exact
percentiles from them (locust's own are rounded, and its CSV files are written once a second).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gevent
from locust import HttpUser, between, events, task

FIXTURE = json.loads(Path(os.environ["LOAD_FIXTURE"]).read_text())
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
STATIC_RE = re.compile(r'(?:href|src)="(/static/[^"]+)"')
LOGIN_PATH = "/login/"

# Inventory list queries a person would click: filters, a search, sorts and a second page.
INVENTORY_QUERIES = [
    "",
    "?q=api",
    "?q=db&mode=bastion",
    "?mode=immutable&ordering=-instances",
    "?ordering=health",
    "?ordering=-updated",
    "?page=2",
    "?health=degraded",
]


# [seconds since the start, request name, milliseconds, error or None] for every request (the
# time is the answer's), and when the measured minute began.
RECORD: dict = {"started": None, "stopped": None, "measure_from": None, "requests": []}


@events.test_start.add_listener
def on_test_start(**kwargs) -> None:
    RECORD["started"] = time.time()


@events.request.add_listener
def on_request(name: str, response_time: float, exception, **kwargs) -> None:
    error = None if exception is None else str(exception)[:200]
    RECORD["requests"].append([round(time.time() - RECORD["started"], 3), name, round(response_time, 2), error])


@events.quitting.add_listener
def on_quitting(environment, **kwargs) -> None:
    RECORD["stopped"] = time.time()
    RECORD["exceptions"] = [e["msg"] for e in environment.runner.exceptions.values()]
    Path(os.environ["LOAD_RECORD"]).write_text(json.dumps(RECORD))


def check(response, *, expected: int | None = None) -> None:
    """Mark a catch_response request failed unless it is a 2xx (3xx other than to the log-in form),
    or exactly `expected` when given."""
    status = response.status_code
    if status == 0:
        response.failure(f"connection error: {response.error!r}"[:200])
    elif 300 <= status < 400 and response.headers.get("Location", "").startswith(LOGIN_PATH):
        response.failure("session lost (redirect to log-in)")
    elif status >= 400 or (expected is not None and status != expected):
        response.failure(f"HTTP {status}")
    else:
        response.success()


class BrowserUser(HttpUser):
    """A person: logs in through the form once, then reads the dashboard, inventory and calendar."""

    fixed_count = FIXTURE["browser_users"]
    wait_time = between(1, 3)

    def on_start(self) -> None:
        account = FIXTURE["users"][next(ACCOUNTS) % len(FIXTURE["users"])]
        self.feed_key = account["feed_key"]
        try:
            self.log_in(account["username"], FIXTURE["password"])
            self.fetch_static_once()
        finally:  # a failed log-in counts as done too, or the measured minute would never start
            if next(LOGGED_IN) + 1 == FIXTURE["browser_users"]:
                start_measured_minute(self.environment)

    def log_in(self, username: str, password: str) -> None:
        page = self.client.get(LOGIN_PATH, name="log-in form")
        token = CSRF_RE.search(page.text)
        form = {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1) if token else ""}
        # A browser sends Origin on a POST; Django's CSRF check compares it with the host.
        headers = {"Origin": self.host, "Referer": f"{self.host}{LOGIN_PATH}"}
        with self.client.post(
            LOGIN_PATH, data=form, headers=headers, name="log-in POST", allow_redirects=False, catch_response=True
        ) as response:
            check(response, expected=302)  # a refused log-in answers 200 with the form again

    def fetch_static_once(self) -> None:
        """The CSS, JS and icon the base template links, once: a browser caches them (whitenoise)."""
        page = self.get("/", "dashboard")
        for path in sorted(set(STATIC_RE.findall(page.text if page is not None else ""))):
            self.get(path, "static asset")

    def get(self, path: str, name: str):
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as response:
            check(response)
            return response

    @task(3)
    def dashboard(self) -> None:
        self.get("/", "dashboard")

    @task(3)
    def inventory(self) -> None:
        self.get("/components/" + random.choice(INVENTORY_QUERIES), "inventory list")

    @task(2)
    def component_detail(self) -> None:
        self.get(f"/components/{random.choice(FIXTURE['component_ids'])}/", "component detail")

    @task(2)
    def calendar(self) -> None:
        """The calendar page, then the events JSON its script fetches for the month on screen."""
        self.get("/patching/calendar/", "calendar page")
        start, end = month_view_range(datetime.now(UTC))
        params = {"start": start.isoformat(), "end": end.isoformat()}
        if random.random() < 0.3:
            params["environment"] = random.choice(FIXTURE["environments"])
        with self.client.get(
            "/patching/calendar/events.json", params=params, name="calendar events.json", catch_response=True
        ) as response:
            check(response)

    @task(1)
    def ics_feed(self) -> None:
        self.get(f"/patching/feed/{self.feed_key}.ics", "calendar .ics feed")


def start_measured_minute(environment) -> None:
    RECORD["measure_from"] = time.time() - RECORD["started"]
    gevent.spawn_later(FIXTURE["seconds"], environment.runner.quit)


def month_view_range(now: datetime) -> tuple[datetime, datetime]:
    """FullCalendar's month grid: six weeks from the Monday on or before the 1st."""
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = first - timedelta(days=first.weekday())
    return start, start + timedelta(days=42)


class IngestClient(HttpUser):
    """An agent: POSTs batches of heartbeats and metric samples with its own ingest token."""

    fixed_count = FIXTURE["ingest_clients"]
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.token = FIXTURE["ingest_tokens"][next(TOKENS) % len(FIXTURE["ingest_tokens"])]

    @task
    def post_batch(self) -> None:
        items = telemetry_batch(random.randint(50, 200), datetime.now(UTC))
        headers = {
            "Authorization": f"Bearer {self.token}",
            # A fresh key per batch: a retry of the same batch would be replayed, not stored twice.
            "Idempotency-Key": str(uuid.uuid4()),
        }
        with self.client.post(
            "/api/v1/telemetry/", json=items, headers=headers, name="telemetry ingest", catch_response=True
        ) as response:
            check(response, expected=201)


def telemetry_batch(size: int, now: datetime) -> list[dict]:
    """`size` items: for instance after instance, a heartbeat and a healthy sample of each metric
    its component's rules watch, stamped in the last ten seconds."""
    items: list[dict] = []
    for instance in random.sample(FIXTURE["instances"], len(FIXTURE["instances"])):
        ts = (now - timedelta(seconds=random.uniform(0, 10))).isoformat()
        ref = {"component": instance["component"], "instance": instance["instance"], "timestamp": ts}
        items.append({"type": "heartbeat", **ref})
        for name, unit, low, high in instance["metrics"]:
            value = round(random.uniform(low, high), 3)
            items.append({"type": "sample", **ref, "name": name, "value": value, "unit": unit})
        if len(items) >= size:
            break
    return items[:size]


# locust starts users one at a time in one process: each takes the next account or token.
ACCOUNTS = itertools.count()
TOKENS = itertools.count()
LOGGED_IN = itertools.count()
