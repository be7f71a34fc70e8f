"""Catalog as code at scale: applying a catalog against the bulk API for the same objects, and the
query count of plan and apply as the catalog grows.

In one run, on one database (wiped first):

1. the bulk API (POST /api/v1/components/ with lists of API_BULK_LIMIT) creates N components;
   the inventory is wiped; `catalog apply` creates the same N components from one YAML file.
   Target (issue 10): the catalog's rate is at least 0.5x the bulk API's.
2. the catalog with M instances added is applied (instances created), then planned and applied
   again unchanged: the unchanged plan and apply cost the same number of queries at N/10 and at N
   (one read per kind, not per object).

From the project root (the database named is wiped: give it one of its own):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/estate_bench DEBUG=true \\
        .venv/bin/python bench/bench_catalog.py --components 5000 --instances 20000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "estate.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DB_CONN_MAX_AGE", "3600")


def setup() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def wipe() -> None:
    from estate.catalog.models import CatalogApply
    from estate.inventory.models import Cluster, Component, Environment, System, Tag, Team

    for model in (Component, Cluster, System, Environment, Tag, Team, CatalogApply):
        model.objects.all().delete()


def component_items(n: int) -> list[dict]:
    items = []
    for i in range(n):
        if i % 10 == 9:
            items.append(
                {
                    "slug": f"db-{i}",
                    "name": f"db-{i}",
                    "category": "database",
                    "mode": "bastion",
                    "holds_state": True,
                    "engine": "postgresql",
                    "engine_version": "16.4",
                }
            )
        else:
            items.append(
                {
                    "slug": f"svc-{i}",
                    "name": f"svc-{i}",
                    "category": "service",
                    "mode": "immutable",
                    "provider": "aws",
                    "desired_instances": 4,
                }
            )
    return items  # fmt: skip


def catalog_yaml(items: list[dict], instances: int) -> str:
    import yaml

    keys = {"holds_state": "holdsState", "engine_version": "engineVersion", "desired_instances": "desiredInstances"}
    components = [{keys.get(k, k): v for k, v in item.items()} | {"environment": "production"} for item in items]
    services = [c for c in components if c["mode"] == "immutable"]
    rows = [
        {"component": f"production/{services[i % len(services)]['slug']}", "externalId": f"i-{i:08x}"}
        for i in range(instances)
    ]
    data = {
        "apiVersion": "estate/v1",
        "kind": "Catalog",
        "environments": [{"slug": "production", "name": "Production", "production": True}],
        "components": components,
    }
    if instances:
        data["instances"] = rows
    return yaml.safe_dump(data, sort_keys=False)


def bulk_api(items: list[dict]) -> float:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from estate.inventory.models import Environment

    settings.API_THROTTLE_RATE_USER = ""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    environment = Environment.objects.create(slug="production", name="Production", is_production=True)
    user, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_superuser": True})
    client = APIClient()
    client.force_authenticate(user)
    size = settings.API_BULK_LIMIT
    start = time.perf_counter()
    for at in range(0, len(items), size):
        batch = [item | {"environment": environment.slug} for item in items[at : at + size]]
        response = client.post("/api/v1/components/", batch, format="json")
        assert response.status_code == 201, response.content[:500]
    return time.perf_counter() - start


class QueryCounter:
    """Counts every statement sent (Django's own query log keeps only the last 9,000)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def apply(text: str, *, prune: bool = False) -> tuple[float, int, dict]:
    from django.db import connection

    from estate.catalog.services import catalog_apply
    from estate.catalog.spec import parse

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        start = time.perf_counter()
        plan = catalog_apply(catalog=parse([("bench.yaml", text.encode())]), prune=prune)
        seconds = time.perf_counter() - start
    return seconds, counter.count, plan.summary()


def plan_queries(text: str) -> tuple[float, int]:
    from django.db import connection

    from estate.catalog.services import catalog_plan
    from estate.catalog.spec import parse

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        start = time.perf_counter()
        catalog_plan(catalog=parse([("bench.yaml", text.encode())]))
        seconds = time.perf_counter() - start
    return seconds, counter.count


def unchanged(size: int, text: str) -> str:
    plan_seconds, plan_count = plan_queries(text)
    apply_seconds, apply_count, summary = apply(text)
    return (
        f"unchanged at {size:>5} components: plan {plan_seconds:5.2f} s / {plan_count} queries, "
        f"apply {apply_seconds:5.2f} s / {apply_count} queries ({summary['unchanged']} unchanged)"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--components", type=int, default=5000)
    parser.add_argument("--instances", type=int, default=20000)
    args = parser.parse_args()
    setup()
    n, m = args.components, args.instances
    items = component_items(n)
    lines = [f"# bench_catalog: {n} components, {m} instances, {os.environ.get('DATABASE_URL', '').split('@')[-1]}"]

    wipe()
    bulk_seconds = bulk_api(items)
    wipe()
    text = catalog_yaml(items, 0)
    catalog_seconds, catalog_queries, _ = apply(text)
    ratio = (n / catalog_seconds) / (n / bulk_seconds)
    lines.append(f"bulk API, {n} components:        {bulk_seconds:7.1f} s  {n / bulk_seconds:7.0f} objects/s")
    lines.append(f"catalog apply, {n} components:   {catalog_seconds:7.1f} s  {n / catalog_seconds:7.0f} objects/s"
                 f"  ({catalog_queries} queries; {ratio:.2f}x the bulk API; target >= 0.5x)")  # fmt: skip

    full = catalog_yaml(items, m)
    seconds, queries, summary = apply(full)
    lines.append(
        f"catalog apply, +{m} instances:   {seconds:7.1f} s  {m / seconds:7.0f} objects/s  ({queries} queries)"
    )
    lines.append(unchanged(n, full))
    wipe()
    small = catalog_yaml(items[: n // 10], m // 10)
    apply(small)
    lines.append(unchanged(n // 10, small))
    print("\n".join(lines))
    return 0 if ratio >= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
