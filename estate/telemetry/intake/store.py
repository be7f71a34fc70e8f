"""One stored answer per request: items into the ingest path, partial success counted per point.

A request is stored once: under its Idempotency-Key, or else under the digest of its inflated
body (OTLP and remote_write carry their own timestamps, so the same bytes again are a retry,
not new data), the way the JSON endpoint keeps its keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction

from estate.telemetry import metrics
from estate.telemetry.auth import principal_of, sender_actor, sender_scope
from estate.telemetry.ingest import Result, ingest
from estate.telemetry.intake.body import IntakeError
from estate.telemetry.models import IngestBatch

REPLAYED = "Idempotent-Replayed"


def store_items(request, items: list[dict], origins: list[int | None], noun: str) -> dict:
    """Ingest in partial mode; the outcome names stored items, rejected points and the first reason.

    `origins[i]` is the point (or log record) item i came from, None for a resource's heartbeat.
    """
    _check_size(origins, noun)
    result = ingest(items, scope=sender_scope(request), actor=sender_actor(request), partial=True)
    _count(result)
    rejected_points = {origins[int(index)] for index in result.rejected} - {None}
    return {**result.as_dict(), "rejected": len(rejected_points), "message": _reason(result, items, noun)}


def _check_size(origins: list[int | None], noun: str) -> None:
    """TELEMETRY_BATCH_LIMIT bounds the points (a histogram's count and sum are one) and, apart, the
    reporting resources (their heartbeats), as it bounds the items of a JSON batch."""
    limit = settings.TELEMETRY_BATCH_LIMIT
    points = len({origin for origin in origins if origin is not None})
    resources = origins.count(None)
    if points > limit or resources > limit:
        metrics.BATCHES.labels("too_large").inc()
        raise IntakeError(413, f"{points} {noun} points from {resources} sources; at most {limit} of each per request.")


def _reason(result: Result, items: list[dict], noun: str) -> str:
    """The partial success's message: how many items were left out and the first one's reason."""
    if not result.rejected:
        return ""
    index, problems = min(result.rejected.items(), key=lambda kv: int(kv[0]))
    field_name, messages = next(iter(problems.items()))
    what = items[int(index)].get("type", "item")
    first = f"{what} {index}: {field_name}: {messages[0]}"
    return f"{len(result.rejected)} of {len(items)} {noun} items left out; the first, {first}"[:1000]


def _count(result: Result) -> None:
    metrics.BATCHES.labels("partial" if result.rejected else "stored").inc()
    for kind, count in (("heartbeat", result.heartbeats), ("sample", result.samples), ("event", result.events)):
        if count:
            metrics.INGESTED.labels(kind).inc(count)
    if result.tainted:
        metrics.TAINTS.inc(len(result.tainted))


def store_once(request, dialect: str, body: bytes, store: Callable[[], dict]) -> tuple[dict, bool]:
    """(outcome, replayed): `store()`'s outcome, or the one stored for the same request before."""
    digest = hashlib.sha256(body).hexdigest()
    key = request.headers.get("Idempotency-Key") or f"{dialect}:sha256:{digest}"
    if not 0 < len(key) <= 200:
        raise IntakeError(400, "Idempotency-Key must be 1 to 200 characters.")
    principal = principal_of(request)
    batch = IngestBatch.objects.filter(principal=principal, key=key).first()
    if batch is not None:
        return _replay(batch, digest), True
    try:
        with transaction.atomic():
            # The key's row first: a concurrent retry waits on it, then replays the answer.
            batch = IngestBatch.objects.create(principal=principal, key=key, body_hash=digest, response={})
            outcome = store()
            batch.response = outcome
            batch.save(update_fields=["response"])
    except IntegrityError:
        return _replay(IngestBatch.objects.get(principal=principal, key=key), digest), True
    return outcome, False


def _replay(batch: IngestBatch, digest: str) -> dict:
    if batch.body_hash != digest:
        raise IntakeError(422, "This Idempotency-Key was used for a different request; use a new key for new data.")
    metrics.BATCHES.labels("replayed").inc()
    return batch.response
