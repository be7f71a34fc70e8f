"""Intake at scale: OTLP/HTTP protobuf and Prometheus remote_write against raw COPY of the same samples.

gunicorn serves Estate on loopback; client threads POST requests of --batch points each to
/v1/metrics (OTLP protobuf, one resource per component, one gauge of many points) and to
/api/v1/telemetry/prometheus/write (snappy protobuf, one series per component) with an ingest
token. In the same run the same rows go into the same table with psycopg's COPY, one COPY and
commit per batch, from as many threads. Target (issue 11): each dialect reaches at least 0.5 of
raw COPY's rows per second. Also measured in this process: the peak Python memory (tracemalloc)
of decoding, translating and storing one --batch-point OTLP request.

PostgreSQL only. From the project root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/estate_bench_intake .venv/bin/python bench/bench_intake.py

The database is created if missing, migrated and WIPED. Prints a Markdown section for
bench/RESULTS.md (or appends it with --append); exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_telemetry import ROOT, build_estate, raw_copy, run_threads, setup_django, start_gunicorn, wipe  # noqa: E402

MIN_RATIO = 0.5
POINTS_PER_SERIES = 100


def work_rows(component_ids: list[int], total: int, size: int) -> list[list[tuple]]:
    """Batches of COPY rows: runs of POINTS_PER_SERIES points of one component, every point its own
    millisecond (remote_write's resolution), so no point is a duplicate of another."""
    start_ns = time.time_ns() - (total + 60_000) * 10**6  # recent, as a live sender's points are
    rows = []
    for n in range(total):
        component = component_ids[(n // POINTS_PER_SERIES) % len(component_ids)]
        rows.append((component, None, "cpu_percent", float(n % 97), "", start_ns + n * 10**6))
    return [rows[i : i + size] for i in range(0, total, size)]


def _series(batch: list[tuple]) -> list[list[tuple]]:
    return [batch[i : i + POINTS_PER_SERIES] for i in range(0, len(batch), POINTS_PER_SERIES)]


def otlp_body(batch: list[tuple], slugs: dict[int, str]) -> bytes:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    request = ExportMetricsServiceRequest()
    for series in _series(batch):
        resource = request.resource_metrics.add()
        for key, value in (("service.name", slugs[series[0][0]]), ("deployment.environment", "production")):
            resource.resource.attributes.add(key=key).value.string_value = value
        gauge = resource.scope_metrics.add().metrics.add(name="cpu_percent").gauge
        for _, _, _, value, _, ts_ns in series:
            gauge.data_points.add(time_unix_nano=ts_ns, as_double=value)
    return request.SerializeToString()


def remote_write_body(batch: list[tuple], slugs: dict[int, str]) -> bytes:
    import cramjam

    from estate.telemetry.intake.remote_write import WriteRequest

    request = WriteRequest()
    for series in _series(batch):
        added = request.timeseries.add()
        for name, value in (("__name__", "cpu_percent"), ("environment", "production"), ("job", slugs[series[0][0]])):
            added.labels.add(name=name, value=value)
        for _, _, _, value, _, ts_ns in series:
            added.samples.add(value=value, timestamp=ts_ns // 10**6)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def post_all(url: str, path: str, token: str, bodies: list[bytes], threads: int, headers: dict) -> float:
    import requests

    headers = {"Authorization": f"Bearer {token}", **headers}

    def post(body, state):
        session = state.setdefault("session", requests.Session())
        response = session.post(f"{url}{path}", data=body, headers=headers, timeout=120)
        if response.status_code != 200:  # a rejected point shows in the stored count, checked after
            raise RuntimeError(f"{response.status_code} {response.content[:300]!r}")

    return run_threads(bodies, threads, post)


OTLP = ("/v1/metrics", {"Content-Type": "application/x-protobuf"})
REMOTE_WRITE = ("/api/v1/telemetry/prometheus/write",
                {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"})  # fmt: skip


def copy_rows(work: list[list[tuple]]) -> list[list[tuple]]:
    return [[(c, i, n, v, u, datetime.fromtimestamp(ns / 1e9, tz=UTC)) for c, i, n, v, u, ns in b] for b in work]


def truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE telemetry_sample, telemetry_ingestbatch, telemetry_stalerollup")


def dialect_seconds(url: str, token: str, work: list, encode, dialect: tuple, threads: int) -> float:
    from estate.telemetry.models import Sample

    bodies = [encode(batch) for batch in work]
    truncate()
    seconds = post_all(url, dialect[0], token, bodies, threads, dialect[1])
    stored = Sample.objects.count()
    expected = sum(len(b) for b in work)
    assert stored == expected, (dialect[0], stored, expected)
    return seconds


def peak_memory(batch: list[tuple], slugs: dict[int, str]) -> float:
    """MiB of Python memory at the peak of decoding, translating and storing one OTLP request."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    from estate.telemetry.ingest import ingest
    from estate.telemetry.intake import otlp
    from estate.telemetry.intake.mapping import OTLP_DEFAULTS, mapping_for

    body = otlp_body(batch, slugs)
    truncate()
    tracemalloc.start()
    request = otlp.decode(body, otlp.PROTOBUF, ExportMetricsServiceRequest())
    translation = otlp.translate_metrics(request, mapping_for(None, OTLP_DEFAULTS))
    ingest(translation.items, partial=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def bench(args) -> dict:
    from estate.inventory.models import Component
    from estate.telemetry.models import IngestToken

    wipe()
    build_estate(args.components)
    token = IngestToken(name="bench", whole_estate=True)
    raw = token.set_new_secret()
    token.save()
    slugs = dict(Component.objects.values_list("pk", "slug"))
    ids = sorted(slugs)
    work = work_rows(ids, args.samples, args.batch)
    warm = work_rows(ids, args.batch * args.threads, args.batch)
    otlp_encode = lambda batch: otlp_body(batch, slugs)  # noqa: E731
    rw_encode = lambda batch: remote_write_body(batch, slugs)  # noqa: E731
    process, url = start_gunicorn(args.workers)
    otlp_times, rw_times, copy_times = [], [], []
    try:
        dialect_seconds(url, raw, warm, otlp_encode, OTLP, args.threads)
        dialect_seconds(url, raw, warm, rw_encode, REMOTE_WRITE, args.threads)
        raw_copy(copy_rows(warm), args.threads)
        # Rounds in turn, the best of each: the machine's other work falls on all three alike.
        for _ in range(args.rounds):
            otlp_times.append(dialect_seconds(url, raw, work, otlp_encode, OTLP, args.threads))
            rw_times.append(dialect_seconds(url, raw, work, rw_encode, REMOTE_WRITE, args.threads))
            truncate()
            copy_times.append(raw_copy(copy_rows(work), args.threads))
    finally:
        process.terminate()
        process.wait(timeout=30)
    otlp_s, rw_s, copy_s = min(otlp_times), min(rw_times), min(copy_times)
    memory = peak_memory(work[0], slugs)
    truncate()
    rate = lambda seconds: args.samples / seconds  # noqa: E731
    return {"otlp": rate(otlp_s), "remote_write": rate(rw_s), "copy": rate(copy_s), "memory_mib": memory,
            "otlp_ratio": copy_s / otlp_s, "rw_ratio": copy_s / rw_s}  # fmt: skip


def report(args, figures: dict) -> tuple[str, bool]:
    ok = figures["otlp_ratio"] >= MIN_RATIO and figures["rw_ratio"] >= MIN_RATIO
    command = "DATABASE_URL=... .venv/bin/python bench/bench_intake.py " + shlex.join(sys.argv[1:])
    lines = [
        "## Intake: OTLP/HTTP and remote_write against raw COPY",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} {platform.python_version()}, "
        f"gunicorn {args.workers} workers, {args.threads} client threads, {args.samples:,} samples in requests of "
        f"{args.batch:,} points ({POINTS_PER_SERIES} per series), {args.components:,} components, best of "
        f"{args.rounds} rounds, {os.cpu_count()} CPUs. `{command}`",
        "",
        "| path | samples/s | × raw COPY |",
        "| --- | ---: | ---: |",
        f"| OTLP/HTTP protobuf `/v1/metrics` | {figures['otlp']:,.0f} | {figures['otlp_ratio']:.3f} |",
        f"| remote_write `/api/v1/telemetry/prometheus/write` | {figures['remote_write']:,.0f} | "
        f"{figures['rw_ratio']:.3f} |",
        f"| raw COPY, same rows, same table | {figures['copy']:,.0f} | 1.00 |",
        "",
        f"Peak Python memory decoding, translating and storing one {args.batch:,}-point OTLP request "
        f"(tracemalloc): {figures['memory_mib']:.1f} MiB. Target: each dialect ≥ {MIN_RATIO}× COPY — "
        f"{'met' if ok else 'MISSED'}.",
        "",
    ]
    return "\n".join(lines), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--components", type=int, default=100)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--append", action="store_true", help="append the section to bench/RESULTS.md")
    args = parser.parse_args()
    setup_django()
    text, ok = report(args, bench(args))
    print(text)
    if args.append:
        with open(ROOT / "bench" / "RESULTS.md", "a") as results:
            results.write("\n" + text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
