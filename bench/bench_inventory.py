"""Inventory at scale: SQL queries and median time per request at 100 and at 10,000 components.

One run builds a small estate (100 components, 500 instances), measures the dashboard, the
inventory list and the API lists, grows the same database to 10,000 components and 50,000
instances, runs ANALYZE and measures again. Targets, from the issue:

* the number of SQL queries per request does not grow with the estate;
* the median time at 10,000 components is at most 2x the median at 100.

The figures go to bench/RESULTS.md with the command that produced them; the script exits 1 when
a target is missed, so it doubles as a check. From the project root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/estate_bench DEBUG=true \\
        .venv/bin/python bench/bench_inventory.py

The reported figures are PostgreSQL's; without DATABASE_URL it runs on a throw-away SQLite file
under var/ (useful to try the script, not to quote). The database is wiped: never point it at
data you want to keep.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "estate.settings")
os.environ.setdefault("DEBUG", "true")
# Keep one connection for the whole run, as a deployed web process does: a reconnection in
# the middle of the timed requests would be measured as if it were the page's cost.
os.environ.setdefault("DB_CONN_MAX_AGE", "3600")
if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}"

# URL, what it is, and the work in it that still grows with the estate (read off the plans).
URLS = [
    ("/", "dashboard",
     "nothing while its totals are cached (ESTATE_FIGURES_CACHE_SECONDS, dropped on any inventory write)"),
    ("/components/", "inventory list, page 1",
     "the total (COUNT(*) of the table); the filter drop-downs list every system and team"),
    ("/components/?ordering=-instances", "inventory list sorted by instance count",
     "the count is computed for every component (one index-only scan each) before the first 25 are kept"),
    ("/components/?q=api&mode=immutable", "inventory search",
     "the total of matches: a substring search reads every component"),
    ("/ (cold cache)", "dashboard with its estate-wide totals recomputed (cache cleared before each request)",
     "every finding kind counted over the whole estate; three of them join every live instance to its component"),
    ("/findings/", "findings page", "the total: the same per-kind counts as the dashboard"),
    ("/api/v1/components/", "API component list", "the total (COUNT(*) of the table)"),
    ("/api/v1/findings/", "API findings list", "the total: the same per-kind counts as the dashboard"),
]  # fmt: skip
MAX_RATIO = 2.0
# A URL with this suffix is fetched with the figures cache emptied first: shown, not a target.
COLD = " (cold cache)"
BATCH = 2000


# --- Django and the database ------------------------------------------------------------------


def ensure_postgres_database(url: str) -> None:
    """CREATE DATABASE when it is missing (the server's maintenance database answers for it)."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(url)
    params = {"host": cfg["HOST"] or None, "port": cfg["PORT"] or None, "user": cfg["USER"] or None}
    params |= {"password": cfg["PASSWORD"]} if cfg["PASSWORD"] else {}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
            print(f"created database {cfg['NAME']}")


def setup_django() -> None:
    import django

    if os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        ensure_postgres_database(os.environ["DATABASE_URL"])
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def wipe_inventory() -> None:
    from django.db import connection

    from estate.inventory.models import Cluster, Component, Environment, Image, Instance, System, Tag, Team

    models = [Instance, Image, Component.tags.through, Component.depends_on.through, Component]
    models += [Cluster, System, Team, Tag, Environment]
    if connection.vendor == "postgresql":
        tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        return
    Component.objects.update(current_image=None)
    for model in models:
        model.objects.all().delete()


def analyze() -> None:
    """Fresh statistics and visibility map, as autovacuum leaves them shortly after a bulk load.

    Without the visibility map an index-only scan visits the table for every row, and the higher
    estimates push some plans over PostgreSQL's JIT threshold: a state a live database is not in.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


# --- the estate ---------------------------------------------------------------------------------

IMMUTABLE_KINDS = [  # category, provider, name stem, weight
    ("service", "kubernetes", "api", 4),
    ("service", "aws", "svc", 2),
    ("worker", "webhook", "worker", 3),
    ("function", "aws", "fn", 2),
    ("container", "kubernetes", "web", 2),
]
BASTION_KINDS = [  # category, engine, name stem, version, clustered, weight
    ("database", "postgresql", "db", "16.4", True, 5),
    ("database", "mysql", "mysql", "8.0.39", True, 1),
    ("cache", "redis", "cache", "7.2", False, 3),
    ("queue", "rabbitmq", "queue", "3.13", True, 2),
    ("queue", "kafka", "stream", "3.8", True, 1),
    ("object_store", "minio", "store", "2024-10", False, 1),
    ("file_store", "nfs", "files", "4.2", False, 1),
]
# Share of components or live immutable instances that break each principle, so that every
# finding kind has rows at both sizes (and more than a page of findings even at 100).
VIOLATION_RATES = {"ssh": 0.03, "config_mgmt": 0.01, "local_state": 0.03, "no_heartbeat": 0.03}
INSTANCE_RATES = {"tainted": 0.04, "drift": 0.04, "too_old": 0.04}
BASTION_SHARE = 0.30
ENVIRONMENTS = [("production", True), ("staging", False), ("development", False)]
TAGS = ["pci", "public", "tier-1", "tier-2", "batch", "eu-only", "us-only", "internal", "gdpr", "legacy"]


@dataclass
class Estate:
    """Builds the estate in bulk, in steps, so one run can measure it small and then large."""

    seed: int = 20250101
    rng: random.Random = field(init=False)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    components: int = 0
    instances: int = 0
    clusters: int = 0
    envs: list = field(default_factory=list)
    teams: list = field(default_factory=list)
    systems: list = field(default_factory=list)
    tags: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def grow_to(self, components: int, instances: int) -> None:
        from django.db import transaction

        new_components, new_instances = components - self.components, instances - self.instances
        with transaction.atomic():
            self._grow_reference_data(components)
            created = self._create_components(new_components)
            self._create_tags_and_dependencies(created)
            self._create_images_and_instances(created, new_instances)
        self.components, self.instances = components, instances

    # reference data grows with the estate: a 10,000-component estate has hundreds of systems
    def _grow_reference_data(self, components: int) -> None:
        from estate.inventory.models import Environment, System, Tag, Team

        if not self.envs:
            self.envs = Environment.objects.bulk_create(
                Environment(name=slug.title(), slug=slug, is_production=prod) for slug, prod in ENVIRONMENTS
            )
            self.tags = Tag.objects.bulk_create(Tag(name=slug, slug=slug) for slug in TAGS)
        want_teams, want_systems = max(5, components // 250), max(5, components // 50)
        self.teams += Team.objects.bulk_create(
            Team(name=f"Team {n:03d}", slug=f"team-{n:03d}") for n in range(len(self.teams), want_teams)
        )
        self.systems += System.objects.bulk_create(
            System(name=f"System {n:04d}", slug=f"sys{n:04d}", owner=self.teams[n % len(self.teams)])
            for n in range(len(self.systems), want_systems)
        )

    def _create_components(self, count: int) -> list:
        from estate.inventory.models import Component

        bastions = round(count * BASTION_SHARE)
        rows = [self._bastion(n) for n in range(bastions)]
        rows += [self._immutable() for _ in range(count - bastions)]
        self.rng.shuffle(rows)
        for offset, component in enumerate(rows):
            number = self.components + offset
            component.name = f"{component.system.slug}-{component.name}-{number:05d}"
            component.slug = component.name
        created = Component.objects.bulk_create(rows, batch_size=BATCH)
        self._create_clusters(c for c in created if c.mode == "bastion")
        return created

    def _common(self, category: str, mode: str, stem: str) -> dict:
        system = self.rng.choice(self.systems)
        return {
            "name": stem,
            "description": f"A {category} of {system.name}.",
            "environment": self.rng.choices(self.envs, weights=[5, 3, 2])[0],
            "system": system,
            "team": system.owner,
            "category": category,
            "mode": mode,
        }

    def _immutable(self):
        from estate.inventory.models import Component

        category, provider, stem, _ = self.rng.choices(IMMUTABLE_KINDS, weights=[k[3] for k in IMMUTABLE_KINDS])[0]
        hit = {kind: self.rng.random() < rate for kind, rate in VIOLATION_RATES.items()}
        return Component(
            **self._common(category, "immutable", stem),
            provider=provider,
            heartbeat_period_seconds=None if hit["no_heartbeat"] else self.rng.choice([15, 30, 60]),
            local_state="sessions on local disk" if hit["local_state"] else "",
            max_instance_age_days=self.rng.choice([14, 30, 30, 60]),
            ssh_enabled=hit["ssh"],
            config_management_enabled=hit["config_mgmt"],
        )

    def _bastion(self, n: int):
        from estate.inventory.models import Component

        category, engine, stem, version, clustered, _ = self.rng.choices(
            BASTION_KINDS, weights=[k[5] for k in BASTION_KINDS]
        )[0]
        return Component(
            **self._common(category, "bastion", stem),
            holds_state=True,
            heartbeat_period_seconds=60,
            engine=engine,
            engine_version=version,
            role="standalone",
            patch_cadence_days=self.rng.choice([14, 30, 90]),
            expected_failover_seconds=30 if clustered else 0,
        )

    def _create_clusters(self, bastions) -> None:
        """Clustered engines go in threes (a primary and two replicas) per system and environment."""
        from estate.inventory.models import Cluster, Component

        clustered = {k[1] for k in BASTION_KINDS if k[4]}
        groups: dict[tuple, list] = {}
        for c in bastions:
            if c.engine in clustered:
                groups.setdefault((c.system_id, c.environment_id, c.engine), []).append(c)
        members = [group[i : i + 3] for group in groups.values() for i in range(0, len(group), 3)]
        members = [m for m in members if len(m) > 1]
        clusters = Cluster.objects.bulk_create(
            [self._cluster(m[0]) for m in members],
            batch_size=BATCH,
        )
        for cluster, nodes in zip(clusters, members, strict=True):
            for position, node in enumerate(nodes):
                node.cluster, node.role = cluster, "primary" if position == 0 else "replica"
        nodes = [node for m in members for node in m]
        Component.objects.bulk_update(nodes, ["cluster", "role"], batch_size=BATCH)

    def _cluster(self, first):
        from estate.inventory.models import Cluster

        self.clusters += 1
        slug = f"{first.engine}-{first.environment.slug}-{self.clusters:05d}"
        return Cluster(name=slug, slug=slug, engine=first.engine, environment=first.environment, system=first.system)

    def _create_tags_and_dependencies(self, created: list) -> None:
        from estate.inventory.models import Component

        tag_rows, dependency_rows = [], []
        by_system: dict[tuple, list] = {}
        for c in created:
            by_system.setdefault((c.system_id, c.environment_id), []).append(c)
        for c in created:
            for tag in self.rng.sample(self.tags, self.rng.choice([0, 1, 1, 2, 3])):
                tag_rows.append(Component.tags.through(component_id=c.pk, tag_id=tag.pk))
            peers = [p for p in by_system[(c.system_id, c.environment_id)] if p.pk != c.pk]
            for dep in self.rng.sample(peers, min(len(peers), self.rng.choice([0, 1, 2, 3]))):
                dependency_rows.append(Component.depends_on.through(from_component_id=c.pk, to_component_id=dep.pk))
        Component.tags.through.objects.bulk_create(tag_rows, batch_size=BATCH)
        Component.depends_on.through.objects.bulk_create(dependency_rows, batch_size=BATCH)

    def _create_images_and_instances(self, created: list, count: int) -> None:
        from estate.inventory.models import Component, Instance

        immutable = [c for c in created if c.mode == "immutable"]
        bastions = [c for c in created if c.mode == "bastion"]
        images = self._create_images(immutable)
        rows = [self._node(c) for c in bastions]
        shares = self._split(count - len(rows), len(immutable))
        for component, n in zip(immutable, shares, strict=True):
            component.desired_instances = n
            rows += [self._instance(component, images[component.pk], i) for i in range(n)]
        Component.objects.bulk_update(immutable, ["current_image", "desired_instances"], batch_size=BATCH)
        Instance.objects.bulk_create(rows, batch_size=BATCH)

    def _create_images(self, immutable: list) -> dict[int, list]:
        """Two or three versions per component; the newest is the current one."""
        from estate.inventory.models import Image

        rows = []
        for c in immutable:
            versions = self.rng.choice([2, 3, 3])
            for v in range(versions):
                age = (versions - v) * 10 + self.rng.randint(0, 5)
                rows.append(Image(component=c, version=f"1.{v}.0", reference=f"sha256:{self.rng.getrandbits(64):016x}",
                                  built_at=self.now - timedelta(days=age)))  # fmt: skip
        Image.objects.bulk_create(rows, batch_size=BATCH)
        images: dict[int, list] = {}
        for image in rows:
            images.setdefault(image.component_id, []).append(image)
        for c in immutable:
            c.current_image = images[c.pk][-1]
        return images

    def _split(self, total: int, parts: int) -> list[int]:
        """`total` instances over `parts` components, unevenly (one to about fifteen each), summing exactly."""
        weights = [self.rng.choice([1, 2, 3, 5, 8]) for _ in range(parts)]
        scale = total / sum(weights)
        shares = [max(1, int(w * scale)) for w in weights]
        missing = total - sum(shares)
        while missing:
            i = self.rng.randrange(parts)
            step = 1 if missing > 0 else -1
            if shares[i] + step >= 1:
                shares[i] += step
                missing -= step
        return shares

    def _node(self, component):
        from estate.inventory.models import Instance

        return Instance(
            component=component,
            external_id=f"{component.slug}-node",
            address=f"{component.slug}.internal:5432",
            zone=self.rng.choice(["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
            launched_at=self.now - timedelta(days=self.rng.randint(30, 400)),
        )

    def _instance(self, component, images: list, n: int):
        from estate.inventory.models import Instance

        hit = {kind: self.rng.random() < rate for kind, rate in INSTANCE_RATES.items()}
        state = self.rng.choices(["running", "pending", "terminated"], weights=[92, 3, 5])[0]
        age_limit = component.max_instance_age_days
        age = age_limit + self.rng.randint(1, 30) if hit["too_old"] else self.rng.uniform(0, age_limit - 1)
        return Instance(
            component=component,
            external_id=f"i-{component.pk:06d}-{n:03d}",
            image=images[-2] if hit["drift"] else images[-1],
            state=state,
            address=f"10.{component.pk % 250}.{n // 250}.{n % 250}",
            zone=f"eu-west-1{'abc'[n % 3]}",
            launched_at=self.now - timedelta(days=age),
            tainted=hit["tainted"],
            taint_reason="ssh session: edited a config file by hand" if hit["tainted"] else "",
            tainted_at=self.now - timedelta(hours=3) if hit["tainted"] else None,
        )


# --- measuring ------------------------------------------------------------------------------------


@dataclass
class Measure:
    url: str
    queries: int
    times_ms: list[float]
    slowest_sql: list[tuple[float, str]]

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p90(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[max(0, round(0.9 * len(ordered)) - 1)]


def bench_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.update_or_create(
        username="bench", defaults={"is_superuser": True, "is_staff": True, "email": "bench@example.invalid"}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def fetch(client, url: str):
    from django.core.cache import cache

    if url.endswith(COLD):
        cache.clear()
        url = url.removesuffix(COLD)
    return client.get(url)


def count_queries(client, url: str) -> list[dict]:
    """The SQL statements of one request (which must succeed: a redirect to log in would be fast)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # The log is a bounded deque (DEBUG keeps every query of the build): a full one would count 0.
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as captured:
        response = fetch(client, url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}; the figures would mean nothing.")
    return captured.captured_queries


def measure_all(client, *, warmup: int, runs: int, label: str) -> dict[str, Measure]:
    """Count each URL's queries, warm up, then time rounds that request every URL once each.

    Rounds rather than one URL's requests back to back: a burst of load from another process on a
    shared machine then falls on every URL alike instead of on whichever was being measured.
    """
    from django.core.cache import cache

    cache.clear()  # the estate just grew in bulk, which does not drop cached figures
    queries = {url: count_queries(client, url) for url, *_ in URLS}
    for _ in range(warmup - 1):
        for url, *_ in URLS:
            fetch(client, url)
    times: dict[str, list[float]] = {url: [] for url, *_ in URLS}
    for _ in range(runs):
        for url, *_ in URLS:
            start = time.perf_counter()
            fetch(client, url)
            times[url].append((time.perf_counter() - start) * 1000)
    results = {}
    for url, *_ in URLS:
        slowest = sorted(((float(q["time"]) * 1000, q["sql"]) for q in queries[url]), reverse=True)[:3]
        results[url] = m = Measure(url, len(queries[url]), times[url], slowest)
        print(f"  [{label}] {url:40} {m.queries:3} queries  median {m.median:7.1f} ms  p90 {m.p90:7.1f} ms")
    return results


def explain(sql: str) -> str:
    from django.db import connection

    if connection.vendor != "postgresql":
        return "(EXPLAIN ANALYZE is shown on PostgreSQL only)"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


# --- reporting ------------------------------------------------------------------------------------


@dataclass
class Row:
    url: str
    small: Measure
    large: Measure

    @property
    def ratio(self) -> float:
        return self.large.median / self.small.median

    @property
    def queries_flat(self) -> bool:
        """No more queries for the large estate than for the small one (the findings pages issue
        fewer: a small estate's first page spans more finding kinds, each one query)."""
        return self.large.queries <= self.small.queries

    @property
    def met(self) -> bool:
        return self.queries_flat and self.ratio <= MAX_RATIO


def machine() -> dict[str, str]:
    from django import get_version
    from django.db import connection

    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "unknown")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            database = f"PostgreSQL {cursor.fetchone()[0]}"
    else:
        database = f"SQLite {connection.Database.sqlite_version}"
    return {
        "CPUs (nproc)": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "CPU": cpu,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "Django": get_version(),
        "Database": database,
    }


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def command_line() -> str:
    script = Path(sys.argv[0]).resolve()
    if script.is_relative_to(ROOT):
        script = script.relative_to(ROOT)
    prefix = f"DATABASE_URL={os.environ['DATABASE_URL']} DEBUG={os.environ['DEBUG']}"
    return f"{prefix} .venv/bin/python {script} {shlex.join(sys.argv[1:])}".strip()


