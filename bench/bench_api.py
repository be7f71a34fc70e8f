"""API lists at the speed of the database (issue 16): objects/s over HTTP against `.values()` + orjson.

For each list endpoint, at page sizes 50 and 1,000, and at two table sizes (the same database grown in
place, --small then --large rows in every listed table):

- objects/s over HTTP: gunicorn with one worker, DEBUG off, an API token, requests in a row from one client
  that reads each body's bytes (decoding them is the client's cost whichever server sent them, and the
  baseline's bytes are not decoded either), in both paging modes: by page number (page 1, with the
  count of the whole list) and by cursor (a page from the middle of the table, `pagination=cursor`);
- the baseline: in this process, `.values()` of the same rows and fields: the list's own queryset (its
  filters, joins and annotations), in the mode's order, with the lookups the list's values() plan reads
  (estate.core.listing), turned into bytes by orjson: what the database and the encoder cost alone;
- their ratio (target: at least 0.5), and the SQL statements one request issues (counted in process
  through django.test's client; target: the same at both sizes).

Then the export (`?format=ndjson`) of every row of the instances and audit lists (grown to
--export-rows first) and of the samples (--export-samples, written by one binary COPY over the last three
days, so several daily partitions): rows/s, the time to the first byte, and the web process's RSS sampled
during the export (target: flat, the peak at most --rss-slack MB above the RSS before it). Last, the JSON telemetry
ingest at 1,000 and 10,000 items a request against one binary COPY of the same rows into the same table
(target: at least 0.5), with the peak Python memory of storing one request. And, in process, what a list's
filter set costs a request, django-filter as shipped against the lean build the lists use.

PostgreSQL only. From the project root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/estate_bench_api .venv/bin/python bench/bench_api.py

The database is created if missing, migrated and WIPED. Prints a Markdown section for bench/RESULTS.md;
exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "estate.settings")
os.environ.setdefault("DEBUG", "true")

from bench_telemetry import free_port, setup_django  # noqa: E402

EXPORT_CHUNK = 2000  # estate.core.listing.EXPORT_CHUNK (not imported: Django is set up later)

MIN_RATIO = 0.5
PAGE_SIZES = (50, 1000)
ENDPOINTS = [
    "/api/v1/components/",
    "/api/v1/instances/",
    "/api/v1/images/",
    "/api/v1/operations/",
    "/api/v1/patch-windows/",
    "/api/v1/health-changes/",
    "/api/v1/audit/",
    "/api/v1/samples/",
    "/api/v1/findings/",  # the registry's answer, paged by number only: no baseline
]
EXPORTS = ["/api/v1/instances/", "/api/v1/audit/"]
SAMPLES = "/api/v1/samples/"  # exported at its own size, --export-samples


def wipe() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE telemetry_healthchange, operations_operation, patching_patchwindow, inventory_instance, "
            "inventory_image, inventory_component, inventory_environment, access_apitoken RESTART IDENTITY CASCADE"
        )
        # The audit trail refuses DELETE (a trigger), not TRUNCATE: the bench database is the bench's own.
        cursor.execute("TRUNCATE audit_auditevent RESTART IDENTITY")


def grow(total: int) -> None:
    """Grow every listed table to `total` rows (bulk, no audit: the rows are the load, not the subject)."""
    from django.db import connection
    from django.utils import timezone

    from estate.audit.models import AuditEvent
    from estate.inventory.models import Component, Environment, Image, Instance
    from estate.operations.models import Operation
    from estate.patching.models import PatchWindow
    from estate.telemetry.models import HealthChange

    env, _ = Environment.objects.get_or_create(slug="production", defaults={"name": "Production"})
    start = Component.objects.count()
    now = timezone.now()
    new = range(start, total)
    components = Component.objects.bulk_create(
        [Component(name=f"svc-{n:06d}", slug=f"svc-{n:06d}", environment=env, category="service",
                   mode="immutable", provider="sandbox") for n in new],
        batch_size=5000,
    )  # fmt: skip
    Instance.objects.bulk_create(
        [Instance(component=c, external_id=f"i-{c.pk:08x}", address="10.0.0.1", zone="eu-west-1a",
                  last_seen_at=now) for c in components],
        batch_size=5000,
    )  # fmt: skip
    Image.objects.bulk_create(
        [Image(component=c, version="1.0.0", reference=f"ami-{c.pk:08x}") for c in components], batch_size=5000
    )
    Operation.objects.bulk_create(
        [Operation(component=c, kind="rebuild", state="succeeded", reason="bench", progress_done=1,
                   progress_total=1, started_at=now, finished_at=now) for c in components],
        batch_size=5000,
    )  # fmt: skip
    PatchWindow.objects.bulk_create(
        [PatchWindow(title=f"window {n}", start=now + timedelta(days=n), duration=timedelta(hours=1),
                     series_end=now + timedelta(days=n, hours=1)) for n in new],
        batch_size=5000,
    )  # fmt: skip
    HealthChange.objects.bulk_create(
        [HealthChange(component=c, at=now, from_state="unknown", to_state="healthy", reason="bench")
         for c in components],
        batch_size=5000,
    )  # fmt: skip
    AuditEvent.objects.bulk_create(
        [AuditEvent(actor="bench", via="session", action="create", object_type="inventory.component",
                    object_id=str(c.pk), object_repr=c.name, changes={"name": c.name}) for c in components],
        batch_size=5000,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def admin_token() -> str:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from estate.access.models import ApiToken

    user, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_superuser": True,
                                                                                        "is_staff": True})  # fmt: skip
    token = ApiToken(user=user, name="bench", scope="read", expires_at=timezone.now() + timedelta(days=1))
    secret = token.issue()
    token.save()
    return secret


def start_gunicorn() -> tuple[subprocess.Popen, str]:
    import requests

    port = free_port()
    # No throttle: the bench is the only client, and its rate is what is measured.
    env = {**os.environ, "DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false",
           "LOG_LEVEL": "WARNING", "API_THROTTLE_RATE_USER": "", "DB_CONN_MAX_AGE": "600"}  # fmt: skip
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "estate.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1",
         "--timeout", "600", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return process, url
        except requests.RequestException:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("gunicorn did not start")


MODES = ("page", "cursor")


def page_query(path: str, size: int, mode: str) -> str:
    """The page a mode reads: page 1 by number, or a cursor page from the middle of the table."""
    if mode == "page":
        return f"{path}?page_size={size}"
    import base64

    middle = _middle_key(path)
    cursor = base64.urlsafe_b64encode(f"after:{middle}".encode()).decode().rstrip("=")
    return f"{path}?page_size={size}&pagination=cursor&cursor={cursor}"


def _middle_key(path: str) -> int:
    queryset, _lookups = list_plan(path)
    keys = queryset.order_by("pk").values_list("pk", flat=True)
    return keys[max(0, keys.count() // 2 - 1)] if keys.exists() else 0


def http_rate(pool, headers: dict, path: str, runs: int) -> tuple[float, int]:
    """Objects per second over `runs` requests of one page (after one warm-up), and the page's length."""
    import orjson

    rows = len(orjson.loads(_get(pool, headers, path))["results"])
    started = time.perf_counter()
    for _ in range(runs):
        _get(pool, headers, path)
    return rows * runs / (time.perf_counter() - started), rows


