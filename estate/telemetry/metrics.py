"""Estate's own metrics at /metrics, for Prometheus to scrape: Estate is itself observable.

Counters live in the process (or, with PROMETHEUS_MULTIPROC_DIR set before start, in
prometheus-client's multiprocess files shared by several gunicorn workers); health counts and
queue depth are read from the database and the broker at scrape time.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from pathlib import Path

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from django.urls import resolve
from django.urls.exceptions import Resolver404
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from estate.inventory.choices import LIVE_INSTANCE_STATES, Health
from estate.inventory.models import Component, Instance

log = logging.getLogger(__name__)

REQUESTS = Counter("estate_http_requests", "HTTP requests served.", ["method", "view", "status"])
LATENCY = Histogram("estate_http_request_duration_seconds", "Time to answer an HTTP request.", ["view"])
INGESTED = Counter("estate_telemetry_items_ingested", "Telemetry items stored, by type.", ["type"])
BATCHES = Counter("estate_telemetry_batches", "Ingest batches by outcome.", ["outcome"])
TAINTS = Counter("estate_instances_tainted", "Instances tainted by a mutation event.")


class RequestMetricsMiddleware:
    """Counts requests by view name (not path, which would make one series per component)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        view = _view_name(request)
        REQUESTS.labels(request.method, view, str(response.status_code)).inc()
        LATENCY.labels(view).observe(time.perf_counter() - started)
        return response


def _view_name(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return "unmatched"
    return match.view_name or "unnamed"


class EstateCollector(Collector):
    """Health counts from the database and Celery's queue depth from the broker, read at scrape."""

    def collect(self):
        components = GaugeMetricFamily("estate_components", "Components by health.", labels=["health"])
        counts = dict(Component.objects.values_list("health").annotate(n=Count("pk")).values_list("health", "n"))
        for state in Health.values:
            components.add_metric([state], counts.get(state, 0))
        yield components
        instances = GaugeMetricFamily("estate_instances_tainted_live", "Live instances marked tainted.")
        instances.add_metric([], Instance.objects.filter(tainted=True, state__in=LIVE_INSTANCE_STATES).count())
        yield instances
        depth = queue_depth()
        if depth is not None:
            queue = GaugeMetricFamily("estate_celery_queue_depth", "Messages waiting in Celery's default queue.")
            queue.add_metric([], depth)
            yield queue


def queue_depth() -> int | None:
    try:
        if settings.CELERY_BROKER_URL.startswith("redis"):
            import redis

            return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1).llen("celery")
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        return sum(1 for _ in folder.glob("*.msg"))
    except Exception as exc:  # noqa: BLE001 - a scrape must answer even with the broker away
        log.warning("queue depth unavailable: %s", exc)
        return None


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return registry


_collector = EstateCollector()


def metrics_view(request):
    if settings.METRICS_TOKEN:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), settings.METRICS_TOKEN.encode()):
            return HttpResponse("Bearer token required.\n", status=401, content_type="text/plain")
    # generate_latest only calls collect(): the database-backed collector needs no registry.
    body = generate_latest(_registry()) + generate_latest(_collector)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
