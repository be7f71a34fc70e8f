"""New critical findings reach their owners: the estate's critical findings now, against those seen last time.

Set-based: one query per critical finding kind for what is open now, one for what was open, one
INSERT of the new and one DELETE of the cleared, then one notification per team (its new findings
listed, at most LIST_LIMIT of them). A finding that persists is not told twice; one that clears and
comes back is new again. The new rows and the outbox messages commit together, and each message's
key names the first new row, so a run that is repeated or races another tells nobody twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from estate.core.choices import Severity
from estate.core.findings import FindingKind, finding_kinds
from estate.inventory.models import Component, Team
from estate.notifications.choices import NotificationEvent
from estate.notifications.models import OpenCriticalFinding
from estate.notifications.services import absolute, notify, routes_for

log = logging.getLogger(__name__)

LIST_LIMIT = 20
Key = tuple[str, int]  # (kind slug, id of the row the finding is about)


def critical_findings_notify(*, now: datetime | None = None) -> int:
    """Remember the critical findings open now and tell each owning team of the new ones; how many were new."""
    now = now or timezone.now()
    kinds = {kind.slug: kind for kind in finding_kinds(severity=Severity.CRITICAL)}
    current = _open_now(kinds.values())
    try:
        with transaction.atomic():
            new = _remember(current, now)
            _tell_owners(new, kinds)
    except IntegrityError:  # another run recorded (and told) the same findings first
        log.info("critical findings: another run got there first")
        return 0
    return len(new)


def _open_now(kinds) -> dict[Key, int]:
    """{(kind, object id): component id} of every critical finding: one query per kind."""
    current: dict[Key, int] = {}
    for kind in kinds:
        for pk, component_id in kind.violators().order_by().values_list("pk", kind.component_lookup):
            if component_id is not None:  # a finding about no component has no owner to tell
                current[(kind.slug, pk)] = component_id
    return current


def _remember(current: dict[Key, int], now: datetime) -> list[OpenCriticalFinding]:
    """Forget the findings that cleared, record the new ones and return them (in a stable order)."""
    seen = {(kind, obj): pk for pk, kind, obj in OpenCriticalFinding.objects.values_list("pk", "kind", "object_id")}
    cleared = [pk for key, pk in seen.items() if key not in current]
    for start in range(0, len(cleared), 5000):
        OpenCriticalFinding.objects.filter(pk__in=cleared[start : start + 5000]).delete()
    new = [
        OpenCriticalFinding(kind=kind, object_id=obj, component_id=component_id, first_seen_at=now)
        for (kind, obj), component_id in sorted(current.items())
        if (kind, obj) not in seen
    ]
    # A concurrent run inserting the same keys waits here for the other to commit, then fails: it tells nobody.
    return OpenCriticalFinding.objects.bulk_create(new, batch_size=2000)


def _tell_owners(new: list[OpenCriticalFinding], kinds: dict[str, FindingKind]) -> None:
    """One notification per team whose routes want it, listing its new findings (bounded)."""
    if not new:
        return
    teams = dict(Component.objects.filter(pk__in={f.component_id for f in new}).values_list("pk", "team_id"))
    by_team: dict[int | None, list[OpenCriticalFinding]] = defaultdict(list)
    for finding in new:
        if finding.component_id in teams:
            by_team[teams[finding.component_id]].append(finding)
    listeners = {route.team_id for route in routes_for(NotificationEvent.CRITICAL_FINDING, set(by_team) - {None})}
    if None not in listeners:  # no estate-wide route: only the teams with a route of their own
        by_team = {team: rows for team, rows in by_team.items() if team in listeners}
    if not by_team:
        return
    names = dict(Team.objects.filter(pk__in=[t for t in by_team if t]).values_list("pk", "name"))
    lines = _describe([f for rows in by_team.values() for f in rows[:LIST_LIMIT]], kinds)
    for team_id, rows in sorted(by_team.items(), key=lambda kv: kv[0] or 0):
        _tell_team(names.get(team_id, ""), rows, lines)


def _describe(findings: list[OpenCriticalFinding], kinds: dict[str, FindingKind]) -> dict[Key, str]:
    """One line per finding listed: the kind's own description of its row, one query per kind."""
    wanted: dict[str, list[int]] = defaultdict(list)
    for finding in findings:
        wanted[finding.kind].append(finding.object_id)
    lines: dict[Key, str] = {}
    for slug, ids in wanted.items():
        kind = kinds[slug]
        for obj in kind.violators().filter(pk__in=ids):
            lines[(slug, obj.pk)] = f"{kind.title}: {kind.describe(obj)}"[:300]
    return lines


def _tell_team(team_name: str, rows: list[OpenCriticalFinding], lines: dict[Key, str]) -> None:
    count = len(rows)
    listed = [f"- {lines.get((f.kind, f.object_id), f.kind)}" for f in rows[:LIST_LIMIT]]
    if count > LIST_LIMIT:
        listed.append(f"… and {count - LIST_LIMIT} more.")
    owner = f" for {team_name}" if team_name else " on components without a team"
    notify(
        event=NotificationEvent.CRITICAL_FINDING,
        # The first new row's id: a finding that clears and comes back gets a new row, hence a new key.
        key=f"critical-findings-{rows[0].pk}",
        subject=f"{count} new critical finding{'s' if count > 1 else ''}{owner}",
        text="\n".join(listed),
        component_ids={f.component_id for f in rows},
        link=absolute(f"{reverse('finding_list')}?severity=critical"),
    )