def _get(pool, headers: dict, path: str) -> bytes:
    response = pool.request("GET", path, headers=headers)
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status} {response.data[:300]!r}")
    return response.data


def list_plan(path: str):
    """The list's own queryset and the lookups its values() plan reads (the serializer's fields)."""
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory
    from django.urls import resolve
    from rest_framework.request import Request

    from estate.core.listing import plan_for

    match = resolve(path)
    view = match.func.cls(**match.func.initkwargs)
    request = RequestFactory().get(path)
    request.user = get_user_model().objects.get(username="bench-admin")
    view.request, view.action, view.format_kwarg, view.kwargs = Request(request), "list", None, {}
    view.request.user = request.user
    queryset = view.filter_queryset(view.get_queryset())
    plan = plan_for(view.get_serializer_class(), queryset, frozenset(getattr(view, "values_method_fields", ())))
    if plan is None:  # a list DRF's path serves (patch windows): the model's columns
        return queryset, [f.attname for f in queryset.model._meta.concrete_fields]
    return queryset, plan.lookups


def baseline_rate(path: str, rows: int, runs: int, mode: str) -> float:
    """`.values()` of the page's rows with the list's fields, encoded by orjson, in this process."""
    import orjson

    if path == "/api/v1/findings/" or rows == 0:
        return float("nan")  # findings are the registry's answer, not a table's rows
    queryset, lookups = list_plan(path)
    if mode == "cursor":
        queryset = queryset.order_by("pk").filter(pk__gt=_middle_key(path))
    query = queryset.prefetch_related(None).values(*dict.fromkeys(lookups))
    orjson.dumps(list(query[:rows]), default=str)
    started = time.perf_counter()
    for _ in range(runs):
        orjson.dumps(list(query[:rows]), default=str)
    return rows * runs / (time.perf_counter() - started)


