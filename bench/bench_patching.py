"""Patching at scale: the month view, the .ics feed and the conflict check, at 20 and 2,000 windows.

One run builds 20 recurring windows, measures, grows the same database to 2,000 and measures
again. Windows are spread over history the way a long-lived estate accumulates them (each one a
series of four weekly occurrences, one new series every three days), so any month holds about
the same number of occurrences at both sizes while the table grows 100x. Targets, from the issue:

* the number of SQL queries per request does not grow with the number of windows;
* with 100x the windows, the month view and the conflict check take at most 5x as long.

The feed carries every window by design (a calendar client wants them all): its query count must
stay flat, its time grows with its size and is reported, not targeted.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/estate_bench_patching DEBUG=true \\
        .venv/bin/python bench/bench_patching.py

Prints a Markdown section for bench/RESULTS.md; exits 1 when a target is missed. The database's
inventory and patching tables are wiped: give it a database of its own. Without DATABASE_URL it
runs on var/bench_patching.sqlite3 (to try the script, not to quote).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "estate.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DB_CONN_MAX_AGE", "3600")
if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench_patching.sqlite3'}"

STEP = timedelta(days=3)
COMPONENTS = 10
MAX_RATIO = 5.0


def setup_django():
    import django

    if os.environ["DATABASE_URL"].startswith("postgres"):
        sys.path.insert(0, str(ROOT / "bench"))
        from bench_inventory import ensure_postgres_database

        ensure_postgres_database(os.environ["DATABASE_URL"])
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def wipe():
    from django.contrib.auth import get_user_model

    from estate.inventory.models import Cluster, Component, Environment, System, Team
    from estate.patching.models import ChangeFreeze, FeedToken, Occurrence, PatchWindow, Slot

    for model in (
        Slot,
        Occurrence,
        PatchWindow,
        ChangeFreeze,
        FeedToken,
        Component,
        Cluster,
        System,
        Team,
        Environment,
    ):
        model.objects.all().delete()
    get_user_model().objects.filter(username="bench").delete()


def build_estate():
    from tests.factories import BastionComponentFactory, ClusterFactory, UserFactory

    clusters = [ClusterFactory(name=f"bench-pg-{i}") for i in range(COMPONENTS // 2)]
    components = [
        BastionComponentFactory(
            name=f"bench-db-{i}", cluster=clusters[i // 2], environment=clusters[i // 2].environment
        )
        for i in range(COMPONENTS)
    ]
    user = UserFactory(username="bench", is_staff=True, is_superuser=True)
    return components, user


def add_windows(components, now: datetime, first: int, last: int, total: int) -> None:
    """Windows first..last-1 of `total`, centred on now; bulk-created (the series never overlap)."""
    from estate.patching.models import PatchWindow
    from estate.patching.recurrence import series_end

    origin = now - STEP * (total // 2)
    windows = []
    for i in range(first, last):
        start = (origin + STEP * i).replace(hour=(i % COMPONENTS) * 2, minute=0, second=0, microsecond=0)
        rule = "FREQ=WEEKLY;COUNT=4"
        end = series_end(start=start, duration=timedelta(hours=1), time_zone="UTC", rule=rule)
        windows.append(
            PatchWindow(
                title=f"Window {i}",
                start=start,
                duration=timedelta(hours=1),
                time_zone="UTC",
                rrule=rule,
                series_end=end,
                runbook=["Fail over", "Patch", "Fail back"],
            )
        )
    created = PatchWindow.objects.bulk_create(windows, batch_size=1000)
    through = PatchWindow.components.through
    through.objects.bulk_create(
        [through(patchwindow_id=w.pk, component_id=components[i % COMPONENTS].pk) for i, w in
         zip(range(first, last), created, strict=True)], batch_size=1000)  # fmt: skip


def measure(client, method: str, url: str, runs: int, body=None) -> tuple[int, float]:
    from django.core.cache import cache
    from django.db import connection

    def once():
        cache.clear()  # the feed keeps its rendering per ETag; measure the rendering, not the cache
        if method == "post":
            return client.post(url, body, content_type="application/json")
        return client.get(url)

    for _ in range(2):
        assert once().status_code == 200
    # Counted by a wrapper: the test client's request_started signal empties connection.queries.
    queries = []
    with connection.execute_wrapper(lambda execute, sql, *rest: queries.append(sql) or execute(sql, *rest)):
        once()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = once()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return len(queries), statistics.median(times)


def scenarios(components, now: datetime, token_key: str):
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (now + timedelta(days=1)).replace(hour=0, minute=30, second=0, microsecond=0)
    draft = {
        "components": [components[0].pk],
        "start": start.isoformat(),
        "duration": "01:00:00",
        "rrule": "FREQ=WEEKLY",
    }
    events = f"/patching/calendar/events.json?start={month:%Y-%m-%d}&end={(month + timedelta(days=42)):%Y-%m-%d}"
    return [
        ("month view (events JSON)", "get", events, None, True),
        ("conflict check of a new weekly window", "post", "/api/v1/patch-windows/conflicts-check/", draft, True),
        (".ics feed (every window)", "get", f"/patching/feed/{token_key}.ics", None, False),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--large", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    setup_django()
    import json

    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from estate.patching import services

    wipe()
    now = timezone.now().astimezone(UTC)
    components, user = build_estate()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    token = services.feed_token_create(user=user, name="bench", filters={})
    results = {}
    # The small set is the middle of the large one: growing it adds history before and after.
    low, high = args.large // 2 - args.small // 2, args.large // 2 + args.small // 2
    for size, slices in ((args.small, [(low, high)]), (args.large, [(0, low), (high, args.large)])):
        for first, last in slices:
            add_windows(components, now, first, last, args.large)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        for name, method, url, body, _ in scenarios(components, now, token.secret):
            payload = json.dumps(body) if body else None
            results[(name, size)] = measure(client, method, url, args.runs, payload)
    return report(results, args, components, now, token.secret)


def report(results, args, components, now, token_key) -> int:
    from django.db import connection

    lines = [
        f"## Patching: month view, .ics feed and conflict check at {args.small} and {args.large} windows",
        "",
        f"Database: {connection.vendor}. Command: "
        "`DATABASE_URL=... DEBUG=true .venv/bin/python bench/bench_patching.py`"
        f" (median of {args.runs} runs each, after 2 warm-up requests).",
        "",
        f"| request | queries @{args.small} | queries @{args.large} | median ms @{args.small} | "
        f"median ms @{args.large} | ratio | target met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    failures = 0
    for name, _, _, _, timed in scenarios(components, now, token_key):
        (q_small, t_small), (q_large, t_large) = results[(name, args.small)], results[(name, args.large)]
        ratio = t_large / t_small
        met = q_large <= q_small and (not timed or ratio <= MAX_RATIO)
        failures += not met
        target = ("yes" if met else "**no**") + ("" if timed else " (queries only)")
        lines.append(f"| {name} | {q_small} | {q_large} | {t_small:.1f} | {t_large:.1f} | {ratio:.2f} | {target} |")
    print("\n".join(lines))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
