"""Health from a PromQL expression, evaluated against PROMETHEUS_URL.

The expression's value says the health: 1 or more healthy, between 0 and 1 degraded (say
avg(up{job="api"}) with one target of three down), 0 or less down, no result unknown.
"""

from __future__ import annotations

import math

import requests
from django.conf import settings

from estate.inventory.choices import Health


def promql_query(expression: str) -> list[float]:
    """The values of an instant query's result (vector or scalar); raises on any failure."""
    response = requests.get(
        settings.PROMETHEUS_URL.rstrip("/") + "/api/v1/query",
        params={"query": expression},
        timeout=settings.PROMETHEUS_TIMEOUT_SECONDS,
    )
    body = response.json()
    if body.get("status") != "success":
        raise ValueError(body.get("error") or f"HTTP {response.status_code}")
    data = body["data"]
    if data["resultType"] == "vector":
        return [float(sample["value"][1]) for sample in data["result"]]
    if data["resultType"] == "scalar":
        return [float(data["result"][1])]
    raise ValueError(f"a {data['resultType']} result; the expression must give a number or an instant vector")


def promql_health(expression: str) -> tuple[str, str, float | None]:
    """(state, reason, value) for one expression; any failure is unknown, never an exception."""
    if not settings.PROMETHEUS_URL:
        return Health.UNKNOWN, "PromQL source set but PROMETHEUS_URL is not configured", None
    try:
        values = [v for v in promql_query(expression) if not math.isnan(v)]
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        return Health.UNKNOWN, f"Prometheus query failed: {exc}"[:300], None
    if not values:
        return Health.UNKNOWN, "PromQL expression returned no data", None
    value = min(values)
    if value >= 1:
        return Health.HEALTHY, f"PromQL {value:g} (healthy at 1 or more)", value
    if value > 0:
        return Health.DEGRADED, f"PromQL {value:g} (between 0 and 1)", value
    return Health.DOWN, f"PromQL {value:g} (0 or less)", value