def query_count(path: str) -> int:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-admin"))
    client.get(path)  # sessions, caches: counted once warm
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(queries)


def measure_lists(url: str, token: str, runs: int) -> dict:
    import urllib3

    pool = urllib3.HTTPConnectionPool("127.0.0.1", int(url.rsplit(":", 1)[1]), maxsize=1, timeout=600)
    headers = {"Authorization": f"Bearer {token}"}
    figures = {}
    for path in ENDPOINTS:
        for mode in MODES if path != "/api/v1/findings/" else ("page",):
            for size in PAGE_SIZES:
                n = max(2, runs * 50 // size) if size < 1000 else runs
                page = page_query(path, size, mode)
                http, rows = http_rate(pool, headers, page, n)
                base = baseline_rate(path, rows, n, mode)
                figures[(path, mode, size)] = {"http": http, "base": base, "rows": rows, "queries": query_count(page)}
                print(f"  {path} {mode} page_size={size}: {rows} rows, {http:,.0f}/s over HTTP, "
                      f"{base:,.0f}/s values()+orjson", flush=True)  # fmt: skip
    return figures


def request_floor_ms(url: str, token: str, runs: int = 200) -> float:
    """Milliseconds of one authenticated list request that reads no row (a cursor page past the last key):
    what every request costs before its rows (HTTP, middleware, the token, the filters, one indexed query)."""
    import base64

    import urllib3

    pool = urllib3.HTTPConnectionPool("127.0.0.1", int(url.rsplit(":", 1)[1]), maxsize=1, timeout=600)
    headers = {"Authorization": f"Bearer {token}"}
    past_the_end = base64.urlsafe_b64encode(f"after:{2**63 - 1}".encode()).decode().rstrip("=")
    path = f"/api/v1/audit/?pagination=cursor&page_size=1&cursor={past_the_end}"
    _get(pool, headers, path)
    started = time.perf_counter()
    for _ in range(runs):
        _get(pool, headers, path)
    return (time.perf_counter() - started) / runs * 1000


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def measure_export(url: str, token: str, path: str, pid: int) -> dict:
    """Stream every row as NDJSON; RSS of the worker sampled every 50 ms while it streams."""
    import requests

    samples: list[float] = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            samples.append(rss_mb(pid))
            time.sleep(0.05)

    before = rss_mb(pid)
    sampler = threading.Thread(target=sample)
    started = time.perf_counter()
    sampler.start()
    first = None
    rows = 0
    with requests.get(f"{url}{path}?format=ndjson", headers={"Authorization": f"Bearer {token}"}, stream=True,
                      timeout=600) as response:  # fmt: skip
        if response.status_code != 200:
            done.set()
            raise SystemExit(f"export {path}: {response.status_code} {response.text[:300]}")
        for line in response.iter_lines(chunk_size=65536):
            if first is None:
                first = time.perf_counter() - started
            rows += bool(line)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return {"rows": rows, "seconds": seconds, "first": first or seconds, "before": before, "peak": max(samples),
            "after": rss_mb(pid)}  # fmt: skip


def grow_samples(total: int) -> None:
    """Exactly `total` samples over the last three days (several daily partitions), by one binary COPY."""
    from django.db import connection

    from estate.inventory.models import Component
    from estate.telemetry.partitions import ensure_partitions

    ensure_partitions()
    ids = list(Component.objects.order_by("pk").values_list("pk", flat=True)[:100])
    start, step = datetime.now(UTC) - timedelta(days=3), timedelta(days=3) / max(total, 1)
    _truncate_samples()
    with connection.cursor() as cursor, connection.connection.transaction():
        columns = "component_id, instance_id, name, value, unit, ts"
        with cursor.cursor.copy(f"COPY telemetry_sample ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int8", "text", "float8", "text", "timestamptz"])
            for n in range(total):
                copy.write_row((ids[n % len(ids)], None, ("cpu_percent", "latency_p95_ms", "rps")[n % 3],
                                float(n % 97), "", start + step * n))  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE telemetry_sample")


