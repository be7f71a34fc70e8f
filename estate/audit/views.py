from __future__ import annotations

import csv
import json

from django.contrib.auth.decorators import login_required, permission_required
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from estate.audit import selectors
from estate.audit.choices import AuditAction
from estate.audit.filters import AuditEventFilterSet
from estate.core.forms import style_fields
from estate.core.paging import paginate

CSV_COLUMNS = ["at", "actor", "actor_id", "ip", "via", "action", "object_type", "object_id", "object_repr",
               "changes", "message"]  # fmt: skip
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _filtered(request) -> AuditEventFilterSet:
    filterset = AuditEventFilterSet(request.GET or None, queryset=selectors.event_list())
    style_fields(filterset.form)
    return filterset


@login_required
@permission_required("audit.view_auditevent", raise_exception=True)
def audit_list(request):
    filterset = _filtered(request)
    page = paginate(request, filterset.qs, default_size=50)
    page.object_list = selectors.with_names(page.object_list)  # one query per related model of the page
    context = {
        "filterset": filterset,
        "page": page,
        "actions": AuditAction.choices,
        "crumbs": [("Audit trail", None)],
    }
    return render(request, "audit/audit_list.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_rows(queryset):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in queryset.iterator(chunk_size=2000):
        changes = json.dumps(event.changes, ensure_ascii=False, sort_keys=True)
        row = [event.at.isoformat(), event.actor, event.actor_id, event.ip, event.via, event.action,
               event.object_type, event.object_id, event.object_repr, changes, event.message]  # fmt: skip
        yield writer.writerow([csv_cell(value) for value in row])


@login_required
@permission_required("audit.view_auditevent", raise_exception=True)
def audit_export(request):
    """The filtered events as CSV, streamed: the export of a long history never sits in memory."""
    filterset = _filtered(request)
    # A filter that does not parse exports nothing rather than everything.
    queryset = filterset.queryset.none() if filterset.is_bound and not filterset.is_valid() else filterset.qs
    response = StreamingHttpResponse(_csv_rows(queryset), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="estate-audit-{stamp}.csv"'
    return response
