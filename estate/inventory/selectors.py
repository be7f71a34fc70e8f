"""Inventory's reads: set-based and annotated, so a page costs the same whatever the estate's size."""

from __future__ import annotations

from django.db.models import (
    Count,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)

from estate.inventory.choices import LIVE_INSTANCE_STATES, Mode
from estate.inventory.models import Component, Instance


def _live_instances_of_row() -> QuerySet:
    return Instance.objects.filter(component=OuterRef("pk"), state__in=LIVE_INSTANCE_STATES)


class _CountRows(Func):
    """COUNT(*) as a plain function: the subquery it sits in needs no GROUP BY."""

    template = "COUNT(*)"
    output_field = IntegerField()


def _count_subquery(qs: QuerySet) -> Subquery:
    # A correlated count is evaluated only for the rows of the page, unlike a JOIN + GROUP BY.
    # Without a GROUP BY it is one index-only scan of a partial index per row, and cheap enough
    # for the rows of a whole estate when the list is sorted by it.
    return Subquery(qs.order_by().annotate(n=_CountRows()).values("n"), output_field=IntegerField())


def component_list() -> QuerySet:
    """Components with what a list shows: relations joined, tags prefetched, instance counts."""
    live = _live_instances_of_row()
    return (
        Component.objects.select_related("environment", "system", "team", "current_image", "cluster")
        .prefetch_related("tags")
        .annotate(
            instance_count=_count_subquery(live),
            tainted_count=_count_subquery(live.filter(tainted=True)),
        )
    )


def component_detail(pk: int) -> Component:
    return (
        component_list()
        .prefetch_related(
            "depends_on__environment",
            "dependents__environment",
            "images",
        )
        .get(pk=pk)
    )


def component_instances(component: Component) -> QuerySet:
    return component.instances.select_related("image").order_by("state", "external_id")


def truly_immutable_q() -> Q:
    """Immutable in practice, not only on paper: hands off, no local state, observed, untainted."""
    # An uncorrelated set of tainted components: the database hashes it once, where a correlated
    # EXISTS probes the instances once for every component of the estate.
    tainted = Instance.objects.filter(state__in=LIVE_INSTANCE_STATES, tainted=True).values("component")
    return Q(
        mode=Mode.IMMUTABLE,
        ssh_enabled=False,
        config_management_enabled=False,
        local_state="",
        heartbeat_period_seconds__isnull=False,
    ) & ~Q(pk__in=tainted)


def estate_summary() -> dict[str, int]:
    """Counts for the dashboard in one query."""
    return Component.objects.aggregate(
        total=Count("pk"),
        immutable=Count("pk", filter=Q(mode=Mode.IMMUTABLE)),
        bastion=Count("pk", filter=Q(mode=Mode.BASTION)),
        stateless=Count("pk", filter=Q(holds_state=False)),
        truly_immutable=Count("pk", filter=truly_immutable_q()),
    )


def mode_by_category() -> list[dict]:
    return list(
        Component.objects.order_by().values("category", "mode").annotate(n=Count("pk")).order_by("category", "mode")
    )