# --- ingest --------------------------------------------------------------------------------------

INGEST_SIZES = (1000, 10000)


def ingest_rows(total: int) -> list[tuple]:
    from estate.inventory.models import Component

    ids = list(Component.objects.order_by("pk").values_list("pk", flat=True)[:100])
    now = datetime.now(UTC)
    return [(ids[n % len(ids)], None, ("cpu_percent", "latency_p95_ms", "rps")[n % 3], float(n % 97), "",
             now - timedelta(milliseconds=n)) for n in range(total)]  # fmt: skip


def ingest_token() -> str:
    from estate.telemetry.models import IngestToken

    token = IngestToken(name=f"bench-api-{time.time_ns()}", whole_estate=True)
    secret = token.set_new_secret()
    token.save()
    return secret


def measure_ingest(url: str, total: int, size: int, pid: int) -> dict:
    """JSON ingest over HTTP in requests of `size` items, against one binary COPY of the same rows (same
    table, indexes and foreign keys); the worker's RSS growth over the requests, and the peak of Python
    memory (tracemalloc) of storing one request in this process."""
    import orjson
    import requests
    from django.db import connection

    rows = ingest_rows(total)
    bodies = [orjson.dumps([{"type": "sample", "component": c, "name": n, "value": v, "timestamp": ts.isoformat()}
                            for c, _i, n, v, _u, ts in rows[i : i + size]]) for i in range(0, total, size)]  # fmt: skip
    headers = {"Authorization": f"Bearer {ingest_token()}", "Content-Type": "application/json"}
    with requests.Session() as session:
        session.post(f"{url}/api/v1/telemetry/", data=bodies[0], headers=headers, timeout=600)  # warm-up
        _truncate_samples()
        before = rss_mb(pid)
        started = time.perf_counter()
        for body in bodies:
            response = session.post(f"{url}/api/v1/telemetry/", data=body, headers=headers, timeout=600)
            if response.status_code != 201:
                raise SystemExit(f"ingest: {response.status_code} {response.text[:300]}")
        http = time.perf_counter() - started
        grown = rss_mb(pid) - before
    _truncate_samples()
    started = time.perf_counter()
    with connection.cursor() as cursor, connection.connection.transaction():
        columns = "component_id, instance_id, name, value, unit, ts"
        with cursor.cursor.copy(f"COPY telemetry_sample ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int8", "text", "float8", "text", "timestamptz"])
            for row in rows:
                copy.write_row(row)
    single_copy = time.perf_counter() - started
    _truncate_samples()
    return {"size": size, "total": total, "http": total / http, "copy": total / single_copy,
            "peak": _ingest_peak_mb(bodies[0]), "rss": grown}  # fmt: skip


def _truncate_samples() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE telemetry_sample, telemetry_stalerollup")


