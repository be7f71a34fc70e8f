"""A real Prometheus (Debian's package) on loopback for the tests that need one, scraping given targets."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db import OperationalError

PROMETHEUS = shutil.which("prometheus")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except requests.RequestException:
            pass
        except OperationalError as exc:
            # SQLite's in-memory test database (shared cache) locks whole tables across threads instead of
            # waiting, while the live server stores what Prometheus sends: a lock is "not yet".
            if "locked" not in str(exc):
                raise
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def query(url: str, expression: str) -> list:
    return requests.get(f"{url}/api/v1/query", params={"query": expression}, timeout=2).json()["data"]["result"]


@contextlib.contextmanager
def running_prometheus(tmp_path: Path, targets: dict[str, str]) -> Iterator[str]:
    """Prometheus scraping each job's host:port every second; yields its URL. Skips where it is not installed."""
    if PROMETHEUS is None:
        pytest.skip("needs the Prometheus server binary (Debian package `prometheus`; .ci/run installs it)")
    jobs = "".join(
        f"  - job_name: {job}\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{target}']\n"
        for job, target in targets.items()
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{jobs}")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
         f"--storage.tsdb.path={tmp_path / 'prometheus-data'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait(lambda: requests.get(f"{url}/-/ready", timeout=1).ok, 20, "Prometheus to start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
