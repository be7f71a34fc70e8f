from __future__ import annotations

import textwrap

import pytest

from estate.audit.models import AuditEvent
from estate.catalog.spec import Catalog, parse
from estate.inventory.models import Cluster, Component, Environment, Image, Instance, System, Tag, Team

MODELS = (Team, Environment, Tag, System, Cluster, Component, Image, Instance)


def catalog_of(text: str, name: str = "catalog.yaml") -> Catalog:
    return parse([(name, textwrap.dedent(text).encode())], name=name)


def inventory_counts() -> dict[str, int]:
    """Rows per model and audit events: "nothing written" means this does not move."""
    counts = {model.__name__: model.objects.count() for model in MODELS}
    return counts | {"audit": AuditEvent.objects.count()}


SHOP = "tests/catalog/shop"  # a small complete catalog: one folder, one file
HEAD = "apiVersion: estate/v1\nkind: Catalog\n"

BASE = (
    HEAD
    + """\
teams:
  - {slug: web, name: Web}
environments:
  - {slug: production, name: Production, production: true}
  - {slug: staging, name: Staging}
systems:
  - {slug: shop, name: Shop, owner: web}
components:
  - slug: cart-api
    environment: production
    category: service
    system: shop
    team: web
    provider: aws
    desiredInstances: 3
  - slug: shop-db
    environment: production
    category: database
    team: web
    engine: postgresql
    engineVersion: "16.4"
"""
)


@pytest.fixture
def base_catalog() -> str:
    return BASE
