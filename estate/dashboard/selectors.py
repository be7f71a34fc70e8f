"""Estate-wide reads composed from every app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Prefetch
from django.urls import reverse
from django.utils import timezone

from estate.core.cache import cached_figures
from estate.core.choices import Severity
from estate.core.findings import Finding, estate_finding_counts, finding_kinds, severity_counts
from estate.inventory.choices import Category, Health, Mode
from estate.inventory.models import Component
from estate.inventory.selectors import estate_summary, mode_by_category
from estate.operations.choices import ACTIVE_STATES, OperationState
from estate.operations.models import Operation
from estate.operations.selectors import operation_list, requester_label
from estate.patching.choices import OccurrenceStatus
from estate.patching.models import Occurrence
from estate.patching.selectors import active_in, occurrences_between, window_list
from estate.telemetry.selectors import health_counts


def _percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def dashboard_data() -> dict:
    # Totals over the whole estate cost a scan of it; they are cached briefly (see core/cache.py).
    summary = dict(cached_figures("estate_summary", estate_summary))
    counts = estate_finding_counts()
    summary["truly_immutable_percent"] = _percent(summary["truly_immutable"], summary["stateless"])
    summary["immutable_percent"] = _percent(summary["immutable"], summary["total"])
    return {
        "summary": summary,
        "severity_counts": severity_counts(counts),
        "kinds": [{"kind": kind, "count": counts[kind.slug]} for kind in finding_kinds()],
        "chart": _category_chart(),
        "health_tiles": health_counts(),
        "attention": attention_now(),
    }


def _category_chart() -> dict:
    """Components per category and mode, shaped for a stacked bar chart."""
    rows = cached_figures("mode_by_category", mode_by_category)
    categories = [c for c in Category if any(r["category"] == c for r in rows)]
    series = {mode: [0] * len(categories) for mode in Mode}
    for row in rows:
        series[row["mode"]][categories.index(row["category"])] = row["n"]
    return {
        "labels": [c.label for c in categories],
        "immutable": series[Mode.IMMUTABLE],
        "bastion": series[Mode.BASTION],
    }


# Each list on the "needs attention now" card shows this many lines; its badge counts them all.
ATTENTION_LINES = 8
FAILED_LOOKBACK = timedelta(hours=24)
WINDOWS_AHEAD = timedelta(days=7)


@dataclass
class AttentionList:
    key: str
    title: str
    count: int
    lines: list[dict]
    more_url: str = ""


def attention_now(*, now: datetime | None = None) -> list[AttentionList]:
    """What a person should look at now, a fixed number of queries whatever the estate's size:
    each list is one query for its first lines and one for its count."""
    now = now or timezone.now()
    return [
        _failed_operations(now),
        _running_operations(),
        _overdue_occurrences(),
        _upcoming_occurrences(now),
        _critical_findings(),
        _components_down(),
    ]


def _operation_line(op: Operation) -> dict:
    return {
        "url": op.get_absolute_url(),
        "label": f"{op.get_kind_display()} #{op.pk} of {op.component.name}",
        "detail": f"{op.component.environment.name} · requested by {requester_label(op)}",
        "state": op.state,
        "at": op.finished_at or op.started_at or op.created_at,
        "note": op.error[:140],
    }


def _failed_operations(now: datetime) -> AttentionList:
    failed = operation_list().filter(state=OperationState.FAILED, finished_at__gte=now - FAILED_LOOKBACK)
    rows = list(failed.order_by("-finished_at", "-id")[:ATTENTION_LINES])
    return AttentionList(
        "failed-operations",
        "Operations failed in the last 24 h",
        failed.count(),
        [_operation_line(op) for op in rows],
        reverse("operation_list") + "?state=failed",
    )


def _running_operations() -> AttentionList:
    active = operation_list().filter(state__in=ACTIVE_STATES)
    rows = list(active.order_by("-created_at", "-id")[:ATTENTION_LINES])
    query = "&".join(f"state={state}" for state in ACTIVE_STATES)
    return AttentionList(
        "running-operations",
        "Operations in progress",
        active.count(),
        [_operation_line(op) for op in rows],
        reverse("operation_list") + "?" + query,
    )


def _occurrence_line(window, key: str, start: datetime, status: str, note: str = "") -> dict:
    names = [c.name for c in window.components.all()]
    return {
        "url": reverse("occurrence_detail", args=[key]),
        "label": window.title,
        "detail": ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else ""),
        "state": status,
        "at": start,
        "note": note,
    }


def _overdue_occurrences() -> AttentionList:
    # Flagged by patching's beat task: started, past their end, not closed.
    overdue = Occurrence.objects.filter(overdue_at__isnull=False, status=OccurrenceStatus.IN_PROGRESS)
    rows = list(
        overdue.select_related("window")
        .prefetch_related(Prefetch("window__components", queryset=Component.objects.only("id", "name")))
        .order_by("end", "pk")[:ATTENTION_LINES]
    )
    return AttentionList(
        "overdue-windows",
        "Patch windows overdue",
        overdue.count(),
        [
            _occurrence_line(o.window, o.key, o.start, "overdue", f"should have ended {o.end:%Y-%m-%d %H:%M} UTC")
            for o in rows
        ],  # fmt: skip
    )


def _upcoming_occurrences(now: datetime) -> AttentionList:
    # Windows are few beside components; their occurrences are expanded from the rule in Python.
    until = now + WINDOWS_AHEAD
    windows = active_in(window_list(), now, until)
    found = [o for o in occurrences_between(windows, now, until, include_free=False) if o.start >= now]
    return AttentionList(
        "upcoming-windows",
        "Patch windows in the next 7 days",
        len(found),
        [_occurrence_line(o.window, o.key, o.start, o.status) for o in found[:ATTENTION_LINES]],
        reverse("calendar"),
    )


def _critical_findings() -> AttentionList:
    counts = estate_finding_counts(severity=Severity.CRITICAL)
    lines: list[dict] = []
    for kind in finding_kinds(severity=Severity.CRITICAL):
        if not counts.get(kind.slug) or len(lines) >= ATTENTION_LINES:
            continue
        prefix = f"{kind.component_path}__" if kind.component_path else ""
        rows = kind.violators().select_related(f"{prefix}team", f"{prefix}environment")
        for obj in rows.order_by("pk")[: ATTENTION_LINES - len(lines)]:
            finding = Finding(kind, obj)
            team = finding.component.team
            lines.append(
                {
                    "url": finding.url,
                    "label": finding.message,
                    "detail": kind.title,
                    "owner": team.name if team else "",
                    "state": "critical",
                }
            )
    return AttentionList(
        "critical-findings",
        "Critical findings",
        sum(counts.values()),
        lines,
        reverse("finding_list") + "?severity=critical",
    )


def _components_down() -> AttentionList:
    down = Component.objects.filter(health=Health.DOWN)
    rows = list(down.select_related("environment", "team").order_by("name", "pk")[:ATTENTION_LINES])
    return AttentionList(
        "components-down",
        "Components down",
        down.count(),
        [
            {
                "url": c.get_absolute_url(),
                "label": c.name,
                "detail": c.environment.name,
                "owner": c.team.name if c.team else "",
                "state": "down",
                "note": c.health_reason,
            }
            for c in rows
        ],
        reverse("component_list") + "?health=down&ordering=name",  # the card's order, continued
    )