def table(rows: list[Row], small: int, large: int) -> str:
    s, big = _size(small), _size(large)
    lines = [
        f"| URL | queries @{s} | queries @{big} | median ms @{s} | median ms @{big} | ratio | target met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for r in rows:
        lines.append(
            f"| `{r.url}` | {r.small.queries} | {r.large.queries} | {r.small.median:.1f} | {r.large.median:.1f} "
            f"| {r.ratio:.2f} | {_verdict(r)} |"
        )
    return "\n".join(lines)


def detail_table(rows: list[Row], small: int, large: int) -> str:
    s, big = _size(small), _size(large)
    grows = {url: text for url, _, text in URLS}
    lines = [
        f"| URL | p90 ms @{s} | p90 ms @{big} | slowest SQL @{big} (ms) | what still grows with the estate |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        slowest = r.large.slowest_sql[0][0] if r.large.slowest_sql else 0.0
        lines.append(f"| `{r.url}` | {r.small.p90:.1f} | {r.large.p90:.1f} | {slowest:.0f} | {grows[r.url]} |")
    return "\n".join(lines)


def _size(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def _targets(rows: list[Row]) -> list[Row]:
    return [r for r in rows if not r.url.endswith(COLD)]


def _verdict(row: Row) -> str:
    if row.url.endswith(COLD):
        return "shown"
    return "yes" if row.met else "**no**"


def interpretation(rows: list[Row], args) -> str:
    grows = {url: text for url, _, text in URLS}
    more = [f"`{r.url}`" for r in rows if not r.queries_flat]
    fewer = [f"`{r.url}`" for r in rows if r.large.queries < r.small.queries]
    over = [r for r in rows if r.ratio > MAX_RATIO]
    sentences = [
        f"No page issues more queries at {args.large:,} components than at {args.small:,}."
        if not more
        else f"Some pages issue MORE queries at {args.large:,} components: {', '.join(more)}.",
        "Lists read one page of rows with their relations joined or prefetched and the page's counts as "
        "correlated subqueries; findings cost one COUNT per kind plus one query per kind present on the page.",
    ]
    if fewer:
        sentences.append(
            f"That is why {', '.join(fewer)} issue fewer for the large estate: its first page holds one kind."
        )
    targets = _targets(rows)
    within = sum(r.ratio <= MAX_RATIO for r in targets)
    sentences.append(f"Time: {within} of {len(targets)} target URLs stay within {MAX_RATIO:.0f}x.")
    for r in over:
        sentences.append(
            f"`{r.url}` is at {r.ratio:.2f}x ({r.small.median:.0f} -> {r.large.median:.0f} ms); "
            f"what grows: {grows[r.url]}."
        )
    if over:
        sentences.append(
            "Those are totals over the whole estate, which no index makes constant: counting 50,000 instances "
            "costs what reading them costs. The dashboard therefore reads them from a cache that lives "
            "ESTATE_FIGURES_CACHE_SECONDS (30 s) and is dropped by any write through the services; the cold "
            "row shows what one recount costs."
        )
    return " ".join(sentences)


def write_results(path: Path, rows: list[Row], args, run: dict) -> None:
    facts = machine()
    big = _size(args.large)
    body = [
        "# Inventory benchmark results",
        "",
        "Written by `bench/bench_inventory.py`; `bench/README.md` says what it does and how to read it.",
        "",
        f"- Date: {run['started']:%Y-%m-%d %H:%M} UTC",
        *(f"- {k}: {v}" for k, v in facts.items()),
        f"- Load average (1 min) while measuring: {run['load_small']:.2f} at {_size(args.small)}, "
        f"{run['load_large']:.2f} at {big} (other processes share this machine)",
        f"- Estates: {args.small:,} components / {args.small_instances:,} instances, then "
        f"{args.large:,} / {args.large_instances:,}: the same database grown in place with bulk_create, "
        f"VACUUM ANALYZE after each step (the large one took {run['build_seconds']:.0f} s to build)",
        f"- Per URL: one request with its queries counted, {args.warmup} warm-up requests, then "
        f"{args.runs} timed requests in rounds over all URLs, through `django.test.Client` as a "
        "logged-in superuser",
        f"- Target: no more queries @{big} than @{_size(args.small)}, and median @{big} at most "
        f"{MAX_RATIO:.0f}x median @{_size(args.small)}",
        "",
        "Command (from the project root):",
        "",
        "```",
        command_line(),
        "```",
        "",
        "## Results",
        "",
        table(rows, args.small, args.large),
        "",
        f"**{sum(r.met for r in _targets(rows))} of {len(_targets(rows))} targets met** "
        f"(the cold-cache row is shown for what the cache saves, not a target).",
        "",
        detail_table(rows, args.small, args.large),
        "",
        "## Interpretation",
        "",
        interpretation(rows, args),
        "",
    ]
    path.write_text("\n".join(body) + _other_benches(path))


OWN_SECTIONS = ("## Results", "## Interpretation")


def _other_benches(path: Path) -> str:
    """The sections other bench scripts appended to the same file, kept as they are."""
    if not path.exists():
        return ""
    text = path.read_text()
    starts = [i for i, line in enumerate(text.splitlines(keepends=True)) if line.startswith("## ")]
    lines = text.splitlines(keepends=True)
    others = [i for i in starts if not lines[i].startswith(OWN_SECTIONS)]
    return "\n" + "".join(lines[others[0] :]) if others else ""


# --- main -----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=100, help="components in the small estate")
    parser.add_argument("--large", type=int, default=10_000, help="components in the large estate")
    parser.add_argument("--instances-per-component", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print the table only (for trying changes)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each page's slowest query at 10k")
    args = parser.parse_args()
    args.small_instances = args.small * args.instances_per_component
    args.large_instances = args.large * args.instances_per_component
    if args.warmup < 1 or args.runs < 1 or not 0 < args.small < args.large:
        parser.error("need --warmup >= 1, --runs >= 1 and 0 < --small < --large")
    return args


def main() -> int:
    args = parse_args()
    run: dict = {"started": datetime.now(UTC)}
    setup_django()
    from django.db import connection

    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    wipe_inventory()
    estate = Estate()
    client = bench_client()

    estate.grow_to(args.small, args.small_instances)
    analyze()
    print(f"estate: {args.small:,} components, {args.small_instances:,} instances")
    run["load_small"] = os.getloadavg()[0]
    small = measure_all(client, warmup=args.warmup, runs=args.runs, label=_size(args.small))

    t0 = time.perf_counter()
    estate.grow_to(args.large, args.large_instances)
    analyze()
    run["build_seconds"] = time.perf_counter() - t0
    print(f"estate: {args.large:,} components, {args.large_instances:,} instances ({run['build_seconds']:.0f} s)")
    run["load_large"] = os.getloadavg()[0]
    large = measure_all(client, warmup=args.warmup, runs=args.runs, label=_size(args.large))

    rows = [Row(url, small[url], large[url]) for url, *_ in URLS]
    if args.explain:
        for r in rows:
            for ms, sql in r.large.slowest_sql[:1]:
                print(f"\n=== {r.url}: slowest query {ms:.1f} ms\n{sql}\n{explain(sql)}")
    print()
    print(table(rows, args.small, args.large))
    if not args.no_write:
        write_results(args.output, rows, args, run)
        print(f"\nwrote {args.output}")
    missed = [r.url for r in _targets(rows) if not r.met]
    if missed:
        print(f"targets missed: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
