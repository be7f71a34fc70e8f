"""Throwaway PostgreSQL, Redis and Estate server processes that a fault test may stop and restart.

The suite's own PostgreSQL and Redis are shared by every other test and are never touched here:
each server below listens on a free loopback port and lives in a temporary directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Debian's binaries of whichever PostgreSQL major is installed (.ci/run installs Debian's default).
PG_BIN = Path(
    os.environ.get("ESTATE_FAULTS_PG_BIN") or max(glob.glob("/usr/lib/postgresql/*/bin"), default="/nonexistent")
)
REDIS_SERVER = shutil.which("redis-server")
AS_ROOT = os.geteuid() == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, *, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    tail = log.read_text()[-4000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- PostgreSQL ------------------------------------------------------------------------------


class Postgres:
    """A cluster of its own under a temporary directory; initdb refuses root, so it runs as postgres."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="estate-faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        if AS_ROOT:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if AS_ROOT:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=60)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        settings = (
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
            "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\nmax_connections = 50\n"
        )
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(settings)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop", check=False)

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def manage(*args: str, env: dict[str, str], timeout: float = 300) -> str:
    """Run manage.py in a subprocess (the test process's Django points at the suite's database)."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"manage.py {' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def app_env(database_url: str, redis_url: str | None, var_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PYTEST", "REDIS_URL", "DATABASE_URL"))
    }
    env.update(
        DEBUG="true",
        DATABASE_URL=database_url,
        ALLOWED_HOSTS="127.0.0.1",
        SECRET_KEY="faults-" + "x" * 50,
        ESTATE_VAR_DIR=str(var_dir),
        API_THROTTLE_RATE_USER="100000/minute",
        API_THROTTLE_RATE_ANON="100000/minute",
        API_THROTTLE_RATE_INGEST="100000/minute",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@pytest.fixture(scope="session")
def throwaway_postgres():
    """A running PostgreSQL of its own, with a migrated template database to copy per test."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"needs PostgreSQL's initdb and pg_ctl in {PG_BIN} (apt-get install postgresql)")
    server = Postgres()
    try:
        server.init()
        server.start()
        with server.connect() as conn:
            conn.execute("CREATE DATABASE estate_template")
        var_dir = Path(tempfile.mkdtemp(prefix="estate-faults-var-"))
        manage("migrate", "--no-input", env=app_env(server.url("estate_template"), None, var_dir))
        shutil.rmtree(var_dir, ignore_errors=True)
        yield server
    finally:
        server.destroy()


@pytest.fixture
def fresh_database(throwaway_postgres) -> str:
    """A migrated database of the test's own on the throwaway server (a copy of the template: fast)."""
    name = f"estate_{uuid.uuid4().hex[:8]}"
    with throwaway_postgres.connect() as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE estate_template")
    return name


# --- Redis -----------------------------------------------------------------------------------


class Redis:
    """redis-server in the foreground, without persistence: a restart loses every queued message."""

    def __init__(self, log: Path):
        self.port = free_port()
        self.log = log
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.log.parent)],
            stdout=open(self.log, "a"),  # noqa: SIM115 - the child keeps it
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_until(lambda: port_open(self.port), timeout=10, what="redis-server", log=self.log)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        wait_until(lambda: not port_open(self.port), timeout=10, what="redis-server to stop")


@pytest.fixture
def throwaway_redis(tmp_path):
    if not REDIS_SERVER:
        pytest.skip("needs redis-server on PATH (apt-get install redis-server)")
    server = Redis(tmp_path / "redis.log")
    server.start()
    yield server
    server.stop()


# --- the Estate web server -------------------------------------------------------------------


class AppServer:
    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "estate.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "1", "--threads", "4", "--timeout", "60", "--graceful-timeout", "2"],
            cwd=ROOT,
            env=env,
            stdout=open(log, "w"),  # noqa: SIM115 - the child keeps it
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_until(lambda: port_open(self.port), timeout=30, what="gunicorn", log=log)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def app_server(tmp_path):
    """start(database_url, redis_url) → a gunicorn serving Estate; stopped after the test."""
    started: list[AppServer] = []

    def start(database_url: str, redis_url: str | None = None) -> AppServer:
        server = AppServer(app_env(database_url, redis_url, tmp_path / "var"), tmp_path / "gunicorn.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
