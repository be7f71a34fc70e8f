"""Load test: 50 people in browsers and 10 telemetry agents against gunicorn on loopback.

The script

1. recreates its own PostgreSQL database (estate_load by default), migrates it, loads the demo
   estate, collects the statics into a temporary STATIC_ROOT, and creates 50 users (each with an
   iCalendar feed) and 10 ingest tokens (with `manage.py create_ingest_token`);
2. starts gunicorn on a free loopback port with production settings (DEBUG off, whitenoise),
   except for the switches that plain HTTP needs, and the per-IP log-in limits raised: every
   load client comes from 127.0.0.1;
3. runs locust headless (bench/locustfile.py): the browser users log in through the real form,
   then read the dashboard, the inventory, component pages, the calendar and its events JSON and
   the .ics feed with 1-3 s think times; the agents POST batches of 50-200 heartbeats and samples;
4. stops locust and gunicorn, and writes the "## Load" section of bench/RESULTS.md: per endpoint
   requests, errors (429s apart), p50/p95/p99/max latency and requests/s.

Exits 1 when any request failed. From the project root (`make bench-load` does the same):

    REDIS_URL=redis://127.0.0.1:6379/3 .venv/bin/python bench/bench_load.py

The database named by --database-url is DROPPED and recreated: never point it at data you want.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Load"
PASSWORD = "load-test-" + secrets.token_hex(8)  # noqa: S105 - a throw-away password per run
ROUTES = [  # locust request names in the order the table shows them
    "log-in form", "log-in POST", "static asset", "dashboard", "inventory list", "component detail",
    "calendar page", "calendar events.json", "calendar .ics feed", "telemetry ingest",
]  # fmt: skip
# Every load client is 127.0.0.1, so the per-IP log-in limits would count 50 people as one.
# The API's rates are per user and per ingest token, not per IP: they stay at their defaults.
RAISED_LIMITS = {"LOGIN_THROTTLE_RATE": "100000/minute", "LOGIN_LOCKOUT_IP_FAILURES": "100000"}
# Plain HTTP on loopback: without these Django redirects to https and browsers (and requests)
# do not send back cookies marked Secure, so no session and no CSRF cookie would survive.
PLAIN_HTTP = {
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "SECURE_HSTS_SECONDS": "0",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/estate_load")
    parser.add_argument("--users", type=int, default=50, help="browser users")
    parser.add_argument("--ingest-clients", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=60, help="measured time, after every user has logged in")
    # Each log-in costs the server 0.4 s of CPU (PBKDF2): 2 CPUs cannot take much more than 5 a second.
    parser.add_argument("--spawn-rate", type=float, default=5, help="users started per second")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--output", type=Path, default=RESULTS, help="the Markdown file whose section is replaced")
    parser.add_argument("--revision", help="what code is measured (default: git's HEAD, and whether it is dirty)")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md alone")
    return parser.parse_args()


# --- the server's environment and database -------------------------------------------------------


def server_env(args, tmp: Path) -> dict[str, str]:
    """Production settings (DEBUG off), everything the run writes under `tmp`."""
    env = {
        "DJANGO_SETTINGS_MODULE": "estate.settings",
        "DATABASE_URL": args.database_url,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": str(tmp / "static"),
        "ESTATE_VAR_DIR": str(tmp / "var"),  # the filesystem broker, when no REDIS_URL, stays in tmp
        "LOG_LEVEL": "WARNING",
        "EMAIL_SMTP_HOST": "",  # no reminder mail leaves this machine
        **PLAIN_HTTP,
        **RAISED_LIMITS,
    }
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    return env


def recreate_database(url: str) -> None:
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(url)
    with psycopg.connect(**_pg_params(cfg), dbname="postgres", autocommit=True) as conn:
        name = sql.Identifier(cfg["NAME"])
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def _pg_params(cfg: dict) -> dict:
    params = {"host": cfg["HOST"] or None, "port": cfg["PORT"] or None, "user": cfg["USER"] or None}
    return params | ({"password": cfg["PASSWORD"]} if cfg["PASSWORD"] else {})


def prepare_estate(args) -> dict:
    """Migrate, load the demo, collect statics, create the load's accounts; return the locust fixture."""
    # requirements-bench.txt brings brotli in (locust's HTTP client needs it), and whitenoise would
    # then brotli-compress every static file as well: 2.5 minutes of CPU here instead of 7 s. The
    # production install has no brotli and serves gzip only: hide it, as there.
    sys.modules["brotli"] = None
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("load_demo", stdout=io.StringIO())
    call_command("collectstatic", verbosity=0, interactive=False)
    from estate.inventory.models import Component, Environment

    return {
        "browser_users": args.users,
        "seconds": args.seconds,
        "ingest_clients": args.ingest_clients,
        "password": PASSWORD,
        "users": create_users(args.users),
        "ingest_tokens": [create_ingest_token(f"load-agent-{n:02d}") for n in range(args.ingest_clients)],
        "component_ids": list(Component.objects.values_list("pk", flat=True)),
        "environments": list(Environment.objects.values_list("slug", flat=True)),
        "instances": telemetry_targets(),
    }


