"""Estate-wide reads composed from every app."""

from __future__ import annotations

from estate.core.cache import cached_figures
from estate.core.findings import estate_finding_counts, finding_kinds, severity_counts
from estate.inventory.choices import Category, Mode
from estate.inventory.selectors import estate_summary, mode_by_category
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
