"""The one place that says how the estate breaks the principles.

Each app registers its finding kinds in its AppConfig.ready(). A kind is a set-based query
of the rows that violate a principle, so every question asked of the registry costs one
query per kind, whatever the size of the estate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, QuerySet

from estate.core.cache import cached_figures
from estate.core.choices import SEVERITY_ORDER, Severity


@dataclass(frozen=True)
class FindingKind:
    slug: str
    title: str
    severity: Severity
    principle: int
    advice: str
    violators: Callable[[], QuerySet]
    # Lookup from a violating row to its component; "" when the row is the component itself.
    component_path: str = ""
    describe: Callable[[Any], str] = field(default=str)

    @property
    def component_lookup(self) -> str:
        return self.component_path or "pk"

    def component_of(self, obj: Any) -> Any:
        return getattr(obj, self.component_path) if self.component_path else obj


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    obj: Any

    @property
    def severity(self) -> str:
        return self.kind.severity

    @property
    def message(self) -> str:
        return self.kind.describe(self.obj)

    @property
    def component(self) -> Any:
        return self.kind.component_of(self.obj)

    @property
    def url(self) -> str:
        """Where a person goes to act on it: the object's page, else its component's."""
        target = self.obj if hasattr(self.obj, "get_absolute_url") else self.component
        return target.get_absolute_url()


_registry: dict[str, FindingKind] = {}


def register(kind: FindingKind) -> None:
    _registry[kind.slug] = kind


def finding_kinds(*, severity: str | None = None, slug: str | None = None) -> list[FindingKind]:
    kinds = [k for k in _registry.values() if (not severity or k.severity == severity) and (not slug or k.slug == slug)]
    return sorted(kinds, key=lambda k: (SEVERITY_ORDER[k.severity], k.slug))


def _violators(kind: FindingKind, component_ids: Iterable[int] | None) -> QuerySet:
    qs = kind.violators()
    if component_ids is None:
        return qs
    if not kind.component_path:
        return qs.filter(pk__in=list(component_ids))
    # Restrict the component table itself, not only the foreign key: given a list of ids on the
    # key alone, PostgreSQL hashes every component of the estate to join a page's few instances.
    components = _model_at(qs.model, kind.component_path)._default_manager.filter(pk__in=list(component_ids))
    return qs.filter(**{f"{kind.component_path}__in": components})


def _model_at(model, path: str):
    for name in path.split("__"):
        model = model._meta.get_field(name).related_model
    return model


def finding_counts(
    *,
    severity: str | None = None,
    kind: str | None = None,
    component_ids: Iterable[int] | None = None,
) -> dict[str, int]:
    """Number of findings per kind slug, for every kind or for those the filters select."""
    ids = None if component_ids is None else list(component_ids)
    return {k.slug: _violators(k, ids).count() for k in finding_kinds(severity=severity, slug=kind)}


def estate_finding_counts(
    *,
    severity: str | None = None,
    kind: str | None = None,
    component_ids: Iterable[int] | None = None,
) -> dict[str, int]:
    """finding_counts(), with the estate-wide figures read from the short-lived cache (core/cache.py)."""
    if component_ids is not None:
        return finding_counts(severity=severity, kind=kind, component_ids=component_ids)
    every = cached_figures("finding_counts", finding_counts)
    return {k.slug: every[k.slug] for k in finding_kinds(severity=severity, slug=kind)}


def severity_counts(counts: dict[str, int]) -> dict[str, int]:
    totals = {severity.value: 0 for severity in Severity}
    for kind in finding_kinds():
        totals[kind.severity] += counts.get(kind.slug, 0)
    return totals


def findings_per_component(component_ids: Iterable[int]) -> dict[int, int]:
    """How many findings each of the given components has (for a page of a list)."""
    ids = list(component_ids)
    totals: dict[int, int] = dict.fromkeys(ids, 0)
    for kind in finding_kinds():
        rows = _violators(kind, ids).values(kind.component_lookup).annotate(n=Count("pk", distinct=True))
        for row in rows:
            totals[row[kind.component_lookup]] += row["n"]
    return totals


def finding_list(
    *,
    severity: str | None = None,
    kind: str | None = None,
    component_ids: Iterable[int] | None = None,
    offset: int = 0,
    limit: int | None = None,
    counts: dict[str, int] | None = None,
) -> tuple[int, list[Finding]]:
    """The total and one page of findings, most severe kinds first; one or two queries per kind.

    `counts` are finding_counts() taken with the same filters: a caller that already has them
    (a paginator asks for the total, then for a page) spares counting every kind twice.
    """
    ids = None if component_ids is None else list(component_ids)
    total, page = 0, []
    for finding_kind in finding_kinds(severity=severity, slug=kind):
        qs = _violators(finding_kind, ids)
        count = counts[finding_kind.slug] if counts is not None else qs.count()
        start = max(offset - total, 0)
        wanted = None if limit is None else limit - len(page)
        if count > start and (wanted is None or wanted > 0):
            rows = qs.order_by("pk")[start : None if wanted is None else start + wanted]
            page.extend(Finding(finding_kind, obj) for obj in rows)
        total += count
    return total, page