def create_users(count: int) -> list[dict]:
    """Viewers (the read-everything role, no staff), each with a personal .ics feed."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from estate.access.roles import VIEWER
    from estate.patching.services import feed_token_create

    # One hash for all: PBKDF2 costs half a second per user, the server pays it again at log-in.
    password = make_password(PASSWORD)
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"load-user-{n:02d}", password=password) for n in range(count)
    )
    Group.objects.get(name=VIEWER).user_set.add(*users)
    accounts = []
    for user in users:
        feed = feed_token_create(user=user, name="My patch windows", filters={})
        accounts.append({"username": user.username, "feed_key": feed.secret})
    return accounts


def create_ingest_token(name: str) -> str:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("create_ingest_token", name, "--estate", stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def telemetry_targets() -> list[dict]:
    """The demo's live instances, each with the metrics its category's enabled rules watch and a
    healthy range for each (samples are realistic, not alarms)."""
    from estate.inventory.choices import LIVE_INSTANCE_STATES
    from estate.inventory.models import Instance
    from estate.telemetry.models import MetricRule

    by_category: dict[str, list] = {}
    for rule in MetricRule.objects.filter(component=None, enabled=True):
        low, high = (0.0, rule.warn * 0.7) if rule.comparison == "above" else (rule.warn * 1.2, rule.warn * 2)
        by_category.setdefault(rule.category, []).append((rule.metric, rule.unit, low, high))
    instances = Instance.objects.filter(state__in=LIVE_INSTANCE_STATES).select_related("component__environment")
    return [
        {
            "component": f"{i.component.environment.slug}/{i.component.slug}",
            "instance": i.external_id,
            "metrics": by_category.get(i.component.category, []),
        }
        for i in instances
    ]


def estate_size() -> dict[str, int]:
    from estate.inventory.models import Component, Instance
    from estate.patching.models import PatchWindow
    from estate.telemetry.models import Sample

    return {
        "components": Component.objects.count(),
        "instances": Instance.objects.count(),
        "windows": PatchWindow.objects.count(),
        "samples": Sample.objects.count(),
    }


# --- gunicorn ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_command(args, port: int) -> list[str]:
    return [
        str(BIN / "gunicorn"), "estate.wsgi", "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.workers), "--threads", str(args.threads), "--worker-class", "gthread",
        # Idle connections stay open longer than a user's longest think time (3 s): with gthread's
        # default of 2 s the server closes a connection just as the client reuses it, now and then,
        # and the client sees a connection error that a browser would retry without telling anyone.
        "--keep-alive", "5", "--log-level", "warning",
    ]  # fmt: skip


def start_gunicorn(args, env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    import requests

    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(gunicorn_command(args, port), cwd=ROOT, env={**os.environ, **env}, stdout=out,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return process, url
        except requests.RequestException:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    stop(process)
    raise SystemExit(f"gunicorn did not start; see {log}:\n{log.read_text()[-2000:]}")


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM: gunicorn finishes the requests in flight, then exits; SIGKILL only if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def server_log_lines(log: Path, marks: tuple[str, ...]) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if any(m in line for m in marks)]


# Lines of the server log that mean trouble (tracebacks, worker timeouts, errors), or might.
ERROR_MARKS = ("Traceback", "[ERROR]", "[CRITICAL]", "WORKER TIMEOUT", " ERROR ")
WARNING_MARKS = ("Warning:", "[WARNING]", " WARNING ")


class Sampler(threading.Thread):
    """Twice a second: PostgreSQL connections (to the load's database, and server-wide), the CPU
    time gunicorn's processes have used, and the machine's busy CPU time (everyone's)."""

    def __init__(self, url: str, gunicorn_pid: int) -> None:
        super().__init__(daemon=True)
        import dj_database_url
        import psutil

        self.cfg = dj_database_url.parse(url)
        self.gunicorn = psutil.Process(gunicorn_pid)
        self.peak_db = self.peak_server = self.max_connections = 0
        self.cpu: list[tuple[float, float, float]] = []  # (time, gunicorn CPU s, machine busy CPU s)
        self.done = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(**_pg_params(self.cfg), dbname="postgres", autocommit=True) as conn:
            self.max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
            while not self.done.wait(0.5):
                db, total = conn.execute(
                    "SELECT count(*) FILTER (WHERE datname = %s), count(*) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend'",
                    [self.cfg["NAME"]],
                ).fetchone()
                self.peak_db, self.peak_server = max(self.peak_db, db), max(self.peak_server, total)
                self.cpu.append((time.time(), self._gunicorn_cpu(), self._machine_busy()))

    def _gunicorn_cpu(self) -> float:
        import psutil

        total = 0.0
        try:
            processes = [self.gunicorn, *self.gunicorn.children()]
        except psutil.NoSuchProcess:  # gunicorn died: the run fails on its own
            return self.cpu[-1][1] if self.cpu else 0.0
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    @staticmethod
    def _machine_busy() -> float:
        import psutil

        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    def cpu_between(self, start: float, end: float) -> tuple[float, float, float]:
        """gunicorn's CPU seconds, the machine's busy CPU seconds, and the seconds between the samples
        nearest to `start` and `end`."""
        first = min(self.cpu, key=lambda sample: abs(sample[0] - start))
        last = min(self.cpu, key=lambda sample: abs(sample[0] - end))
        return last[1] - first[1], last[2] - first[2], last[0] - first[0]


# --- locust ----------------------------------------------------------------------------------------


def run_locust(args, url: str, fixture: Path, record: Path) -> None:
    users = args.users + args.ingest_clients
    command = [
        str(BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "--host", url,
        "--users", str(users), "--spawn-rate", str(args.spawn_rate),
        # The locustfile stops the run a minute after the last log-in; this is only a safety net.
        "--run-time", f"{args.seconds + 600}s",
        # On stop, users finish the request in flight: nothing is cut off half-way.
        "--stop-timeout", "15", "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "LOAD_FIXTURE": str(fixture), "LOAD_RECORD": str(record)}
    # Its exit code only says "there were failures"; the record says which.
    subprocess.run(command, cwd=ROOT, env=env, check=False)


def collect(record: Path) -> dict:
    """The log-in phase and the measured minute, each per route and in total, from the
    locustfile's record of every request; and every error, by route and message."""
    if not record.exists():
        raise SystemExit("locust wrote no record of its requests: see its output above")
    data = json.loads(record.read_text())
    if data["measure_from"] is None:
        raise SystemExit("the browser users never all logged in: see locust's output above")
    start, requests = data["measure_from"], data["requests"]
    errors: dict[tuple[str, str], int] = {}
    for _, name, _, error in requests:
        if error:
            errors[(name, error)] = errors.get((name, error), 0) + 1
    return {
        "login": phase([r for r in requests if r[0] < start], start),
        # Up to the last answer: the requests in flight at the stop are waited for, then no more.
        "minute": phase([r for r in requests if r[0] >= start], max(t for t, *_ in requests) - start),
        "login_seconds": start, "errors": errors, "exceptions": data.get("exceptions", []),
        "minute_epochs": (data["started"] + start, data["started"] + max(t for t, *_ in requests)),
    }  # fmt: skip


def phase(requests: list, seconds: float) -> dict:
    by_name: dict[str, list] = {}
    for request in requests:
        by_name.setdefault(request[1], []).append(request)
    names = [n for n in ROUTES if n in by_name] + sorted(set(by_name) - set(ROUTES))
    return {
        "rows": [summarise(name, by_name[name], seconds) for name in names],
        "total": summarise("**total**", requests, seconds),
        "seconds": seconds,
    }


def summarise(name: str, requests: list, seconds: float) -> dict:
    times = sorted(ms for _, _, ms, _ in requests) or [0.0]
    errors = [error for *_, error in requests if error]
    return {
        "name": name, "requests": len(requests), "errors": len(errors),
        "throttled": sum("HTTP 429" in e for e in errors), "rps": len(requests) / seconds,
        "p50": percentile(times, 50), "p95": percentile(times, 95), "p99": percentile(times, 99), "max": times[-1],
    }  # fmt: skip


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank: the smallest time that at least p% of the requests did not exceed."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- RESULTS.md ----------------------------------------------------------------------------------


def table(phase: dict) -> str:
    lines = [
        "| endpoint | requests | errors | of which 429 | req/s | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in [*phase["rows"], phase["total"]]:
        lines.append(
            f"| {r['name']} | {r['requests']:,} | {r['errors']} | {r['throttled']} | {r['rps']:.1f} "
            f"| {r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} | {r['max']:.0f} |"
        )
    return "\n".join(lines)


def reading(result: dict, run: dict) -> str:
    minute, login = result["minute"], result["login"]
    total = minute["total"]
    pages = [r for r in minute["rows"] if r["name"] != "telemetry ingest"]
    slowest = max(pages, key=lambda r: r["p95"])
    ingest = next((r for r in minute["rows"] if r["name"] == "telemetry ingest"), None)
    posts = next((r for r in login["rows"] if r["name"] == "log-in POST"), None)
    failed = sum(result["errors"].values())
    text = [
        f"In the measured minute, {total['requests']:,} requests ({total['rps']:.1f}/s) with p50 "
        f"{total['p50']:.0f} ms, p95 {total['p95']:.0f} ms and p99 {total['p99']:.0f} ms; "
        + ("no request failed in either phase." if not failed else f"**{failed} requests failed** (listed above)."),
        f"The slowest page at the 95th percentile is the {slowest['name']} (p50 {slowest['p50']:.0f} ms, "
        f"p95 {slowest['p95']:.0f} ms).",
    ]
    if ingest:
        text.append(
            f"The agents stored {run['samples_added']:,} samples over the whole run; in the minute "
            f"{ingest['requests']:,} batches of 50-200 items took p50 {ingest['p50']:.0f} ms, "
            f"p95 {ingest['p95']:.0f} ms."
        )
    gunicorn_cpu, machine_cpu, seconds = run["cpu"]
    text.append(
        f"gunicorn's processes used {gunicorn_cpu:.0f} CPU-seconds in the minute, "
        f"{gunicorn_cpu * 1000 / max(total['requests'], 1):.0f} ms per request, while the machine's "
        f"{os.cpu_count()} CPUs were {100 * machine_cpu / (seconds * os.cpu_count()):.0f}% busy "
        f"({100 * gunicorn_cpu / max(machine_cpu, 0.001):.0f}% of that was gunicorn; PostgreSQL, locust and "
        "any other work had the rest)."
    )
    if posts:
        text.append(
            f"The log-in phase took {result['login_seconds']:.0f} s for {posts['requests']} log-ins (p50 "
            f"{posts['p50']:.0f} ms, max {posts['max']:.0f} ms): each costs about 0.4 s of server CPU by "
            "design (PBKDF2, Django's 1.5 million iterations), so 2 CPUs take a few per second at most and "
            "everything else queues behind them, ingest included."
        )
    text.append(
        f"PostgreSQL held at most {run['peak_db']} connections to the load's database ({run['peak_server']} "
        f"server-wide, of max_connections {run['max_connections']}): gunicorn's {run['workers']} x "
        f"{run['threads']} threads keep at most one persistent connection each (DB_CONN_MAX_AGE=60)."
    )
    text.append(
        f"The 1-minute load average went from {run['load_before']:.2f} to {run['load_after']:.2f} on "
        f"{os.cpu_count()} CPUs shared by gunicorn, locust and PostgreSQL (and by whatever else ran on the "
        "machine), so the latencies include waiting for a CPU; compare runs, not single figures."
    )
    return " ".join(text)


def section(args, result: dict, run: dict) -> str:
    redis = "Redis (`REDIS_URL`)" if os.environ.get("REDIS_URL") else "local memory per process (no `REDIS_URL`)"
    size = run["size"]
    log_note = f"{len(run['log_errors'])} error lines" if run["log_errors"] else "no error lines"
    if warnings := run["log_warnings"]:
        kinds = sorted({kind for line in warnings for kind in re.findall(r"(\w+Warning):", line)})
        log_note += f", {len(warnings)} warning lines ({', '.join(kinds) or warnings[0][:100]})"
    return "\n".join(
        [
            f"{SECTION}: {args.users} browser users and {args.ingest_clients} ingest clients for {args.seconds} s",
            "",
            f"Written by `bench/bench_load.py` (`make bench-load`) on {run['started']:%Y-%m-%d %H:%M} UTC. "
            f"Machine: {os.cpu_count()} CPUs ({_cpu()}), shared with other engineers' work; gunicorn, "
            f"PostgreSQL {run['pg_version']} and the load generator all run on it. Python "
            f"{platform.python_version()}, gunicorn {run['gunicorn']}, locust {run['locust']}. "
            f"Code: {args.revision}.",
            "",
            "Command (from the project root):",
            "",
            "```",
            command_line(),
            "```",
            "",
            "Configuration:",
            "",
            f"- gunicorn `--workers {args.workers} --threads {args.threads} --worker-class gthread --keep-alive 5` "
            "on 127.0.0.1, a free port (keep-alive longer than the 3 s think time: see `bench/README.md`); "
            "`DEBUG=false`, a random `SECRET_KEY`, `ALLOWED_HOSTS=127.0.0.1`; statics collected into a "
            "temporary `STATIC_ROOT` (gzip only, as without brotli in production) and served by whitenoise.",
            f"- Plain HTTP on loopback: {', '.join(f'`{k}={v}`' for k, v in PLAIN_HTTP.items())}. Without them "
            "every page redirects to https and the session and CSRF cookies (Secure) are never sent back. "
            "Production keeps the defaults behind TLS.",
            f"- Raised because every client is 127.0.0.1: {', '.join(f'`{k}={v}`' for k, v in RAISED_LIMITS.items())}. "
            "`API_THROTTLE_RATE_USER` and `API_THROTTLE_RATE_INGEST` are left at their defaults (3000 and "
            "30000/minute): they count per user and per ingest token, not per address.",
            f"- Database: PostgreSQL, `{_db_name(args.database_url)}` dropped and recreated, migrated, "
            f"`load_demo`: {size['components']} components, {size['instances']} instances, "
            f"{size['windows']} patch windows, {size['samples']:,} samples of demo telemetry. "
            "`DB_CONN_MAX_AGE` at its default (60 s). Cache: " + redis + ". No Celery worker or beat runs.",
            f"- Load (locust, `bench/locustfile.py`, {args.spawn_rate:g} users started per second, then "
            f"{args.seconds} s measured once all have logged in): {args.users} browser users log in once through "
            "`/login/` (GET the form, POST with its CSRF token), fetch the base template's statics once, then with "
            "1-3 s think times pick by weight: dashboard 3, inventory list 3 (search, filters, sorts, page 2), "
            "component detail 2, calendar page and then its `events.json` for the six-week month grid 2, "
            f"their `.ics` feed 1. {args.ingest_clients} ingest clients, one token each, POST 50-200 heartbeats "
            "and samples of the demo's live instances with an `Idempotency-Key` per batch, 0.2-1 s apart.",
            "- An error is any answer other than 2xx/3xx (201 for ingest, 302 for the log-in POST), a "
            "redirect to the log-in form, or a connection error; 429s are counted apart as well. Latencies "
            "are client-side (locust), exact, nearest-rank percentiles; req/s over the phase.",
            "",
            f"**The measured minute**: from the moment the last browser user had logged in, {args.seconds} s "
            "with all of them and the ingest clients busy.",
            "",
            table(result["minute"]),
            "",
            f"**The log-in phase** before it ({result['login_seconds']:.0f} s: users started at "
            f"{args.spawn_rate:g}/s, each logs in and fetches the statics; the ingest clients already post):",
            "",
            table(result["login"]),
            "",
            f"Server log: {log_note}. Locust exceptions: {len(result['exceptions'])}. "
            f"Target (no errors): {'**met**' if run['ok'] else '**not met**'}.",
            *error_list(result),
            "",
            reading(result, run),
            "",
        ]
    )


def error_list(result: dict) -> list[str]:
    if not result["errors"] and not result["exceptions"]:
        return []
    lines = ["", "Errors:", ""]
    lines += [f"- {name}: {error} (x{count})" for (name, error), count in sorted(result["errors"].items())]
    return lines + [f"- locust exception: {message[:200]}" for message in result["exceptions"]]


def _cpu() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown CPU"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")


def _db_name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def command_line() -> str:
    redis = f"REDIS_URL={os.environ['REDIS_URL']} " if os.environ.get("REDIS_URL") else ""
    return f"{redis}.venv/bin/python bench/bench_load.py {shlex.join(sys.argv[1:])}".strip()


def replace_section(path: Path, heading: str, text: str) -> None:
    """Put `text` in place of the section that starts with `heading` (up to the next "## "), or
    append it: the other scripts' sections stay as they are."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if start is None:
        path.write_text("".join(lines).rstrip("\n") + "\n\n" + text)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    path.write_text("".join(lines[:start]) + text + ("\n" + tail if tail else ""))


# --- main ------------------------------------------------------------------------------------------


def code_revision() -> str:
    def git(*argv: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True, check=False).stdout

    head = git("rev-parse", "--short", "HEAD").strip()
    if not head:
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no").strip() else "")


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"gunicorn": version("gunicorn"), "locust": version("locust")}


def pg_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0].split()[0]


def prepare(args, tmp: Path, run: dict) -> dict[str, str]:
    """The database, the statics and the fixture; returns the server's environment."""
    env = server_env(args, tmp)
    os.environ.update(env)
    print(f"recreating {_db_name(args.database_url)}, loading the demo estate ...", flush=True)
    started = time.perf_counter()
    recreate_database(args.database_url)
    (tmp / "fixture.json").write_text(json.dumps(prepare_estate(args)))
    run["size"], run["pg_version"] = estate_size(), pg_version()
    print(f"estate ready in {time.perf_counter() - started:.0f} s", flush=True)
    from django.db import connection

    connection.close()  # the script's own connection is not part of the load
    return env


def load(args, env: dict, tmp: Path, run: dict) -> dict:
    """gunicorn up, locust's run, gunicorn down; returns what collect() makes of the record."""
    log = tmp / "gunicorn.log"
    process, url = start_gunicorn(args, env, log)
    sampler = Sampler(args.database_url, process.pid)
    sampler.start()
    run["load_before"] = os.getloadavg()[0]
    print(f"gunicorn on {url}; {args.users} browser users log in, then {args.seconds} s with "
          f"{args.ingest_clients} ingest clients ...", flush=True)  # fmt: skip
    try:
        run_locust(args, url, tmp / "fixture.json", tmp / "record.json")
    finally:
        run["load_after"] = os.getloadavg()[0]
        sampler.done.set()
        sampler.join()
        stop(process)
    result = collect(tmp / "record.json")
    run.update(peak_db=sampler.peak_db, peak_server=sampler.peak_server, max_connections=sampler.max_connections)
    run["cpu"] = sampler.cpu_between(*result["minute_epochs"])
    run["samples_added"] = estate_size()["samples"] - run["size"]["samples"]
    run["log_errors"] = server_log_lines(log, ERROR_MARKS)
    run["log_warnings"] = server_log_lines(log, WARNING_MARKS)
    run["ok"] = not result["errors"] and not result["exceptions"]
    return result


def main() -> int:
    args = parse_args()
    args.revision = args.revision or code_revision()
    run: dict = {"started": datetime.now(UTC), "workers": args.workers, "threads": args.threads, **versions()}
    tmp = Path(tempfile.mkdtemp(prefix="estate-load-"))
    env = prepare(args, tmp, run)
    result = load(args, env, tmp, run)
    text = section(args, result, run)
    print("\n" + text)
    for line in run["log_errors"][:20]:
        print(f"server log: {line}", file=sys.stderr)
    for (name, error), count in sorted(result["errors"].items()):
        print(f"failure: {name}: {error} x{count}", file=sys.stderr)
    if not args.no_write:
        replace_section(args.output, SECTION, text)
        print(f"wrote the {SECTION!r} section of {args.output}")
    if run["ok"]:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept the run's files (gunicorn.log, record.json) in {tmp}", file=sys.stderr)
    return 0 if run["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