def _ingest_peak_mb(body: bytes) -> float:
    """Peak Python memory of parsing and storing one request's body (rolled back)."""
    import tracemalloc

    import orjson
    from django.db import transaction

    from estate.telemetry.ingest import ingest

    tracemalloc.start()
    with transaction.atomic():
        ingest(orjson.loads(body))
        transaction.set_rollback(True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def filterset_costs(runs: int = 300) -> list[tuple[str, float, float]]:
    """A list's filter set built, validated and applied, in this process: django-filter as shipped against
    the lean build every list uses (estate.core.filters), interleaved so that both see the same load; median ms."""
    import statistics

    import django_filters
    from django.test import RequestFactory
    from django_filters.rest_framework import DjangoFilterBackend
    from rest_framework.request import Request

    from estate.audit.filters import AuditEventFilterSet
    from estate.audit.models import AuditEvent
    from estate.core.filters import FilterBackend
    from estate.telemetry.api.views import HealthChangeViewSet

    class StockAudit(AuditEventFilterSet):  # django-filter's own build per request
        __init__ = django_filters.FilterSet.__init__
        get_form_class = django_filters.FilterSet.get_form_class

    request = Request(RequestFactory().get("/", {"page_size": "50"}))
    view = HealthChangeViewSet(request=request, action="list", format_kwarg=None)
    changes, events = view.get_queryset(), AuditEvent.objects.all()

    def build(filterset_class, queryset):
        filterset = filterset_class(request.query_params, queryset, request=request)
        assert filterset.is_valid(), filterset.errors
        return filterset.qs

    cases = {
        "audit (a FilterSet class)": (lambda: build(StockAudit, events), lambda: build(AuditEventFilterSet, events)),
        "health changes (filterset_fields)": (
            lambda: build(DjangoFilterBackend().get_filterset_class(view, changes), changes),
            lambda: build(FilterBackend().get_filterset_class(view, changes), changes),
        ),
    }
    costs = []
    for name, pair in cases.items():
        times: tuple[list, list] = ([], [])
        for _ in range(runs):
            for build_one, spent in zip(pair, times, strict=True):
                started = time.perf_counter()
                build_one()
                spent.append(time.perf_counter() - started)
        costs.append((name, *(statistics.median(spent) * 1000 for spent in times)))
    return costs


def report(args, small: dict, large: dict, exports: dict, ingests: list, floors: list, filtersets: list) -> bool:
    from django.db import connection

    ok = True
    print(f"\n## API lists and exports (issue 16)\n\nDate: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
          f"{connection.vendor} {connection.pg_version if connection.vendor == 'postgresql' else ''}; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}. Command: `DATABASE_URL=... .venv/bin/python "
          f"bench/bench_api.py --small {args.small} --large {args.large} --runs {args.runs}`\n")  # fmt: skip
    print("| endpoint | paging | page | rows | queries | HTTP obj/s | values()+orjson obj/s | ratio | target |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: |")
    for (path, mode, size), big in large.items():
        few = small[(path, mode, size)]
        for rows_in_table, f in ((args.small, few), (args.large, big)):
            ratio = f["http"] / f["base"] if f["base"] == f["base"] else float("nan")
            met = (ratio != ratio or ratio >= MIN_RATIO) and big["queries"] <= few["queries"]
            ok &= met
            print(f"| `{path}` @{rows_in_table:,} | {mode} | {size} | {f['rows']} | {f['queries']} | "
                  f"{f['http']:,.0f} | {f['base']:,.0f} | {ratio:.2f} | {'yes' if met else 'NO'} |")  # fmt: skip
    small_page = PAGE_SIZES[0]
    rates = [f["base"] for (_p, _m, size), f in large.items() if size == small_page and f["base"] == f["base"]]
    fastest_ms = small_page / max(rates, default=float("nan")) * 1000
    print(f"\nOne request that reads no row costs {floors[0]:.2f} ms at {args.small:,} rows a table and "
          f"{floors[1]:.2f} ms at {args.large:,}. The fastest baseline reads {small_page} rows in {fastest_ms:.2f} ms: "
          f"a page of {small_page} reaches {MIN_RATIO} of it only if the whole request, rows included, takes "
          f"under {fastest_ms / MIN_RATIO:.2f} ms.")  # fmt: skip
    print("\n| a list's filter set, per request | django-filter ms | lean (estate.core.filters) ms | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name, stock, lean in filtersets:
        print(f"| {name} | {stock:.3f} | {lean:.3f} | {stock / lean:.1f}x |")
    if exports:
        print(
            "\n| export (?format=ndjson) | rows | seconds | rows/s | first byte s | RSS before MB | peak MB | target |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: |")
        for path, e in exports.items():
            # The first byte before the last row: judged when the export is more than one chunk.
            streamed = e["first"] < e["seconds"] / 2 or e["rows"] <= EXPORT_CHUNK
            met = e["peak"] - e["before"] <= args.rss_slack and streamed
            ok &= met
            print(f"| `{path}` | {e['rows']:,} | {e['seconds']:.1f} | {e['rows'] / e['seconds']:,.0f} | "
                  f"{e['first']:.3f} | {e['before']:.0f} | {e['peak']:.0f} | {'yes' if met else 'NO'} |")  # fmt: skip
    if ingests:
        print("\n| JSON ingest | items/request | rows | HTTP rows/s | one binary COPY rows/s | ratio | peak MB/request "
              "| worker RSS growth MB | target |")  # fmt: skip
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |")
        for i in ingests:
            ratio = i["http"] / i["copy"]
            ok &= ratio >= MIN_RATIO
            print(f"| `POST /api/v1/telemetry/` | {i['size']:,} | {i['total']:,} | {i['http']:,.0f} | "
                  f"{i['copy']:,.0f} | {ratio:.2f} | {i['peak']:.1f} | {i['rss']:.0f} | "
                  f"{'yes' if ratio >= MIN_RATIO else 'NO'} |")  # fmt: skip
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=100, help="rows per table for the first measurement")
    parser.add_argument("--large", type=int, default=100_000, help="rows per table for the second")
    parser.add_argument("--runs", type=int, default=5, help="timed requests of 1,000 rows (more of 50)")
    parser.add_argument("--export-rows", type=int, default=0, help="grow to this many rows before the export")
    parser.add_argument("--export-samples", type=int, default=1_000_000, help="samples to export (0: none)")
    parser.add_argument("--no-export", action="store_true", help="measure the lists only")
    parser.add_argument("--ingest-rows", type=int, default=40_000, help="samples per ingest measurement (0: none)")
    parser.add_argument("--rss-slack", type=float, default=30.0, help="MB the export may add to the RSS")
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench_api needs PostgreSQL (DATABASE_URL=postgres://...)")
    wipe()
    token = admin_token()
    process, url = start_gunicorn()
    try:
        figures, floors = [], []
        for total in (args.small, args.large):
            print(f"growing every table to {total:,} rows", flush=True)
            grow(total)
            grow_samples(total)
            figures.append(measure_lists(url, token, args.runs))
            floors.append(request_floor_ms(url, token))
        if args.export_rows > args.large:
            print(f"growing every table to {args.export_rows:,} rows", flush=True)
            grow(args.export_rows)
        pid = worker_pid(process.pid)
        exports = {} if args.no_export else {path: measure_export(url, token, path, pid) for path in EXPORTS}
        if args.export_samples and not args.no_export:
            print(f"writing {args.export_samples:,} samples", flush=True)
            grow_samples(args.export_samples)
            exports[SAMPLES] = measure_export(url, token, SAMPLES, pid)
        total = args.ingest_rows
        ingests = [measure_ingest(url, max(total, size), size, pid) for size in INGEST_SIZES] if total else []
    finally:
        process.terminate()
        process.wait(timeout=30)
    filtersets = filterset_costs(max(args.runs * 10, 20))
    return 0 if report(args, figures[0], figures[1], exports, ingests, floors, filtersets) else 1


if __name__ == "__main__":
    sys.exit(main())
